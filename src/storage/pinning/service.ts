/**
 * The pinning service behind the HTTP API: it takes pin requests, keeps them in the db
 * (requests.ts) and works them off in the background, a few at a time. A request is queued,
 * then pinning while its DAG is fetched through the node's exchange (verified, as `weft pin
 * add` fetches), then pinned; or failed, with the reason in info.status_details, when no
 * peer sent the whole DAG before the fetch timeout. A daemon stopped mid-fetch takes its
 * unfinished requests up again at the next start.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { Startable, PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Multiaddr } from '@multiformats/multiaddr'
import { CID } from 'multiformats/cid'
import { WeftError, isWeftError, toWeftError } from '../../errors.ts'
import { PinRequests, type PinObject, type PinQuery, type PinRequest } from './requests.ts'
import { delegatesOf, dialableOrigin, type NetworkKind } from './addresses.ts'

export interface PinningComponents {
  requests: PinRequests
  /** Brings the whole DAG under `cid` into the store, verified (the exchange); `providers` are asked first. */
  fetch: (cid: CID, options: { providers: PeerId[], signal: AbortSignal }) => Promise<{ blocks: number, bytes: number, fromPeers: Record<string, number> }>
  /** Dials an origin (libp2p, whose gater refuses banned peers). */
  dial: (address: Multiaddr, options: { signal: AbortSignal }) => Promise<void>
  /** This node's listen addresses: the delegates. */
  addresses: () => Multiaddr[]
  peerId: string
  network: NetworkKind
  /** Announces a pinned root (the DHT). */
  provide?: (cid: CID) => void
  /** Frees what nothing holds when the store is full (gc), so a pin fits. */
  gc?: () => Promise<unknown>
}

export interface PinningInit {
  /** Requests fetched at once. */
  concurrency?: number
  /** ms a request may take to fetch its DAG before it fails. */
  fetchTimeout?: number
  /** ms an origin has to answer a dial. */
  dialTimeout?: number
  /** ms between tries while no peer has the DAG yet. */
  retryDelay?: number
}

/** A pinning service fetches for others while its own node serves: a few at a time. */
const CONCURRENCY = 4
/**
 * Ten minutes: a 1 GiB DAG from one peer at the exchange's loopback rate (bench exchange)
 * takes seconds, from a home uplink (10 Mbit/s) about 14 minutes; past it the client
 * sees failed and may ask again.
 */
const FETCH_TIMEOUT = 10 * 60_000
/** A libp2p dial answers in milliseconds on a LAN and under a second across the world. */
const DIAL_TIMEOUT = 10_000
/** The DHT may learn of a provider later (a reprovide, a new peer): ask again after this. */
const RETRY_DELAY = 5_000

export type PinningPhase = 'queued' | 'pinning' | 'pinned' | 'failed'

export class PinningService implements Startable {
  private readonly components: PinningComponents
  private readonly init: Required<PinningInit>
  private readonly pending: string[] = []
  /** Requests being fetched, each with what aborts it (a DELETE, a replace, a stop). */
  private readonly running = new Map<string, { controller: AbortController, done: Promise<void> }>()
  private started = false

  constructor (components: PinningComponents, init: PinningInit = {}) {
    this.components = components
    this.init = {
      concurrency: init.concurrency ?? CONCURRENCY,
      fetchTimeout: init.fetchTimeout ?? FETCH_TIMEOUT,
      dialTimeout: init.dialTimeout ?? DIAL_TIMEOUT,
      retryDelay: init.retryDelay ?? RETRY_DELAY
    }
  }

  async start (): Promise<void> {
    if (this.started) return
    this.started = true
    for (const request of this.components.requests.unfinished()) this.pending.push(request.requestid)
    this.pump()
  }

  async stop (): Promise<void> {
    this.started = false
    this.pending.length = 0
    const running = [...this.running.values()]
    for (const job of running) job.controller.abort(new WeftError('ERR_FETCH_TIMEOUT', 'the daemon is stopping'))
    await Promise.all(running.map(async job => { await job.done }))
  }

  /** The multiaddrs a client should connect to so its data reaches this node. */
  delegates (): string[] {
    return delegatesOf(this.components.addresses(), this.components.peerId)
  }

  add (pin: PinObject): PinRequest {
    const request = this.components.requests.add(pin)
    this.enqueue(request.requestid)
    return request
  }

  /** A new request in place of `requestid` (a new id; the old one is gone). */
  replace (requestid: string, pin: PinObject): PinRequest {
    if (this.components.requests.get(requestid) === undefined) throw notFound(requestid)
    this.cancel(requestid)
    const request = this.components.requests.add(pin, requestid)
    this.enqueue(request.requestid)
    return request
  }

  get (requestid: string): PinRequest {
    const request = this.components.requests.get(requestid)
    if (request === undefined) throw notFound(requestid)
    return request
  }

  list (query: PinQuery): { count: number, results: PinRequest[] } {
    return this.components.requests.list(query)
  }

  /** Removes the request; what it held goes at the next gc unless a pin of the user's or another request keeps it. */
  remove (requestid: string): void {
    if (!this.components.requests.remove(requestid)) throw notFound(requestid)
    this.cancel(requestid)
  }

  private cancel (requestid: string): void {
    const at = this.pending.indexOf(requestid)
    if (at >= 0) this.pending.splice(at, 1)
    this.running.get(requestid)?.controller.abort(new WeftError('ERR_FETCH_TIMEOUT', 'the pin request was removed'))
  }

  private enqueue (requestid: string): void {
    if (!this.started) return
    this.pending.push(requestid)
    this.pump()
  }

  private pump (): void {
    while (this.started && this.running.size < this.init.concurrency && this.pending.length > 0) {
      const requestid = this.pending.shift() as string
      if (this.running.has(requestid)) continue
      const controller = new AbortController()
      const done = this.work(requestid, controller.signal)
        .catch(() => { /* work records every failure in the request itself */ })
        .finally(() => {
          this.running.delete(requestid)
          this.pump()
        })
      this.running.set(requestid, { controller, done })
    }
  }

  private async work (requestid: string, cancelled: AbortSignal): Promise<void> {
    const { requests } = this.components
    const request = requests.get(requestid)
    if (request === undefined || (request.status !== 'queued' && request.status !== 'pinning')) return
    if (!requests.setStatus(requestid, 'pinning', { status_details: 'fetching the DAG' })) return
    const cid = CID.parse(request.pin.cid)
    const deadline = AbortSignal.timeout(this.init.fetchTimeout)
    const signal = AbortSignal.any([cancelled, deadline])
    const skipped: string[] = []
    try {
      const providers = await this.dialOrigins(request.pin.origins ?? [], skipped, signal)
      const fetched = await this.fetchDag(cid, providers, signal)
      const info: Record<string, string> = {
        status_details: `pinned: ${fetched.blocks} blocks (${fetched.bytes} bytes) fetched from ${Object.keys(fetched.fromPeers).length} peers`
      }
      if (skipped.length > 0) info.origins_skipped = skipped.join('; ')
      if (requests.setStatus(requestid, 'pinned', info)) this.components.provide?.(cid)
    } catch (err) {
      // a stop leaves it pinning (taken up again at the next start); a removal left nothing to mark
      if (cancelled.aborted) return
      const e = toWeftError(err)
      const why = deadline.aborted ? `no peer sent the whole DAG within ${Math.round(this.init.fetchTimeout / 1000)} s` : e.message
      const info: Record<string, string> = { status_details: `failed: ${why} (${deadline.aborted ? 'ERR_FETCH_TIMEOUT' : e.code})` }
      if (skipped.length > 0) info.origins_skipped = skipped.join('; ')
      requests.setStatus(requestid, 'failed', info)
    }
  }

  /** Dials the origins that pass the address rules, at once; those that answer are asked first. */
  private async dialOrigins (origins: string[], skipped: string[], signal: AbortSignal): Promise<PeerId[]> {
    const providers: PeerId[] = []
    await Promise.all(origins.map(async text => {
      const origin = dialableOrigin(text, this.components.network, this.components.peerId)
      if ('skipped' in origin) {
        skipped.push(`${text.slice(0, 200)}: ${origin.skipped}`)
        return
      }
      try {
        await this.components.dial(origin.address, { signal: AbortSignal.any([signal, AbortSignal.timeout(this.init.dialTimeout)]) })
        providers.push(peerIdFromString(origin.peer))
      } catch (err) {
        // best effort, as the spec asks: the DHT and the connected peers are asked anyway
        skipped.push(`${text.slice(0, 200)}: dial failed (${(err as Error).message.slice(0, 200)})`)
      }
    }))
    return providers
  }

  /** Fetches until the whole DAG is here or the signal ends it; a full store is gc'd once. */
  private async fetchDag (cid: CID, providers: PeerId[], signal: AbortSignal): Promise<{ blocks: number, bytes: number, fromPeers: Record<string, number> }> {
    let collected = false
    for (;;) {
      try {
        return await this.components.fetch(cid, { providers, signal })
      } catch (err) {
        if (signal.aborted) throw err
        if (isWeftError(err, 'ERR_QUOTA_EXCEEDED') && !collected && this.components.gc !== undefined) {
          collected = true
          await this.components.gc()
          continue
        }
        if (!isWeftError(err, 'ERR_BLOCK_NOT_FOUND') && !isWeftError(err, 'ERR_FETCH_TIMEOUT')) throw err
      }
      // nobody had it yet: ask again in a while, until the deadline
      await sleep(this.init.retryDelay, undefined, { signal }).catch(() => {})
      if (signal.aborted) throw signal.reason
    }
  }
}

function notFound (requestid: string): WeftError {
  return new WeftError('ERR_PIN_REQUEST_NOT_FOUND', `no pin request ${requestid.slice(0, 100)} on this node`)
}
