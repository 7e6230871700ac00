/**
 * Content and record routing over the Kademlia DHT: announce what this node holds,
 * find who holds a CID, and put and get signed records. Tuned for small private networks
 * (dht-tuning.ts), where kad-dht's defaults missed lookups.
 */
import type { PeerId, Startable } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { CID } from 'multiformats/cid'
import type { Datastore } from 'interface-datastore'
import { ipnsSelector } from 'ipns/selector'
import { logger } from '@libp2p/logger'
import { WeftError } from '../errors.ts'
import type { WeftLibp2p } from '../net/index.ts'
import { findProvidersReliably, getRecordReliably, joinNetwork, provideReliably, putReliably } from './dht-tuning.ts'
import { heldInDhtStore, pruneDhtStore } from './dht-store.ts'
import { createHardenedLookups, IPNS_VALIDATION } from './hardened.ts'
import { guardRoutingTable, type DiversityGuardComponents, type DiversityInit } from './diversity.ts'
import { sweepable, sweepProvide, type SweepOptions, type SweepReport } from './sweep.ts'

export { DHT_TUNING, CONNECTION_TUNING } from './dht-tuning.ts'
export { pruneDhtStore, DHT_STORE, type PruneReport } from './dht-store.ts'
export { byKadDistance, kadKey } from './kad-distance.ts'
export { createHardenedLookups, HardenedLookups, HARDENING_DEFAULTS, type HardeningInit } from './hardened.ts'
export { findProvidersReliably, getRecordReliably, provideReliably, putReliably } from './dht-tuning.ts'
export { DIVERSITY_DEFAULTS, type DiversityInit } from './diversity.ts'
export { sweepProvide, sweepable, SWEEP, type SweepOptions, type SweepReport, type Walk } from './sweep.ts'

export interface RoutingComponents {
  /** routing needs libp2p's DHT service and its peer store. */
  libp2p: WeftLibp2p
  /** What `strategy: "roots"` announces: the roots of pinned content. */
  roots: () => CID[]
  /** What `strategy: "all"` announces: every stored block. */
  allBlocks: () => Iterable<CID>
  /** Whether a block is stored: our provider records for anything else are dropped at start. */
  has: (cid: CID) => boolean
  /** libp2p's datastore, where kad-dht keeps records and provider records across restarts. */
  datastore: Datastore
  /** With `init.hardened`: whether `peer` serves `cid` with a block that hashes right (the exchange asks it); without it, findProviders({ verified }) is not hardened. */
  verify?: (peer: PeerId, cid: CID, options: { signal?: AbortSignal }) => Promise<boolean>
}

export interface RoutingInit {
  strategy: 'roots' | 'all'
  /** ms between reprovides; 0 turns the schedule off. */
  reprovideInterval: number
  /** Provides in flight at once during a reprovide. */
  concurrency?: number
  /** Peers to join through at start (the bootstrap list). */
  bootstrap?: Multiaddr[]
  /**
   * Lookups that hold against lying peers (hardened.ts): providers verified (for
   * findProviders({ verified: true })), records from every answer, Sybil clusters widened
   * past, and provider records placed past a cluster too.
   */
  hardened?: boolean
  /** Peers per address prefix in kad-dht's table (diversity.ts); off by default, as private networks share prefixes. */
  diversity?: DiversityInit
}

/** The longest one announcement may take during a reprovide (ms). */
const PROVIDE_TIMEOUT = 30_000
/**
 * Queued announcements from which provideSoon sweeps them (sweep.ts) instead of walking
 * once per CID: a sweep costs a walk or two per region of the key space, which 32 single
 * provides already cost in a network of any size.
 */
const SWEEP_FROM = 32

const log = logger('weft:routing')

export interface ReprovideReport {
  provided: number
  failed: number
  ms: number
  /** Of the sweep (sweep.ts): regions of the key space, DHT walks, streams to peers. */
  regions: number
  walks: number
  streams: number
}

export interface Routing extends Startable {
  /** Announces `cid` to the DHT now. */
  provide(cid: CID, options?: { signal?: AbortSignal }): Promise<void>
  /** Queues an announcement that must not hold up the caller (after an add). */
  provideSoon(cid: CID): void
  /**
   * Peers that announced `cid`. With `verified` and hardening on, only those that served
   * its block hashing right (for the exchange); a rendezvous CID names no block, so
   * lookups for peers under one must not ask for `verified`.
   */
  findProviders(cid: CID, options?: { signal?: AbortSignal, verified?: boolean }): AsyncIterable<PeerId>
  /** The peers closest (XOR) to `key` (a CID's multihash or a record key), found by a DHT walk; their addresses go to the peer store. */
  closestPeers(key: Uint8Array, options?: { signal?: AbortSignal }): Promise<PeerId[]>
  /** Stores a record on the peers closest to its key; returns how many took it. */
  putRecord(key: Uint8Array, value: Uint8Array, options?: { signal?: AbortSignal }): Promise<number>
  /** The best valid record; with `quorum`, the walk stops once that many peers answered. */
  getRecord(key: Uint8Array, options?: { signal?: AbortSignal, quorum?: number }): Promise<Uint8Array>
  /**
   * Whether this node's DHT store holds provider records for `target` (a CID) or a record
   * under it (a record key): a lookup for it is then answered here, without the network.
   */
  storesLocally(target: CID | Uint8Array, options?: { signal?: AbortSignal }): Promise<boolean>
  /**
   * Announces many CIDs at once, by region of the key space (sweep.ts): a walk or a few
   * per region, one stream per peer. Only CIDs `sweepable` says kad-dht's handler takes.
   */
  sweep(cids: Iterable<CID>, options?: SweepOptions): Promise<SweepReport>
  /** Announces everything the strategy covers, swept by region (provide for what a sweep cannot carry). */
  reprovide(options?: { signal?: AbortSignal, onProgress?: (done: number, total: number) => void }): Promise<ReprovideReport>
}

export function createRouting (components: RoutingComponents, init: RoutingInit): Routing {
  const { libp2p } = components
  const concurrency = init.concurrency ?? 16
  const queue: CID[] = []
  let draining = false
  let timer: NodeJS.Timeout | undefined
  const controller = new AbortController()
  const hardened = createHardenedLookups(libp2p)

  // A walk that reached too few peers (a busy network, a thin routing table) walks again.
  // Hardened, the peers that took the record are judged as a lookup's are: packed closer
  // than the network's size allows (a Sybil cluster, which swallows the record), the
  // record goes past them too. Not on every provide: a second walk each time cost the
  // 30-node DHT test its 60 s provide deadline on a loaded machine.
  const provide = async (cid: CID, options: { signal?: AbortSignal } = {}): Promise<void> => {
    const signal = options.signal ?? controller.signal
    const took: PeerId[] = []
    await provideReliably(libp2p, cid, { signal, onPeer: peer => { took.push(peer) } })
    if (init.hardened === true && hardened.looksAttacked(cid.multihash.bytes, took)) {
      log('the peers closest to %c are packed like a Sybil cluster: providing past them', cid)
      await hardened.provide(cid, { signal })
    }
  }

  // One provide per CID, `concurrency` at a time: what kad-dht's walk does not sweep.
  const provideEach = async (cids: CID[], signal: AbortSignal, done: (ok: boolean) => void): Promise<void> => {
    let next = 0
    // A fixed number of workers walk the list: one slow walk does not stall a batch.
    await Promise.all(Array.from({ length: Math.min(concurrency, cids.length) }, async () => {
      while (next < cids.length && !signal.aborted) {
        const cid = cids[next++]
        try {
          // One stuck walk must not hold a worker, and with it the schedule, forever.
          await provide(cid, { signal: AbortSignal.any([signal, AbortSignal.timeout(PROVIDE_TIMEOUT)]) })
          done(true)
        } catch {
          done(false)
        }
      }
    }))
  }

  const sweep = async (cids: Iterable<CID>, options: SweepOptions = {}): Promise<SweepReport> => {
    return await sweepProvide({ libp2p, datastore: components.datastore }, cids, { signal: controller.signal, ...options })
  }

  // Many CIDs at once: swept by region of the key space, what failed swept once more (with
  // fresh walks), and CIDs kad-dht's handler cannot take in a sweep provided one by one.
  const announce = async (cids: CID[], signal: AbortSignal, onProgress?: (done: number, total: number) => void): Promise<ReprovideReport> => {
    const started = Date.now()
    const swept = cids.filter(sweepable)
    const report: ReprovideReport = { provided: 0, failed: 0, ms: 0, regions: 0, walks: 0, streams: 0 }
    const add = (r: SweepReport): void => { report.provided += r.provided; report.regions += r.regions; report.walks += r.walks; report.streams += r.streams }
    const first = await sweep(swept, { signal, onProgress: done => onProgress?.(done, cids.length) })
    add(first)
    if (first.failures.length > 0 && !signal.aborted) {
      log('sweep: %d of %d CIDs failed, sweeping them again', first.failures.length, swept.length)
      const again = await sweep(first.failures, { signal })
      add(again)
      report.failed += again.failed
    }
    await provideEach(cids.filter(cid => !sweepable(cid)), signal, ok => {
      if (ok) report.provided++
      else report.failed++
      onProgress?.(report.provided + report.failed, cids.length)
    })
    onProgress?.(report.provided + report.failed, cids.length)
    return { ...report, ms: Date.now() - started }
  }

  const drain = async (): Promise<void> => {
    if (draining) return
    draining = true
    try {
      while (queue.length > 0 && !controller.signal.aborted) {
        if (queue.length >= SWEEP_FROM) {
          const report = await announce(queue.splice(0), controller.signal)
          log('swept %d queued announcements: %o', report.provided + report.failed, report)
          continue
        }
        const batch = queue.splice(0, concurrency)
        await Promise.allSettled(batch.map(async cid => { await provide(cid) }))
      }
    } finally {
      draining = false
    }
  }

  const reprovide = async (options: { signal?: AbortSignal, onProgress?: (done: number, total: number) => void } = {}): Promise<ReprovideReport> => {
    const cids = init.strategy === 'roots' ? components.roots() : [...components.allBlocks()]
    return await announce(cids, options.signal ?? controller.signal, options.onProgress)
  }

  // Drops what kad-dht would never serve again (expired records, others' expired provider
  // records) and our provider records for blocks no longer stored. (Not "no longer a
  // root": sites' held roots are not known this early, and gc removes what nothing holds.)
  const pruneStore = async (): Promise<void> => {
    const report = await pruneDhtStore({ datastore: components.datastore, self: libp2p.peerId, holds: components.has }, { signal: controller.signal })
    log('pruned the DHT store: %o', report)
    // the peer store drops the peers it would not dial again (unseen for 6 h) as it reads them
    await libp2p.peerStore.all({ signal: controller.signal })
  }

  return {
    async start () {
      // before sites and the exchange announce anything anew, so nothing fresh is dropped
      await pruneStore().catch(err => { log.error('pruning the DHT store failed: %s', (err as Error).message) })
      const table = (libp2p.services.dht as unknown as { routingTable?: DiversityGuardComponents['routingTable'] }).routingTable
      if (init.diversity !== undefined && table !== undefined) guardRoutingTable({ routingTable: table, addresses: async peer => (await libp2p.peerStore.get(peer)).addresses.map(a => a.multiaddr) }, init.diversity)
      if (init.bootstrap !== undefined && init.bootstrap.length > 0) {
        // Joining goes on in the background: a node with unreachable bootstrap peers still starts.
        joinNetwork(libp2p, init.bootstrap, { signal: controller.signal }).catch(() => {})
      }
      if (init.reprovideInterval > 0) {
        timer = setInterval(() => { reprovide().catch(() => {}) }, init.reprovideInterval)
        timer.unref()
      }
    },
    async stop () {
      clearInterval(timer)
      controller.abort()
      queue.length = 0
    },
    provide,
    provideSoon (cid) {
      queue.push(cid)
      void drain()
    },
    async * findProviders (cid, options = {}) {
      const verify = components.verify
      const providers = init.hardened === true && verify !== undefined && options.verified === true
        ? await hardened.findProviders(cid, async (peer, o) => await verify(peer, cid, o), { signal: options.signal })
        : await findProvidersReliably(libp2p, cid, { signal: options.signal })
      for (const p of providers) {
        if (p.id.equals(libp2p.peerId)) continue
        // Remember where they are, so the exchange can dial them by id.
        if (p.multiaddrs.length > 0) await libp2p.peerStore.merge(p.id, { multiaddrs: p.multiaddrs }).catch(() => {})
        yield p.id
      }
    },
    async closestPeers (key, options = {}) {
      const peers: PeerId[] = []
      for await (const event of libp2p.services.dht.getClosestPeers(key, { signal: options.signal ?? controller.signal })) {
        if (event.name !== 'FINAL_PEER' || event.peer.id.equals(libp2p.peerId)) continue
        if (event.peer.multiaddrs.length > 0) await libp2p.peerStore.merge(event.peer.id, { multiaddrs: event.peer.multiaddrs }).catch(() => {})
        peers.push(event.peer.id)
      }
      return peers
    },
    async putRecord (key, value, options = {}) {
      return await putReliably(libp2p, key, value, { signal: options.signal ?? controller.signal })
    },
    async getRecord (key, options = {}) {
      const value = init.hardened === true
        ? await hardened.getRecord(key, IPNS_VALIDATION, { signal: options.signal })
        : await getRecordReliably(libp2p, key, { signal: options.signal, quorum: options.quorum, selectors: { ipns: ipnsSelector } })
      if (value === undefined) throw new WeftError('ERR_RECORD_NOT_FOUND', 'no peer holds a valid record under this key')
      return value
    },
    async storesLocally (target, options = {}) {
      return await heldInDhtStore(components.datastore, target, options)
    },
    sweep,
    reprovide
  }
}

export { joinNetwork }
