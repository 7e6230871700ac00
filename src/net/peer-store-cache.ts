/**
 * A read cache in front of libp2p's peer store, for the components built after it
 * (identify, kad-dht, gossipsub, every connection's stream opening). libp2p 3's peer store
 * keeps nothing in memory: each `get` takes the peer's lock (a queue job and an
 * AbortError built per call), reads the datastore and decodes the entry, and each stream
 * opened on a connection, inbound or outbound, `merge`s its protocol into the remote peer's
 * entry (lock, read, decode, encode, write) even when the peer has long had it. A DHT
 * server answers each query with k peers read that way. In `bench users` (31 nodes on 2
 * cores) the peer store was a quarter of the followers' CPU.
 *
 * Here a peer read or written is kept for CACHE_MS, and a merge that adds nothing the kept
 * entry lacks (the same protocols, the same addresses) is not written: neither libp2p's
 * own (a protocol per stream) nor weft's routing, which merges the addresses every DHT
 * answer names so the peers can be dialled by id (k per answer, the same peers again and
 * again within a walk; `libp2p.peerStore` is this cache too). Writes made
 * elsewhere (libp2p's connection manager holds the store it was built with) reach the
 * cache by the store's 'peer:update' event; a deleted or expired peer stays readable here
 * for at most CACHE_MS, which the peer store's own hours-long expiry does not notice.
 */
import type { AbortOptions, Peer, PeerData, PeerId, PeerInfo, PeerQuery, PeerStore, PeerUpdate, TypedEventTarget, Libp2pEvents } from '@libp2p/interface'

/** How long a peer's entry is served from memory. */
export const CACHE_MS = 10_000
/** Peers kept at most, the most recently read from the store or written (a busy DHT names thousands). */
export const CACHE_MAX = 2_048

interface Entry { peer: Peer, at: number }

export class CachedPeerStore implements PeerStore {
  private readonly inner: PeerStore
  private readonly entries = new Map<string, Entry>()
  /** Bumped per peer by every write and update event: a read that started before one is not kept. */
  private readonly generations = new Map<string, number>()
  /** Bumped when `generations` is cleared (it is bounded): a read that started before is not kept either. */
  private epoch = 0
  readonly [Symbol.toStringTag] = 'weft:cached-peer-store'

  constructor (inner: PeerStore, events: TypedEventTarget<Libp2pEvents>) {
    this.inner = inner
    events.addEventListener('peer:update', evt => {
      const { peer } = (evt as CustomEvent<PeerUpdate>).detail
      this.bump(peer.id.toString())
      this.keep(peer.id.toString(), peer)
    })
  }

  private bump (id: string): void {
    this.generations.set(id, (this.generations.get(id) ?? 0) + 1)
    if (this.generations.size > CACHE_MAX * 2) {
      this.generations.clear()
      this.epoch++
    }
  }

  /** Where the peer's writes stand: compare before and after an await to know none came between. */
  private stamp (id: string): string {
    return `${this.epoch}/${this.generations.get(id) ?? 0}`
  }

  private keep (id: string, peer: Peer): void {
    this.entries.delete(id)
    this.entries.set(id, { peer, at: Date.now() })
    if (this.entries.size > CACHE_MAX) this.entries.delete(this.entries.keys().next().value as string)
  }

  private fresh (id: string): Peer | undefined {
    const entry = this.entries.get(id)
    if (entry === undefined) return undefined
    if (Date.now() - entry.at >= CACHE_MS) {
      this.entries.delete(id)
      return undefined
    }
    return entry.peer
  }

  async get (peerId: PeerId, options?: AbortOptions): Promise<Peer> {
    const id = peerId.toString()
    const kept = this.fresh(id)
    if (kept !== undefined) return kept
    const before = this.stamp(id)
    const peer = await this.inner.get(peerId, options)
    if (this.stamp(id) === before) this.keep(id, peer)
    return peer
  }

  async getInfo (peerId: PeerId, options?: AbortOptions): Promise<PeerInfo> {
    const peer = await this.get(peerId, options)
    return { id: peer.id, multiaddrs: peer.addresses.map(a => a.multiaddr) }
  }

  async has (peerId: PeerId, options?: AbortOptions): Promise<boolean> {
    return this.fresh(peerId.toString()) !== undefined || await this.inner.has(peerId, options)
  }

  async merge (id: PeerId, data: PeerData, options?: AbortOptions): Promise<Peer> {
    const kept = this.fresh(id.toString())
    if (kept !== undefined && addsNothing(kept, data)) return kept
    return await this.wrote(id, this.inner.merge(id, data, options))
  }

  async patch (id: PeerId, data: PeerData, options?: AbortOptions): Promise<Peer> {
    return await this.wrote(id, this.inner.patch(id, data, options))
  }

  async save (id: PeerId, data: PeerData, options?: AbortOptions): Promise<Peer> {
    return await this.wrote(id, this.inner.save(id, data, options))
  }

  private async wrote (id: PeerId, writing: Promise<Peer>): Promise<Peer> {
    const key = id.toString()
    this.bump(key)
    this.entries.delete(key)
    const before = this.stamp(key)
    try {
      const peer = await writing
      // another write (or its event) came in meanwhile: the store's answer to it is the newer one
      if (this.stamp(key) === before) this.keep(key, peer)
      return peer
    } finally {
      this.bump(key)
    }
  }

  async delete (peerId: PeerId, options?: AbortOptions): Promise<void> {
    const id = peerId.toString()
    this.bump(id)
    this.entries.delete(id)
    try {
      await this.inner.delete(peerId, options)
    } finally {
      // a read that missed while the delete ran (the store deletes under a read lock) is not kept
      this.bump(id)
      this.entries.delete(id)
    }
  }

  async consumePeerRecord (buf: Uint8Array, ...rest: unknown[]): Promise<boolean> {
    // the record names its peer inside; what it changed arrives as a 'peer:update' event
    return await (this.inner.consumePeerRecord as (buf: Uint8Array, ...rest: unknown[]) => Promise<boolean>)(buf, ...rest)
  }

  async forEach (fn: (peer: Peer) => void, query?: PeerQuery): Promise<void> {
    await this.inner.forEach(fn, query)
  }

  async all (query?: PeerQuery): Promise<Peer[]> {
    return await this.inner.all(query)
  }
}

/** Whether merging `data` into `peer` would leave it as it is: only protocols and addresses it already has. */
function addsNothing (peer: Peer, data: PeerData): boolean {
  for (const [key, value] of Object.entries(data)) {
    if (value === undefined) continue
    if (key === 'protocols') {
      if (!(value as string[]).every(p => peer.protocols.includes(p))) return false
    } else if (key === 'multiaddrs') {
      // the store keeps addresses without the peer's own /p2p/<id> suffix
      const suffix = `/p2p/${peer.id.toString()}`
      const bare = (m: { toString: () => string }): string => { const a = m.toString(); return a.endsWith(suffix) ? a.slice(0, -suffix.length) : a }
      const have = new Set(peer.addresses.map(a => bare(a.multiaddr)))
      if (!(value as Array<{ toString: () => string }>).every(m => have.has(bare(m)))) return false
    } else {
      return false
    }
  }
  return true
}

/**
 * A libp2p service factory that puts the cache in front of the peer store for everything
 * built after it (list it first among the services), and hands it to `created` so the
 * node's own `libp2p.peerStore` can be the same cache.
 */
export function peerStoreCache (created: (cache: CachedPeerStore) => void): (components: { peerStore: PeerStore, events: TypedEventTarget<Libp2pEvents> }) => object {
  return components => {
    const cache = new CachedPeerStore(components.peerStore, components.events)
    components.peerStore = cache
    created(cache)
    return {}
  }
}
