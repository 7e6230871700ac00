/**
 * The block stores a gateway request reads through. Offline, the local store. Online,
 * blocks a request lacks come from the exchange: one at a time while a path resolves or
 * a range is read, and, for a whole file, from one fetch of the file's DAG started at
 * once (many blocks in flight, from several peers), whose blocks the reader takes as
 * each one verifies, so bytes leave while the rest is still arriving.
 */
import { once } from 'node:events'
import type { CID } from 'multiformats/cid'
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

/** Fetches, and once on ERR_QUOTA_EXCEEDED frees the cache (gc) and fetches again. */
async function fetchWithRoom (c: StoreComponents, exchange: GatewayExchange, cid: CID, options: Parameters<GatewayExchange['fetch']>[1]): Promise<void> {
  try {
    await exchange.fetch(cid, options)
  } catch (err) {
    if (!isWeftError(err, 'ERR_QUOTA_EXCEEDED') || c.gc === undefined) throw err
    await c.gc()
    await exchange.fetch(cid, options)
  }
}

/** Reads the local store, fetching a missing block on its own. */
export function blockByBlock (c: StoreComponents, signal: AbortSignal): ContentBlockstore {
  const { blocks, exchange } = c
  if (exchange === undefined) return blocks
  return {
    put: async (cid, bytes, o) => { await blocks.put(cid, bytes, o) },
    has: cid => blocks.has(cid),
    flush: async () => { await blocks.flush() },
    get: async cid => {
      if (!blocks.has(cid)) await fetchWithRoom(c, exchange, cid, { recursive: false, signal })
      return await blocks.get(cid)
    }
  }
}

/**
 * Reads the DAG under `root` while one fetch brings it in: a read waits until its block
 * has arrived, and fails with the fetch's error if the fetch ends without it.
 */
export function prefetching (c: StoreComponents, root: CID, signal: AbortSignal): ContentBlockstore {
  const { blocks, exchange } = c
  if (exchange === undefined || blocks.has(root) && root.code === 0x55) return blocks
  const arrivals = new EventTarget()
  let ended: { error?: unknown } | undefined
  fetchWithRoom(c, exchange, root, { recursive: true, signal, onProgress: () => { arrivals.dispatchEvent(new Event('block')) } })
    .then(() => { ended = {} }, (error: unknown) => { ended = { error } })
    .finally(() => { arrivals.dispatchEvent(new Event('block')) })
  return {
    put: async (cid, bytes, o) => { await blocks.put(cid, bytes, o) },
    has: cid => blocks.has(cid),
    flush: async () => { await blocks.flush() },
    get: async cid => {
      while (!blocks.has(cid)) {
        if (ended !== undefined) {
          if (ended.error !== undefined) throw ended.error
          // the fetch is complete and this block is not under root: ask for it alone
          await fetchWithRoom(c, exchange, cid, { recursive: false, signal })
          break
        }
        await once(arrivals, 'block', { signal })
      }
      return await blocks.get(cid)
    }
  }
}
