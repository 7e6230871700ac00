/**
 * Private data: per user and site, files sealed on the user's own node (XChaCha20-Poly1305,
 * fresh key per file, wrapped under a folder key from the master key) before they become
 * ordinary blocks, and an encrypted index named by a signed record with a sequence, so
 * other devices of the same user can take it (rollback refused) and merge their writes.
 */
export {
  createPrivateStore, PRIVATE_DEFAULTS,
  type PrivateStore, type PrivateStoreComponents, type PrivateStoreInit, type PrivateEntryInfo, type PrivateUsage, type PrivateEvents, type ApplyOutcome, type FolderFiles
} from './store.ts'
export {
  xchachaSeal, xchachaOpen, sealWithNonce, openWithNonce, sealFile, openFile, paddedSize, sealedSize, hchachaSubkey,
  KEY_BYTES, XNONCE_BYTES, TAG_BYTES, SEGMENT_BYTES
} from './aead.ts'
export { privateKeysOf, type PrivateKeys } from './keys.ts'
export { mergeIndexes, conflictPath } from './merge.ts'
export { emptyIndex, openIndex, sealIndex, type PrivateIndex, type Entry, type FileEntry, type Tombstone } from './index-doc.ts'
export { createPrivateSync, privateTopic, PRIVATE_SYNC_PROTOCOL, PRIVATE_SYNC_DEFAULTS, type PrivateSync, type PrivateSyncComponents, type PrivateSyncInit, type SyncStore } from './sync.ts'
// Sealed messages between users of a site: messages.ts (the envelope), message-service.ts (carrying and the inbox).
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
// Sharing private folders with other users of a site: share-format.ts (the share file), shares.ts (both sides).
export { createShares, type Shares, type SharesComponents, type OwnShare, type ReceivedShare, type ShareRefusal } from './shares.ts'
export { shareTag, sharePath, sealGrant, openGrant, sealListing, openListing, decodeShareFile, encodeShareFile, MAX_RECIPIENTS, type Grant, type Listing, type ShareFile } from './share-format.ts'
