/**
 * How the store's failures reach callers: a full disk (ENOSPC, EDQUOT, or SQLite's
 * SQLITE_FULL) is ERR_DISK_FULL, never ERR_INTERNAL; a block that no longer matches its
 * CID is ERR_BLOCK_CORRUPT, naming the block.
 */
import type { CID } from 'multiformats/cid'
import { WeftError } from '../errors.ts'

/** Errnos that mean the disk (or the user's quota on it) has no room left. */
const DISK_FULL_ERRNOS = new Set(['ENOSPC', 'EDQUOT'])
/** SQLite's result code for "database or disk is full". */
const SQLITE_FULL = 13

/** A failed write as the caller should hear of it: ERR_DISK_FULL for a full disk, else the failure itself. */
export function storeWriteError (err: unknown, dir: string): Error {
  if (err instanceof WeftError) return err
  const e = err as (NodeJS.ErrnoException & { errcode?: number }) | undefined
  if (DISK_FULL_ERRNOS.has(e?.code ?? '') || e?.errcode === SQLITE_FULL) {
    return new WeftError('ERR_DISK_FULL', `the disk holding ${dir} is full; the blocks that did not fit were not stored (free space or run \`weft gc\`, then try again)`, { cause: err })
  }
  return err instanceof Error ? err : new Error(String(err))
}

export function corruptError (cid: CID, why: string): WeftError {
  return new WeftError('ERR_BLOCK_CORRUPT', `block ${cid} in the local store is damaged (${why}); it was quarantined`)
}
