import type { PeerId, PrivateKey } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import { TopicValidatorResult, type Message } from '@libp2p/gossipsub'
import type { CID } from 'multiformats/cid'
import * as dagPb from '@ipld/dag-pb'
import { WeftError, isWeftError } from '../errors.ts'
import { cat, fetchingBlockstore, parseContentPath, resolveEntry, type ContentBlockstore } from '../content/index.ts'
import type { SitesComponents, SitesInit, Sites, PublishResult, ResolveResult, SiteInfo, FollowInfo, SiteEvents } from './index.ts'
import { parseSiteName, topicRendezvous, type SiteName } from './names.ts'
import { checkRecord, signRecord, RecordRejected, rejectionError, type SiteRecord } from './records.ts'
import { SiteStore, type OwnSite } from './store.ts'
import { checkLabel, exportSiteKey, importSiteKey, nameOfKey, newSiteKey, readSiteKey, removeSiteKey, removeUnlistedKeys, writeSiteKey } from './keys.ts'

const log = logger('weft:sites')

/** Where a record came from, for counters, logs and `resolve`'s answer. */
export interface RecordSource {
  kind: 'self' | 'pubsub' | 'dht' | 'local'
  /** The peer that handed it over (a pubsub relay), charged for junk. */
  peer?: string
  /** The peer that signed the pubsub message carrying it: likely to hold the version. */
  origin?: PeerId
}

type Outcome = 'new' | 'refresh' | 'same'

/** Reasons that only a broken or hostile sender produces; stale and equivocating records may be relayed in good faith. */
const HOSTILE = new Set(['too-large', 'malformed', 'wrong-key', 'bad-signature', 'bad-value'])
/** weft.json is metadata: a page of it is plenty. */
const MAX_SITE_JSON = 64 * 1024

export class SiteService extends EventTarget implements Sites {
  private readonly components: SitesComponents
  private readonly init: SitesInit
  private readonly store: SiteStore
  private readonly subscribed = new Set<string>()
  private readonly syncing = new Map<string, Promise<void>>()
  /** The version each followed site is fetching, to give up on when a newer one arrives. */
  private readonly fetching = new Map<string, { sequence: bigint, superseded: AbortController }>()
  /** Per followed site, the peer that last pushed a new version to us first-hand. */
  private readonly hints = new Map<string, PeerId>()
  private readonly timers: NodeJS.Timeout[] = []
  private readonly cleanups: Array<() => void> = []
  private controller = new AbortController()
  private started = false

  constructor (components: SitesComponents, init: SitesInit) {
    super()
    this.components = components
    this.init = init
    this.store = new SiteStore(components.db)
    removeUnlistedKeys(components.keyPath, this.store.ownSites().map(s => s.label))
  }

  // ---- lifecycle ----

  async start (): Promise<void> {
    if (this.started) return
    this.started = true
    this.controller = new AbortController()
    if (this.components.net === undefined) return
    for (const site of this.store.ownSites()) this.subscribe(parseSiteName(site.name))
    for (const follow of this.store.follows()) this.subscribe(parseSiteName(follow.name))
    // Records signed while no daemon ran go out now; followed sites catch up from the DHT.
    this.background(async () => { await this.republish() })
    for (const follow of this.store.follows()) this.background(async () => { await this.poll(follow.name) })
    if (this.init.republishInterval > 0) this.every(this.init.republishInterval, async () => { await this.republish() })
    this.every(this.init.pendingInterval, async () => { await this.announcePending() })
    // The first peer after start: followed sites catch up (the poll at start may have run
    // before anyone was there), and records waiting for a peer go out.
    let soon: NodeJS.Timeout | undefined
    let caughtUp = false
    const offPeer = this.components.net.onPeerConnected(() => {
      if (soon !== undefined || (caughtUp && this.store.ownSites().every(s => s.published))) return
      // A second for identify to finish, so the new peer is in the routing table.
      soon = setTimeout(() => {
        soon = undefined
        this.background(async () => {
          await this.announcePending()
          if (caughtUp) return
          caughtUp = true
          for (const follow of this.store.follows()) await this.poll(follow.name)
        })
      }, 1_000)
      soon.unref()
    })
    this.cleanups.push(() => { offPeer(); clearTimeout(soon) })
    if (this.init.pollInterval > 0) {
      this.every(this.init.pollInterval, async () => {
        for (const follow of this.store.follows()) await this.poll(follow.name)
      })
    }
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    for (const t of this.timers.splice(0)) clearInterval(t)
    for (const fn of this.cleanups.splice(0)) fn()
    this.controller.abort()
    for (const topic of [...this.subscribed]) this.unsubscribe(topic)
    await Promise.allSettled([...this.syncing.values()])
  }

  private every (ms: number, fn: () => Promise<void>): void {
    const timer = setInterval(() => { this.background(fn) }, ms)
    timer.unref()
    this.timers.push(timer)
  }

  private background (fn: () => Promise<void>): void {
    fn().catch(err => { if (!this.controller.signal.aborted) log.error('background work failed: %s', (err as Error).message) })
  }

  private get online (): boolean {
    return this.components.net !== undefined && this.started
  }

  // ---- own sites ----

  private key (site: OwnSite): PrivateKey {
    return readSiteKey(this.components.keyPath(site.label))
  }

  private ownSite (label: string): OwnSite {
    const site = this.store.ownSite(label)
    if (site === undefined) throw new WeftError('ERR_SITE_NOT_FOUND', `no site "${label}" in this home (weft site list)`)
    return site
  }

  async create (label: string): Promise<OwnSite> {
    checkLabel(label)
    if (this.store.ownSite(label) !== undefined) throw new WeftError('ERR_SITE_EXISTS', `a site labelled "${label}" already exists`)
    const key = await newSiteKey()
    return this.addKey(label, key)
  }

  private addKey (label: string, key: PrivateKey, imported?: { floor: bigint }): OwnSite {
    const path = this.components.keyPath(label)
    writeSiteKey(path, key)
    try {
      this.store.addOwnSite(label, nameOfKey(key), imported)
    } catch (err) {
      removeSiteKey(path)
      throw err
    }
    const site = this.ownSite(label)
    if (this.online) this.subscribe(parseSiteName(site.name))
    return site
  }

  list (): OwnSite[] {
    return this.store.ownSites()
  }

  async exportKey (label: string, passphrase: string): Promise<string> {
    const site = this.ownSite(label)
    const sequence = this.store.record(site.name)?.record.sequence ?? site.floor
    return await exportSiteKey(site.label, this.key(site), sequence > site.floor ? sequence : site.floor, passphrase)
  }

  async importKey (text: string, passphrase: string, label?: string): Promise<OwnSite> {
    const exported = await importSiteKey(text, passphrase)
    const chosen = label ?? exported.label
    checkLabel(chosen)
    const existing = this.store.ownSite(exported.name)
    if (existing !== undefined) throw new WeftError('ERR_SITE_EXISTS', `this key is already in the home as "${existing.label}"`)
    if (this.store.ownSite(chosen) !== undefined) throw new WeftError('ERR_SITE_EXISTS', `a site labelled "${chosen}" already exists; pass another label`)
    return this.addKey(chosen, exported.key, { floor: BigInt(exported.sequence) })
  }

  async publish (label: string, root: CID, options: { validity?: number, ttl?: number, signal?: AbortSignal } = {}): Promise<PublishResult> {
    const site = this.ownSite(label)
    const key = this.key(site)
    const name = parseSiteName(site.name)
    const value = `/ipfs/${root.toString()}`
    let current = this.store.record(site.name)?.record
    if (current === undefined && site.imported && this.online) {
      // A moved site: the network may know a later version than the export did.
      current = await this.resolveFromNetwork(name, { signal: AbortSignal.any([AbortSignal.timeout(10_000), ...(options.signal !== undefined ? [options.signal] : [])]) }).catch(() => undefined)
    }
    let record: SiteRecord
    let changed = true
    if (current !== undefined && current.value === value && current.validity > Date.now()) {
      // The same content again is not a new version; it is announced again.
      record = current
      changed = false
    } else {
      let sequence = current === undefined ? 0n : current.sequence + 1n
      if (sequence < site.floor + (site.imported ? 1n : 0n)) sequence = site.floor + 1n
      record = await signRecord(key, value, sequence, { validity: options.validity ?? this.init.validity, ttl: options.ttl ?? this.init.ttl })
      await this.accept(name, record.bytes, { kind: 'self' })
      this.store.setPublished(site.name, false)
    }
    let announced = false
    if (this.online) announced = await this.announce(name, record, options) > 0
    return { name: site.name, root: record.root.toString(), sequence: record.sequence, changed, announced }
  }

  /** Puts the record to the DHT, provides its root, and pushes it to followers, all at once. */
  private async announce (name: SiteName, record: SiteRecord, options: { signal?: AbortSignal } = {}): Promise<number> {
    const net = this.components.net
    if (net === undefined) return 0
    const signal = options.signal ?? this.controller.signal
    const [took] = await Promise.all([
      net.routing.putRecord(name.routingKey, record.bytes, { signal }),
      net.routing.provide(record.root, { signal }),
      net.pubsub.publish(name.topic, record.bytes).catch(err => { log('pubsub publish for %s: %s', name.name, (err as Error).message) })
    ])
    // With no peer to take it (a lone node), it stays pending and goes out once peers appear.
    if (took > 0 && this.store.ownSite(name.name) !== undefined) this.store.setPublished(name.name, true)
    return took
  }

  /** Own records that no peer has taken yet. */
  private async announcePending (): Promise<void> {
    for (const site of this.store.ownSites().filter(s => !s.published)) {
      const stored = this.store.record(site.name)
      if (stored !== undefined && stored.record.validity > Date.now()) await this.announce(parseSiteName(site.name), stored.record).catch(() => 0)
    }
  }

  /** Own sites: re-sign records past half their validity, then put them again. Followed sites: put the record held. */
  async republish (): Promise<{ own: number, followed: number }> {
    let own = 0
    let followed = 0
    for (const site of this.store.ownSites()) {
      const stored = this.store.record(site.name)
      if (stored === undefined) continue
      let record = stored.record
      if (record.validity - Date.now() < this.init.validity / 2) {
        record = await signRecord(this.key(site), record.value, record.sequence, { validity: this.init.validity, ttl: record.ttl })
        await this.accept(parseSiteName(site.name), record.bytes, { kind: 'self' })
      }
      await this.announce(parseSiteName(site.name), record).then(() => { own++ }, err => { log.error('republishing %s failed: %s', site.name, (err as Error).message) })
    }
    const net = this.components.net
    for (const follow of this.store.follows()) {
      const stored = this.store.record(follow.name)
      if (net === undefined || stored === undefined || stored.record.validity <= Date.now()) continue
      await net.routing.putRecord(parseSiteName(follow.name).routingKey, stored.record.bytes, { signal: this.controller.signal })
        .then(() => { followed++ }, () => {})
    }
    return { own, followed }
  }

  // ---- records ----

  /**
   * The one gate every record passes: validity first, then the sequence rule. A record
   * never replaces one with a higher sequence; a different value under the same
   * sequence is equivocation and is kept out (the first one seen stays).
   */
  private async accept (name: SiteName, bytes: Uint8Array, source: RecordSource): Promise<Outcome> {
    let record: SiteRecord
    try {
      record = await checkRecord(name, bytes)
      const current = this.store.record(name.name)?.record
      if (current !== undefined) {
        if (record.sequence < current.sequence) throw new RecordRejected('stale', `sequence ${record.sequence} is older than the ${current.sequence} already held`)
        if (record.sequence === current.sequence) {
          if (record.value !== current.value) {
            this.store.addEquivocation(name.name, record.sequence, current.value, record)
            throw new RecordRejected('equivocation', `sequence ${record.sequence} was already signed with another value (${current.value})`)
          }
          if (record.validity <= current.validity) {
            this.store.touchRecord(name.name)
            return 'same'
          }
          this.store.saveRecord(name.name, record, source.kind)
          return 'refresh'
        }
      }
    } catch (err) {
      if (err instanceof RecordRejected) this.reject(name, err, source)
      throw err
    }
    const isNew = this.store.saveRecord(name.name, record, source.kind)
    log('%s: sequence %s (%s) from %s', name.name, record.sequence, record.value, source.peer ?? source.kind)
    this.dispatchEvent(new CustomEvent<SiteEvents['record']>('record', { detail: { name: name.name, sequence: record.sequence, value: record.value, source: source.kind } }))
    if (isNew && this.store.follow(name.name) !== undefined) {
      const inFlight = this.fetching.get(name.name)
      if (inFlight !== undefined && inFlight.sequence < record.sequence) inFlight.superseded.abort(new Error(`sequence ${record.sequence} arrived`))
      this.sync(name.name, source.origin)
    }
    return isNew ? 'new' : 'refresh'
  }

  private reject (name: SiteName, err: RecordRejected, source: RecordSource): void {
    this.store.countRejection(name.name, err.reason, source.peer)
    log.error('%s: refused a record from %s (%s): %s', name.name, source.peer ?? source.kind, err.reason, err.message)
    this.dispatchEvent(new CustomEvent<SiteEvents['rejected']>('rejected', { detail: { name: name.name, reason: err.reason, peer: source.peer } }))
    if (source.peer !== undefined && HOSTILE.has(err.reason)) this.components.net?.penalise(source.peer, `${err.reason} record for ${name.name}`)
  }

  private subscribe (name: SiteName): void {
    const net = this.components.net
    if (net === undefined || this.subscribed.has(name.topic)) return
    this.subscribed.add(name.topic)
    net.pubsub.topicValidators.set(name.topic, async (peer, message) => await this.validatePush(name, peer, message))
    net.pubsub.subscribe(name.topic)
    this.background(async () => { await this.meetSubscribers(name) })
  }

  private unsubscribe (topic: string): void {
    const pubsub = this.components.net?.pubsub
    if (pubsub === undefined || !this.subscribed.delete(topic)) return
    pubsub.topicValidators.delete(topic)
    try { pubsub.unsubscribe(topic) } catch { /* the node is already stopping */ }
  }

  /** Gossipsub asks before it delivers or forwards: junk is rejected (and costs the sender), stale records go no further. */
  private async validatePush (name: SiteName, peer: PeerId, message: Message): Promise<TopicValidatorResult> {
    const from = peer.toString()
    try {
      const outcome = await this.accept(name, message.data, { kind: 'pubsub', peer: from, origin: message.type === 'signed' ? message.from : undefined })
      this.store.sawPeer(name.name, from)
      return outcome === 'same' ? TopicValidatorResult.Ignore : TopicValidatorResult.Accept
    } catch (err) {
      if (err instanceof RecordRejected) return HOSTILE.has(err.reason) ? TopicValidatorResult.Reject : TopicValidatorResult.Ignore
      log.error('%s: validating a push failed: %s', name.name, (err as Error).message)
      return TopicValidatorResult.Ignore
    }
  }

  /** Announces this node under the topic's rendezvous CID and dials a few others found there. */
  private async meetSubscribers (name: SiteName): Promise<void> {
    const net = this.components.net
    if (net === undefined) return
    const rendezvous = await topicRendezvous(name.topic)
    const signal = AbortSignal.any([this.controller.signal, AbortSignal.timeout(60_000)])
    net.routing.provideSoon(rendezvous)
    let dialled = 0
    for await (const peer of net.routing.findProviders(rendezvous, { signal })) {
      if (dialled >= 6) break
      if (net.isConnected(peer)) continue
      dialled++
      await net.dial(peer, { signal }).catch(() => {})
    }
  }

  private async resolveFromNetwork (name: SiteName, options: { signal?: AbortSignal }): Promise<SiteRecord | undefined> {
    const net = this.components.net
    if (net === undefined) return undefined
    let bytes: Uint8Array
    try {
      bytes = await net.routing.getRecord(name.routingKey, { signal: options.signal, quorum: this.init.quorum })
    } catch (err) {
      if (isWeftError(err, 'ERR_RECORD_NOT_FOUND') || options.signal?.aborted === true) return undefined
      throw err
    }
    try {
      await this.accept(name, bytes, { kind: 'dht' })
    } catch (err) {
      if (!(err instanceof RecordRejected)) throw err
    }
    return this.store.record(name.name)?.record
  }

  async resolve (text: string, options: { offline?: boolean, fresh?: boolean, signal?: AbortSignal } = {}): Promise<ResolveResult> {
    const name = parseSiteName(text)
    const held = this.store.record(name.name)
    const usable = (r: SiteRecord | undefined): r is SiteRecord => r !== undefined && r.validity > Date.now()
    const answer = (r: SiteRecord, source: string): ResolveResult => ({
      name: name.name, value: r.value, root: r.root.toString(), sequence: r.sequence, validity: new Date(r.validity).toISOString(), ttl: r.ttl, source
    })
    const fresh = held !== undefined && Date.now() < held.fetched + held.record.ttl
    if (usable(held?.record) && (fresh || options.offline === true || !this.online) && options.fresh !== true) {
      return answer(held.record, fresh ? 'cache' : 'local')
    }
    if (this.online && options.offline !== true) {
      const signal = options.signal ?? AbortSignal.timeout(30_000)
      const before = held?.record.sequence
      const found = await this.resolveFromNetwork(name, { signal })
      if (usable(found)) return answer(found, before === found.sequence ? 'local' : 'dht')
    }
    if (held !== undefined && held.record.validity <= Date.now()) {
      throw new WeftError('ERR_RECORD_NOT_FOUND', `the newest record for ${name.name} expired at ${new Date(held.record.validity).toISOString()} and no newer one was found`)
    }
    throw new WeftError('ERR_RECORD_NOT_FOUND', `no valid record for ${name.name}${this.online ? ' was found' : ' in this home (start the daemon to ask the network)'}`)
  }

  /** Hands a record to the gate directly (a record file, a test); throws ERR_RECORD_INVALID when refused. */
  async receive (text: string, bytes: Uint8Array, peer?: string): Promise<Outcome> {
    try {
      return await this.accept(parseSiteName(text), bytes, { kind: 'local', peer })
    } catch (err) {
      throw err instanceof RecordRejected ? rejectionError(err) : err
    }
  }

  record (text: string): Uint8Array | undefined {
    return this.store.record(parseSiteName(text).name)?.record.bytes
  }

  // ---- following ----

  async follow (text: string, options: { keep?: number, signal?: AbortSignal } = {}): Promise<FollowInfo> {
    const name = parseSiteName(text)
    const keep = options.keep ?? this.init.keepVersions
    if (!Number.isSafeInteger(keep) || keep < 1) throw new WeftError('ERR_USAGE', `--keep must be a whole number of versions, at least 1 (got ${keep})`)
    this.store.addFollow(name.name, keep)
    if (this.online) {
      this.subscribe(name)
      await this.poll(name.name, options.signal).catch(() => {})
    }
    return this.followInfo(name.name)
  }

  async unfollow (text: string): Promise<void> {
    const name = parseSiteName(text)
    if (!this.store.removeFollow(name.name)) throw new WeftError('ERR_NOT_FOLLOWING', `${name.name} is not followed`)
    if (this.store.ownSite(name.name) === undefined) this.unsubscribe(name.topic)
    // Versions this follow held are released for gc; pins the user made stay.
    this.store.releaseAll(name.name)
  }

  following (): FollowInfo[] {
    return this.store.follows().map(f => this.followInfo(f.name))
  }

  private followInfo (name: string): FollowInfo {
    const follow = this.store.follow(name)
    const current = this.store.record(name)?.record
    const version = current === undefined ? undefined : this.store.version(name, current.sequence)
    return {
      name,
      keep: follow?.keep ?? 0,
      following: follow !== undefined,
      sequence: current?.sequence,
      root: current?.root.toString(),
      updated: version?.firstSeen,
      fetched: version?.fetched !== undefined
    }
  }

  /** Asks the DHT for a followed site (a push may have been missed), then brings the newest version in. */
  private async poll (name: string, signal?: AbortSignal): Promise<void> {
    if (!this.online) return
    await this.resolveFromNetwork(parseSiteName(name), { signal: signal ?? AbortSignal.any([this.controller.signal, AbortSignal.timeout(30_000)]) }).catch(() => {})
    this.sync(name)
  }

  /** One fetch loop per followed site: fetch, hold, provide and prune until the newest record's version is held. */
  private sync (name: string, hint?: PeerId): void {
    if (hint !== undefined) this.hints.set(name, hint)
    if (this.syncing.has(name) || !this.online) return
    const run = (async () => {
      for (let attempt = 0; attempt < 3 && !this.controller.signal.aborted;) {
        const follow = this.store.follow(name)
        const current = this.store.record(name)?.record
        if (follow === undefined || current === undefined) return
        if (this.store.version(name, current.sequence)?.fetched !== undefined) return
        const superseded = new AbortController()
        this.fetching.set(name, { sequence: current.sequence, superseded })
        try {
          await this.fetchVersion(name, current, follow.keep, superseded.signal)
          attempt = 0
        } catch (err) {
          // A newer version arrived mid-fetch: go straight on to it.
          if (superseded.signal.aborted) continue
          attempt++
          log.error('%s: fetching sequence %s failed (attempt %d): %s', name, current.sequence, attempt, (err as Error).message)
          await new Promise(resolve => setTimeout(resolve, 1_000 * attempt).unref())
        } finally {
          this.fetching.delete(name)
        }
      }
    })().finally(() => { this.syncing.delete(name) })
    this.syncing.set(name, run)
  }

  private async fetchVersion (name: string, record: SiteRecord, keep: number, superseded: AbortSignal): Promise<void> {
    const net = this.components.net
    if (net === undefined) return
    const { blocks } = this.components
    const signal = AbortSignal.any([this.controller.signal, superseded, AbortSignal.timeout(this.init.fetchTimeout)])
    // The peer that signed and sent the record (the owner, as a rule) holds the version: ask it first.
    const hint = this.hints.get(name)
    await net.fetch(record.root, { signal, providers: hint !== undefined ? [hint] : undefined })
    await blocks.flush()
    // Held by this follow (gc keeps it), apart from the user's own pins.
    this.store.markFetched(name, record.sequence, true)
    net.routing.provideSoon(record.root)
    this.dispatchEvent(new CustomEvent<SiteEvents['fetched']>('fetched', { detail: { name, sequence: record.sequence, root: record.root.toString() } }))
    // Keep the newest `keep` fetched versions; release the older ones this follow held.
    const fetched = this.store.versions(name).filter(v => v.fetched !== undefined)
    const kept = new Set(fetched.slice(0, keep).map(v => v.value))
    for (const old of fetched.slice(keep)) {
      if (old.pinned && !kept.has(old.value)) this.store.markUnpinned(name, old.sequence)
    }
  }

  heldRoots (): CID[] {
    // A followed site's newest version is held while it is still being fetched, so a gc
    // in the middle cannot take blocks the fetch already counted as stored.
    const values = new Set(this.store.heldValues())
    for (const follow of this.store.follows()) {
      const current = this.store.record(follow.name)?.record.value
      if (current !== undefined) values.add(current)
    }
    return [...values].map(v => parseContentPath(v).cid)
  }

  // ---- info ----

  async info (text: string, options: { signal?: AbortSignal } = {}): Promise<SiteInfo> {
    // A label of one's own site works as well as its name.
    const own = this.store.ownSite(text)
    const name = parseSiteName(own?.name ?? text)
    const stored = this.store.record(name.name)
    const versions = this.store.versions(name.name)
    const current = stored === undefined ? undefined : versions.find(v => v.sequence === stored.record.sequence)
    const info: SiteInfo = {
      name: name.name,
      address: `/ipns/${name.name}`,
      label: this.store.ownSite(name.name)?.label,
      following: this.store.follow(name.name) !== undefined,
      current: stored === undefined
        ? undefined
        : {
            sequence: stored.record.sequence,
            value: stored.record.value,
            root: stored.record.root.toString(),
            validity: new Date(stored.record.validity).toISOString(),
            expired: stored.record.validity <= Date.now(),
            firstSeen: current?.firstSeen,
            fetched: current?.fetched
          },
      versions,
      peers: [],
      equivocations: this.store.equivocations(name.name),
      rejections: this.store.rejections(name.name)
    }
    if (stored !== undefined) {
      const root = stored.record.root
      const net = this.components.net
      const signal = AbortSignal.any([AbortSignal.timeout(5_000), ...(options.signal !== undefined ? [options.signal] : [])])
      if (this.online && net !== undefined) {
        await (async () => {
          for await (const peer of net.routing.findProviders(root, { signal })) this.store.sawPeer(name.name, peer.toString())
        })().catch(() => {})
      }
      const store = this.contentStore(signal)
      info.size = await this.dagSize(store, root).catch(() => undefined)
      info.site = await this.siteJson(store, root).catch(() => undefined)
    }
    info.peers = this.store.peers(name.name)
    return info
  }

  /** The local store, fetching single missing blocks when online (info reads two blocks at most). */
  private contentStore (signal: AbortSignal): ContentBlockstore {
    const net = this.components.net
    if (!this.online || net === undefined) return this.components.blocks
    return fetchingBlockstore(this.components.blocks, async cid => await net.fetch(cid, { recursive: false, signal }))
  }

  /** The DAG's cumulative size from the root block's link sizes (kubo's CumulativeSize). */
  private async dagSize (store: ContentBlockstore, root: CID): Promise<number> {
    const bytes = await store.get(root)
    if (root.code !== dagPb.code) return bytes.byteLength
    return dagPb.decode(bytes).Links.reduce((sum, link) => sum + (link.Tsize ?? 0), bytes.byteLength)
  }

  private async siteJson (store: ContentBlockstore, root: CID): Promise<SiteInfo['site']> {
    const entry = await resolveEntry(store, { cid: root, segments: ['weft.json'], text: `${root.toString()}/weft.json` })
    const chunks: Uint8Array[] = []
    for await (const chunk of cat(store, { cid: entry.cid, segments: [], text: entry.cid.toString() }, { length: MAX_SITE_JSON })) chunks.push(chunk)
    const parsed: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'))
    if (parsed === null || typeof parsed !== 'object') return undefined
    const pick = (k: string): string | undefined => {
      const v = (parsed as Record<string, unknown>)[k]
      return typeof v === 'string' ? v.slice(0, 1000) : undefined
    }
    return { title: pick('title'), description: pick('description'), author: pick('author'), entry: pick('entry') }
  }
}
