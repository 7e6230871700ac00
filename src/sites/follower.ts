/**
 * Followed sites: each new version is fetched, held (gc keeps it), provided, and the
 * versions beyond `keep` are released. One sync loop per site, until the newest record's
 * version is wholly in the store; a site no peer could serve waits for the next peer.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { logger } from '@libp2p/logger'
import type { CID } from 'multiformats/cid'
import { WeftError } from '../errors.ts'
import { parseContentPath } from '../content/index.ts'
import type { FollowInfo, FollowState, SiteEvents, SitesComponents, SitesInit, SitesNet } from './index.ts'
import type { HeldVersions } from './held.ts'
import type { Running } from './lifecycle.ts'
import { parseSiteName } from './names.ts'
import type { SiteRecord } from './records.ts'
import type { Resolver } from './resolver.ts'
import type { SiteStore } from './store.ts'
import type { Topics } from './topics.ts'

const log = logger('weft:sites')

/** Tries at one version before a followed site waits for the next peer or record (each try asks every connected peer and the DHT). */
const FETCH_ATTEMPTS = 3
/** ms waited after a failed fetch, times the number of the attempt. */
const FETCH_BACKOFF = 1_000
/** ms a poll of the DHT for a followed site may take. */
const POLL_TIMEOUT = 30_000
/**
 * The shortest time (ms) between two catch-ups of one followed site set off by its peers
 * connecting: a relayed connection that hits its relay's limit and is dialled again (every
 * 2 min at libp2p's defaults), or several of a site's peers arriving at once, cost one ask
 * (or DHT lookup), not one each.
 */
const CATCH_UP_INTERVAL = POLL_TIMEOUT
/** ms after a peer connects before the catch-up, at the least: a second for identify to finish (and to put it in the routing table, for the DHT poll). */
const CATCH_UP_SETTLE = 1_000
/** ms the peer that came back has to answer the record ask (a record is one small frame; onion circuits take seconds). */
const ASK_TIMEOUT = 20_000
/** The exchange's `fromPeers` key for blocks that came over Bitswap (no one peer to name). */
const BITSWAP_SOURCE = 'bitswap'

export interface FollowerComponents {
  /** Absent offline: follows are recorded and fetched when the daemon runs. */
  net?: SitesNet
  /** A fetched version is flushed to disk before it counts as held. */
  blocks: Pick<SitesComponents['blocks'], 'flush'>
  store: SiteStore
  /** Which versions the store holds whole: walked, never a remembered flag. */
  held: HeldVersions
  /** A followed site's pushes come on its topic. */
  topics: Pick<Topics, 'subscribe' | 'unsubscribe'>
  /** A poll asks the DHT for a record a push may have missed; a peer that comes back is asked itself. */
  resolver: Pick<Resolver, 'fromNetwork' | 'fromPeer'>
  lifecycle: Running
  /** Where `fetched` events go out (the facade). */
  events: Pick<EventTarget, 'dispatchEvent'>
}

export type FollowerInit = Pick<SitesInit, 'keepVersions' | 'fetchTimeout'>

export class Follower {
  private readonly components: FollowerComponents
  private readonly init: FollowerInit
  private readonly syncing = new Map<string, Promise<void>>()
  /** The version each followed site is fetching, to give up on when a newer one arrives. */
  private readonly fetching = new Map<string, { sequence: bigint, superseded: AbortController }>()
  /** Per followed site, the peer that last pushed a new version to us first-hand. */
  private readonly hints = new Map<string, PeerId>()
  /** Followed sites whose newest version the last fetch could not complete: tried again when a peer connects. */
  private readonly behind = new Set<string>()
  /** Followed sites a peer connected during the fetch of: if it ends without the version, it goes round once more. */
  private readonly retry = new Set<string>()
  /** When each followed site last caught up because one of its peers connected (peerReturned). */
  private readonly caughtUpAt = new Map<string, number>()
  /** Followed sites with a catch-up waiting to run (peerReturned). */
  private readonly catchUpDue = new Set<string>()

  constructor (components: FollowerComponents, init: FollowerInit) {
    this.components = components
    this.init = init
  }

  async follow (text: string, options: { keep?: number, signal?: AbortSignal } = {}): Promise<FollowInfo> {
    const name = parseSiteName(text)
    const keep = options.keep ?? this.init.keepVersions
    if (!Number.isSafeInteger(keep) || keep < 1) throw new WeftError('ERR_USAGE', `--keep must be a whole number of versions, at least 1 (got ${keep})`)
    this.components.store.addFollow(name.name, keep)
    if (this.components.lifecycle.online) {
      this.components.topics.subscribe(name)
      await this.poll(name.name, options.signal).catch(() => {})
    }
    return await this.followInfo(name.name)
  }

  async unfollow (text: string): Promise<void> {
    const { store, topics } = this.components
    const name = parseSiteName(text)
    if (!store.removeFollow(name.name)) throw new WeftError('ERR_NOT_FOLLOWING', `${name.name} is not followed`)
    if (store.ownSite(name.name) === undefined) topics.unsubscribe(name.topic)
    // Versions this follow held are released for gc; pins the user made stay.
    store.releaseAll(name.name)
    this.behind.delete(name.name)
    this.retry.delete(name.name)
  }

  /** The followed sites' names, from the store alone (no walk). */
  followedNames (): string[] {
    return this.components.store.follows().map(f => f.name)
  }

  async following (): Promise<FollowInfo[]> {
    const list: FollowInfo[] = []
    for (const follow of this.components.store.follows()) list.push(await this.followInfo(follow.name))
    return list
  }

  /** A record the gate took as a new version: a followed site gives up a fetch it supersedes and syncs to it. */
  newVersion (name: string, record: SiteRecord, origin: PeerId | undefined): void {
    if (this.components.store.follow(name) === undefined) return
    const inFlight = this.fetching.get(name)
    if (inFlight !== undefined && inFlight.sequence < record.sequence) inFlight.superseded.abort(new Error(`sequence ${record.sequence} arrived`))
    this.sync(name, origin)
  }

  /** No followed site is fetching or waiting for a peer. */
  get idle (): boolean {
    return this.behind.size === 0 && this.syncing.size === 0
  }

  /**
   * Followed sites whose version no peer had: a new peer may have it. A fetch under way
   * asked the peers connected when it began, so it goes round once more if it fails.
   */
  peerArrived (): void {
    for (const name of this.syncing.keys()) this.retry.add(name)
    for (const name of [...this.behind]) this.sync(name)
  }

  /**
   * A peer that pushed or served a followed site connected again: after a restart, a new
   * network, or a censor's block, when a relay or an onion service carries what the direct
   * path did. A push sent while it was away is gone (gossipsub keeps no history), so that
   * peer is asked for the site's record (ask.ts), and the DHT when it cannot answer,
   * instead of waiting for the next poll. A site catches up at most once per
   * CATCH_UP_INTERVAL: a peer back sooner is asked when the interval ends, not skipped (a
   * follower cut off just after a catch-up would otherwise miss every version published
   * meanwhile until its next poll; seen in the censorship drill).
   */
  peerReturned (peer: PeerId): void {
    const { store, lifecycle } = this.components
    if (!lifecycle.online) return
    for (const name of store.sitesSeenWith(peer.toString())) {
      if (store.follow(name) === undefined || this.catchUpDue.has(name)) continue
      const due = Math.max(Date.now() + CATCH_UP_SETTLE, (this.caughtUpAt.get(name) ?? -Infinity) + CATCH_UP_INTERVAL)
      this.catchUpDue.add(name)
      lifecycle.background(async () => {
        try {
          // a timer counts whole ms on the monotonic clock, Date.now() on the wall clock: by
          // Date.now() a sleep can end a ms short, so what is left is waited out too
          for (let left = due - Date.now(); left > 0; left = due - Date.now()) await sleep(left, undefined, { signal: lifecycle.signal, ref: false })
        } finally {
          this.catchUpDue.delete(name)
        }
        this.caughtUpAt.set(name, Date.now())
        await this.askForNewest(name, peer)
      })
    }
  }

  private async askForNewest (name: string, peer: PeerId): Promise<void> {
    const { store, lifecycle, resolver } = this.components
    if (!lifecycle.online || store.follow(name) === undefined) return
    try {
      await resolver.fromPeer(parseSiteName(name), peer, { signal: AbortSignal.any([lifecycle.signal, AbortSignal.timeout(ASK_TIMEOUT)]) })
      log('%s: asked %s for the newest record', name, peer)
    } catch (err) {
      log('%s: %s could not be asked for the newest record (%s): polling the DHT', name, peer, (err as Error).message)
      await this.poll(name)
    }
  }

  async pollAll (): Promise<void> {
    for (const follow of this.components.store.follows()) await this.poll(follow.name)
  }

  /** Waits for the sync loops to end (after the lifecycle's signal aborted them). */
  async settled (): Promise<void> {
    await Promise.allSettled([...this.syncing.values()])
  }

  /** Puts each followed site's valid record to the DHT again; returns how many went out. */
  async republish (): Promise<number> {
    const { net, store, lifecycle } = this.components
    let followed = 0
    for (const follow of store.follows()) {
      const stored = store.record(follow.name)
      if (net === undefined || stored === undefined || stored.record.validity <= Date.now()) continue
      await net.routing.putRecord(parseSiteName(follow.name).routingKey, stored.record.bytes, { signal: lifecycle.signal })
        .then(() => { followed++ }, () => {})
    }
    return followed
  }

  heldRoots (): CID[] {
    const { store } = this.components
    // A followed site's newest version is held while it is still being fetched, so a gc
    // in the middle cannot take blocks the fetch already counted as stored.
    const values = new Set(store.heldValues())
    for (const follow of store.follows()) {
      const current = store.record(follow.name)?.record.value
      if (current !== undefined) values.add(current)
    }
    return [...values].map(v => parseContentPath(v).cid)
  }

  private async followInfo (name: string): Promise<FollowInfo> {
    const { store, held: heldVersions } = this.components
    const follow = store.follow(name)
    const current = store.record(name)?.record
    const version = current === undefined ? undefined : store.version(name, current.sequence)
    const fetched = current !== undefined && await heldVersions.completeRecently(current.root)
    const held = current === undefined ? undefined : fetched ? current.sequence : (await heldVersions.newestComplete(name, current.sequence, { recently: true }))?.sequence
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
  async poll (name: string, signal?: AbortSignal): Promise<void> {
    const { lifecycle, resolver } = this.components
    if (!lifecycle.online) return
    await resolver.fromNetwork(parseSiteName(name), { signal: signal ?? AbortSignal.any([lifecycle.signal, AbortSignal.timeout(POLL_TIMEOUT)]) }).catch(() => {})
    this.sync(name)
  }

  /** One fetch loop per followed site: fetch, hold, provide and prune until the newest record's version is held. */
  private sync (name: string, hint?: PeerId): void {
    const { store, held, lifecycle } = this.components
    if (hint !== undefined) this.hints.set(name, hint)
    if (this.syncing.has(name) || !lifecycle.online) return
    this.behind.delete(name)
    this.retry.delete(name)
    const run = (async () => {
      let holding = false
      for (let attempt = 0; attempt < FETCH_ATTEMPTS && !lifecycle.signal.aborted;) {
        const follow = store.follow(name)
        const current = store.record(name)?.record
        if (follow === undefined || current === undefined) return
        // The store decides, not a past fetch: gc, an unfollow or a quarantined block may have taken part of it.
        if (await held.complete(current.root)) {
          if (store.version(name, current.sequence)?.pinned !== true) this.hold(name, current, follow.keep)
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
          await new Promise(resolve => setTimeout(resolve, FETCH_BACKOFF * attempt).unref())
        } finally {
          this.fetching.delete(name)
        }
      }
      if (!holding && !lifecycle.signal.aborted && store.follow(name) !== undefined) this.behind.add(name)
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
    const { net, store, held, lifecycle } = this.components
    const current = store.record(name)?.record.sequence
    for (const version of store.versions(name)) {
      if (net === undefined || lifecycle.signal.aborted) return
      if (!version.pinned || version.sequence === current) continue
      const root = parseContentPath(version.value).cid
      if (await held.complete(root)) continue
      const signal = AbortSignal.any([lifecycle.signal, AbortSignal.timeout(this.init.fetchTimeout)])
      await net.fetch(root, { signal }).then(
        () => { held.remember(root, true) },
        err => { log('%s: sequence %s is missing blocks and none came: %s', name, version.sequence, (err as Error).message) })
    }
  }

  private async fetchVersion (name: string, record: SiteRecord, keep: number, superseded: AbortSignal): Promise<void> {
    const { net, blocks, held, lifecycle } = this.components
    if (net === undefined) return
    const signal = AbortSignal.any([lifecycle.signal, superseded, AbortSignal.timeout(this.init.fetchTimeout)])
    // The peer that signed and sent the record (the owner, as a rule) holds the version: ask it first.
    const hint = this.hints.get(name)
    // Not yet passed as the exchange's `swarm` (the site's other followers): in bench sites
    // that made the 30 followers' update fetches take 49 s and more (issue 16; see README).
    const fetched = await net.fetch(record.root, { signal, providers: hint !== undefined ? [hint] : undefined })
    // The peers that served it are the site's peers: when one connects again, the site catches up (peerReturned).
    // One that served it for the first time is asked for the newest record now (once per
    // peer and site, apart from the returns' interval): this fetch may have been cut off and
    // finished over a path that opened since, and a version pushed while it was cut off would
    // otherwise wait for the next poll (seen in the censorship drill).
    for (const peer of Object.keys(fetched?.fromPeers ?? {})) {
      if (peer === BITSWAP_SOURCE) continue
      if (this.components.store.sawPeer(name, peer)) lifecycle.background(async () => { await this.askForNewest(name, peerIdFromString(peer)) })
    }
    await blocks.flush()
    held.remember(record.root, true)
    // Unfollowed while the fetch ran: holding it now would pin what the unfollow released.
    if (this.components.store.follow(name) === undefined) return
    this.hold(name, record, keep)
  }

  /** The version is wholly in the store: this follow holds it (gc keeps it), provides it, and releases versions beyond `keep`. */
  private hold (name: string, record: SiteRecord, keep: number): void {
    const { store, net, events } = this.components
    // Held by this follow, apart from the user's own pins.
    store.markFetched(name, record.sequence, true)
    net?.routing.provideSoon(record.root)
    events.dispatchEvent(new CustomEvent<SiteEvents['fetched']>('fetched', { detail: { name, sequence: record.sequence, root: record.root.toString() } }))
    // Keep the newest `keep` held versions; release the older ones this follow held.
    const heldVersions = store.versions(name).filter(v => v.pinned)
    const kept = new Set(heldVersions.slice(0, keep).map(v => v.value))
    for (const old of heldVersions.slice(keep)) {
      if (!kept.has(old.value)) store.markUnpinned(name, old.sequence)
    }
  }
}
