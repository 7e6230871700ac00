import type { CID } from 'multiformats/cid'

/** What content/ needs from the block store. */
export interface ContentBlockstore {
  put(cid: CID, bytes: Uint8Array, options?: { hashed?: boolean }): Promise<void>
  get(cid: CID): Promise<Uint8Array>
  has(cid: CID): boolean
  flush(): Promise<void>
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
