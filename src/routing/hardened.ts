/**
 * Lookups that hold when some peers lie (issue 16): weft walks the DHT itself, over
 * kad-dht's protocol and routing table, because kad-dht 16.4.5's walk
 *
 * - keeps its disjoint paths apart with one seen-filter (a cuckoo filter, so false
 *   positives skip peers) marked when a peer is queued: a peer one path queued and then
 *   skipped (the path had converged) is never asked by another path;
 * - stops findProviders at the first answer that names providers, fake or not;
 * - cannot tell a Sybil cluster from the k closest peers, so the ids an attacker mined
 *   next to a key take every provider record and every lookup for it.
 *
 * Here a peer belongs to the path that asks it and stays open to other paths until then
 * (S/Kademlia §4.4); providers count only once `verify` fetched a block from them that
 * hashes right; records are the best valid one over every answer; and a key whose
 * neighbourhood is denser than the network size allows (density.ts) is widened: walks
 * towards keys beside the cluster find the honest peers past it, and they are asked too.
 */
import { createHash, randomBytes } from 'node:crypto'
import type { AbortOptions, PeerId, PeerInfo } from '@libp2p/interface'
import type { KadDHT } from '@libp2p/kad-dht'
import type { Libp2p } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import { ipnsValidator } from 'ipns/validator'
import { ipnsSelector } from 'ipns/selector'
import type { CID } from 'multiformats/cid'
import { DENSITY_DEFAULTS, estimateNetworkSize, judgeDensity, keyDistance, sideOffsets, subtreeDepth } from './density.ts'
import { exchangeMessage, sendMessage, MESSAGE_TYPE, type KadMessage } from './kad-wire.ts'

const log = logger('weft:routing:hardened')

export interface HardeningInit {
  /** Queries in flight per path. */
  alpha: number
  /** Paths that share no peer. */
  paths: number
  /** The longest one peer may take to answer (ms); a silent peer costs its path this much. */
  queryTimeout: number
  /** Key-space density limits (density.ts). */
  density: Partial<typeof DENSITY_DEFAULTS>
}

/** alpha and paths as DHT_TUNING pins them for kad-dht; 5 s is kad-dht's own answer timeout floor. */
export const HARDENING_DEFAULTS: HardeningInit = { alpha: 10, paths: 10, queryTimeout: 5_000, density: {} }

type DHTNode = Libp2p<{ dht: KadDHT }>

/** What kad-dht's class has and its exported interface does not say. */
interface KadInternals {
  protocol: string
  routingTable: { kBucketSize: number, size: number, closestPeers(kadId: Uint8Array, options: { count: number }): PeerId[] }
  /** This node's own copy of a record (validated; throws when there is none). */
  contentFetching: { getLocal(key: Uint8Array, options?: AbortOptions): Promise<{ value: Uint8Array }> }
}

export interface HardenedReply { from: PeerId, message: KadMessage }
/** Called with each answer; true stops the walk. */
export type OnReply = (reply: HardenedReply) => boolean | Promise<boolean>

export interface WalkResult { closest: PeerId[], stopped: boolean, asked: number }

export interface RecordValidation {
  /** Throws when `value` is not a valid record under `key`. */
  validate: (key: Uint8Array, value: Uint8Array) => Promise<void>
  /** The index of the best of `values` (all valid). */
  select: (key: Uint8Array, values: Uint8Array[]) => number | Promise<number>
}

const sha256 = (bytes: Uint8Array): Uint8Array => createHash('sha256').update(bytes).digest()
const peerKey = (peer: PeerId): Uint8Array => sha256(peer.toMultihash().bytes)

/** A key (random bytes) whose SHA-256 lies within `offset` XOR `kadId`'s first bits, for a walk beside a cluster. */
export function mineKeyBeside (kadId: Uint8Array, offset: number): Uint8Array {
  const depth = subtreeDepth(offset)
  const bits = Math.min(24, Math.max(1, depth + 2))
  const target = Uint8Array.from(kadId)
  // flip the bit that the offset's leading bit stands for
  const lead = Math.max(0, depth - 1)
  target[lead >> 3] ^= 0x80 >> (lead & 7)
  for (;;) {
    const key = randomBytes(32)
    const hash = sha256(key)
    let same = true
    for (let b = 0; b < bits && same; b++) same = ((hash[b >> 3] ^ target[b >> 3]) & (0x80 >> (b & 7))) === 0
    if (same) return key
  }
}

export class HardenedLookups {
  private readonly libp2p: DHTNode
  private readonly init: HardeningInit
  private readonly internals: KadInternals

  constructor (libp2p: DHTNode, init: Partial<HardeningInit> = {}) {
    this.libp2p = libp2p
    this.init = { ...HARDENING_DEFAULTS, ...init }
    this.internals = libp2p.services.dht as unknown as KadInternals
  }

  get k (): number { return this.internals.routingTable.kBucketSize }

  /** n as this node's own neighbourhood shows it (density.ts says why not the key's). */
  networkSize (): number {
    const self = peerKey(this.libp2p.peerId)
    const near = this.internals.routingTable.closestPeers(self, { count: this.k })
    return Math.max(this.internals.routingTable.size + 1, estimateNetworkSize(near.map(p => keyDistance(peerKey(p), self)), this.k))
  }

  /**
   * Whether `peers` (the closest to `key` some other walk found: kad-dht's provide) look
   * like a Sybil cluster, so that a widened store is worth its walks (density.ts).
   */
  looksAttacked (key: Uint8Array, peers: PeerId[]): boolean {
    const kadId = sha256(key)
    return judgeDensity(peers.map(p => keyDistance(peerKey(p), kadId)), this.networkSize(), this.k, this.init.density).suspicious
  }

  /** Sends `message` to `peer` and reads its answer, within the query timeout. */
  async ask (peer: PeerId, message: KadMessage, options: AbortOptions = {}): Promise<KadMessage | undefined> {
    const signal = AbortSignal.any([AbortSignal.timeout(this.init.queryTimeout), ...(options.signal === undefined ? [] : [options.signal])])
    try {
      const stream = await this.libp2p.dialProtocol(peer, this.internals.protocol, { signal })
      return await exchangeMessage(stream, message, { signal })
    } catch (err) {
      options.signal?.throwIfAborted()
      log('%p did not answer: %s', peer, (err as Error).message)
      return undefined
    }
  }

  /**
   * A walk for the `want` peers closest to SHA-256(`key`), sending `type` queries on
   * `paths` disjoint paths of `alpha` queries each.
   */
  async walk (key: Uint8Array, type: number, want: number, onReply: OnReply, options: AbortOptions = {}): Promise<WalkResult> {
    const kadId = sha256(key)
    const self = this.libp2p.peerId
    const distance = new Map<string, number>()
    const d = (p: PeerId): number => {
      const id = p.toString()
      let v = distance.get(id)
      if (v === undefined) { v = keyDistance(peerKey(p), kadId); distance.set(id, v) }
      return v
    }
    const start = this.internals.routingTable.closestPeers(kadId, { count: Math.max(this.k, want) }).sort(() => Math.random() - 0.5)
    const paths = Math.max(1, Math.min(this.init.paths, start.length))
    const queues: PeerId[][] = Array.from({ length: paths }, () => [])
    start.forEach((p, i) => queues[i % paths].push(p))
    const pathSeen = queues.map(q => new Set(q.map(p => p.toString())))
    const closest: PeerId[][] = queues.map(() => [])
    const claimed = new Set<string>()
    const responded = new Map<string, PeerId>()
    let asked = 0
    let stopped = false
    const canAdd = (path: number, p: PeerId): boolean => closest[path].length < want || d(p) < d(closest[path][closest[path].length - 1])
    const runPath = async (path: number): Promise<void> => {
      const inFlight = new Set<Promise<void>>()
      const next = (): PeerId | undefined => {
        queues[path].sort((a, b) => d(a) - d(b))
        while (queues[path].length > 0) {
          const p = queues[path].shift() as PeerId
          if (!canAdd(path, p) || claimed.has(p.toString())) continue
          claimed.add(p.toString())
          return p
        }
        return undefined
      }
      const query = async (peer: PeerId): Promise<void> => {
        asked++
        const answer = await this.ask(peer, { type, key, closer: [], providers: [] }, options)
        if (answer === undefined || stopped) return
        responded.set(peer.toString(), peer)
        closest[path].push(peer)
        closest[path].sort((a, b) => d(a) - d(b))
        if (closest[path].length > want) closest[path].length = want
        for (const c of answer.closer) {
          const id = c.id.toString()
          if (c.id.equals(self) || d(c.id) >= d(peer) || pathSeen[path].has(id) || claimed.has(id) || !canAdd(path, c.id)) continue
          pathSeen[path].add(id)
          if (c.multiaddrs.length > 0) await this.libp2p.peerStore.merge(c.id, { multiaddrs: c.multiaddrs }).catch(() => {})
          queues[path].push(c.id)
        }
        if (await onReply({ from: peer, message: answer })) stopped = true
      }
      for (;;) {
        while (!stopped && inFlight.size < this.init.alpha) {
          const peer = next()
          if (peer === undefined) break
          const p = query(peer).finally(() => { inFlight.delete(p) })
          inFlight.add(p)
        }
        if (inFlight.size === 0 || stopped) break
        await Promise.race(inFlight)
        options.signal?.throwIfAborted()
      }
      await Promise.allSettled(inFlight)
    }
    await Promise.all(queues.map(async (_, path) => { await runPath(path) }))
    options.signal?.throwIfAborted()
    const all = [...responded.values()].sort((a, b) => d(a) - d(b))
    return { closest: all.slice(0, want), stopped, asked }
  }

  /**
   * The peers a record under `key` belongs with: the k closest, or, around a cluster too
   * dense for the network's size, the cluster and the k closest past it. Every peer in
   * the answer has been sent a `type` query, and `onReply` saw each answer.
   */
  async closest (key: Uint8Array, type: number, onReply: OnReply = () => false, options: AbortOptions = {}): Promise<WalkResult & { widened: boolean }> {
    const k = this.k
    const kadId = sha256(key)
    const n = this.networkSize()
    const threshold = this.init.density.threshold ?? DENSITY_DEFAULTS.threshold
    const first = await this.walk(key, type, Math.ceil(threshold * k), onReply, options)
    const distances = (peers: Iterable<PeerId>): number[] => [...peers].map(p => keyDistance(peerKey(p), kadId))
    const verdict = judgeDensity(distances(first.closest), n, k, this.init.density)
    if (first.stopped || !verdict.suspicious) return { ...first, closest: first.closest.slice(0, k), widened: false }
    log('%d peers near %b where n=%d predicts %d: widening to %d', verdict.observed, kadId, Math.round(n), k, verdict.widenTo)
    const found = new Map(first.closest.map(p => [p.toString(), p]))
    let asked = first.asked
    for (const offset of sideOffsets(k, n)) {
      // beside a cluster, ids mined near its edge crowd a side walk's k closest too: ask for more
      const side = await this.walk(mineKeyBeside(kadId, offset), MESSAGE_TYPE.FIND_NODE, Math.ceil(threshold * k), () => false, options)
      asked += side.asked
      for (const p of side.closest) found.set(p.toString(), p)
    }
    const all = [...found.values()].sort((a, b) => keyDistance(peerKey(a), kadId) - keyDistance(peerKey(b), kadId))
    const widenTo = Math.max(verdict.widenTo, judgeDensity(distances(all), n, k, this.init.density).widenTo)
    // k more than the count calls for: the store and the lookup each meet the honest peers past the cluster by random walks, and the margin is what makes their sets overlap
    const widened = all.slice(0, widenTo + k)
    const already = new Set(first.closest.map(p => p.toString()))
    let stopped = false
    await Promise.all(widened.filter(p => !already.has(p.toString())).map(async peer => {
      asked++
      const answer = await this.ask(peer, { type, key, closer: [], providers: [] }, options)
      if (answer !== undefined && !stopped && await onReply({ from: peer, message: answer })) stopped = true
    }))
    return { closest: widened, stopped, asked, widened: true }
  }

  /**
   * Providers of `cid` that served a block which hashed right (`verify` fetches it);
   * answers with those of the first answer that named one that did, or [] when none did.
   */
  async findProviders (cid: CID, verify: (peer: PeerId, options: AbortOptions) => Promise<boolean>, options: AbortOptions = {}): Promise<PeerInfo[]> {
    const tried = new Set<string>()
    const good: PeerInfo[] = []
    // a second walk, as findProvidersReliably does: walks are random, and one may miss the few honest holders past a cluster
    for (let attempt = 0; attempt < 2 && good.length === 0; attempt++) {
      await this.closest(cid.multihash.bytes, MESSAGE_TYPE.GET_PROVIDERS, async ({ from, message }) => {
        // the providers one answer names are tried at once: a list of fakes costs one timeout, not one each
        await Promise.all(message.providers.map(async provider => {
          const id = provider.id.toString()
          if (tried.has(id) || provider.id.equals(this.libp2p.peerId)) return
          tried.add(id)
          if (provider.multiaddrs.length > 0) await this.libp2p.peerStore.merge(provider.id, { multiaddrs: provider.multiaddrs }).catch(() => {})
          if (await verify(provider.id, options).catch(() => false)) good.push({ id: provider.id, multiaddrs: provider.multiaddrs })
          else log('%p named %p as a provider of %c, which did not serve it', from, provider.id, cid)
        }))
        return good.length > 0
      }, options)
    }
    return good
  }

  /** The best valid record under `key` over every answer of the walk and this node's own copy (a replayed old one cannot win). */
  async getRecord (key: Uint8Array, validation: RecordValidation, options: AbortOptions = {}): Promise<Uint8Array | undefined> {
    const values: Uint8Array[] = []
    // as kad-dht's get does: a node that holds the record (one of the closest, or the publisher) counts its own copy
    const local = await this.internals.contentFetching.getLocal(key, options).catch(() => undefined)
    if (local !== undefined) {
      try {
        await validation.validate(key, local.value)
        values.push(local.value)
      } catch { /* expired since it was stored */ }
    }
    await this.closest(key, MESSAGE_TYPE.GET_VALUE, async ({ message }) => {
      const value = message.record?.value
      if (value === undefined || value.length === 0) return false
      try {
        await validation.validate(key, value)
        values.push(value)
      } catch {
        log('an invalid record under %b', key)
      }
      return false
    }, options)
    if (values.length === 0) return undefined
    return values[await validation.select(key, values)]
  }

  /** Announces that this node provides `cid` to every peer `closest` finds (the cluster and past it, when widened). */
  async provide (cid: CID, options: AbortOptions = {}): Promise<number> {
    const { closest } = await this.closest(cid.multihash.bytes, MESSAGE_TYPE.FIND_NODE, () => false, options)
    const self = { id: this.libp2p.peerId, multiaddrs: this.libp2p.getMultiaddrs() }
    const addProvider = async (peer: PeerId): Promise<number> => {
      const signal = AbortSignal.any([AbortSignal.timeout(this.init.queryTimeout), ...(options.signal === undefined ? [] : [options.signal])])
      try {
        const stream = await this.libp2p.dialProtocol(peer, this.internals.protocol, { signal })
        await sendMessage(stream, { type: MESSAGE_TYPE.ADD_PROVIDER, key: cid.multihash.bytes, closer: [], providers: [self] }, { signal })
        return 1
      } catch {
        return 0
      }
    }
    // a busy peer that missed the first try gets a second: past a cluster, few peers hold the record
    const took = await Promise.all(closest.map(async peer => await addProvider(peer) || await addProvider(peer)))
    return took.reduce<number>((a, b) => a + b, 0)
  }
}

/** weft's hardened lookups over a node's kad-dht. */
export function createHardenedLookups (libp2p: DHTNode, init: Partial<HardeningInit> = {}): HardenedLookups {
  return new HardenedLookups(libp2p, init)
}

/** Site records are IPNS records: valid when the signature and validity hold, best by sequence. */
export const IPNS_VALIDATION: RecordValidation = {
  validate: async (key, value) => { await ipnsValidator(key, value) },
  select: (key, values) => ipnsSelector(key, values)
}
