/**
 * Sweep providing: announcing many CIDs at once, as kubo's sweep provider does. kad-dht's
 * provide walks the DHT once per CID and opens one stream per record; 10,000 roots in a
 * 30-node network took about 50 minutes that way, because walks queue behind each other
 * inside kad-dht. Here the CIDs are sorted by Kademlia key and cut into regions of the key
 * space (keyspace.ts); a region costs one walk or a few, and each peer of a region gets
 * all of that region's records it is among the k closest to over one stream.
 *
 * Wire format: kad-dht's own protocol (`<prefix>/kad/1.0.0`): a stream of messages, each a
 * uvarint length then a protobuf `Message` of kad-dht's src/message/dht.proto:
 *   type (1, varint) = ADD_PROVIDER (2)
 *   key (2, bytes) = the CID's multihash
 *   providers (9, PeerInfo) = { id (1, bytes) = our peer id's multihash, multiaddrs (2, bytes, repeated) = our addresses }
 * Byte for byte what kad-dht's provide sends for one CID. kad-dht's handler reads messages
 * from a stream until it ends and answers none of these, so one stream carries them all;
 * when it has stored the last one it closes the stream (or resets it), which is how the
 * sender knows they arrived. kad-dht does not export its codec, so the encoding is here.
 */
import type { PeerId, Stream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import { logger } from '@libp2p/logger'
import { Key, type Datastore } from 'interface-datastore'
import { base32 } from 'multiformats/bases/base32'
import type { CID } from 'multiformats/cid'
import * as varint from 'uint8-varint'
import type { WeftLibp2p } from '../net/index.ts'
import { DHT_STORE } from './dht-store.ts'
import { DHT_TUNING } from './dht-tuning.ts'
import { Coverage, hasPrefix, prefixOf, preimageWithPrefix, sha256, type KnownPeer, type Prefix } from './keyspace.ts'

export const SWEEP = {
  // Explore the next region while the last one's records go out; more only adds load.
  regionsInFlight: 2,
  // Peers written to at once: a region has about 2k of them.
  peersInFlight: 32,
  // Messages per write on a stream (the stream's backpressure paces the rest).
  messagesPerWrite: 256,
  // One walk: as long as one provide was given before (index.ts PROVIDE_TIMEOUT).
  walkTimeout: 30_000,
  walkAttempts: 2,
  // A stream that failed is opened once more before the peer's records count as lost: on a
  // busy host a peer's kad-dht resets a stream now and then (2 shared cores, load 40).
  streamAttempts: 2,
  // A region holding few peers is widened by walks into its sibling; in a network that
  // thin this many walks cover it, and past them the known peers are used as they are.
  walksPerRegion: 16,
  // A stream gets this long, plus perKey for each record on it: kad-dht stores each record
  // (a datastore put and a peer store merge) before it reads the next.
  streamTimeout: 30_000,
  perKeyTimeout: 10
}

const log = logger('weft:routing:sweep')

export interface SweepComponents {
  /** the DHT to walk, the peer store to keep addresses in, and streams to the peers. */
  libp2p: WeftLibp2p
  /** Where kad-dht keeps provider records: ours go there too, as kad-dht's provide puts them. */
  datastore: Pick<Datastore, 'batch'>
}

/** The peers closest to `target` (bytes kad-dht hashes into a key) that answered, their addresses in the peer store. */
export type Walk = (target: Uint8Array, options: { signal: AbortSignal }) => Promise<PeerId[]>

export interface SweepOptions {
  signal?: AbortSignal
  /** Peers each record goes to (default: kad-dht's k). */
  replication?: number
  /**
   * How many of a walk's closest peers count as covering the key space (default: kad-dht's
   * k). Fewer make a small network behave like a large one (more regions, more walks).
   */
  walkWidth?: number
  /** kad-dht's walk by default; a test wraps it to make one fail. */
  walk?: Walk
  onProgress?: (done: number, total: number) => void
}

export interface SweepReport {
  /** CIDs at least one peer took a record for. */
  provided: number
  /** CIDs no peer took: their region's walk failed, or every peer it found failed. */
  failed: number
  failures: CID[]
  regions: number
  walks: number
  failedWalks: number
  streams: number
  failedStreams: number
  ms: number
}

/**
 * Whether kad-dht's ADD_PROVIDER handler takes `cid`: it reads the key as a CIDv0, so only
 * a SHA-256 multihash. Anything else is announced by kad-dht's own provide, as before.
 */
export function sweepable (cid: CID): boolean {
  return cid.multihash.code === 0x12 && cid.multihash.size === 32
}

interface Entry { cid: CID, mh: Uint8Array, key: Buffer }

export async function sweepProvide (components: SweepComponents, cids: Iterable<CID>, options: SweepOptions = {}): Promise<SweepReport> {
  const started = Date.now()
  const { libp2p } = components
  const dht = libp2p.services.dht as typeof libp2p.services.dht & Partial<{ protocol: string, routingTable: { kBucketSize: number, size: number } }>
  const protocol = dht.protocol ?? libp2p.getProtocols().find(p => p.endsWith('/kad/1.0.0'))
  const k = dht.routingTable?.kBucketSize ?? DHT_TUNING.kBucketSize
  const replication = options.replication ?? k
  const width = options.walkWidth ?? k
  const signal = options.signal ?? new AbortController().signal
  const walk = options.walk ?? dhtWalk(libp2p)
  const report: SweepReport = { provided: 0, failed: 0, failures: [], regions: 0, walks: 0, failedWalks: 0, streams: 0, failedStreams: 0, ms: 0 }

  // one record per multihash (a CIDv0 and a CIDv1 of it are one key), in key order
  const byHash = new Map<string, Entry>()
  for (const cid of cids) {
    const hex = base32.baseEncode(cid.multihash.bytes)
    if (!byHash.has(hex)) byHash.set(hex, { cid, mh: cid.multihash.bytes, key: sha256(cid.multihash.bytes) })
  }
  const entries = [...byHash.values()].sort((a, b) => Buffer.compare(a.key, b.key))
  if (entries.length === 0 || protocol === undefined) return { ...report, ms: Date.now() - started }

  await storeOwnRecords(components.datastore, libp2p.peerId, entries, signal)
  const coverage = new Coverage()
  const suffix = providerInfo(libp2p)

  const walkTo = async (target: Uint8Array): Promise<void> => {
    for (let attempt = 1; ; attempt++) {
      report.walks++
      try {
        const found = await walk(target, { signal: AbortSignal.any([signal, AbortSignal.timeout(SWEEP.walkTimeout)]) })
        const peers = found.filter(id => !id.equals(libp2p.peerId))
        coverage.addWalk(sha256(target), peers, width, peers.length >= (dht.routingTable?.size ?? libp2p.getConnections().length))
        return
      } catch (err) {
        report.failedWalks++
        signal.throwIfAborted()
        if (attempt >= SWEEP.walkAttempts) throw err
      }
    }
  }

  // The region of `first`: a covered prefix of its key holding at least `replication`
  // peers (or the whole key space, in a network smaller than that).
  // `exploring` is the prefix a failed walk costs: the region as far as it was known.
  let exploring: Prefix = ''
  const explore = async (first: Entry, from: number): Promise<Prefix> => {
    if (coverage.regionOf(first.key, replication) === undefined) await walkTo(first.mh)
    let region = coverage.regionOf(first.key, replication) as Prefix
    let walks = 0
    while (coverage.peersUnder(region).length < replication && region !== '' && walks < SWEEP.walksPerRegion) {
      region = region.slice(0, -1)
      exploring = region
      for (let gaps = coverage.gaps(region); gaps.length > 0 && walks < SWEEP.walksPerRegion; gaps = coverage.gaps(region), walks++) {
        // a key of ours in the gap is a target already; else bytes that hash into it
        const ours = entries.slice(from).find(e => hasPrefix(e.key, gaps[0]))
        const target = ours?.mh ?? preimageWithPrefix(gaps[0])
        if (target === undefined) break
        await walkTo(target)
      }
    }
    return coverage.regionOf(first.key, replication) ?? region
  }

  const sendRegion = async (region: Prefix, keys: Entry[]): Promise<void> => {
    const inRegion = coverage.peersUnder(region)
    const candidates = inRegion.length >= replication ? inRegion : [...coverage.peers.values()]
    const batches = new Map<string, { peer: KnownPeer, keys: number[] }>()
    keys.forEach((entry, i) => {
      for (const peer of Coverage.closest(entry.key, candidates, replication)) {
        const id = peer.id.toString()
        const batch = batches.get(id) ?? { peer, keys: [] }
        batch.keys.push(i)
        batches.set(id, batch)
      }
    })
    const took = new Uint16Array(keys.length)
    await eachLimited([...batches.values()], SWEEP.peersInFlight, async ({ peer, keys: mine }) => {
      const messages = mine.map(i => encodeAddProvider(keys[i].mh, suffix))
      for (let attempt = 1; attempt <= SWEEP.streamAttempts && !signal.aborted; attempt++) {
        report.streams++
        if (await sendRecords(libp2p, protocol, peer.id, messages, signal)) {
          for (const i of mine) took[i]++
          return
        }
        report.failedStreams++
      }
    })
    keys.forEach((entry, i) => {
      if (took[i] > 0) report.provided++
      else fail([entry])
    })
    log('region %s: %d keys to %d peers', region || '(all)', keys.length, batches.size)
  }

  const fail = (failed: Entry[]): void => {
    report.failed += failed.length
    report.failures.push(...failed.map(e => e.cid))
  }
  const progress = (): void => { options.onProgress?.(report.provided + report.failed, entries.length) }

  const inFlight = new Set<Promise<void>>()
  let depth = 0
  for (let i = 0; i < entries.length && !signal.aborted;) {
    let region: Prefix
    exploring = prefixOf(entries[i].key, depth)
    try {
      region = await explore(entries[i], i)
      depth = region.length
      report.regions++
    } catch (err) {
      if (signal.aborted) break
      // the keys of the region being explored fail (as deep as the last region when its
      // first walk failed); the rest go on with walks of their own
      const prefix = exploring
      const end = runEnd(entries, i, prefix)
      log('a walk for region %s failed, %d keys not provided: %s', prefix || '(all)', end - i, (err as Error).message)
      fail(entries.slice(i, end))
      progress()
      i = end
      continue
    }
    const end = runEnd(entries, i, region)
    const keys = entries.slice(i, end)
    i = end
    const sending = sendRegion(region, keys).finally(() => { inFlight.delete(sending); progress() })
    inFlight.add(sending)
    if (inFlight.size >= SWEEP.regionsInFlight) await Promise.race(inFlight)
  }
  await Promise.all(inFlight)
  const unsent = entries.length - report.provided - report.failed
  if (unsent > 0) report.failed += unsent
  return { ...report, ms: Date.now() - started }
}

/** The index past the run of `entries` (sorted by key) from `from` under `prefix`. */
function runEnd (entries: Entry[], from: number, prefix: Prefix): number {
  let end = from + 1
  while (end < entries.length && hasPrefix(entries[end].key, prefix)) end++
  return end
}

export function dhtWalk (libp2p: WeftLibp2p): Walk {
  return async (target, options) => {
    const peers: PeerId[] = []
    for await (const event of libp2p.services.dht.getClosestPeers(target, options)) {
      if (event.name !== 'FINAL_PEER') continue
      // the records go out after the walk: keep the way to each peer
      if (event.peer.multiaddrs.length > 0) await libp2p.peerStore.merge(event.peer.id, { multiaddrs: event.peer.multiaddrs }).catch(() => {})
      peers.push(event.peer.id)
    }
    return peers
  }
}

/** Our provider records in our own store, one batch, in kad-dht's layout (dht-store.ts). */
async function storeOwnRecords (datastore: SweepComponents['datastore'], self: PeerId, entries: Entry[], signal: AbortSignal): Promise<void> {
  const now = varint.encode(Date.now())
  const batch = datastore.batch()
  for (const e of entries) batch.put(new Key(`${DHT_STORE.prefix}/provider/${base32.baseEncode(e.mh)}/${self.toString()}`), now)
  await batch.commit({ signal })
}

/** Fields 9 (providers: us) of every message, encoded once. */
function providerInfo (libp2p: WeftLibp2p): Uint8Array {
  const parts = [field(1, libp2p.peerId.toMultihash().bytes), ...libp2p.getMultiaddrs().map(ma => field(2, ma.bytes))]
  return field(9, concat(parts))
}

export function encodeAddProvider (multihash: Uint8Array, providers: Uint8Array): Uint8Array {
  return concat([Uint8Array.of(0x08, 0x02), field(2, multihash), providers])
}

/** A length-delimited protobuf field: its tag (wire type 2), its length, its bytes. */
function field (number: number, bytes: Uint8Array): Uint8Array {
  return concat([varint.encode((number << 3) | 2), varint.encode(bytes.length), bytes])
}

function concat (parts: Uint8Array[]): Uint8Array {
  return Buffer.concat(parts)
}

/** Writes `messages` to `peer` over one stream; true once it closed the stream after reading them. */
async function sendRecords (libp2p: WeftLibp2p, protocol: string, peer: PeerId, messages: Uint8Array[], parent: AbortSignal): Promise<boolean> {
  const signal = AbortSignal.any([parent, AbortSignal.timeout(SWEEP.streamTimeout + messages.length * SWEEP.perKeyTimeout)])
  let stream: Stream | undefined
  try {
    stream = await libp2p.dialProtocol(peer, protocol, { signal })
    const lp = lpStream(stream)
    for (let i = 0; i < messages.length; i += SWEEP.messagesPerWrite) await lp.writeV(messages.slice(i, i + SWEEP.messagesPerWrite), { signal })
    await stream.close({ signal })
    await remoteDone(stream, signal)
    return true
  } catch (err) {
    log.error('records to %p failed: %s', peer, (err as Error).message)
    stream?.abort(err as Error)
    return false
  }
}

/** Resolves once the remote end has closed (or reset) `stream`: it read everything before. */
async function remoteDone (stream: Stream, signal: AbortSignal): Promise<void> {
  if (stream.status === 'closed' || stream.status === 'aborted' || stream.status === 'reset') return
  await new Promise<void>((resolve, reject) => {
    const done = (): void => { signal.removeEventListener('abort', abort); resolve() }
    const abort = (): void => { stream.removeEventListener('close', done); reject(signal.reason) }
    stream.addEventListener('close', done, { once: true })
    signal.addEventListener('abort', abort, { once: true })
  })
}

async function eachLimited<T> (items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++])
  }))
}
