import type { DatabaseSync } from 'node:sqlite'
import { raceSignal } from 'race-signal'
import type { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { CID as CIDClass } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { PackStore, storeWriteError, type StoreStat, type PutOptions, type Placement } from './pack-store.ts'
import { WeftError, isWeftError } from '../errors.ts'
import { PinSet, type Pin, type PinType } from './pins.ts'
import { walkDag, blockKey, multihashKey } from './links.ts'

export { walkDag, blockKey, blockLinks, assertCodecSupported, decodeDagPb, decodeDagCbor, decodeUnixFS, assertWalkableShard, type DagReader } from './links.ts'
export { verifyBlock, assertHashSupported, MAX_BLOCK_SIZE } from './hashing.ts'
export type { Pin, PinType } from './pins.ts'
export type { StoreStat, Placement } from './pack-store.ts'

export interface GcResult {
  blocks: number
  bytes: number
  packsRewritten: number
  bytesReclaimed: number
}

export interface VerifyReport {
  ok: number
  /** With `repair`, each damaged block is quarantined and `repaired` says whether a peer's copy replaced it. */
  problems: Array<{ cid: CID, problem: string, repaired?: boolean, repairError?: string }>
}

export interface GetOptions {
  /**
   * When the stored copy is damaged, wait for a good one from peers (default true when the
   * node is online). Off when serving peers: the read fails at once and the repair goes on
   * in the background, since asking peers for what they asked us only delays the answer.
   */
  repair?: boolean
  /** Trust the stored bytes without hashing them (default: the verifyReads init option). Benchmarks only. */
  verify?: boolean
  signal?: AbortSignal
}

export interface Blocks {
  put(cid: CID, bytes: Uint8Array, options?: PutOptions): Promise<void>
  /** A place for a block whose bytes another thread hashed and writes (see PackStore.place). */
  place(cid: CID, len: number): Promise<Placement | undefined>
  /**
   * The block, hashed against its CID first. A damaged copy is quarantined (has() is false
   * after it) and, online, fetched again from peers; only if that fails does the read fail,
   * with ERR_BLOCK_CORRUPT.
   */
  get(cid: CID, options?: GetOptions): Promise<Uint8Array>
  has(cid: CID): boolean
  /** Makes written blocks durable and indexed; adds call it before they pin. */
  flush(): Promise<void>
  pin(cid: CID, type?: PinType): Promise<void>
  unpin(cid: CID): Promise<void>
  pins(type?: PinType): Pin[]
  /** Deletes every block no pin reaches, then reclaims the space in the packs. */
  gc(): Promise<GcResult>
  /** Re-hashes every block; with `repair`, quarantines the damaged ones and fetches each again from peers. */
  verify(options?: { repair?: boolean, signal?: AbortSignal }): Promise<VerifyReport>
  /** Goes up each time blocks leave the store (gc, quarantine): what was built from blocks before may be stale. */
  deletions(): number
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
  /**
   * Fetches a good copy of a quarantined block from peers into the store (the exchange,
   * looked up late: it is built after blocks). Absent offline.
   */
  repair?: (cid: CID, options: { signal: AbortSignal }) => Promise<void>
}

export interface BlocksInit {
  storageMax: number
  sync: boolean
  /** Hash every block read against its CID (default true); benchmarks turn it off to measure the cost. */
  verifyReads?: boolean
}

/**
 * How long a repair may look for a good copy: a peer that holds the block sends it within
 * the exchange's request timeout (a few seconds), and one that lacks it says so at once.
 */
const REPAIR_TIMEOUT = 30_000
/** Repairs `verify --repair` runs at once: enough to hide the timeouts of blocks no peer has, few enough for the exchange's window. */
const REPAIR_CONCURRENCY = 16

export function createBlocks (components: BlocksComponents, init: BlocksInit): Blocks {
  const store = new PackStore(components.dir, components.db, init)
  const pinSet = new PinSet(components.db)
  // One repair per block at a time, however many readers met the damage.
  const repairs = new Map<string, Promise<void>>()
  const repair = async (cid: CID, signal?: AbortSignal): Promise<void> => {
    const fetchCopy = components.repair
    if (fetchCopy === undefined) throw new WeftError('ERR_OFFLINE', 'no daemon is running to fetch a good copy from peers')
    const key = blockKey(cid)
    let running = repairs.get(key)
    if (running === undefined) {
      running = fetchCopy(cid, { signal: AbortSignal.timeout(REPAIR_TIMEOUT) }).finally(() => { repairs.delete(key) })
      repairs.set(key, running)
    }
    // This caller may stop waiting; the repair goes on for the others who wait on it.
    await raceSignal(running, signal)
  }
  const get = async (cid: CID, options: GetOptions = {}): Promise<Uint8Array> => {
    try {
      return await store.get(cid, options)
    } catch (err) {
      // Quarantined by now: a good copy from a peer takes its place.
      if (!isWeftError(err, 'ERR_BLOCK_CORRUPT') || components.repair === undefined) throw err
      if (options.repair === false) {
        // The caller cannot wait (serving a peer); the node still heals itself meanwhile.
        repair(cid).catch(() => { /* a later read or verify --repair tries again */ })
        throw err
      }
      try {
        await repair(cid, options.signal)
      } catch (repairErr) {
        throw new WeftError('ERR_BLOCK_CORRUPT', `${err.message}, and no peer sent a good copy (${(repairErr as Error).message})`, { cause: repairErr })
      }
      return await store.get(cid, options)
    }
  }
  // gc walks pinned DAGs through the repairing read: a damaged node cannot tell which blocks lie under it.
  const reader = { get: async (cid: CID) => await get(cid), has: (cid: CID) => store.has(cid) }
  return {
    put: async (cid, bytes, options) => { await store.put(cid, bytes, options) },
    place: async (cid, len) => await store.place(cid, len),
    get,
    has: cid => store.has(cid),
    flush: async () => { await store.flush() },
    pin: async (cid, type = 'recursive') => {
      await store.flush()
      try {
        await pinSet.add(reader, cid, type)
      } catch (err) {
        throw storeWriteError(err, components.dir)
      }
    },
    unpin: async cid => { await pinSet.remove(reader, cid) },
    pins: type => pinSet.list(type),
    async gc () {
      await store.flush()
      const live = new Set<string>()
      for (const root of components.heldRoots?.() ?? []) {
        await walkDag(reader, root, cid => { live.add(blockKey(cid)) }).catch(() => { /* an incomplete version keeps what it has */ })
      }
      for (const pin of pinSet.list()) {
        if (pin.type === 'direct') {
          live.add(blockKey(pin.cid))
        } else {
          await walkDag(reader, pin.cid, cid => { live.add(blockKey(cid)) })
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
    async verify (options = {}) {
      const problems: VerifyReport['problems'] = []
      let ok = 0
      for await (const item of store.verify()) {
        if ('ok' in item) ok = item.ok
        else problems.push({ cid: CIDClass.createV1(raw.code, Digest.decode(item.mh)), problem: item.problem })
      }
      if (options.repair === true) {
        for (const p of problems) await store.quarantine(p.cid.multihash.bytes)
        // Several at once: a block no peer has costs a repair its whole timeout.
        const queue = [...problems]
        await Promise.all(Array.from({ length: Math.min(REPAIR_CONCURRENCY, queue.length) }, async () => {
          for (let p = queue.shift(); p !== undefined; p = queue.shift()) {
            options.signal?.throwIfAborted()
            const cid = p.cid
            try {
              await repair(cid, options.signal)
              p.repaired = store.has(cid)
            } catch (err) {
              p.repaired = false
              p.repairError = (err as Error).message
            }
          }
        }))
      }
      return { ok, problems }
    },
    deletions: () => store.deletions,
    stat: () => store.stat(),
    * cids () {
      for (const mh of store.allMultihashes()) yield CIDClass.createV1(raw.code, Digest.decode(mh))
    },
    close: async () => { await store.close() }
  }
}
