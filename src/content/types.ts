import type { CID } from 'multiformats/cid'
import type { Placement } from '../blocks/index.ts'

/** What content/ needs from the block store. */
export interface ContentBlockstore {
  put(cid: CID, bytes: Uint8Array, options?: { hashed?: boolean }): Promise<void>
  /** Where the import's hashing thread may write a block itself (the pack store's place); without it, large files go through put. */
  place?(cid: CID, len: number): Promise<Placement | undefined>
  get(cid: CID): Promise<Uint8Array>
  has(cid: CID): boolean
  flush(): Promise<void>
}

/**
 * `blocks`, asking `fetchBlock` for a block it lacks before reading it: path resolution
 * and single reads that reach the network only for what is missing.
 */
export function fetchingBlockstore (blocks: ContentBlockstore, fetchBlock: (cid: CID) => Promise<unknown>): ContentBlockstore {
  return {
    put: async (cid, bytes, o) => { await blocks.put(cid, bytes, o) },
    has: cid => blocks.has(cid),
    flush: async () => { await blocks.flush() },
    get: async cid => {
      if (!blocks.has(cid)) await fetchBlock(cid)
      return await blocks.get(cid)
    }
  }
}

export interface ImportProgress {
  type: 'content:import:bytes'
  bytes: number
  totalBytes: number
  files: number
  totalFiles: number
}

export interface ImportOptions {
  /** Include names starting with a dot. */
  hidden?: boolean
  preserveMode?: boolean
  preserveMtime?: boolean
  onProgress?: (event: ImportProgress) => void
  signal?: AbortSignal
}

export interface ImportedEntry {
  path: string
  cid: CID
  size: number
}

export interface ImportResult {
  root: ImportedEntry
  entries: ImportedEntry[]
  /** Symlinks found and not followed. */
  symlinks: string[]
  bytes: number
  files: number
}
