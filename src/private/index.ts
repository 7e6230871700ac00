/**
 * Private data: encrypted per-user storage, device linking, sharing, and sealed messages.
 * Messages: messages.ts (the envelope), message-service.ts (carrying and the inbox).
 */
import { MessageService } from './message-service.ts'
import { MESSAGES_DEFAULTS, type Messages, type MessagesComponents, type MessagesInit } from './message-types.ts'

export {
  sealMessage, sealEnvelope, openEnvelope, letterProblem, envelopeProblem, userKeyOf, userIdOfKey, x25519SecretOf,
  MAX_ENVELOPE_BYTES, MAX_BODY_BYTES, MIN_ENVELOPE_BYTES, ENVELOPE_VERSION, type Letter, type OpenedLetter
} from './messages.ts'
export { messagesTopic } from './message-service.ts'
export { MESSAGES_CATCH_UP_PROTOCOL, MAX_CATCH_UP_ENVELOPES } from './message-catch-up.ts'
export {
  MESSAGES_DEFAULTS, inboxMessageJson, type InboxMessageJson, type Messages, type MessagesComponents, type MessagesNet, type MessagesInit, type MessagesInfo, type InboxMessage, type SentMessage, type MessageEvents
} from './message-types.ts'

export function createMessages (components: MessagesComponents, init: Partial<MessagesInit> = {}): Messages {
  return new MessageService(components, { ...MESSAGES_DEFAULTS, ...init })
}
