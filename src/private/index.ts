/**
 * Private data: per user and site, files sealed on the user's own node (XChaCha20-Poly1305,
 * fresh key per file, wrapped under a folder key from the master key) before they become
 * ordinary blocks, and an encrypted index named by a signed record with a sequence, so
 * other devices of the same user can take it (rollback refused) and merge their writes.
 */
export {
  createPrivateStore, PRIVATE_DEFAULTS,
  type PrivateStore, type PrivateStoreComponents, type PrivateStoreInit, type PrivateEntryInfo, type PrivateUsage, type PrivateEvents, type ApplyOutcome
} from './store.ts'
export {
  xchachaSeal, xchachaOpen, sealWithNonce, openWithNonce, sealFile, openFile, paddedSize, sealedSize, hchachaSubkey,
  KEY_BYTES, XNONCE_BYTES, TAG_BYTES, SEGMENT_BYTES
} from './aead.ts'
export { privateKeysOf, type PrivateKeys } from './keys.ts'
export { mergeIndexes, conflictPath } from './merge.ts'
export { emptyIndex, openIndex, sealIndex, type PrivateIndex, type Entry, type FileEntry, type Tombstone } from './index-doc.ts'
export { createPrivateSync, privateTopic, PRIVATE_SYNC_PROTOCOL, PRIVATE_SYNC_DEFAULTS, type PrivateSync, type PrivateSyncComponents, type PrivateSyncInit, type SyncStore } from './sync.ts'
