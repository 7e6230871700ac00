import type { PeerId, PrivateKey } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import { TopicValidatorResult, type Message } from '@libp2p/gossipsub'
import type { CID } from 'multiformats/cid'
import { WeftError, isWeftError } from '../errors.ts'
import { parseContentPath } from '../content/index.ts'
import type { SitesComponents, SitesInit, Sites, PublishResult, ResolveResult, SiteInfo, FollowInfo, FollowState, SiteEvents } from './index.ts'
import { parseSiteName, topicRendezvous, type SiteName } from './names.ts'
import { checkRecord, signRecord, RecordRejected, rejectionError, type SiteRecord } from './records.ts'
import { SiteStore, type OwnSite } from './store.ts'
import { checkLabel, exportSiteKey, importSiteKey, nameOfKey, newSiteKey, readSiteKey, removeSiteKey, removeUnlistedKeys, writeSiteKey } from './keys.ts'
import { HeldVersions } from './held.ts'
import { siteInfo } from './info.ts'

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
/** Tries at one version before a followed site waits for the next peer or record (each try asks every connected peer and the DHT). */
const FETCH_ATTEMPTS = 3

export class SiteService extends EventTarget implements Sites {
  private readonly components: SitesComponents
  private readonly init: SitesInit
  private readonly store: SiteStore
  /** Which versions the store holds whole: walked, never a remembered flag. */
  private readonly held: HeldVersions
  private readonly subscribed = new Set<string>()
  private readonly syncing = new Map<string, Promise<void>>()
  /** The version each followed site is fetching, to give up on when a newer one arrives. */
  private readonly fetching = new Map<string, { sequence: bigint, superseded: AbortController }>()
  /** Per followed site, the peer that last pushed a new version to us first-hand. */
  private readonly hints = new Map<string, PeerId>()
  /** Followed sites whose newest version the last fetch could not complete: tried again when a peer connects. */
  private readonly behind = new Set<string>()
  /** Followed sites a peer connected during the fetch of: if it ends without the version, it goes round once more. */
  private readonly retry = new Set<string>()
  private readonly timers: NodeJS.Timeout[] = []
  private readonly cleanups: Array<() => void> = []
  private controller = new AbortController()
  private started = false

  constructor (components: SitesComponents, init: SitesInit) {
    super()
    this.components = components
    this.init = init
    this.store = new SiteStore(components.db)
    this.held = new HeldVersions(components.blocks, this.store)
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
      if (soon !== undefined || (caughtUp && this.behind.size === 0 && this.syncing.size === 0 && this.store.ownSites().every(s => s.published))) return
      // A second for identify to finish, so the new peer is in the routing table.
      soon = setTimeout(() => {
        soon = undefined
        this.background(async () => {
          await this.announcePending()
          // Followed sites whose version no peer had: the new peer may have it. A fetch under
          // way asked the peers connected when it began, so it goes round once more if it fails.
          for (const name of this.syncing.keys()) this.retry.add(name)
          for (const name of [...this.behind]) this.sync(name)
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

  async resolve (text: string, options: { offline?: boolean, fresh?: boolean, held?: boolean, signal?: AbortSignal } = {}): Promise<ResolveResult> {
    const name = parseSiteName(text)
    const newest = await this.resolveNewest(name, options)
    if (options.held !== true || this.store.follow(name.name) === undefined) return newest
    if (await this.held.completeRecently(parseContentPath(newest.value).cid)) return newest
    // Serve what the node holds: the newest version whose every block is here, while the sync loop fetches the rest.
    const older = await this.held.newestComplete(name.name, newest.sequence, { recently: true })
    if (older === undefined) return newest
    return { ...newest, value: older.value, root: parseContentPath(older.value).cid.toString(), sequence: older.sequence, source: 'held', newest: newest.sequence }
  }

  private async resolveNewest (name: SiteName, options: { offline?: boolean, fresh?: boolean, signal?: AbortSignal }): Promise<ResolveResult> {
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
    return await this.followInfo(name.name)
  }

  async unfollow (text: string): Promise<void> {
    const name = parseSiteName(text)
    if (!this.store.removeFollow(name.name)) throw new WeftError('ERR_NOT_FOLLOWING', `${name.name} is not followed`)
    if (this.store.ownSite(name.name) === undefined) this.unsubscribe(name.topic)
    // Versions this follow held are released for gc; pins the user made stay.
    this.store.releaseAll(name.name)
    this.behind.delete(name.name)
    this.retry.delete(name.name)
  }

  async following (): Promise<FollowInfo[]> {
    const list: FollowInfo[] = []
    for (const follow of this.store.follows()) list.push(await this.followInfo(follow.name))
    return list
  }

  private async followInfo (name: string): Promise<FollowInfo> {
    const follow = this.store.follow(name)
    const current = this.store.record(name)?.record
    const version = current === undefined ? undefined : this.store.version(name, current.sequence)
    const fetched = current !== undefined && await this.held.completeRecently(current.root)
    const held = current === undefined ? undefined : fetched ? current.sequence : (await this.held.newestComplete(name, current.sequence, { recently: true }))?.sequence
    const state: FollowState = current === undefined ? 'no-record' : fetched ? 'held' : held !== undefined ? 'updating' : this.syncing.has(name) ? 'fetching' : 'waiting'
    return {
      name,
      keep: follow?.keep ?? 0,
      following: follow !== undefined,
      sequence: current?.sequence,
      root: current?.root.toString(),
      updated: version?.firstSeen,
      fetched,
      state,
      held
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
    this.behind.delete(name)
    this.retry.delete(name)
    const run = (async () => {
      let holding = false
      for (let attempt = 0; attempt < FETCH_ATTEMPTS && !this.controller.signal.aborted;) {
        const follow = this.store.follow(name)
        const current = this.store.record(name)?.record
        if (follow === undefined || current === undefined) return
        // The store decides, not a past fetch: gc, an unfollow or a quarantined block may have taken part of it.
        if (await this.held.complete(current.root)) {
          if (this.store.version(name, current.sequence)?.pinned !== true) this.hold(name, current, follow.keep)
          holding = true
          break
        }
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
      if (!holding && !this.controller.signal.aborted && this.store.follow(name) !== undefined) this.behind.add(name)
      await this.repairKept(name)
    })().finally(() => {
      this.syncing.delete(name)
      if (this.retry.delete(name) && this.behind.has(name)) this.sync(name)
    })
    this.syncing.set(name, run)
  }

  /**
   * Older versions a follow keeps that lost blocks (a quarantined block, a store from before
   * held versions were walked) are fetched again: the gateway serves them while the newest
   * is missing. One try each; the next sync tries again.
   */
  private async repairKept (name: string): Promise<void> {
    const net = this.components.net
    const current = this.store.record(name)?.record.sequence
    for (const version of this.store.versions(name)) {
      if (net === undefined || this.controller.signal.aborted) return
      if (!version.pinned || version.sequence === current) continue
      const root = parseContentPath(version.value).cid
      if (await this.held.complete(root)) continue
      const signal = AbortSignal.any([this.controller.signal, AbortSignal.timeout(this.init.fetchTimeout)])
      await net.fetch(root, { signal }).then(
        () => { this.held.remember(root, true) },
        err => { log('%s: sequence %s is missing blocks and none came: %s', name, version.sequence, (err as Error).message) })
    }
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
    this.held.remember(record.root, true)
    this.hold(name, record, keep)
  }

  /** The version is wholly in the store: this follow holds it (gc keeps it), provides it, and releases versions beyond `keep`. */
  private hold (name: string, record: SiteRecord, keep: number): void {
    // Held by this follow, apart from the user's own pins.
    this.store.markFetched(name, record.sequence, true)
    this.components.net?.routing.provideSoon(record.root)
    this.dispatchEvent(new CustomEvent<SiteEvents['fetched']>('fetched', { detail: { name, sequence: record.sequence, root: record.root.toString() } }))
    // Keep the newest `keep` held versions; release the older ones this follow held.
    const heldVersions = this.store.versions(name).filter(v => v.pinned)
    const kept = new Set(heldVersions.slice(0, keep).map(v => v.value))
    for (const old of heldVersions.slice(keep)) {
      if (!kept.has(old.value)) this.store.markUnpinned(name, old.sequence)
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
    const net = this.online ? this.components.net : undefined
    return await siteInfo({ store: this.store, held: this.held, blocks: this.components.blocks, net }, text, options)
  }
}
