/**
 * Sync between a person's devices: moves each site's signed private index record between
 * the nodes that hold the same master key, and hands what arrives to the private store
 * (`applyRemote`), which fetches, opens and merges it. Sync itself never reads an index:
 * it sees only records, which are public anyway (they sit in the DHT).
 *
 * Per site, the index name is the IPNS name (`k51…`) of the site's index signing key, and:
 *   - topic `/weft/private/<index name>`: every change made here is pushed on it; a
 *     validator checks each push before anything else (size ≤ MAX_RECORD_BYTES, then the
 *     IPNS signature against the topic's index name), rejecting a bad one and penalising
 *     the peer that sent it, and only then applies it. Each peer has a token bucket of pushes
 *     (`peerBurst`, refilled at `peerRate` a second); a push past it is rejected and charged.
 *     A push the store finds older than the record held here ('older': that device is
 *     behind) is answered by publishing the held record on the topic, at most once per
 *     `answerInterval` for the same record, so the device behind merges and republishes
 *     without waiting for the next write;
 *   - the DHT, under the index name's IPNS routing key: every change is put there, and a
 *     node gets it at start and, at most every `dhtInterval`, when a peer connects;
 *   - protocol `/weft/private-sync/1.0.0`, for a device that was offline: when a peer
 *     subscribes to one of these topics, it is asked for the record it holds. The request
 *     is one frame (unsigned varint length, then the index name as UTF-8); the answer is one
 *     frame holding the record, or none (the stream closes) when the peer holds none.
 *
 * The sites synced are those the node owns, follows or allowed, and every site the store
 * holds private data for; one that first gets private data here is added when the store
 * publishes for it.
 */
import type { Connection, PeerId, Startable, Stream } from '@libp2p/interface'
import type { GossipSub, Message, SubscriptionChangeData, TopicValidatorResult } from '@libp2p/gossipsub'
import { logger } from '@libp2p/logger'
import { lpStream } from '@libp2p/utils'
import type { CID } from 'multiformats/cid'
import type { Routing } from '../routing/index.ts'
import { checkRecord, isHostile, parseSiteName, RecordRejected, MAX_RECORD_BYTES, type SiteName } from '../sites/index.ts'
import { Verdict } from '../net/verdicts.ts'

const log = logger('weft:private:sync')

export const PRIVATE_SYNC_PROTOCOL = '/weft/private-sync/1.0.0'
/** An index name is 62 characters; a request much longer is not one. */
const MAX_REQUEST_BYTES = 128

export function privateTopic (indexName: string): string {
  return `/weft/private/${indexName}`
}

export type ApplyOutcome = 'applied' | 'same' | 'older'

/** What sync needs of the private store (src/private/store.ts): a narrow view, so a test can stand in for it. */
export interface SyncStore extends Pick<EventTarget, 'addEventListener' | 'removeEventListener'> {
  /** Sites with private data here. */
  sites(): string[]
  /** The `k51…` name of the site's index signing key. */
  indexName(site: string): string
  /** The held signed index record, if any. */
  record(site: string): Uint8Array | undefined
  /** Checks, fetches (through `fetch`), opens and merges a record from another device. */
  applyRemote(site: string, record: Uint8Array, options: { signal?: AbortSignal, fetch: (cid: CID) => Promise<void> }): Promise<ApplyOutcome>
}

/** The detail of the store's 'published' event: after every change of a site's index here. */
export interface PublishedDetail { site: string, record: Uint8Array }

export interface PrivateSyncComponents {
  store: SyncStore
  /** Sites the node owns, follows or allowed (the store's own sites are added to them). */
  sites: () => string[]
  pubsub: Pick<GossipSub, 'subscribe' | 'unsubscribe' | 'publish' | 'topicValidators' | 'getSubscribers' | 'addEventListener' | 'removeEventListener'>
  routing: Pick<Routing, 'putRecord' | 'getRecord'>
  /** Brings a DAG into the store, asking `providers` first (the device that pushed it). */
  fetch: (cid: CID, options: { signal?: AbortSignal, providers?: PeerId[] }) => Promise<void>
  /** Charges a peer that sent a forged or oversized record. */
  penalise: (peer: string, detail: string) => void
  onPeerConnected: (fn: (event: CustomEvent<PeerId>) => void) => () => void
  /**
   * Word that `sites()` or the index names may have changed (a follow, a consent, a master
   * key linked or imported): sync joins the new topics then, not at the next peer connection.
   */
  onSitesChanged?: (fn: () => void) => () => void
  handle: (protocol: string, handler: (stream: Stream, connection: Connection) => void) => Promise<void>
  unhandle: (protocol: string) => Promise<void>
  dialProtocol: (peer: PeerId, protocol: string, options: { signal: AbortSignal }) => Promise<Stream>
}

export interface PrivateSyncInit {
  /** ms one record's apply (its index and new files fetched) may take. */
  applyTimeout?: number
  /** ms one DHT get or put, or one request to a peer, may take. */
  requestTimeout?: number
  /** ms between DHT gets for one site triggered by peers connecting. */
  dhtInterval?: number
  /** Pushes one peer may send on the private topics at once. */
  peerBurst?: number
  /** Pushes a second one peer's bucket refills by. */
  peerRate?: number
  /** ms before the same held record is published again in answer to an older one. */
  answerInterval?: number
}

export const PRIVATE_SYNC_DEFAULTS = {
  /** A 64 MiB file at the exchange's loopback rate takes seconds; a slow link minutes. */
  applyTimeout: 10 * 60_000,
  /** A DHT walk on a busy network takes up to ~20 s (bench users), a peer's answer milliseconds. */
  requestTimeout: 30_000,
  /** A DHT walk per connection would be one per peer met; once a minute still catches a device that was offline within a minute of meeting any peer. */
  dhtInterval: 60_000,
  /** The bench's 30 changes in a row (bench private), each forwarded by another device too, fit twice over. */
  peerBurst: 120,
  /** A device pushes on each save: the forum autosaves at most once a second per draft; ten drafts at once still fit. */
  peerRate: 10,
  /** The device behind merges and republishes within a round trip and an apply (milliseconds on a LAN): answering again sooner only repeats it. */
  answerInterval: 5_000
} as const

/** Buckets kept before full ones are dropped: peers on one person's private topics are a handful. */
const MAX_BUCKETS = 1024

export interface PrivateSync extends Startable {
  /**
   * Brings the topics in line with the sites and their index names: subscribes to those of
   * sites added since (a follow, a consent) and leaves those of sites gone, or whose index
   * name changed (a link or a recovery replaced the master key). Also run at each peer connection.
   */
  refresh(): void
  /** Gets a site's record from the DHT and applies it. */
  pull(site: string, options?: { signal?: AbortSignal }): Promise<ApplyOutcome | 'none'>
}

interface Synced { site: string, name: SiteName, topic: string }

class PrivateSyncService implements PrivateSync {
  private readonly components: PrivateSyncComponents
  private readonly init: Required<PrivateSyncInit>
  /** By topic. */
  private readonly synced = new Map<string, Synced>()
  /** Applies run one at a time per site, so two arrivals never merge over each other. */
  private readonly queues = new Map<string, Promise<unknown>>()
  private readonly lastDhtGet = new Map<string, number>()
  /** By peer: pushes left, and when they were counted. */
  private readonly buckets = new Map<string, { tokens: number, at: number }>()
  /** By site: the held record last published in answer to an older one, and when. */
  private readonly answered = new Map<string, { record: Uint8Array, at: number }>()
  private readonly tasks = new Set<Promise<unknown>>()
  private controller = new AbortController()
  private stops: Array<() => void> = []

  constructor (components: PrivateSyncComponents, init: PrivateSyncInit) {
    this.components = components
    this.init = { ...PRIVATE_SYNC_DEFAULTS, ...init }
  }

  async start (): Promise<void> {
    this.controller = new AbortController()
    const { store, pubsub } = this.components
    await this.components.handle(PRIVATE_SYNC_PROTOCOL, stream => { void this.serve(stream) })
    const onPublished = (event: Event): void => { this.pushed((event as CustomEvent<PublishedDetail>).detail) }
    store.addEventListener('published', onPublished)
    const onSubscription = (event: CustomEvent<SubscriptionChangeData>): void => { this.peerSubscribed(event.detail) }
    pubsub.addEventListener('subscription-change', onSubscription)
    const offConnect = this.components.onPeerConnected(() => {
      this.refresh()
      this.pullAll(true)
    })
    // a linked device's peers are usually connected already: without this it would wait for the next connection
    const offChanged = this.components.onSitesChanged?.(() => {
      this.refresh()
      this.pullAll(true)
    })
    this.stops = [
      () => { store.removeEventListener('published', onPublished) },
      () => { pubsub.removeEventListener('subscription-change', onSubscription) },
      offConnect,
      ...(offChanged !== undefined ? [offChanged] : [])
    ]
    this.refresh()
    this.pullAll(false)
  }

  async stop (): Promise<void> {
    this.controller.abort()
    for (const stop of this.stops) stop()
    this.stops = []
    for (const topic of [...this.synced.keys()]) this.leave(topic)
    await this.components.unhandle(PRIVATE_SYNC_PROTOCOL)
    await Promise.allSettled([...this.tasks])
  }

  refresh (): void {
    if (this.controller.signal.aborted) return
    const wanted = new Map<string, string>()
    for (const site of new Set([...this.components.sites(), ...this.components.store.sites()])) {
      const name = this.indexNameOf(site)
      if (name !== undefined) wanted.set(privateTopic(name.name), site)
    }
    for (const [topic, synced] of [...this.synced]) {
      if (wanted.get(topic) !== synced.site) this.leave(topic)
    }
    for (const site of wanted.values()) this.follow(site)
  }

  private indexNameOf (site: string): SiteName | undefined {
    try {
      return parseSiteName(this.components.store.indexName(site))
    } catch (err) {
      log.error('%s: no index name: %s', site, (err as Error).message)
      return undefined
    }
  }

  private leave (topic: string): void {
    if (!this.synced.delete(topic)) return
    this.components.pubsub.topicValidators.delete(topic)
    try { this.components.pubsub.unsubscribe(topic) } catch { /* the node is already stopping */ }
  }

  private follow (site: string): Synced | undefined {
    const name = this.indexNameOf(site)
    if (name === undefined) return undefined
    const topic = privateTopic(name.name)
    const held = this.synced.get(topic)
    if (held !== undefined) return held
    const synced = { site, name, topic }
    this.synced.set(topic, synced)
    this.components.pubsub.topicValidators.set(topic, async (peer, message) => await this.validate(synced, peer, message))
    this.components.pubsub.subscribe(topic)
    // peers already on the topic (this node's other devices) may hold a newer record
    for (const peer of this.components.pubsub.getSubscribers(topic)) this.background(async () => { await this.ask(peer, synced) })
    return synced
  }

  private background (task: () => Promise<unknown>): void {
    if (this.controller.signal.aborted) return
    const running = task().catch(err => { log('background sync: %s', (err as Error).message) })
    this.tasks.add(running)
    void running.finally(() => { this.tasks.delete(running) })
  }

  /** A change made here: pushed to the other devices, and put to the DHT for those offline now. */
  private pushed ({ site, record }: PublishedDetail): void {
    const synced = this.follow(site)
    if (synced === undefined) return
    const signal = AbortSignal.any([this.controller.signal, AbortSignal.timeout(this.init.requestTimeout)])
    this.background(async () => {
      await this.components.pubsub.publish(synced.topic, record).catch(err => { log('%s: pushing the index record: %s', site, (err as Error).message) })
      await this.components.routing.putRecord(synced.name.routingKey, record, { signal })
    })
  }

  /**
   * Gossipsub asks before it delivers or forwards. Size and signature first, from nothing
   * but the bytes and the topic's name; a forgery costs the sender. Only then the store.
   */
  private async validate (synced: Synced, peer: PeerId, message: Message): Promise<TopicValidatorResult> {
    if (!this.take(peer.toString())) {
      this.components.penalise(peer.toString(), `over ${this.init.peerBurst} private index records at once (${this.init.peerRate} a second after)`)
      return Verdict.Reject
    }
    const providers = message.type === 'signed' && !message.from.equals(peer) ? [message.from, peer] : [peer]
    const outcome = await this.receive(synced, message.data, peer, providers)
    if (outcome === 'rejected') return Verdict.Reject
    // forwarded only when it was news here: the other devices take it from whoever applied it
    return outcome === 'applied' ? Verdict.Accept : Verdict.Ignore
  }

  /** Takes one push from `peer`'s bucket; false when it is empty. */
  private take (peer: string): boolean {
    const now = Date.now()
    const { peerBurst, peerRate } = this.init
    if (this.buckets.size > MAX_BUCKETS) {
      for (const [key, b] of this.buckets) if (b.tokens + (now - b.at) * peerRate / 1000 >= peerBurst) this.buckets.delete(key)
    }
    const bucket = this.buckets.get(peer) ?? { tokens: peerBurst, at: now }
    bucket.tokens = Math.min(peerBurst, bucket.tokens + (now - bucket.at) * peerRate / 1000)
    bucket.at = now
    this.buckets.set(peer, bucket)
    if (bucket.tokens < 1) return false
    bucket.tokens -= 1
    return true
  }

  /** A peer sent a record older than the one held: it is behind, so the held one goes out on the topic for it to merge. */
  private answerOlder (synced: Synced): void {
    const record = this.components.store.record(synced.site)
    if (record === undefined) return
    const last = this.answered.get(synced.site)
    const now = Date.now()
    if (last !== undefined && now - last.at < this.init.answerInterval && Buffer.from(last.record).equals(record)) return
    this.answered.set(synced.site, { record, at: now })
    this.background(async () => { await this.components.pubsub.publish(synced.topic, record) })
  }

  /** Checks a record for a synced site, then applies it; `from` (when a peer sent it) is charged for a forgery. */
  private async receive (synced: Synced, bytes: Uint8Array, from: PeerId | undefined, providers: PeerId[]): Promise<ApplyOutcome | 'rejected' | 'failed'> {
    try {
      await checkRecord(synced.name, bytes)
    } catch (err) {
      if (!(err instanceof RecordRejected)) throw err
      if (!isHostile(err.reason)) return 'failed'
      if (from !== undefined) this.components.penalise(from.toString(), `a private index record for ${synced.name.name} that fails its check: ${err.message}`)
      return 'rejected'
    }
    const outcome = await this.apply(synced, bytes, providers)
    if (outcome === 'older' && from !== undefined) this.answerOlder(synced)
    return outcome
  }

  private async apply (synced: Synced, bytes: Uint8Array, providers: PeerId[]): Promise<ApplyOutcome | 'failed'> {
    const { site } = synced
    const signal = AbortSignal.any([this.controller.signal, AbortSignal.timeout(this.init.applyTimeout)])
    const previous = this.queues.get(site) ?? Promise.resolve()
    const run = previous.catch(() => {}).then(async () => {
      signal.throwIfAborted()
      return await this.components.store.applyRemote(site, bytes, {
        signal,
        fetch: async cid => { await this.components.fetch(cid, { signal, providers }) }
      })
    })
    this.queues.set(site, run)
    try {
      return await run
    } catch (err) {
      // a rollback, an index that does not open, a fetch that timed out: nothing was written
      log('%s: applying an index record failed: %s', site, (err as Error).message)
      return 'failed'
    } finally {
      if (this.queues.get(site) === run) this.queues.delete(site)
    }
  }

  async pull (site: string, options: { signal?: AbortSignal } = {}): Promise<ApplyOutcome | 'none'> {
    const synced = this.follow(site)
    if (synced === undefined) return 'none'
    const signal = AbortSignal.any([this.controller.signal, AbortSignal.timeout(this.init.requestTimeout), ...(options.signal !== undefined ? [options.signal] : [])])
    let bytes: Uint8Array
    try {
      bytes = await this.components.routing.getRecord(synced.name.routingKey, { signal })
    } catch {
      return 'none'
    }
    const outcome = await this.receive(synced, bytes, undefined, [])
    return outcome === 'rejected' || outcome === 'failed' ? 'none' : outcome
  }

  /** At start every site; on a peer connecting, those not asked of the DHT within dhtInterval. */
  private pullAll (throttled: boolean): void {
    const now = Date.now()
    for (const synced of [...this.synced.values()]) {
      if (throttled && now - (this.lastDhtGet.get(synced.site) ?? -Infinity) < this.init.dhtInterval) continue
      this.lastDhtGet.set(synced.site, now)
      this.background(async () => await this.pull(synced.site))
    }
  }

  private peerSubscribed ({ peerId, subscriptions }: SubscriptionChangeData): void {
    for (const { topic, subscribe } of subscriptions) {
      const synced = this.synced.get(topic)
      if (subscribe && synced !== undefined) this.background(async () => { await this.ask(peerId, synced) })
    }
  }

  /** Asks one peer (another device of this user, as it subscribes to the topic) for the record it holds. */
  private async ask (peer: PeerId, synced: Synced): Promise<void> {
    const signal = AbortSignal.any([this.controller.signal, AbortSignal.timeout(this.init.requestTimeout)])
    const stream = await this.components.dialProtocol(peer, PRIVATE_SYNC_PROTOCOL, { signal })
    // one past the limit, so an oversized answer reaches the check and is charged, not dropped by the framing
    const lp = lpStream(stream, { maxDataLength: MAX_RECORD_BYTES + 1 })
    let bytes: Uint8Array | undefined
    try {
      await lp.write(new TextEncoder().encode(synced.name.name), { signal })
      try {
        bytes = (await lp.read({ signal })).subarray()
      } catch (err) {
        if ((err as Error).name !== 'UnexpectedEOFError') throw err
      }
      await stream.close().catch(() => {})
    } catch (err) {
      stream.abort(err as Error)
      if ((err as Error).name === 'InvalidDataLengthError') this.components.penalise(peer.toString(), `an answer over ${MAX_RECORD_BYTES} bytes for ${synced.name.name}`)
      throw err
    }
    if (bytes !== undefined) await this.receive(synced, bytes, peer, [peer])
  }

  /** Answers with the record held for an index name this node syncs, or with none. */
  private async serve (stream: Stream): Promise<void> {
    const lp = lpStream(stream, { maxDataLength: MAX_REQUEST_BYTES })
    try {
      const signal = AbortSignal.timeout(this.init.requestTimeout)
      const name = new TextDecoder().decode((await lp.read({ signal })).subarray())
      const synced = this.synced.get(privateTopic(name))
      const record = synced !== undefined ? this.components.store.record(synced.site) : undefined
      if (record !== undefined) await lp.write(record, { signal })
      await stream.close()
    } catch (err) {
      stream.abort(err as Error)
    }
  }
}

export function createPrivateSync (components: PrivateSyncComponents, init: PrivateSyncInit = {}): PrivateSync {
  return new PrivateSyncService(components, init)
}
