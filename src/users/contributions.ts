/**
 * Contributions: every user's folder on every site this node follows or owns, checked
 * against the owner's rules and merged into the site's database.
 *
 * A user record arrives (a push on the site's users topic, a catch-up answer, this node's
 * own write) → the record gate (signature, expiry, site, no rollback, no equivocation) →
 * a per-user and per-peer rate limit → the folder is walked within the rules' byte and
 * file limits, each block fetched and verified → the rules decide (pattern, limits,
 * bans) → accepted: held (gc keeps it), provided, its files feed the site's database,
 * and an event goes out. A new site version re-reads the rules and checks every
 * contribution again, so a ban reaches old posts too.
 */
import { mkdirSync } from 'node:fs'
import type { PeerId } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import { anySignal } from 'any-signal'
import { CID } from 'multiformats/cid'
import { WeftError } from '../errors.ts'
import { parseSiteName, RecordGate, RecordRejected, type RecordSource } from '../sites/index.ts'
import { CheckedRecords, checkUserRecord, signUserRecord, type UserRecord } from './records.ts'
import { UserStore, gateKey, contributionOf, type ContributionRow } from './store.ts'
import { buildFolder, FolderRefused, maxWalkBlocks, readSmallFile, walkFolder } from './folder.ts'
import { readSiteConfig, schemaTakes, type SiteConfig } from './site-config.ts'
import { checkContribution, pathProblem, BANS_FILE, type UserRules } from './rules.ts'
import type { SiteDb } from './site-db.ts'
import { SiteStates } from './site-state.ts'
import { TokenBuckets } from './rate.ts'
import { CheckQueue } from './check-queue.ts'
import { CATCH_UP_PROTOCOL, CatchUpPeers, MAX_CATCH_UP_RECORDS, requestCatchUp, serveCatchUp } from './catch-up.ts'
import { OwnRecords } from './announce.ts'
import { HOSTILE, UsersTopics, usersTopic } from './topic.ts'
import type { Contribution, UsersComponents, UsersInit, Users, UsersInfo, UserEvents } from './index.ts'

const log = logger('weft:users')

export { usersTopic } from './topic.ts'

/** Folder walks at once: a cold follow of thousands of contributions, without thousands of fetches in flight. */
const WALK_CONCURRENCY = 16
/** The longest one folder walk may take: a forum post's folder is two blocks, fetched in well under a second on a LAN. */
const WALK_TIMEOUT = 120_000
/** Refused contributions kept per site (as evidence, and so they are not fetched again); past it the oldest go, records and all. */
export const MAX_REFUSED_PER_SITE = 1_000
/** ms before each retry of a folder no peer had: the writer's node is usually reachable within seconds. */
const RETRY_DELAYS = [1_000, 5_000, 20_000]
/** Contributions whose folder no peer had, tried again per catch-up round. */
const RETRIES_PER_ROUND = 100
/** Pushes whose carried blocks wait for their check at once (at most 64 KiB each, so 16 MiB): past it a push's folder is fetched instead. */
const MAX_CARRIED = 256

export class ContributionService extends EventTarget implements Users {
  private readonly components: UsersComponents
  private readonly init: UsersInit
  private readonly store: UserStore
  private readonly gate: RecordGate
  private readonly sitesState: SiteStates
  /** The users topics joined (online only). */
  private readonly topics?: UsersTopics
  private readonly queue = new CheckQueue(WALK_CONCURRENCY, err => { log.error('checking a contribution failed: %s', err.message) })
  private readonly writing = new Map<string, Promise<Contribution>>()
  /** Retries so far of each contribution whose folder no peer had. */
  private readonly retries = new Map<string, number>()
  /** Blocks a push carried (verified against their CIDs), per gate key, until its check reads them. */
  private readonly carried = new Map<string, Map<string, Uint8Array>>()
  private readonly checked = new CheckedRecords()
  private readonly caughtUp = new CatchUpPeers()
  private readonly buckets = new TokenBuckets()
  private readonly timers: NodeJS.Timeout[] = []
  private readonly own = new OwnRecords()
  private readonly cleanups: Array<() => void> = []
  private controller = new AbortController()
  private started = false

  constructor (components: UsersComponents, init: UsersInit) {
    super()
    this.components = components
    this.init = init
    this.store = new UserStore(components.db)
    this.gate = new RecordGate({ book: this.store, penalise: components.net?.penalise }, {
      check: async (key, bytes) => await checkUserRecord(key.slice(0, key.indexOf('/')), bytes, this.checked),
      label: 'users'
    })
    mkdirSync(components.siteDbDir, { recursive: true, mode: 0o700 })
    this.sitesState = new SiteStates(components.siteDbDir, { queryTimeout: init.queryTimeout, maxRows: init.maxRows })
    if (components.net !== undefined) {
      this.topics = new UsersTopics({
        net: components.net,
        buckets: this.buckets,
        rejected: (site, peer) => { this.store.rejection(gateKey(site, '?'), 'malformed', peer) },
        receive: async (site, record, source, hints, carried) => await this.receive(site, record, source, hints, carried)
      }, init)
    }
  }

  // ---- lifecycle ----

  async start (): Promise<void> {
    if (this.started) return
    this.started = true
    this.controller = new AbortController()
    const onSite = (event: Event): void => {
      const name = (event as CustomEvent<{ name: string }>).detail.name
      this.background(async () => { await this.refreshSite(name) })
    }
    this.components.sites.addEventListener('fetched', onSite)
    this.components.sites.addEventListener('record', onSite)
    this.cleanups.push(() => {
      this.components.sites.removeEventListener('fetched', onSite)
      this.components.sites.removeEventListener('record', onSite)
    })
    const net = this.components.net
    if (net !== undefined) {
      await net.handle(CATCH_UP_PROTOCOL, stream => {
        // only what this node accepted: junk it was handed goes no further
        void serveCatchUp(stream, (site, offset, limit) => this.isActive(site) ? this.store.acceptedRecords(site, offset, Math.min(limit, MAX_CATCH_UP_RECORDS - offset)) : [])
      })
      this.cleanups.push(() => { void net.unhandle(CATCH_UP_PROTOCOL).catch(() => {}) })
      const offPeer = net.onPeerConnected(() => { this.catchUpSoon() })
      this.cleanups.push(offPeer)
      if (this.init.catchUpInterval > 0) {
        const timer = setInterval(() => { this.background(async () => { await this.catchUpAll(true) }) }, this.init.catchUpInterval)
        timer.unref()
        this.timers.push(timer)
      }
    }
    for (const site of this.activeSites()) this.background(async () => { await this.refreshSite(site) })
  }

  async stop (): Promise<void> {
    if (this.started) {
      this.started = false
      this.controller.abort()
      for (const t of this.timers.splice(0)) clearInterval(t)
      for (const fn of this.cleanups.splice(0)) fn()
      this.topics?.leaveAll()
    }
    this.queue.clear()
    // a node that was never started (the CLI's offline one) opens site databases too, on a write or a list
    await this.sitesState.closeAll()
  }

  private background (fn: () => Promise<void>): void {
    fn().catch(err => { if (!this.controller.signal.aborted) log.error('background work failed: %s', (err as Error).message) })
  }

  private get online (): boolean {
    return this.components.net !== undefined && this.started
  }

  // ---- sites this node takes contributions for ----

  private activeSites (): string[] {
    return [...new Set([...this.components.sites.list().map(s => s.name), ...this.components.sites.followedNames()])]
  }

  private isActive (site: string): boolean {
    return this.activeSites().includes(site)
  }

  /** Reads the rules of the version held, and when they changed, checks every contribution again. */
  private async refreshSite (site: string): Promise<void> {
    if (!this.isActive(site)) return
    let resolved
    try {
      resolved = await this.components.sites.resolve(site, { offline: true, held: true })
    } catch {
      return
    }
    const before = this.sitesState.config(site)
    if (before?.root === resolved.root) return
    const config = await readSiteConfig(this.components.blocks, CID.parse(resolved.root), resolved.sequence)
    if (config === undefined) return
    this.sitesState.setConfig(site, config)
    if (config.rules === undefined) {
      if (config.problem !== undefined) log.error('%s: %s', site, config.problem)
      // a version without (valid) rules takes no contributions: the ones held leave
      for (const row of this.store.contributions(site, 'accepted')) {
        this.store.setContribution({ ...row, state: 'refused', reason: 'no-rules' })
        ;(await this.siteDb(site).catch(() => undefined))?.removeUser(row.user)
        this.dispatchEvent(new CustomEvent<UserEvents['removed']>('removed', { detail: { site, user: row.user, reason: 'no-rules' } }))
      }
      return
    }
    if (this.online) this.topics?.join(site)
    for (const moderator of config.rules.moderators) await this.readModeratorBans(site, moderator)
    const db = await this.siteDb(site)
    if (db !== undefined && !db.schemaMatches) await this.rebuildDb(site, db, config.rules.maxBytes)
    // rules apply to old contributions too: every one is checked again (and records whose folder was never checked, too)
    for (const user of this.store.users(site)) this.enqueue(site, user)
    if (before === undefined) {
      this.catchUpSoon()
      this.background(async () => { await this.announceOwn(site) })
    }
  }

  private config (site: string): SiteConfig | undefined {
    return this.sitesState.config(site)
  }

  private async siteDb (site: string): Promise<SiteDb | undefined> {
    return await this.sitesState.db(site)
  }

  /** A new schema (or a new file): every accepted contribution goes in again, then the build is marked whole. */
  private async rebuildDb (site: string, db: SiteDb, maxBytes: number): Promise<void> {
    for (const row of this.store.contributions(site, 'accepted')) await this.feedDb(db, site, row, maxBytes)
    db.markBuilt()
  }

  /** This person's own record on a site goes out again (written while offline, or a restart). */
  private async announceOwn (site: string): Promise<void> {
    if (!this.online || this.own.isPutting(site)) return
    const own = this.store.recordOf(site, this.components.identity.id(site))
    if (own === undefined) return
    await this.announce(site, { ...own.record, user: this.components.identity.id(site), site })
  }

  /**
   * The one way a user record comes in. Throws RecordRejected (counted, and the sender
   * penalised for hostile reasons, by the gate).
   */
  private async receive (site: string, bytes: Uint8Array, source: RecordSource, hints: PeerId[] = source.origin !== undefined ? [source.origin] : [], carried?: Map<string, Uint8Array>): Promise<'new' | 'refresh' | 'same'> {
    if (!this.isActive(site)) throw new RecordRejected('stale', `${site} is not followed here`)
    let record: UserRecord
    try {
      record = await checkUserRecord(site, bytes, this.checked)
    } catch (err) {
      if (err instanceof RecordRejected) {
        this.store.rejection(gateKey(site, '?'), err.reason, source.peer)
        if (source.peer !== undefined && HOSTILE.has(err.reason)) this.components.net?.penalise(source.peer, `${err.reason} user record for ${site}`)
      }
      throw err
    }
    const held = this.store.recordOf(site, record.user)
    if (source.kind !== 'self' && (held === undefined || held.record.sequence < record.sequence) &&
      !this.buckets.take(`user:${site}/${record.user}`, this.init.userBurst, this.init.userRate)) {
      // a flood of versions from one user: the newest arrives again by catch-up
      throw new RecordRejected('stale', `user ${record.user} sent more than ${this.init.userRate} versions a second`)
    }
    const { outcome } = await this.gate.accept(gateKey(site, record.user), bytes, source)
    if (outcome === 'new') {
      const key = gateKey(site, record.user)
      if (carried !== undefined && carried.size > 0 && (this.carried.size < MAX_CARRIED || this.carried.has(key))) this.carried.set(key, carried)
      this.enqueue(site, record.user, hints)
    }
    return outcome
  }

  // ---- checking a contribution ----

  private enqueue (site: string, user: string, hints: PeerId[] = []): void {
    this.queue.add(gateKey(site, user), async () => { await this.check(site, user, hints) })
  }

  /** Walks the current record's folder and applies the rules; updates the row, the database and the events. */
  private async check (site: string, user: string, hints: PeerId[] = []): Promise<void> {
    const config = this.config(site)
    const held = this.store.recordOf(site, user)
    if (config?.rules === undefined || held === undefined) return
    const key = gateKey(site, user)
    const carried = this.carried.get(key)
    try {
      await this.checkWith(site, user, config.rules, held.record.root, held.record.sequence, held.firstSeen, hints, carried)
    } finally {
      if (carried !== undefined && this.carried.get(key) === carried) this.carried.delete(key)
    }
  }

  private async checkWith (site: string, user: string, rules: UserRules, root: CID, sequence: bigint, firstSeen: number, hints: PeerId[], carried: Map<string, Uint8Array> | undefined): Promise<void> {
    const before = this.store.contribution(site, user)
    const base: ContributionRow = { site, user, sequence, root: root.toString(), files: [], state: 'pending', updated: firstSeen }
    const bans = this.sitesState.bans(site)
    let row: ContributionRow
    if (bans.has(user)) {
      row = { ...base, files: before?.root === base.root ? before.files : [], state: 'refused', reason: 'banned' }
    } else {
      let files = before !== undefined && before.root === base.root && before.state !== 'pending' && before.reason !== 'too-large' && before.reason !== 'too-many-files' && before.reason !== 'malformed'
        ? before.files
        : undefined
      try {
        if (files === undefined) {
          this.store.setContribution(base)
          // a deadline for the whole walk: a sender feeding one block a minute holds a slot no longer
          // (any-signal, not AbortSignal.any: Node keeps every dependant of the long-lived stop signal and sweeps them all at each one's collection, which took 25 s of CPU in a cold follow of 10,000)
          const deadline = anySignal([this.controller.signal, AbortSignal.timeout(WALK_TIMEOUT)])
          try {
            // a push that carried the folder's root carried what the folder is, as a rule (encodePush)
            if (carried?.has(root.toString()) !== true) await this.prefetch(root, hints, { maxFiles: rules.maxFiles, maxBytes: rules.maxBytes }, deadline)
            files = await walkFolder((cid, signal) => this.getBlock(cid, hints, signal, carried), root, { maxFiles: rules.maxFiles, maxBytes: rules.maxBytes }, { signal: deadline })
          } finally {
            deadline.clear()
          }
        }
        const verdict = checkContribution(rules, files, user, bans)
        row = verdict.ok ? { ...base, files, state: 'accepted' } : { ...base, files, state: 'refused', reason: verdict.reason }
      } catch (err) {
        if (err instanceof FolderRefused) row = { ...base, state: 'refused', reason: err.reason }
        else {
          log('%s: the folder of %s is not here yet: %s', site, user, (err as Error).message)
          this.store.evictUnaccepted(site, MAX_REFUSED_PER_SITE, this.components.identity.id(site))
          this.retryLater(site, user, hints)
          return
        }
      }
    }
    this.store.setContribution(row)
    this.retries.delete(gateKey(site, user))
    if (row.state !== 'accepted') this.store.evictUnaccepted(site, MAX_REFUSED_PER_SITE, this.components.identity.id(site))
    const db = await this.siteDb(site).catch(() => undefined)
    if (row.state === 'accepted') {
      // Not provided here: a DHT walk per contribution on every follower was most of a cold
      // follow's time (10,000 walks) and of a push's on 30 followers; fetchers are pointed
      // at the publisher, forwarder or catch-up peer, the author provides it on writing,
      // and the reprovide schedule announces every held root (heldRoots).
      if (db !== undefined) await this.feedDb(db, site, row, rules.maxBytes)
      // a new site version checks every contribution again: only a new or newly accepted one is news to the site's pages
      if (before?.state !== 'accepted' || before.root !== row.root) {
        this.dispatchEvent(new CustomEvent<UserEvents['contribution']>('contribution', { detail: { site, user, sequence: row.sequence, root: row.root } }))
      }
    } else {
      db?.removeUser(user)
      if (before?.state === 'accepted') this.dispatchEvent(new CustomEvent<UserEvents['removed']>('removed', { detail: { site, user, reason: row.reason ?? 'refused' } }))
    }
    // a moderator's bans changed: everyone is checked again
    if (this.sitesState.isModerator(site, user) && (before?.root !== row.root || before?.state !== row.state)) {
      await this.readModeratorBans(site, user)
      for (const other of this.store.contributions(site)) if (other.user !== user) this.enqueue(site, other.user)
    }
  }

  /**
   * One session for the whole folder, instead of one per block: the exchange fetches the DAG
   * and is stopped the moment it passes the walk's byte or block budget (a refusal). Any
   * other failure is left to the walk, which asks for what is still missing block by block.
   */
  private async prefetch (root: CID, hints: PeerId[], limits: { maxFiles: number, maxBytes: number }, deadline: AbortSignal): Promise<void> {
    const net = this.components.net
    if (net === undefined || !this.online || this.components.blocks.has(root)) return
    const bytes = limits.maxBytes + (limits.maxFiles + 1) * 1024
    const blocks = maxWalkBlocks(limits)
    const over = new AbortController()
    try {
      await net.fetch(root, {
        recursive: true,
        providers: hints.length > 0 ? hints : undefined,
        signal: AbortSignal.any([deadline, over.signal, AbortSignal.timeout(this.init.fetchTimeout)]),
        onProgress: e => { if (e.bytes > bytes || e.blocks > blocks) over.abort() }
      })
    } catch (err) {
      if (over.signal.aborted) throw new FolderRefused('too-large', `the folder is more than ${limits.maxBytes} bytes or ${blocks} blocks`)
      log('prefetching %s: %s', root, (err as Error).message)
    }
  }

  /** A folder no peer had yet: asked again a few times, sooner than the next catch-up round. */
  private retryLater (site: string, user: string, hints: PeerId[]): void {
    const key = gateKey(site, user)
    const attempt = this.retries.get(key) ?? 0
    if (attempt >= RETRY_DELAYS.length || !this.online) {
      this.retries.delete(key)
      return
    }
    this.retries.set(key, attempt + 1)
    const timer = setTimeout(() => { if (this.started) this.enqueue(site, user, hints) }, RETRY_DELAYS[attempt])
    timer.unref()
  }

  private async getBlock (cid: CID, hints: PeerId[] = [], walk?: AbortSignal, carried?: Map<string, Uint8Array>): Promise<Uint8Array> {
    const { blocks, net } = this.components
    const inline = carried?.get(cid.toString())
    if (inline !== undefined) {
      // verified against its CID when the push arrived (validatePush); stored only now that the walk reaches it
      if (!blocks.has(cid)) await blocks.put(cid, inline)
      return inline
    }
    if (!blocks.has(cid)) {
      if (net === undefined || !this.online) throw new WeftError('ERR_OFFLINE', `block ${cid} is not here and the node is offline`)
      const signal = anySignal([this.controller.signal, AbortSignal.timeout(this.init.fetchTimeout), walk])
      try {
        await net.fetch(cid, { signal, recursive: false, providers: hints.length > 0 ? hints : undefined })
      } finally {
        signal.clear()
      }
    }
    return await blocks.get(cid)
  }

  private async feedDb (db: SiteDb, site: string, row: ContributionRow, maxBytes: number): Promise<void> {
    const files = new Map<string, Uint8Array>()
    for (const file of row.files) {
      if (!schemaTakes(this.config(site)?.schema, file.path)) continue
      try {
        files.set(file.path, await readSmallFile(cid => this.getBlock(cid), CID.parse(file.cid), maxBytes))
      } catch (err) {
        log('%s: %s/%s unreadable: %s', site, row.user, file.path, (err as Error).message)
      }
    }
    db.putUser(row.user, files)
  }

  /** A moderator's bans.json, parsed, from their accepted contribution (none: no bans). */
  private async readModeratorBans (site: string, moderator: string): Promise<void> {
    const row = this.store.contribution(site, moderator)
    const file = row?.state === 'accepted' ? row.files.find(f => f.path === BANS_FILE) : undefined
    if (file === undefined) {
      this.sitesState.setModeratorBans(site, moderator, undefined)
      return
    }
    try {
      const bytes = await readSmallFile(cid => this.getBlock(cid), CID.parse(file.cid), this.config(site)?.rules?.maxBytes ?? 0)
      this.sitesState.setModeratorBans(site, moderator, JSON.parse(new TextDecoder().decode(bytes)))
    } catch (err) {
      log('%s: moderator %s has an unreadable %s: %s', site, moderator, BANS_FILE, (err as Error).message)
      this.sitesState.setModeratorBans(site, moderator, undefined)
    }
  }

  // ---- catching up ----

  private catchUpTimer: NodeJS.Timeout | undefined
  private catchUpSoon (): void {
    if (this.catchUpTimer !== undefined || !this.online) return
    // a second for identify and the topic's subscriptions to arrive
    this.catchUpTimer = setTimeout(() => {
      this.catchUpTimer = undefined
      this.background(async () => { await this.catchUpAll() })
    }, 1_000)
    this.catchUpTimer.unref()
  }

  /** `again`: the schedule's round asks peers asked lately too; one a connection set off asks only the others. */
  private async catchUpAll (again = false): Promise<void> {
    for (const site of this.activeSites()) {
      if (this.config(site)?.rules === undefined) continue
      await this.catchUp(site, { again })
      if (this.own.notTaken(site)) await this.announceOwn(site)
      // folders no peer had the last time: the peers now connected may
      for (const row of this.store.contributions(site, 'pending').slice(0, RETRIES_PER_ROUND)) this.enqueue(site, row.user)
    }
  }

  /**
   * Asks a few peers on the site's users topic for every user record they hold: those not
   * asked for the longest time, and none that answered within CATCH_UP_AGAIN_MS unless
   * `again` (a person asking, or the schedule), since peers connect and reconnect often.
   */
  async catchUp (site: string, options: { again?: boolean } = {}): Promise<number> {
    const net = this.components.net
    if (net === undefined || !this.online) return 0
    const peers = this.caughtUp.choose(site, net.pubsub.getSubscribers(usersTopic(site)), this.init.catchUpPeers, options.again !== false)
    let received = 0
    await Promise.all(peers.map(async peer => {
      try {
        await requestCatchUp(async (p, s) => await net.dialProtocol(p, CATCH_UP_PROTOCOL, { signal: s }), peer, site, async bytes => {
          received++
          await this.receive(site, bytes, { kind: 'local', peer: peer.toString(), origin: peer }).catch(() => {})
        }, this.controller.signal, this.init.fetchTimeout)
        this.caughtUp.answered(site, peer)
      } catch (err) {
        log('%s: catching up from %s failed: %s', site, peer, (err as Error).message)
      }
    }))
    return received
  }

  // ---- the interface ----

  id (site: string): string {
    return this.components.identity.id(parseSiteName(site).name)
  }

  async refresh (site: string): Promise<void> {
    await this.refreshSite(parseSiteName(site).name)
  }

  async write (site: string, path: string, bytes: Uint8Array | undefined, options: { signal?: AbortSignal } = {}): Promise<Contribution> {
    const name = parseSiteName(site).name
    // one write at a time per site: two at once would both build on the same version
    const previous = this.writing.get(name) ?? Promise.resolve()
    const mine = previous.catch(() => {}).then(async () => await this.writeNow(name, path, bytes, options))
    this.writing.set(name, mine)
    try {
      return await mine
    } finally {
      if (this.writing.get(name) === mine) this.writing.delete(name)
    }
  }

  private async writeNow (name: string, path: string, bytes: Uint8Array | undefined, options: { signal?: AbortSignal }): Promise<Contribution> {
    options.signal?.throwIfAborted()
    if (!this.isActive(name)) throw new WeftError('ERR_NOT_FOLLOWING', `${name} is neither followed nor owned here: follow it first (weft follow ${name})`)
    await this.refreshSite(name)
    const rules = this.config(name)?.rules
    if (rules === undefined) throw new WeftError('ERR_CONTRIBUTION_REFUSED', `${name} takes no contributions (its weft.json has no users section${this.config(name)?.problem !== undefined ? `: ${this.config(name)?.problem}` : ''})`)
    const problem = pathProblem(path)
    if (problem !== undefined) throw new WeftError('ERR_CONTRIBUTION_REFUSED', `${path}: ${problem}`)
    const key = this.components.identity.key(name)
    const user = this.components.identity.id(name)
    const current = this.store.contribution(name, user)
    if (current !== undefined && current.files.length === 0 && (current.state === 'pending' || (current.state === 'refused' && current.reason !== 'banned'))) {
      // a newer version of one's own contribution came back (an imported key) and is not walked yet: writing now would drop its files
      throw new WeftError('ERR_CONTRIBUTION_REFUSED', `your contribution to ${name} (version ${current.sequence}) is not here yet, so a new version would lose its files; try again once \`weft user list --site ${name}\` shows it accepted`)
    }
    const files = new Map<string, Uint8Array>()
    for (const file of current?.files ?? []) {
      if (file.path !== path) files.set(file.path, await readSmallFile(cid => this.getBlock(cid), CID.parse(file.cid), rules.maxBytes))
    }
    if (bytes !== undefined) files.set(path, bytes)
    else if (current?.files.some(f => f.path === path) !== true) throw new WeftError('ERR_DAG_PATH_NOT_FOUND', `${path} is not in your contribution to ${name}`)
    const listing = [...files].map(([p, b]) => ({ path: p, size: b.byteLength }))
    const verdict = checkContribution(rules, listing, user, this.sitesState.bans(name))
    if (!verdict.ok) throw new WeftError('ERR_CONTRIBUTION_REFUSED', `${name} refuses it (${verdict.reason}): ${verdict.detail}`)
    // the folder's blocks go out with the record, root first (a reader can use a prefix of them)
    const built: Array<{ cid: CID, bytes: Uint8Array }> = []
    const store = this.components.blocks
    const folder = await buildFolder({
      put: async (cid, block) => { built.unshift({ cid, bytes: block }); await store.put(cid, block) },
      get: async cid => await store.get(cid),
      flush: async () => { await store.flush() }
    }, files)
    const sequence = (this.store.recordOf(name, user)?.record.sequence ?? -1n) + 1n
    const record = await signUserRecord(key, name, folder.root, sequence, { validity: this.init.validity, ttl: this.init.ttl })
    await this.gate.accept(gateKey(name, user), record.bytes, { kind: 'self' })
    const row: ContributionRow = { site: name, user, sequence, root: folder.root.toString(), files: folder.files, state: 'accepted', updated: Date.now() }
    this.store.setContribution(row)
    const db = await this.siteDb(name)
    if (db !== undefined) await this.feedDb(db, name, row, rules.maxBytes)
    this.dispatchEvent(new CustomEvent<UserEvents['contribution']>('contribution', { detail: { site: name, user, sequence, root: row.root } }))
    if (this.online) await this.announce(name, record, built)
    return contributionOf(row)
  }

  private async announce (site: string, record: UserRecord, blocks: Array<{ cid: CID, bytes: Uint8Array }> = []): Promise<void> {
    const net = this.components.net
    if (net !== undefined) await this.own.announce(net, site, record, blocks, fn => { this.background(fn) }, this.controller.signal)
  }

  contributions (site: string): Contribution[] {
    return this.store.contributions(parseSiteName(site).name, 'accepted').map(r => contributionOf(r))
  }

  contribution (site: string, user: string): Contribution | undefined {
    const row = this.store.contribution(parseSiteName(site).name, user)
    return row?.state === 'accepted' ? contributionOf(row) : undefined
  }

  listen (site: string): () => void {
    return this.sitesState.listen(parseSiteName(site).name)
  }

  async query (site: string, sql: string, params?: unknown[] | Record<string, unknown>, options: { signal?: AbortSignal } = {}): Promise<Array<Record<string, unknown>>> {
    const name = parseSiteName(site).name
    await this.refreshSite(name)
    const db = await this.siteDb(name)
    if (db === undefined && this.config(name) === undefined) throw new WeftError('ERR_SITE_DB_ABSENT', `${name} has no database here yet: no version of it is held (follow it, and wait for its fetch)`)
    if (db === undefined) throw new WeftError('ERR_SITE_DB_ABSENT', `${name} declares no database (its weft.json has no db section)`)
    return await db.query(sql, params, options)
  }

  info (site: string): UsersInfo {
    const name = parseSiteName(site).name
    return this.store.info(name, this.config(name))
  }

  allowed (site: string): boolean {
    return this.store.allowed(parseSiteName(site).name)
  }

  allow (site: string, allowed: boolean): void {
    const name = parseSiteName(site).name
    this.store.allow(name, allowed)
    this.dispatchEvent(new CustomEvent<UserEvents['consent']>('consent', { detail: { site: name, allowed } }))
  }

  allowedSites (): string[] {
    return this.store.allowedSites()
  }

  heldRoots (): CID[] {
    // a site no longer followed or owned releases its users' folders to gc
    const active = new Set(this.activeSites())
    return this.store.heldRoots().filter(r => active.has(r.site)).map(r => CID.parse(r.root))
  }

  /** Waits until no contribution is being checked (tests, benchmarks). */
  async settled (): Promise<void> {
    await this.queue.settled()
  }
}
