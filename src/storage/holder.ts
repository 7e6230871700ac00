/**
 * The holder's side of `/weft/storage/1.0.0`: takes or refuses requests against the offer
 * and the per-peer quota, fetches what it took (verified, through the exchange, stopping
 * past the bytes declared), holds it (gc keeps `heldRoots`; a site is followed, keeping its
 * last n versions), announces it, and answers audits from its own store only.
 */
import { logger } from '@libp2p/logger'
import { peerIdFromString } from '@libp2p/peer-id'
import type { PeerId } from '@libp2p/interface'
import { CID } from 'multiformats/cid'
import { setTimeout as sleep } from 'node:timers/promises'
import { WeftError, isWeftError } from '../errors.ts'
import { parseSiteName } from '../sites/index.ts'
import { TokenBuckets } from '../users/rate.ts'
import type { StorageStore } from './store.ts'
import { NONCE_BYTES, proofOf, type StorageAnswer, type StorageRequest } from './wire.ts'
import type { StorageComponents, StorageInit, StorageNet } from './index.ts'

const log = logger('weft:storage')

/** A fetch may overshoot the declared bytes by this much (DAG overhead the requester's Tsize left out) before it stops. */
const BYTES_SLACK = 1.1
const BYTES_SLACK_FIXED = 1024 * 1024
/** Tries at one hold's fetch before it is failed (and the requester's audits replace the holder). */
const FETCH_ATTEMPTS = 3
/** ms waited after a failed fetch, times the number of the attempt. */
const FETCH_BACKOFF = 2_000
/** The multicodec of a CID that names a key (a site's name): not content. */
const LIBP2P_KEY_CODEC = 0x72

export interface HolderComponents {
  store: StorageStore
  blocks: StorageComponents['blocks']
  sites: StorageComponents['sites']
  net: Pick<StorageNet, 'fetch' | 'provide' | 'penalise'>
}

export type HolderInit = Pick<StorageInit, 'offer' | 'perPeer' | 'requestBurst' | 'requestRate' | 'fetchTimeout'>

export class Holder {
  private readonly components: HolderComponents
  private readonly init: Required<HolderInit>
  private readonly buckets = new TokenBuckets()
  private readonly controller = new AbortController()
  /** Fetches under way, by `target peer`, so a test or a release can wait for them. */
  readonly fetching = new Map<string, Promise<void>>()

  constructor (components: HolderComponents, init: Required<HolderInit>) {
    this.components = components
    this.init = init
  }

  stop (): void {
    this.controller.abort(new WeftError('ERR_OFFLINE', 'storage stopped'))
  }

  /** What `peer` may still place here: its quota grows by what it holds for this node (the reciprocal ledger). */
  quota (peer: string): number {
    const { store } = this.components
    const free = Math.max(0, this.init.offer - store.committed())
    const perPeer = this.init.perPeer + store.heldByPeer(peer)
    return Math.min(free, Math.max(0, perPeer - store.committed(peer)))
  }

  async answer (peer: string, request: StorageRequest): Promise<StorageAnswer> {
    if (!this.buckets.take(peer, this.init.requestBurst, this.init.requestRate)) {
      this.components.net.penalise(peer, 'storage-flood', `storage requests past ${this.init.requestRate}/s`)
      return { t: 'refused', code: 'rate', reason: `more than ${this.init.requestRate} storage requests a second` }
    }
    switch (request.t) {
      case 'offer':
        return { t: 'offer', free: Math.max(0, this.init.offer - this.components.store.committed()), quota: this.quota(peer) }
      case 'hold':
        return this.hold(peer, request)
      case 'release':
        await this.release(request.target, peer)
        return { t: 'released' }
      case 'audit':
        return await this.prove(request)
    }
  }

  private hold (peer: string, request: Extract<StorageRequest, { t: 'hold' }>): StorageAnswer {
    const { store } = this.components
    let root: CID | undefined
    try {
      if (request.kind === 'cid') root = CID.parse(request.target)
      else parseSiteName(request.target)
      // a key's CID (a site name) names no content to fetch
      if (root?.code === LIBP2P_KEY_CODEC) throw new Error('a key, not content')
    } catch {
      return { t: 'refused', code: 'invalid', reason: `${request.target} is not a ${request.kind === 'cid' ? 'CID' : 'site name'}` }
    }
    const target = root?.toString() ?? parseSiteName(request.target).name
    const already = store.heldFor(peer).find(h => h.target === target && h.state !== 'failed')
    const bytes = request.bytes - (already?.bytes ?? 0)
    if (this.init.offer - store.committed() < bytes) {
      return { t: 'refused', code: 'over-offer', reason: `${request.bytes} bytes is more than the ${Math.max(0, this.init.offer - store.committed())} left of this node's offer` }
    }
    if (this.quota(peer) < bytes) {
      return { t: 'refused', code: 'over-quota', reason: `${request.bytes} bytes is more than the ${this.quota(peer)} this node takes from one peer` }
    }
    store.hold({ target, peer, kind: request.kind, keep: request.keep, bytes: request.bytes, copies: request.copies ?? 0, state: already?.state ?? 'fetching', followed: already?.followed ?? false, accepted: Date.now() })
    if (already?.state !== 'held') {
      const seeds = [peer, ...(request.seeds ?? [])].flatMap(s => { try { return [peerIdFromString(s)] } catch { return [] } })
      const key = `${target} ${peer}`
      const run = this.fetchWithRetries(target, peer, request, seeds)
        .catch(err => {
          log('holding %s for %s failed: %s', target, peer, (err as Error).message)
          store.setHeld(target, peer, 'failed', (err as Error).message)
        })
        .finally(() => { this.fetching.delete(key) })
      this.fetching.set(key, run)
    }
    return { t: 'accepted' }
  }

  /** A fetch that failed (peers busy, a stall that cost a seed its standing) is tried again; one past its bytes is not. */
  private async fetchWithRetries (target: string, peer: string, request: Extract<StorageRequest, { t: 'hold' }>, seeds: PeerId[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.fetchHeld(target, peer, request, seeds)
        return
      } catch (err) {
        if (attempt >= FETCH_ATTEMPTS || this.controller.signal.aborted || isWeftError(err, 'ERR_QUOTA_EXCEEDED')) throw err
        log('holding %s for %s: attempt %d failed: %s', target, peer, attempt, (err as Error).message)
        await sleep(FETCH_BACKOFF * attempt, undefined, { signal: this.controller.signal })
      }
    }
  }

  private async fetchHeld (target: string, peer: string, request: Extract<StorageRequest, { t: 'hold' }>, seeds: PeerId[]): Promise<void> {
    const { store, sites, net } = this.components
    const limit = request.bytes * BYTES_SLACK + BYTES_SLACK_FIXED
    const over = new AbortController()
    const signal = AbortSignal.any([this.controller.signal, over.signal, AbortSignal.timeout(this.init.fetchTimeout)])
    const root = request.kind === 'cid' ? CID.parse(target) : CID.parse((await sites.resolve(target, { signal })).root)
    try {
      await net.fetch(root, {
        signal,
        providers: seeds,
        onProgress: e => { if (e.bytes > limit) over.abort(new WeftError('ERR_QUOTA_EXCEEDED', `${target} is larger than the ${request.bytes} bytes declared`)) }
      })
    } catch (err) {
      // the exchange reports an abort in its own words: the reason is ours
      if (over.signal.aborted) throw over.signal.reason
      throw err
    }
    let followed = false
    if (request.kind === 'site' && !sites.followedNames().includes(target)) {
      await sites.follow(target, { keep: request.keep, signal })
      followed = true
    }
    store.setHeld(target, peer, 'held', undefined, followed || undefined)
    await net.provide(root, { signal: AbortSignal.any([this.controller.signal, AbortSignal.timeout(this.init.fetchTimeout)]) }).catch(() => {})
  }

  async release (target: string, peer: string): Promise<void> {
    const { store, sites } = this.components
    const held = store.release(target, peer)
    if (held === undefined || !held.followed) return
    const others = store.holdsOf(target)
    if (others.length > 0) {
      // another peer's hold of the site keeps the follow going
      store.setHeld(others[0].target, others[0].peer, others[0].state, others[0].reason, true)
      return
    }
    await sites.unfollow(target).catch(() => {})
  }

  /** Hashes the sampled blocks from this store alone: a block not here is null, never fetched. */
  private async prove (request: Extract<StorageRequest, { t: 'audit' }>): Promise<StorageAnswer> {
    const { store, blocks } = this.components
    const holds = store.holdsOf(request.target)
    if (holds.length === 0) return { t: 'refused', code: 'not-held', reason: `${request.target} is not held here` }
    if (holds.every(h => h.state === 'fetching')) return { t: 'refused', code: 'fetching', reason: `${request.target} is still being fetched` }
    const nonce = Buffer.from(request.nonce, 'base64')
    if (nonce.byteLength !== NONCE_BYTES) return { t: 'refused', code: 'invalid', reason: `the nonce is not ${NONCE_BYTES} bytes` }
    const hashes: Array<string | null> = []
    for (const text of request.cids) {
      let cid: CID
      try {
        cid = CID.parse(text)
      } catch {
        return { t: 'refused', code: 'invalid', reason: `${text} is not a CID` }
      }
      hashes.push(blocks.has(cid) ? proofOf(nonce, await blocks.get(cid, { repair: false }).catch(() => new Uint8Array())) : null)
    }
    return { t: 'proof', hashes }
  }
}
