/**
 * The on-disk home ($WEFT_HOME, default ~/.weft):
 *
 *   config.json        the node's settings; schema and defaults in config.ts
 *   repo.lock          {"pid": N, "since": ISO date}; present while a process has the home open
 *   keys/              0700
 *     self.key         0600, the node's ed25519 identity (libp2p protobuf PrivateKey bytes)
 *   weft.db            SQLite (node:sqlite), WAL mode. Tables (migrations in db.ts):
 *                        meta(key, value)                       schema version
 *                        blocks(mh, pack, off, len)             where each block's bytes are
 *                        packs(id, size)                        bytes of each pack that are indexed
 *                        pins(cid, type, created)               recursive and direct pins
 *   blocks/
 *     NNNNNNNN.pack    append-only files of raw block bytes, back to back, no framing.
 *                      A block is visible only once its row in `blocks` is committed, and
 *                      that happens after its bytes are written (and fsynced when
 *                      datastore.sync is on), so a crash leaves at worst an unindexed tail,
 *                      which the next open truncates away.
 *
 * Blocks are keyed by multihash, as kubo's flatfs is, so one set of bytes is stored once
 * whatever codec a CID gives it.
 */
import { join } from 'node:path'

export const REPO_VERSION = 1

export function repoPaths (home: string) {
  return {
    home,
    config: join(home, 'config.json'),
    lock: join(home, 'repo.lock'),
    keys: join(home, 'keys'),
    identityKey: join(home, 'keys', 'self.key'),
    db: join(home, 'weft.db'),
    blocks: join(home, 'blocks')
  }
}

export type RepoPaths = ReturnType<typeof repoPaths>
