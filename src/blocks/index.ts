import type { DatabaseSync } from 'node:sqlite'
import type { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { CID as CIDClass } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { PackStore, type StoreStat, type PutOptions } from './pack-store.ts'
import { PinSet, type Pin, type PinType } from './pins.ts'
import { walkDag, blockKey, multihashKey } from './links.ts'

export { walkDag, blockKey, blockLinks, assertCodecSupported, decodeDagPb, decodeDagCbor, decodeUnixFS, assertWalkableShard, type DagReader } from './links.ts'
export { verifyBlock, assertHashSupported, MAX_BLOCK_SIZE } from './hashing.ts'
export type { Pin, PinType } from './pins.ts'
export type { StoreStat } from './pack-store.ts'

export interface GcResult {
  blocks: number
  bytes: number
  packsRewritten: number
  bytesReclaimed: number
}

export interface VerifyReport {
  ok: number
  problems: Array<{ cid: CID, problem: string }>
}

export interface Blocks {
  put(cid: CID, bytes: Uint8Array, options?: PutOptions): Promise<void>
  get(cid: CID): Promise<Uint8Array>
  has(cid: CID): boolean
  /** Makes written blocks durable and indexed; adds call it before they pin. */
  flush(): Promise<void>
  pin(cid: CID, type?: PinType): Promise<void>
  unpin(cid: CID): Promise<void>
  pins(type?: PinType): Pin[]
  /** Deletes every block no pin reaches, then reclaims the space in the packs. */
  gc(): Promise<GcResult>
  verify(): Promise<VerifyReport>
  stat(): StoreStat
  /** Every stored block as a CIDv1 (raw codec: the store keys blocks by multihash). */
  cids(): Generator<CID>
  close(): Promise<void>
}

export interface BlocksComponents {
  /** The metadata db holds the block index and the pins, so gc sees both in one transaction. */
  db: DatabaseSync
  /** blocks/ inside the home. */
  dir: string
  /** Roots that other modules hold (followed sites' kept versions): gc keeps their DAGs as it keeps recursive pins. */
  heldRoots?: () => Iterable<CID>
}

export interface BlocksInit {
  storageMax: number
  sync: boolean
}

export function createBlocks (components: BlocksComponents, init: BlocksInit): Blocks {
  const store = new PackStore(components.dir, components.db, init)
  const pinSet = new PinSet(components.db)
  return {
    put: async (cid, bytes, options) => { await store.put(cid, bytes, options) },
    get: async cid => await store.get(cid),
    has: cid => store.has(cid),
    flush: async () => { await store.flush() },
    pin: async (cid, type = 'recursive') => {
      await store.flush()
      await pinSet.add(store, cid, type)
    },
    unpin: async cid => { await pinSet.remove(store, cid) },
    pins: type => pinSet.list(type),
    async gc () {
      await store.flush()
      const live = new Set<string>()
      for (const root of components.heldRoots?.() ?? []) {
        await walkDag(store, root, cid => { live.add(blockKey(cid)) }).catch(() => { /* an incomplete version keeps what it has */ })
      }
      for (const pin of pinSet.list()) {
        if (pin.type === 'direct') {
          live.add(blockKey(pin.cid))
        } else {
          await walkDag(store, pin.cid, cid => { live.add(blockKey(cid)) })
        }
      }
      const dead: Uint8Array[] = []
      for (const mh of store.allMultihashes()) {
        if (!live.has(multihashKey(mh))) dead.push(mh)
      }
      const removed = await store.deleteMany(dead)
      const compacted = await store.compact()
      return { ...removed, ...compacted }
    },
    async verify () {
      const problems: VerifyReport['problems'] = []
      let ok = 0
      for await (const item of store.verify()) {
        if ('ok' in item) ok = item.ok
        else problems.push({ cid: CIDClass.createV1(raw.code, Digest.decode(item.mh)), problem: item.problem })
      }
      return { ok, problems }
    },
    stat: () => store.stat(),
    * cids () {
      for (const mh of store.allMultihashes()) yield CIDClass.createV1(raw.code, Digest.decode(mh))
    },
    close: async () => { await store.close() }
  }
}
