/**
 * Storage for others: a node that offers storage (`storage.offer`) holds replicas of sites
 * and CIDs that peers ask it to, under a per-peer quota; a node that replicates something
 * places it on the k peers closest to its DHT key, audits them on a schedule, and recruits
 * new holders when fewer than k pass. See docs/storage.md.
 *
 * How a requester finds peers that offer storage: only they register `/weft/storage/1.0.0`,
 * so identify's protocol list (already in the peer store) filters at no cost, and the hold
 * request carries its bytes, so the holder's answer is the authority on free space: a
 * separate "how much?" round trip would be stale by the time the hold arrived. (`offer`
 * asks a peer anyway, for people and tools.)
 */
import type { DatabaseSync } from 'node:sqlite'
import type { PeerId, Startable, Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { CID } from 'multiformats/cid'
import { logger } from '@libp2p/logger'
import type { Blocks } from '../blocks/index.ts'
import { WeftError, isWeftError } from '../errors.ts'
import type { Sites } from '../sites/index.ts'
import { Holder } from './holder.ts'
import { Replicator } from './replicator.ts'
import { StorageStore, type Held, type LedgerEntry, type Replica, type TargetKind, type Wanted } from './store.ts'
import { STORAGE_PROTOCOL, sendRequest, serveRequest, type StorageAnswer, type StorageRequest } from './wire.ts'

export { STORAGE_PROTOCOL, MAX_FRAME_BYTES, MAX_AUDIT_CIDS, NONCE_BYTES, proofOf, sendRequest, serveRequest, type StorageRequest, type StorageAnswer, type RefusalCode } from './wire.ts'
export type { Held, LedgerEntry, Replica, Wanted, TargetKind } from './store.ts'

const log = logger('weft:storage')

export interface StorageNet {
  peerId: PeerId
  /** Serves the protocol; `peer` is the remote peer's id. */
  handle: (protocol: string, handler: (stream: Stream, peer: string) => void) => Promise<void>
  unhandle: (protocol: string) => Promise<void>
  /** One request to one peer on a fresh stream, one answer. */
  request: (peer: PeerId, request: StorageRequest, options: { signal: AbortSignal }) => Promise<StorageAnswer>
  /** The DHT's closest peers to a key (a walk). */
  closestPeers: (key: Uint8Array, options: { signal: AbortSignal }) => Promise<PeerId[]>
  connectedPeers: () => PeerId[]
  /** The protocols a peer said it speaks (identify, in the peer store). */
  protocols: (peer: PeerId) => Promise<string[]>
  fetch: (cid: CID, options: { signal: AbortSignal, providers?: PeerId[], onProgress?: (e: { bytes: number }) => void }) => Promise<unknown>
  provide: (cid: CID, options: { signal: AbortSignal }) => Promise<void>
  findProviders: (cid: CID, options: { signal: AbortSignal }) => AsyncIterable<PeerId>
  /** A peer that floods or breaks the protocol pays for it (the exchange's peer scores). */
  penalise: (peer: string, offence: 'storage-flood' | 'malformed', detail: string) => void
}

export interface StorageComponents {
  /** The storage tables live in the home's metadata db. */
  db: DatabaseSync
  /** Audits hash blocks from the store (never repaired from peers while answering). */
  blocks: Pick<Blocks, 'get' | 'has'>
  /** A replicated site is resolved to its root; a held one is followed. */
  sites: Pick<Sites, 'resolve' | 'follow' | 'unfollow' | 'followedNames'>
  /** Absent offline: `replicas` and `held` read the db, nothing else works. */
  net?: StorageNet
}

export interface StorageInit {
  /** Bytes this node holds for others; 0 offers nothing. */
  offer: number
  /** Bytes one peer may place (plus what it holds for this node). */
  perPeer: number
  copies: number
  /** ms between audit rounds (0: no schedule). */
  auditInterval: number
  /** ms a holder has to answer a challenge. */
  auditTimeout: number
  auditSample: number
  auditFailures: number
  /** Audit the holders of followed sites this node did not replicate (it replaces no one). */
  auditFollowed?: boolean
  /** Requests one peer may send at once, then `requestRate` a second. */
  requestBurst?: number
  requestRate?: number
  /** The longest a holder's fetch of one replica may take (ms). */
  fetchTimeout?: number
}

export const STORAGE_DEFAULTS = { requestBurst: 20, requestRate: 2, fetchTimeout: 10 * 60_000 }

export interface ReplicateResult {
  target: string
  kind: TargetKind
  root: string
  bytes: number
  copies: number
  /** Every peer holding it now. */
  holders: string[]
  /** Peers asked that did not take it, and why. */
  refused: Array<{ peer: string, code: string, reason: string }>
}

export interface AuditResult { target: string, holder: string, result: string, replaced: boolean }

export interface ReplicasReport {
  wanted: Wanted
  /** Each holder, with the bytes each side holds for the other (the reciprocal ledger). */
  holders: Array<Replica & { heldForPeer: number, heldByPeer: number }>
}

export interface Storage extends Startable {
  /** Whether this node offers storage (and serves the protocol). */
  readonly offering: boolean
  /** Asks the `copies` closest peers offering storage to hold a site (its newest `keep` versions) or a CID. */
  replicate(target: string, options?: { copies?: number, keep?: number, signal?: AbortSignal }): Promise<ReplicateResult>
  /** Holders of something replicated, their last audit and the bytes each side. */
  replicas(target: string): ReplicasReport
  /** Everything replicated. */
  wanted(): Wanted[]
  /** One audit round now (of one target, or of all): challenges, replacements, recruits. */
  audit(target?: string, options?: { signal?: AbortSignal }): Promise<AuditResult[]>
  /** What this node holds for others. */
  held(): Held[]
  /** The last audit of each followed site's holders (storage.auditFollowed): when, and each holder's result. */
  followedAudits(): Array<{ target: string, at: number, results: AuditResult[] }>
  /** Bytes held each way, per peer. */
  ledger(): LedgerEntry[]
  /** What a peer offers: free bytes, and how many it would take from this node. */
  offer(peer: PeerId | string, options?: { signal?: AbortSignal }): Promise<{ free: number, quota: number }>
  /** CIDs held for others: gc keeps them and the reprovide schedule announces them. */
  heldRoots(): CID[]
  /** Resolves when the holds accepted so far have fetched (or failed). */
  settled(): Promise<void>
}

export function createStorage (components: StorageComponents, init: StorageInit): Storage {
  const store = new StorageStore(components.db)
  const settings = { ...STORAGE_DEFAULTS, ...init }
  const { net } = components
  const offline = (): never => { throw new WeftError('ERR_OFFLINE', 'storage needs the daemon running') }
  const holder = net === undefined
    ? undefined
    : new Holder({ store, blocks: components.blocks, sites: components.sites, net }, settings)
  const replicator = net === undefined
    ? undefined
    : new Replicator({ store, blocks: components.blocks, sites: components.sites, net, request: net.request }, settings)
  const controller = new AbortController()
  let timer: NodeJS.Timeout | undefined
  let auditing: Promise<unknown> | undefined
  let serving = false

  const followerAudits = new Map<string, { at: number, results: AuditResult[] }>()
  const audit = async (target?: string, options: { signal?: AbortSignal } = {}): Promise<AuditResult[]> => {
    if (replicator === undefined) return offline()
    const results: AuditResult[] = []
    for (const wanted of store.wanted(target)) {
      try {
        results.push(...await replicator.auditTarget(wanted, { signal: AbortSignal.any([controller.signal, ...(options.signal !== undefined ? [options.signal] : [])]) }))
      } catch (err) {
        // this node no longer holds it whole (or the site does not resolve): nothing to check against
        log('cannot audit %s: %s', wanted.target, (err as Error).message)
        if (target !== undefined) throw err
      }
    }
    // what this node holds for others, for when their requesters are gone (one hold per target)
    const asked = new Set(store.wanted().map(w => w.target))
    const heldTargets = new Map(store.held().filter(h => h.state === 'held' && h.copies > 0 && !asked.has(h.target) && (target === undefined || h.target === target)).map(h => [h.target, h]))
    for (const held of heldTargets.values()) {
      try {
        results.push(...await replicator.repairHeld(held, { signal: controller.signal }))
      } catch (err) {
        log('cannot check the holders of %s: %s', held.target, (err as Error).message)
      }
    }
    // followed sites this node neither asked for nor holds for others (storage.auditFollowed)
    const followed = settings.auditFollowed === true ? components.sites.followedNames().filter(name => !asked.has(name) && !heldTargets.has(name) && (target === undefined || name === target)) : []
    for (const name of followed) {
      try {
        const checked = await replicator.auditFollowed(name, { signal: controller.signal })
        followerAudits.set(name, { at: Date.now(), results: checked })
        results.push(...checked)
      } catch (err) {
        log('cannot audit the holders of followed %s: %s', name, (err as Error).message)
      }
    }
    return results
  }

  return {
    get offering () { return settings.offer > 0 },
    async start () {
      if (net === undefined) return
      if (settings.offer > 0 && holder !== undefined) {
        await net.handle(STORAGE_PROTOCOL, (stream, peer) => {
          const signal = AbortSignal.any([controller.signal, AbortSignal.timeout(settings.auditTimeout * 2 + 5_000)])
          serveRequest(stream, async request => await holder.answer(peer, request), { signal }).catch(err => {
            if (isWeftError(err, 'ERR_STORAGE_MALFORMED') || (err as Error).name === 'InvalidDataLengthError') net.penalise(peer, 'malformed', (err as Error).message)
            stream.abort(err as Error)
          })
        })
        serving = true
      }
      if (settings.auditInterval > 0) {
        timer = setInterval(() => {
          auditing ??= audit().catch(() => {}).finally(() => { auditing = undefined })
        }, settings.auditInterval)
        timer.unref()
      }
    },
    async stop () {
      clearInterval(timer)
      controller.abort()
      holder?.stop()
      if (serving) await net?.unhandle(STORAGE_PROTOCOL).catch(() => {})
      serving = false
      await auditing
      await Promise.allSettled(holder?.fetching.values() ?? [])
    },
    async replicate (target, options = {}) {
      if (replicator === undefined) return offline()
      return await replicator.replicate(target, options)
    },
    replicas (target) {
      const name = target.replace(/^\/(ipfs|ipns)\//, '')
      const wanted = store.wanted(name)[0]
      if (wanted === undefined) throw new WeftError('ERR_STORAGE_NOT_REPLICATED', `${target} was never replicated from this node`)
      const ledger = new Map(store.ledger().map(e => [e.peer, e]))
      return {
        wanted,
        holders: store.replicas(name).map(r => ({ ...r, heldForPeer: ledger.get(r.holder)?.heldForPeer ?? 0, heldByPeer: ledger.get(r.holder)?.heldByPeer ?? 0 }))
      }
    },
    wanted: () => store.wanted(),
    audit,
    held: () => store.held(),
    followedAudits: () => [...followerAudits].map(([target, audit]) => ({ target, ...audit })),
    ledger: () => store.ledger(),
    async offer (peer, options = {}) {
      if (net === undefined) return offline()
      const id = typeof peer === 'string' ? peerIdFromString(peer) : peer
      const answer = await net.request(id, { t: 'offer' }, { signal: options.signal ?? AbortSignal.timeout(10_000) })
      if (answer.t === 'offer') return { free: answer.free, quota: answer.quota }
      if (answer.t === 'refused') return { free: 0, quota: 0 }
      throw new WeftError('ERR_STORAGE_MALFORMED', `${id} answered ${answer.t} to an offer request`)
    },
    // read from the db, so an offline gc keeps them too
    heldRoots: () => store.held().filter(h => h.kind === 'cid' && h.state !== 'failed').map(h => CID.parse(h.target)),
    async settled () {
      await Promise.allSettled(holder?.fetching.values() ?? [])
    }
  }
}

/** A request over a fresh stream to `peer`, as StorageNet's `request` does it. */
export async function requestOver (open: (peer: PeerId, signal: AbortSignal) => Promise<Stream>, peer: PeerId, request: StorageRequest, options: { signal: AbortSignal }): Promise<StorageAnswer> {
  return await sendRequest(await open(peer, options.signal), request, options)
}
