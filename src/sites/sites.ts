/**
 * The sites facade: builds the parts (as js-libp2p's kad-dht.ts builds its routing table,
 * query manager and handlers), wires them to each other and to the node's lifecycle, and
 * turns what the record gate and the follower report into the service's events.
 *
 *   gate      every record, from any source, passes it (gate.ts)
 *   own       own sites: keys, publish, announce, republish (own.ts)
 *   topics    pubsub: subscribe, validate pushes, meet subscribers (topics.ts)
 *   resolver  resolve from the home or the DHT (resolver.ts)
 *   follower  follow, sync, fetch, hold, repair (follower.ts)
 *   lifecycle started or not, the stop signal, timers (lifecycle.ts)
 */
import type { CID } from 'multiformats/cid'
import type { SitesComponents, SitesInit, Sites, PublishResult, ResolveResult, SiteInfo, FollowInfo, SiteEvents } from './index.ts'
import { RecordGate, type GateOutcome } from './gate.ts'
import { Follower } from './follower.ts'
import { HeldVersions } from './held.ts'
import { siteInfo } from './info.ts'
import { removeUnlistedKeys } from './keys.ts'
import { Lifecycle } from './lifecycle.ts'
import { parseSiteName } from './names.ts'
import { OwnSites } from './own.ts'
import { checkRecord, RecordRejected, rejectionError } from './records.ts'
import { Resolver } from './resolver.ts'
import { SiteStore, siteRecordBook, type OwnSite } from './store.ts'
import { Topics } from './topics.ts'
import { RECORD_ASK_PROTOCOL, serveRecordAsk } from './ask.ts'

/** ms after a peer connects before records and fetches go to it: a second for identify to finish, so it is in the routing table. */
const PEER_SETTLE = 1_000

export class SiteService extends EventTarget implements Sites {
  private readonly components: SitesComponents
  private readonly init: SitesInit
  private readonly store: SiteStore
  /** Which versions the store holds whole: walked, never a remembered flag. */
  private readonly held: HeldVersions
  private readonly lifecycle: Lifecycle
  private readonly gate: RecordGate
  private readonly topics: Topics
  private readonly resolver: Resolver
  private readonly own: OwnSites
  private readonly follower: Follower

  constructor (components: SitesComponents, init: SitesInit) {
    super()
    this.components = components
    this.init = init
    const { net, keyPath, blocks } = components
    this.store = new SiteStore(components.db)
    this.held = new HeldVersions(blocks, this.store)
    removeUnlistedKeys(keyPath, this.store.ownSites().map(s => s.label))
    const store = this.store
    const held = this.held
    const lifecycle = this.lifecycle = new Lifecycle({ net })
    const gate = this.gate = new RecordGate({
      book: siteRecordBook(store),
      penalise: net === undefined ? undefined : (peer, detail) => { net.penalise(peer, detail) }
    }, { check: async (name, bytes) => await checkRecord(parseSiteName(name), bytes), label: 'sites' })
    const topics = this.topics = new Topics({ net, gate, store, lifecycle })
    const resolver = this.resolver = new Resolver({ net, gate, store, held, lifecycle }, init)
    this.own = new OwnSites({ net, keyPath, store, gate, topics, resolver, lifecycle }, init)
    this.follower = new Follower({ net, blocks, store, held, topics, resolver, lifecycle, events: this }, init)

    // What an accepted record means to the service: an event for listeners, and a followed site's sync.
    gate.on('accepted', ({ key, record, isNew, source }) => {
      this.dispatchEvent(new CustomEvent<SiteEvents['record']>('record', { detail: { name: key, sequence: record.sequence, value: record.value, source: source.kind } }))
      if (isNew) this.follower.newVersion(key, record, source.origin)
    })
    gate.on('rejected', ({ key, reason, peer }) => {
      this.dispatchEvent(new CustomEvent<SiteEvents['rejected']>('rejected', { detail: { name: key, reason, peer } }))
    })
  }

  // ---- lifecycle ----

  async start (): Promise<void> {
    const { lifecycle, own, follower, store, topics } = this
    if (!lifecycle.begin()) return
    const net = this.components.net
    if (net === undefined) return
    // Any record held, own or not: records are public, and the asker's gate checks it.
    await net.handle(RECORD_ASK_PROTOCOL, stream => { void serveRecordAsk(stream, name => store.record(name)?.record.bytes) })
    lifecycle.onEnd(() => { void net.unhandle(RECORD_ASK_PROTOCOL).catch(() => {}) })
    for (const site of store.ownSites()) topics.subscribe(parseSiteName(site.name))
    for (const follow of store.follows()) topics.subscribe(parseSiteName(follow.name))
    // Records signed while no daemon ran go out now; followed sites catch up from the DHT.
    lifecycle.background(async () => { await this.republish() })
    for (const follow of store.follows()) lifecycle.background(async () => { await follower.poll(follow.name) })
    if (this.init.republishInterval > 0) lifecycle.every(this.init.republishInterval, async () => { await this.republish() })
    lifecycle.every(this.init.pendingInterval, async () => { await own.announcePending() })
    // The first peer after start: followed sites catch up (the poll at start may have run
    // before anyone was there), and records waiting for a peer go out.
    let soon: NodeJS.Timeout | undefined
    let caughtUp = false
    const offPeer = net.onPeerConnected(peer => {
      follower.peerReturned(peer)
      if (soon !== undefined || (caughtUp && follower.idle && own.allPublished())) return
      soon = setTimeout(() => {
        soon = undefined
        lifecycle.background(async () => {
          await own.announcePending()
          follower.peerArrived()
          if (caughtUp) return
          caughtUp = true
          await follower.pollAll()
        })
      }, PEER_SETTLE)
      soon.unref()
    })
    lifecycle.onEnd(() => { offPeer(); clearTimeout(soon) })
    if (this.init.pollInterval > 0) lifecycle.every(this.init.pollInterval, async () => { await follower.pollAll() })
  }

  async stop (): Promise<void> {
    if (!this.lifecycle.end()) return
    this.topics.unsubscribeAll()
    await this.follower.settled()
  }

  // ---- own sites ----

  async create (label: string): Promise<OwnSite> { return await this.own.create(label) }
  list (): OwnSite[] { return this.own.list() }
  async exportKey (label: string, passphrase: string): Promise<string> { return await this.own.exportKey(label, passphrase) }
  async importKey (text: string, passphrase: string, label?: string): Promise<OwnSite> { return await this.own.importKey(text, passphrase, label) }

  async publish (label: string, root: CID, options: { validity?: number, ttl?: number, signal?: AbortSignal } = {}): Promise<PublishResult> {
    return await this.own.publish(label, root, options)
  }

  /** Own sites: re-sign records past half their validity, then put them again. Followed sites: put the record held. */
  async republish (): Promise<{ own: number, followed: number }> {
    const own = await this.own.republish()
    const followed = await this.follower.republish()
    return { own, followed }
  }

  // ---- records and resolving ----

  async resolve (text: string, options: { offline?: boolean, fresh?: boolean, held?: boolean, signal?: AbortSignal } = {}): Promise<ResolveResult> {
    return await this.resolver.resolve(text, options)
  }

  /** Hands a record to the gate directly (a record file, a test); throws ERR_RECORD_INVALID when refused. */
  async receive (text: string, bytes: Uint8Array, peer?: string): Promise<GateOutcome> {
    try {
      return (await this.gate.accept(parseSiteName(text).name, bytes, { kind: 'local', peer })).outcome
    } catch (err) {
      throw err instanceof RecordRejected ? rejectionError(err) : err
    }
  }

  record (text: string): Uint8Array | undefined {
    return this.store.record(parseSiteName(text).name)?.record.bytes
  }

  // ---- following ----

  async follow (text: string, options: { keep?: number, signal?: AbortSignal } = {}): Promise<FollowInfo> {
    return await this.follower.follow(text, options)
  }

  async unfollow (text: string): Promise<void> { await this.follower.unfollow(text) }
  async following (): Promise<FollowInfo[]> { return await this.follower.following() }
  heldRoots (): CID[] { return this.follower.heldRoots() }
  followedNames (): string[] { return this.follower.followedNames() }

  // ---- info ----

  async info (text: string, options: { signal?: AbortSignal } = {}): Promise<SiteInfo> {
    const net = this.lifecycle.online ? this.components.net : undefined
    return await siteInfo({ store: this.store, held: this.held, blocks: this.components.blocks, net }, text, options)
  }
}
