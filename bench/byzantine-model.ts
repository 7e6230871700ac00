/**
 * A model of weft's DHT lookups at 10,000 nodes, deterministic from a seed: Kademlia
 * tables (k-buckets over 32-bit ids), iterative walks with alpha and disjoint paths as
 * kad-dht 16.4.5 runs them, and as src/routing/hardened.ts runs them, against
 * adversaries that drop queries, point at each other, return fake providers and stale
 * records, sit in Sybil clusters next to target keys, or eclipse one honest node.
 *
 * What it leaves out: time (a walk runs in rounds; a dropped query costs a round, not a
 * timeout), churn, and NAT. Density judging and the diversity limit are weft's own
 * functions (src/routing/density.ts, diversity.ts), not copies.
 */
import { judgeDensity, estimateNetworkSize, sideOffsets, DENSITY_DEFAULTS } from '../src/routing/density.ts'
import { PrefixLimit, DIVERSITY_DEFAULTS } from '../src/routing/diversity.ts'

export type Attack = 'none' | 'drop' | 'wrong-closest' | 'fake-providers' | 'sybil' | 'eclipse'
export type Mode = 'defaults' | 'hardened'

export interface ModelInit {
  nodes: number
  /** Adversarial nodes as a share of all nodes. */
  share: number
  attack: Attack
  mode: Mode
  seed: number
  /** Lookups measured (each: one publish, one closest-peers walk, one provider lookup, one record get). */
  lookups: number
  k: number
  alpha: number
  paths: number
  /** Sybil clusters: target keys the attacker's ids are spread over. */
  sybilTargets: number
  /** /16 prefixes the attacker's nodes sit in (cheap ids, few hosts). */
  attackerPrefixes: number
  /** Records a default get stops at (weft's sites ask for 4). */
  quorum: number
}

export const MODEL_DEFAULTS: Omit<ModelInit, 'share' | 'attack' | 'mode'> = {
  nodes: 10_000, seed: 1, lookups: 200, k: 20, alpha: 10, paths: 10, sybilTargets: 20, attackerPrefixes: 16, quorum: 4
}

export interface ModelResult {
  /** Walks whose answer held the honest peer closest to the key. */
  lookup: number
  /** Provider lookups that ended with a provider serving the right block. */
  content: number
  /** Record gets that returned the newest record. */
  freshness: number
  /** Queries sent per lookup (all four walks), the cost. */
  queries: number
}

const SPACE = 2 ** 32

function mulberry32 (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / SPACE
  }
}

const dist = (a: number, b: number): number => (a ^ b) >>> 0

interface Reply { closer: number[], providers: number[], record: number }
/** What a holder of a key keeps: the provider (the publisher) and the record's version. */
interface Held { provider: number, version: number }

class World {
  readonly init: ModelInit
  readonly random: () => number
  readonly ids: Uint32Array
  readonly adversary: Uint8Array
  readonly ips: string[]
  readonly tables: Int32Array[] = []
  readonly stores = new Map<number, Map<number, Held>>()
  readonly targets: number[] = []
  readonly victim: number
  private readonly sorted: Int32Array
  private readonly adversaryCache = new Map<number, number[]>()
  private readonly adversaries: number[] = []
  queries = 0

  constructor (init: ModelInit) {
    this.init = init
    this.random = mulberry32(init.seed * 7919 + Math.round(init.share * 1000) * 31 + init.attack.length)
    const n = init.nodes
    const bad = init.attack === 'none' ? 0 : Math.round(n * init.share)
    this.ids = new Uint32Array(n)
    this.adversary = new Uint8Array(n)
    this.ips = []
    for (let t = 0; t < init.sybilTargets; t++) this.targets.push(Math.floor(this.random() * SPACE))
    for (let i = 0; i < n; i++) {
      const evil = i >= n - bad
      this.adversary[i] = evil ? 1 : 0
      if (evil) this.adversaries.push(i)
      if (evil && init.attack === 'sybil') {
        // mined next to a target key, inside the distance where the closest honest peer sits
        const target = this.targets[i % init.sybilTargets]
        this.ids[i] = (target ^ Math.floor(this.random() * (SPACE / n))) >>> 0
      } else {
        this.ids[i] = Math.floor(this.random() * SPACE)
      }
      const wide = evil ? `${10 + Math.floor(this.random() * init.attackerPrefixes)}.1` : `${Math.floor(this.random() * 256)}.${Math.floor(this.random() * 256)}`
      this.ips.push(`${wide}.${Math.floor(this.random() * 256)}.${1 + Math.floor(this.random() * 254)}`)
    }
    this.sorted = Int32Array.from({ length: n }, (_, i) => i).sort((a, b) => this.ids[a] - this.ids[b])
    for (let i = 0; i < n; i++) this.tables.push(this.adversary[i] === 1 ? new Int32Array(0) : this.buildTable(i, false))
    this.victim = 0
    if (init.attack === 'eclipse') this.tables[this.victim] = this.buildTable(this.victim, true)
  }

  /** Index range in `sorted` of ids in [lo, hi). */
  private range (lo: number, hi: number): [number, number] {
    const first = (v: number): number => {
      let a = 0; let b = this.sorted.length
      while (a < b) { const m = (a + b) >> 1; if (this.ids[this.sorted[m]] < v) a = m + 1; else b = m }
      return a
    }
    return [first(lo), first(hi)]
  }

  /** k peers per bucket, near buckets first; `eclipsed` fills each bucket with adversaries first. */
  private buildTable (self: number, eclipsed: boolean): Int32Array {
    const { k } = this.init
    const limit = new PrefixLimit(this.init.mode === 'hardened' ? { ...DIVERSITY_DEFAULTS, includePrivate: true } : { perNarrowPrefix: 0, perWidePrefix: 0, includePrivate: true })
    const id = this.ids[self]
    const out: number[] = []
    for (let cpl = 31; cpl >= 0; cpl--) {
      const size = 2 ** (31 - cpl)
      const lo = Math.floor((((id >>> (31 - cpl)) ^ 1) >>> 0) * size)
      const [a, b] = this.range(lo, lo + size)
      if (a >= b) continue
      const members: number[] = []
      if (eclipsed) for (let j = a; j < b; j++) if (this.adversary[this.sorted[j]] === 1) members.push(this.sorted[j])
      const tried = new Set<number>()
      for (let attempt = 0; attempt < 4 * k && tried.size < b - a; attempt++) {
        const j = this.sorted[a + Math.floor(this.random() * (b - a))]
        if (!tried.has(j)) { tried.add(j); members.push(j) }
      }
      let taken = 0
      for (const m of members) {
        if (taken >= k) break
        if (m === self || out.includes(m)) continue
        if (!limit.admit(String(m), this.ips[m])) continue
        out.push(m)
        taken++
      }
    }
    return Int32Array.from(out)
  }

  closestOf (candidates: ArrayLike<number>, key: number, count: number, except = -1): number[] {
    // a bounded insertion sort: tables hold a few hundred peers and count is k
    const best: number[] = []
    const far: number[] = []
    for (let i = 0; i < candidates.length; i++) {
      const c = candidates[i]
      if (c === except) continue
      const dc = dist(this.ids[c], key)
      if (best.length === count && dc >= far[count - 1]) continue
      let j = best.length < count ? best.length : count - 1
      while (j > 0 && far[j - 1] > dc) { best[j] = best[j - 1]; far[j] = far[j - 1]; j-- }
      best[j] = c; far[j] = dc
    }
    return best
  }

  adversariesNear (key: number): number[] {
    let near = this.adversaryCache.get(key)
    if (near === undefined) {
      near = this.closestOf(this.adversaries, key, this.init.k)
      this.adversaryCache.set(key, near)
    }
    return near
  }

  closestHonest (key: number): number {
    let best = -1
    for (let i = 0; i < this.ids.length; i++) {
      if (this.adversary[i] === 1) continue
      if (best < 0 || dist(this.ids[i], key) < dist(this.ids[best], key)) best = i
    }
    return best
  }

  /** One query; undefined when the peer drops it. */
  ask (peer: number, from: number, key: number): Reply | undefined {
    this.queries++
    const attack = this.init.attack
    if (this.adversary[peer] === 1) {
      if (attack === 'drop') return undefined
      const closer = this.adversariesNear(key).filter(p => p !== peer)
      if (attack === 'wrong-closest') return { closer, providers: [], record: 0 }
      // fake-providers, sybil, eclipse: the attacker's own ids as providers, a replayed old record
      return { closer, providers: attack === 'sybil' ? [] : [closer[0] ?? peer], record: 1 }
    }
    const held = this.stores.get(key)?.get(peer)
    return { closer: this.closestOf(this.tables[peer], key, this.init.k, from), providers: held === undefined ? [] : [held.provider], record: held?.version ?? 0 }
  }

  /** Where `peer` stores what `publisher` announces; adversaries throw it away. */
  store (peer: number, key: number, publisher: number): void {
    if (this.adversary[peer] === 1) return
    let held = this.stores.get(key)
    if (held === undefined) { held = new Map(); this.stores.set(key, held) }
    held.set(peer, { provider: publisher, version: 2 })
  }
}

interface WalkResult { closest: number[], stopped: boolean }

/**
 * An iterative walk towards `key` for the `want` closest peers. `disjoint: 'kad-dht'` is
 * kad-dht 16.4.5's query manager: one seen-filter shared by every path and marked when a
 * peer is queued, so a peer a converged path skips is lost to all paths. `'strict'` is
 * weft's: a peer is claimed by the path that queries it, and stays open to other paths
 * until then. `onReply` returns true to stop the walk.
 */
function walk (world: World, from: number, key: number, want: number, disjoint: 'kad-dht' | 'strict', onReply: (peer: number, reply: Reply) => boolean): WalkResult {
  const { k, alpha, paths } = world.init
  const start = world.closestOf(world.tables[from], key, Math.max(k, want))
  for (let i = start.length - 1; i > 0; i--) { const j = Math.floor(world.random() * (i + 1)); [start[i], start[j]] = [start[j], start[i]] }
  const queues: number[][] = Array.from({ length: Math.min(paths, start.length) }, () => [])
  start.forEach((p, i) => queues[i % queues.length].push(p))
  const closest: number[][] = queues.map(() => [])
  const seen = new Set<number>(start)
  const pathSeen = queues.map(q => new Set<number>(q))
  const claimed = new Set<number>()
  const responded: number[] = []
  const d = (p: number): number => dist(world.ids[p], key)
  const canAdd = (path: number, p: number): boolean => closest[path].length < want || d(p) < d(closest[path][closest[path].length - 1])
  for (;;) {
    const round: Array<[number, number]> = []
    queues.forEach((queue, path) => {
      queue.sort((a, b) => d(a) - d(b))
      let taken = 0
      while (queue.length > 0 && taken < alpha) {
        const p = queue.shift() as number
        if (!canAdd(path, p)) continue
        if (disjoint === 'strict') { if (claimed.has(p)) continue; claimed.add(p) }
        round.push([path, p]); taken++
      }
    })
    if (round.length === 0) break
    for (let i = round.length - 1; i > 0; i--) { const j = Math.floor(world.random() * (i + 1)); [round[i], round[j]] = [round[j], round[i]] }
    for (const [path, peer] of round) {
      const reply = world.ask(peer, from, key)
      if (reply === undefined) continue
      closest[path].push(peer)
      closest[path].sort((a, b) => d(a) - d(b))
      if (closest[path].length > want) closest[path].length = want
      responded.push(peer)
      for (const c of reply.closer) {
        if (c === from || d(c) >= d(peer) || !canAdd(path, c)) continue
        if (disjoint === 'kad-dht') { if (seen.has(c)) continue; seen.add(c) } else { if (pathSeen[path].has(c) || claimed.has(c)) continue; pathSeen[path].add(c) }
        queues[path].push(c)
      }
      if (onReply(peer, reply)) return { closest: world.closestOf([...new Set(responded)], key, want), stopped: true }
    }
  }
  return { closest: world.closestOf([...new Set(responded)], key, want), stopped: false }
}

const none = (): boolean => false

/**
 * The closest peers weft would store on or look up: the k closest, or, when they are too
 * dense, the cluster plus the k closest honest-looking peers past it. Honest peers answer
 * with their k closest, which near a cluster are all Sybils, so the peers past it are found
 * by walks towards keys beside the cluster (hardened.ts mines such keys), then asked.
 */
function hardenedClosest (world: World, from: number, key: number, networkSize: number, onReply: (peer: number, reply: Reply) => boolean = none): WalkResult {
  const { k } = world.init
  const first = walk(world, from, key, DENSITY_DEFAULTS.threshold * k, 'strict', onReply)
  if (first.stopped) return first
  const verdict = judgeDensity(first.closest.map(p => dist(world.ids[p], key) / SPACE), networkSize, k)
  if (!verdict.suspicious) return { closest: first.closest.slice(0, k), stopped: false }
  const found = new Set(first.closest)
  for (const offset of sideOffsets(k, networkSize)) {
    for (const p of walk(world, from, (key ^ Math.floor(offset * SPACE)) >>> 0, DENSITY_DEFAULTS.threshold * k, 'strict', none).closest) found.add(p)
  }
  // judged again over everything met: the cluster is bigger than one walk's want
  const widenTo = judgeDensity([...found].map(p => dist(world.ids[p], key) / SPACE), networkSize, k).widenTo
  const widened = world.closestOf([...found], key, Math.max(verdict.widenTo, widenTo) + k)
  for (const p of widened) {
    if (first.closest.includes(p)) continue
    const reply = world.ask(p, from, key)
    if (reply !== undefined && onReply(p, reply)) return { closest: widened, stopped: true }
  }
  return { closest: widened, stopped: false }
}

/** Runs one cell of the table: `lookups` publishes and lookups in one world. */
export function runModel (init: ModelInit): ModelResult {
  const world = new World(init)
  const { k, quorum } = init
  const honest = (): number => { for (;;) { const i = Math.floor(world.random() * init.nodes); if (world.adversary[i] === 0 && i !== world.victim) return i } }
  // each node knows n from its own neighbourhood, not from the keys it looks up
  const sizeOf = (node: number): number => estimateNetworkSize(world.closestOf(world.tables[node], world.ids[node], k).map(p => dist(world.ids[p], world.ids[node]) / SPACE), k)
  let lookups = 0; let content = 0; let fresh = 0
  for (let i = 0; i < init.lookups; i++) {
    const key = init.attack === 'sybil' ? world.targets[i % world.targets.length] : Math.floor(world.random() * SPACE)
    const publisher = honest()
    const requester = init.attack === 'eclipse' ? world.victim : honest()
    const truth = world.closestHonest(key)
    if (init.mode === 'defaults') {
      for (const p of walk(world, publisher, key, k, 'kad-dht', none).closest) world.store(p, key, publisher)
      if (walk(world, requester, key, k, 'kad-dht', none).closest.includes(truth)) lookups++
      // weft's findProvidersReliably: the first answer with providers, two walks at most
      let found: number[] = []
      for (let attempt = 0; attempt < 2 && found.length === 0; attempt++) {
        walk(world, requester, key, k, 'kad-dht', (_, reply) => { if (reply.providers.length > 0) found = reply.providers; return found.length > 0 })
      }
      if (found.includes(publisher)) content++
      // kad-dht's get under weft's sites: stop at `quorum` records, keep the newest
      const records: number[] = []
      walk(world, requester, key, k, 'kad-dht', (_, reply) => { if (reply.record > 0) records.push(reply.record); return records.length >= quorum })
      if (Math.max(0, ...records) === 2) fresh++
    } else {
      for (const p of hardenedClosest(world, publisher, key, sizeOf(publisher)).closest) world.store(p, key, publisher)
      const size = sizeOf(requester)
      if (hardenedClosest(world, requester, key, size).closest.includes(truth)) lookups++
      // providers are believed only once one serves a block that hashes right
      let verified = false
      hardenedClosest(world, requester, key, size, (_, reply) => { verified = reply.providers.includes(publisher); return verified })
      if (verified) content++
      // every valid record the walk meets, the newest kept: a replayed old one cannot win
      let best = 0
      hardenedClosest(world, requester, key, size, (_, reply) => { best = Math.max(best, reply.record); return false })
      if (best === 2) fresh++
    }
  }
  const share = (x: number): number => x / init.lookups
  return { lookup: share(lookups), content: share(content), freshness: share(fresh), queries: world.queries / init.lookups }
}
