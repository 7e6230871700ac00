/**
 * How weft uses kad-dht in small private networks (tens of nodes, often on one LAN or one
 * host): the init options, how a node joins, and lookups that do not give up on the
 * first quiet walk. Measured with scratch/dht/probe.ts: 30 nodes on 127.0.0.1.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { AbortOptions, Libp2p, PeerId, PeerInfo } from '@libp2p/interface'
import type { KadDHT, KadDHTInit, QueryEvent, Selectors } from '@libp2p/kad-dht'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { CID } from 'multiformats/cid'

/** Spread into `kadDHT({ protocol, ..., ...DHT_TUNING })` for a private network. */
export const DHT_TUNING = {
  // 20 replicas per record: two thirds of a 30-node network, so a walk from anywhere meets one.
  kBucketSize: 20,
  // kad-dht 16's defaults, pinned: a walk starts from the 20 closest known peers in 10
  // disjoint paths, so one slow or dead peer holds up one path, not the answer. 3 x 3
  // found as often at 30 nodes; more paths keep the first answer fast when peers stall.
  alpha: 10,
  disjointPaths: 10,
  // Nodes that joined early learn about later ones from this walk; in a small network it
  // costs one short walk a minute, against 5 minutes of lopsided routing tables by default.
  querySelfInterval: 60_000,
  // A node with no peers (the first of a network, or offline) answers "not found" at once
  // instead of waiting for a peer; joinNetwork below does the waiting where it belongs.
  allowQueryWithZeroPeers: true
} satisfies Partial<KadDHTInit>

/**
 * libp2p's connectionManager refuses more than 5 inbound connections a second from one IP.
 * Every peer of a loopback network (or behind one NAT) shares an IP, so a joining node's
 * walk dials into refusals; createNet should pass this for private networks.
 */
export const CONNECTION_TUNING = {
  inboundConnectionThreshold: 100,
  maxIncomingPendingConnections: 64
}

type DHTNode = Libp2p<{ dht: KadDHT }>

export interface JoinOptions extends AbortOptions {
  /** First wait between rounds of dialling the bootstrap peers (ms); doubles up to 5 s. */
  retryDelay?: number
  /** Longest one self walk may take (ms, default 30 s); what it met by then stays in the table. */
  walkTimeout?: number
}

/**
 * Join a network: dial the bootstrap peers until one is in the routing table, walk towards
 * our own id (Kademlia's join) until the table stops growing, and refresh every bucket.
 * Resolves with the routing table size. Peers are dialled again until `signal` aborts,
 * because libp2p's bootstrap module dials once and a refused dial leaves the node alone.
 */
export async function joinNetwork (libp2p: DHTNode, peers: Multiaddr[], options: JoinOptions = {}): Promise<number> {
  const dht = libp2p.services.dht
  if (peers.length === 0) return routingTableSize(libp2p)
  let delay = options.retryDelay ?? 250
  for (;;) {
    await Promise.allSettled(peers.map(async peer => await libp2p.dial(peer, options)))
    // identify and a ping come before a peer enters the table: give them a moment
    for (let i = 0; i < 20 && routingTableSize(libp2p) === 0; i++) await sleep(50, undefined, options)
    if (routingTableSize(libp2p) > 0) break
    await sleep(delay, undefined, options)
    delay = Math.min(delay * 2, 5_000)
  }
  // the self walk fills the buckets near us, where our records' neighbours are; a walk in a
  // busy network meets only some peers, so walk again (at most 3 times) while the table grows
  for (let walk = 0, before = -1; walk < 3 && routingTableSize(libp2p) > before; walk++) {
    before = routingTableSize(libp2p)
    const walkSignal = AbortSignal.any([AbortSignal.timeout(options.walkTimeout ?? 30_000), ...(options.signal === undefined ? [] : [options.signal])])
    try {
      await drain(dht.getClosestPeers(libp2p.peerId.toMultihash().bytes, { ...options, signal: walkSignal }))
    } catch {
      // a walk cut short by walkTimeout still filled the table; the caller's abort is an error
      options.signal?.throwIfAborted()
    }
  }
  // the refresh (in the background) fills the far buckets
  await dht.refreshRoutingTable(options)
  return routingTableSize(libp2p)
}

export interface PublishOptions extends AbortOptions {
  /** Peers that must take the record (default: 10, or every peer we know when fewer). */
  minPeers?: number
  /** Walks to try while fewer took it (default 2). */
  attempts?: number
  /** Called with each peer that took the record (hardened routing judges their density). */
  onPeer?: (peer: PeerId) => void
}

/**
 * Announce that we provide `cid`; resolves with how many peers took the record. A walk
 * that met only slow peers leaves the record with one or two of them, where a later
 * lookup may not look, so a short count walks again.
 */
export async function provideReliably (libp2p: DHTNode, cid: CID, options: PublishOptions = {}): Promise<number> {
  return await publish(libp2p, 'ADD_PROVIDER', () => libp2p.services.dht.provide(cid, options), options)
}

/** Store `value` under `key` (its namespace needs a validator and a selector); as provideReliably. */
export async function putReliably (libp2p: DHTNode, key: Uint8Array, value: Uint8Array, options: PublishOptions = {}): Promise<number> {
  return await publish(libp2p, 'PUT_VALUE', () => libp2p.services.dht.put(key, value, options), options)
}

async function publish (libp2p: DHTNode, kind: 'ADD_PROVIDER' | 'PUT_VALUE', walk: () => AsyncIterable<QueryEvent>, options: PublishOptions): Promise<number> {
  const took = new Set<string>()
  const wanted = options.minPeers ?? Math.min(10, routingTableSize(libp2p))
  for (let attempt = 0; attempt < (options.attempts ?? 2) && (attempt === 0 || took.size < wanted); attempt++) {
    for await (const event of walk()) {
      if (event.name === 'PEER_RESPONSE' && event.messageName === kind && !took.has(event.from.toString())) {
        took.add(event.from.toString())
        options.onPeer?.(event.from)
      }
    }
  }
  return took.size
}

export interface LookupOptions extends AbortOptions {
  /** Walks to try before answering "none" (default 2); peers that answered the first are in the table for the second. */
  attempts?: number
}

/**
 * Providers of `cid`: answers as soon as a walk meets one (stopping the walk), or [] once
 * `attempts` walks met none. Bound it with `signal`.
 */
export async function findProvidersReliably (libp2p: DHTNode, cid: CID, options: LookupOptions = {}): Promise<PeerInfo[]> {
  const attempts = options.attempts ?? 2
  for (let attempt = 0; attempt < attempts; attempt++) {
    for await (const event of libp2p.services.dht.findProviders(cid, options)) {
      if (event.name === 'PROVIDER' && event.providers.length > 0) return event.providers
    }
    options.signal?.throwIfAborted()
  }
  return []
}

export interface RecordLookupOptions extends LookupOptions {
  /** Stop once this many peers returned a record and pick the best (default: walk to the end). */
  quorum?: number
  /** The selectors given to kadDHT, to pick the best record when the walk stops early. */
  selectors?: Selectors
}

/**
 * The best record under `key`, or undefined once `attempts` walks found none. kad-dht's
 * own get throws when it cannot send a correction to a peer holding an older record,
 * even though it found a good one; this keeps every valid record a peer returned and
 * picks the best with the selectors, so a stale or departing peer cannot cause a miss.
 */
export async function getRecordReliably (libp2p: DHTNode, key: Uint8Array, options: RecordLookupOptions = {}): Promise<Uint8Array | undefined> {
  const attempts = options.attempts ?? 2
  for (let attempt = 0; attempt < attempts; attempt++) {
    // kad-dht verified these with the validators before reporting them
    const records: Uint8Array[] = []
    let best: Uint8Array | undefined
    try {
      for await (const event of libp2p.services.dht.get(key, options)) {
        if (event.name === 'PEER_RESPONSE' && event.record != null) records.push(event.record.value)
        if (event.name === 'VALUE') best = event.value
        if (options.quorum !== undefined && records.length >= options.quorum) break
      }
    } catch (err) {
      // an abort with nothing in hand is the caller's answer; any other failure, try again
      if (records.length === 0 && options.signal?.aborted === true) throw err
    }
    if (best !== undefined) return best
    if (records.length > 0) return records[await selectRecord(key, records, options.selectors)]
    options.signal?.throwIfAborted()
  }
  return undefined
}

async function selectRecord (key: Uint8Array, records: Uint8Array[], selectors: Selectors = {}): Promise<number> {
  const namespace = new TextDecoder().decode(key).split('/')[1] ?? ''
  const select = selectors[namespace]
  return select === undefined || records.length === 1 ? 0 : await select(key, records)
}

/** kad-dht's class has the table; its exported interface does not. Connections stand in. */
function routingTableSize (libp2p: DHTNode): number {
  const table = (libp2p.services.dht as Partial<{ routingTable: { size: number } }>).routingTable
  return table?.size ?? libp2p.getConnections().length
}

async function drain (events: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of events) { /* the side effect is the routing table it fills */ }
}
