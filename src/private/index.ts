/**
 * Private data: encrypted per-user storage, device linking, sharing, and sealed messages.
 * Messages: messages.ts (the envelope), message-service.ts (carrying and the inbox).
 */
export {
  sealMessage, sealEnvelope, openEnvelope, letterProblem, envelopeProblem, userKeyOf, userIdOfKey, x25519SecretOf, x25519PrivateKey,
  MAX_ENVELOPE_BYTES, MAX_BODY_BYTES, MIN_ENVELOPE_BYTES, ENVELOPE_VERSION, type Letter, type OpenedLetter
} from './messages.ts'
export { createMessages, messagesTopic } from './message-service.ts'
export { MESSAGES_CATCH_UP_PROTOCOL, MAX_CATCH_UP_ENVELOPES } from './message-catch-up.ts'
export {
  MESSAGES_DEFAULTS, inboxMessageJson, type InboxMessageJson, type Messages, type MessagesComponents, type MessagesNet, type MessagesInit, type MessagesInfo,
  type InboxMessage, type SentMessage, type MessageEvents
} from './message-types.ts'
