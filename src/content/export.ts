import { mkdir, open, rename, rm, utimes, chmod, lstat } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { exporter, type UnixFSEntry } from 'ipfs-unixfs-exporter'
import { CID } from 'multiformats/cid'
import { WeftError, isWeftError } from '../errors.ts'
import type { ContentBlockstore } from './types.ts'
import type { ContentPath } from './path.ts'
import { readFile } from './read.ts'
import { assertWalkableShard } from '../blocks/index.ts'

export { parseContentPath, type ContentPath } from './path.ts'

/** The exporter wants get() as a generator of byte chunks. */
function readable (store: ContentBlockstore) {
  return {
    async * get (cid: CID) {
      const bytes = await store.get(cid)
      assertWalkableShard(cid, bytes)
      yield bytes
    }
  }
}

function exportError (err: unknown, path: ContentPath): Error {
  if (isWeftError(err)) return err
  const name = (err as Error).name
  if (name === 'NotFoundError') return new WeftError('ERR_DAG_PATH_NOT_FOUND', `${path.text}: no such path in the DAG`)
  if (name === 'NoResolverError') return new WeftError('ERR_UNSUPPORTED_CODEC', `${path.cid}: ${(err as Error).message}`)
  if (name === 'NotUnixFSError' || name === 'BadPathError') return new WeftError('ERR_DAG_PATH_NOT_FOUND', `${path.text}: ${(err as Error).message}`)
  if (name === 'InvalidParametersError') return new WeftError('ERR_USAGE', `${path.text}: ${(err as Error).message}`)
  if (name === 'AbortError' || name === 'TimeoutError') return err as Error
  // The store's own failures are WeftErrors, so what is left came from the exporter's parsers
  // (protobuf, CBOR, UnixFS, multihash) or its size checks, on blocks that hashed right.
  return new WeftError('ERR_BLOCK_MALFORMED', `${path.text}: the DAG is malformed (${String((err as Error).message).split('\n')[0].slice(0, 200)})`, { cause: err })
}

export async function resolveEntry (store: ContentBlockstore, path: ContentPath): Promise<UnixFSEntry> {
  try {
    return await exporter(path.text, readable(store))
  } catch (err) {
    throw exportError(err, path)
  }
}

function isDirectory (entry: UnixFSEntry): boolean {
  return entry.type === 'directory'
}

/** Streams a file's bytes; a folder is ERR_NOT_A_FILE. */
export async function * cat (store: ContentBlockstore, path: ContentPath, options: { offset?: number, length?: number } = {}): AsyncGenerator<Uint8Array> {
  const entry = await resolveEntry(store, path)
  if (entry.type === 'directory') throw new WeftError('ERR_NOT_A_FILE', `${path.text} is a folder; try weft ls`)
  if (entry.type === 'object') throw new WeftError('ERR_NOT_A_FILE', `${path.text} is a ${entry.cid.code === 0x71 ? 'dag-cbor' : 'dag-json'} object, not a file`)
  try {
    yield * readFile(store, entry.cid, options)
  } catch (err) {
    throw exportError(err, path)
  }
}

/**
 * The file at `target` (a path, or a file's CID) in one buffer: small files a node reads
 * whole (weft.json, a page). With `length`, at most that many bytes, as cat cuts them.
 */
export async function catBytes (store: ContentBlockstore, target: CID | ContentPath, options: { length?: number } = {}): Promise<Buffer> {
  const cid = CID.asCID(target)
  const path: ContentPath = cid === null ? target as ContentPath : { cid, segments: [], text: cid.toString() }
  const chunks: Uint8Array[] = []
  for await (const chunk of cat(store, path, options)) chunks.push(chunk)
  return Buffer.concat(chunks)
}

export interface ListedEntry {
  name: string
  cid: CID
  size: number
  type: 'file' | 'directory'
}

/** A folder's entries; for a file, the file itself (as Unix `ls` does). */
export async function ls (store: ContentBlockstore, path: ContentPath): Promise<ListedEntry[]> {
  const entry = await resolveEntry(store, path)
  if (!isDirectory(entry)) return [{ name: entry.name, cid: entry.cid, size: Number(entry.size), type: 'file' }]
  const out: ListedEntry[] = []
  try {
    for await (const child of (entry as Extract<UnixFSEntry, { type: 'directory' }>).entries()) {
      const full = await exporter(child.cid, readable(store))
      out.push({ name: child.name, cid: child.cid, size: Number(full.size), type: isDirectory(full) ? 'directory' : 'file' })
    }
  } catch (err) {
    throw exportError(err, path)
  }
  return out
}

export interface ExportProgress {
  type: 'content:export:bytes'
  bytes: number
  totalBytes: number
}

async function writeEntry (store: ContentBlockstore, entry: UnixFSEntry, out: string, onBytes: (n: number) => void): Promise<void> {
  if (entry.type === 'directory') {
    await mkdir(out)
    for await (const child of entry.entries()) {
      if (child.name.includes('/') || child.name === '..' || child.name === '.' || child.name === '') {
        throw new WeftError('ERR_DAG_PATH_NOT_FOUND', `refusing to write the unsafe name "${child.name}" from ${entry.cid}`)
      }
      await writeEntry(store, await exporter(child.cid, readable(store)), join(out, child.name), onBytes)
    }
  } else if (entry.type === 'object') {
    throw new WeftError('ERR_NOT_A_FILE', `${entry.cid} is not a UnixFS file or folder`)
  } else {
    const fh = await open(out, 'wx')
    try {
      for await (const chunk of readFile(store, entry.cid)) {
        await fh.write(chunk)
        onBytes(chunk.byteLength)
      }
    } finally {
      await fh.close()
    }
  }
  const meta = 'unixfs' in entry ? entry.unixfs : undefined
  if (meta?.mode !== undefined && (entry.type === 'file' || entry.type === 'directory') && meta.mode !== (entry.type === 'file' ? 0o644 : 0o755)) {
    await chmod(out, meta.mode & 0o7777)
  }
  if (meta?.mtime !== undefined) {
    const secs = Number(meta.mtime.secs) + (meta.mtime.nsecs ?? 0) / 1e9
    await utimes(out, secs, secs)
  }
}

/**
 * Writes a file or folder to `out`, byte-identical to what was added. It is written
 * beside `out` first and renamed into place at the end, so a failure leaves nothing.
 */
export async function get (store: ContentBlockstore, path: ContentPath, out: string, options: { onProgress?: (e: ExportProgress) => void } = {}): Promise<{ bytes: number }> {
  const target = resolve(out)
  try {
    await lstat(target)
    throw new WeftError('ERR_OUTPUT_EXISTS', `${target} already exists; choose another -o`)
  } catch (err) {
    if (isWeftError(err)) throw err
  }
  const entry = await resolveEntry(store, path)
  const totalBytes = Number(entry.size)
  await mkdir(dirname(target), { recursive: true })
  const tmp = `${target}.weft-partial-${process.pid}`
  let bytes = 0
  try {
    await writeEntry(store, entry, tmp, n => {
      bytes += n
      options.onProgress?.({ type: 'content:export:bytes', bytes, totalBytes })
    })
    await rename(tmp, target)
  } catch (err) {
    await rm(tmp, { recursive: true, force: true })
    throw exportError(err, path)
  }
  return { bytes }
}
