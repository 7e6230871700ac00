/**
 * The block stores a gateway request reads through. Offline, the local store. Online,
 * blocks a request lacks come from the exchange: one at a time while a path resolves or
 * a range is read, and, for a whole file, from one fetch of the file's DAG started at
 * once (many blocks in flight, from several peers), whose blocks the reader takes as
 * each one verifies, so bytes leave while the rest is still arriving.
 *
 * Requests share fetches: nine pages of a site asked at once resolve its root folder with
 * one fetch, not nine. A shared fetch stops when every request waiting on it has gone.
 */
import { once } from 'node:events'
import { raceSignal } from 'race-signal'
import type { CID } from 'multiformats/cid'
import { blockKey } from '../blocks/index.ts'
import type { ContentBlockstore } from '../content/index.ts'
import { isWeftError } from '../errors.ts'

export interface GatewayExchange {
  fetch(cid: CID, options: { recursive?: boolean, signal?: AbortSignal, onProgress?: () => void }): Promise<unknown>
}

export interface StoreComponents {
  blocks: ContentBlockstore
  exchange?: GatewayExchange
  /** Frees what no pin or follow holds when a visit meets the store's quota. */
  gc?: () => Promise<unknown>
}

interface SharedFetch {
  done: Promise<void>
  /** Fires as each block lands (and once more at the end). */
  arrivals: EventTarget
  ended: boolean
  waiters: number
  controller: AbortController
}

/** In-flight fetches, by CID and depth, joined by every request that needs them. */
export class SharedFetches {
  private readonly components: StoreComponents
  private readonly exchange: GatewayExchange
  private readonly inflight = new Map<string, SharedFetch>()

  constructor (components: StoreComponents, exchange: GatewayExchange) {
    this.components = components
    this.exchange = exchange
  }

  /** Joins (or starts) the fetch; leaving happens when `signal` aborts or the fetch ends. */
  join (cid: CID, recursive: boolean, signal: AbortSignal): SharedFetch {
    signal.throwIfAborted()
    const key = `${recursive ? 'dag' : 'block'}:${blockKey(cid)}`
    let shared = this.inflight.get(key)
    if (shared === undefined) {
      const controller = new AbortController()
      const arrivals = new EventTarget()
      const created: SharedFetch = { done: Promise.resolve(), arrivals, ended: false, waiters: 0, controller }
      created.done = this.fetchWithRoom(cid, { recursive, signal: controller.signal, onProgress: () => { arrivals.dispatchEvent(new Event('block')) } })
        .finally(() => {
          created.ended = true
          this.inflight.delete(key)
          arrivals.dispatchEvent(new Event('block'))
        })
      created.done.catch(() => {})
      this.inflight.set(key, created)
      shared = created
    }
    const joined = shared
    joined.waiters++
    const leave = (): void => {
      signal.removeEventListener('abort', leave)
      if (--joined.waiters === 0 && !joined.ended) joined.controller.abort(signal.reason)
    }
    signal.addEventListener('abort', leave, { once: true })
    joined.done.then(() => { signal.removeEventListener('abort', leave) }, () => { signal.removeEventListener('abort', leave) })
    return joined
  }

  /** Fetches, and once on ERR_QUOTA_EXCEEDED frees the cache (gc) and fetches again. */
  private async fetchWithRoom (cid: CID, options: Parameters<GatewayExchange['fetch']>[1]): Promise<void> {
    try {
      await this.exchange.fetch(cid, options)
    } catch (err) {
      if (!isWeftError(err, 'ERR_QUOTA_EXCEEDED') || this.components.gc === undefined) throw err
      await this.components.gc()
      await this.exchange.fetch(cid, options)
    }
  }
}

/** Waits for a shared fetch, or rejects when this request's signal aborts first. */
async function settled (shared: SharedFetch, signal: AbortSignal): Promise<void> {
  if (shared.ended) {
    await shared.done
    return
  }
  await raceSignal(shared.done, signal)
}

export interface RequestStores {
  blocks: ContentBlockstore
  fetches?: SharedFetches
}

function wrap (blocks: ContentBlockstore, get: (cid: CID) => Promise<Uint8Array>): ContentBlockstore {
  return {
    put: async (cid, bytes, o) => { await blocks.put(cid, bytes, o) },
    has: cid => blocks.has(cid),
    flush: async () => { await blocks.flush() },
    get
  }
}

/** The request's abort signal, made only when a fetch needs it (most reads are local). */
export type SignalSource = () => AbortSignal

/** Reads the local store, fetching a missing block on its own. */
export function blockByBlock (s: RequestStores, signal: SignalSource): ContentBlockstore {
  const { blocks, fetches } = s
  if (fetches === undefined) return blocks
  return wrap(blocks, async cid => {
    if (!blocks.has(cid)) await settled(fetches.join(cid, false, signal()), signal())
    return await blocks.get(cid)
  })
}

/**
 * Reads the DAG under `root` while one fetch brings it in: a read waits until its block
 * has arrived, and fails with the fetch's error if the fetch ends without it.
 */
export function prefetching (s: RequestStores, root: CID, signalSource: SignalSource): ContentBlockstore {
  const { blocks, fetches } = s
  if (fetches === undefined || (blocks.has(root) && root.code === 0x55)) return blocks
  const signal = signalSource()
  const shared = fetches.join(root, true, signal)
  return wrap(blocks, async cid => {
    while (!blocks.has(cid)) {
      if (shared.ended) {
        await settled(shared, signal)
        // the fetch is complete and this block is not under root: ask for it alone
        await settled(fetches.join(cid, false, signal), signal)
        break
      }
      await once(shared.arrivals, 'block', { signal })
    }
    return await blocks.get(cid)
  })
}
