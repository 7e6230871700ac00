import { createHash } from 'node:crypto'
import { closeSync, openSync, readSync } from 'node:fs'
import { lstat, open, readdir, type FileHandle } from 'node:fs/promises'
import { basename, join, resolve } from 'node:path'
import { Worker } from 'node:worker_threads'
import { importer, type ImportCandidate } from 'ipfs-unixfs-importer'
import type { BufferImporter } from 'ipfs-unixfs-importer'
import { exporter } from 'ipfs-unixfs-exporter'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import * as Digest from 'multiformats/hashes/digest'
import { WeftError } from '../errors.ts'
import type { Placement } from '../blocks/index.ts'
import { storeWriteError } from '../blocks/store-errors.ts'
import type { ContentBlockstore, ImportOptions, ImportResult, ImportedEntry } from './types.ts'

/** IPIP-499 `unixfs-v1-2025`: 1 MiB chunks (the rest of the profile is the importer's). */
export const CHUNK_SIZE = 1024 * 1024

interface FsEntry {
  /** Path inside the DAG, starting with the added item's own name. */
  dagPath: string
  absPath: string
  kind: 'file' | 'dir'
  size: number
  mode: number
  mtimeNs: bigint
}

function fsError (err: unknown, path: string): WeftError {
  const code = (err as NodeJS.ErrnoException).code
  if (code === 'ENOENT' || code === 'ENOTDIR') return new WeftError('ERR_PATH_NOT_FOUND', `${path}: no such file or folder`)
  if (code === 'EACCES' || code === 'EPERM') return new WeftError('ERR_PATH_UNREADABLE', `${path}: permission denied`)
  if (err instanceof WeftError) return err
  return new WeftError('ERR_PATH_UNREADABLE', `${path}: ${(err as Error).message}`)
}

/**
 * Lists what `weft add` will import, before a single block is written, so a missing or
 * unreadable path fails the whole add cleanly. Symlinks are not followed; they are
 * returned in `symlinks` for the caller to report.
 */
async function collect (path: string, options: ImportOptions): Promise<{ entries: FsEntry[], symlinks: string[], totalBytes: number }> {
  const entries: FsEntry[] = []
  const symlinks: string[] = []
  let totalBytes = 0
  const visit = async (absPath: string, dagPath: string): Promise<void> => {
    let st
    try {
      st = await lstat(absPath, { bigint: true })
    } catch (err) {
      throw fsError(err, absPath)
    }
    const base = { dagPath, absPath, size: Number(st.size), mode: Number(st.mode & 0o7777n), mtimeNs: st.mtimeNs }
    if (st.isSymbolicLink()) {
      symlinks.push(absPath)
    } else if (st.isDirectory()) {
      let names: string[]
      try {
        names = await readdir(absPath)
      } catch (err) {
        throw fsError(err, absPath)
      }
      entries.push({ ...base, kind: 'dir', size: 0 })
      names.sort()
      for (const name of names) {
        if (!options.hidden && name.startsWith('.')) continue
        await visit(join(absPath, name), `${dagPath}/${name}`)
      }
    } else if (st.isFile()) {
      entries.push({ ...base, kind: 'file' })
      totalBytes += base.size
    } else {
      throw new WeftError('ERR_PATH_UNREADABLE', `${absPath}: not a regular file or folder`)
    }
  }
  await visit(resolve(path), basename(resolve(path)))
  return { entries, symlinks, totalBytes }
}

/**
 * Files this small are read in one synchronous call: from the page cache that takes
 * microseconds, while an open, a read and a close through the thread pool cost three
 * round trips and a FileHandle each (a 10,000-file add spent a third of its time there).
 */
const SYNC_READ_MAX = 64 * 1024

/** A small file's first `entry.size` bytes, as one chunk (one empty chunk for an empty file). */
function * readSmall (entry: FsEntry, onBytes: (n: number) => void): Generator<Uint8Array> {
  const buf = Buffer.allocUnsafe(entry.size)
  try {
    const fd = openSync(entry.absPath, 'r')
    try {
      let filled = 0
      while (filled < buf.length) {
        const n = readSync(fd, buf, filled, buf.length - filled, filled)
        if (n === 0) throw new WeftError('ERR_PATH_UNREADABLE', `${entry.absPath}: the file shrank while it was being added`)
        filled += n
      }
    } finally {
      closeSync(fd)
    }
  } catch (err) {
    throw fsError(err, entry.absPath)
  }
  onBytes(buf.length)
  yield buf
}

/**
 * Reads the file's first `entry.size` bytes (its size when it was listed) as exact 1 MiB
 * chunks, and one empty chunk for an empty file, as the importer's fixed-size chunker
 * does. The next chunk is read while the current one is hashed and stored.
 */
async function * readChunks (entry: FsEntry, onBytes: (n: number) => void, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
  let fh: FileHandle
  try {
    fh = await open(entry.absPath, 'r')
  } catch (err) {
    throw fsError(err, entry.absPath)
  }
  const readAt = async (offset: number): Promise<Buffer> => {
    const buf = Buffer.allocUnsafeSlow(Math.min(CHUNK_SIZE, entry.size - offset))
    let filled = 0
    while (filled < buf.length) {
      const { bytesRead } = await fh.read(buf, filled, buf.length - filled, offset + filled)
      if (bytesRead === 0) throw new WeftError('ERR_PATH_UNREADABLE', `${entry.absPath}: the file shrank while it was being added`)
      filled += bytesRead
    }
    return buf
  }
  let ahead: Promise<Buffer> | undefined
  try {
    let offset = 0
    let next = readAt(0)
    for (;;) {
      signal?.throwIfAborted()
      const buf = await next
      offset += buf.length
      const more = offset < entry.size
      if (more) {
        next = ahead = readAt(offset)
        ahead.catch(() => { /* surfaces at the await above, unless the reader stopped */ })
      }
      onBytes(buf.length)
      yield buf
      if (!more) return
    }
  } catch (err) {
    throw fsError(err, entry.absPath)
  } finally {
    await ahead?.catch(() => {})
    await fh.close()
  }
}

/**
 * Files at least this large are read, hashed and written into the packs by a thread of
 * their own (chunk-worker.ts): hashing is most of an add's work, and the chunks then never
 * reach the main thread (no copies, no garbage, memory flat for any size). Smaller files
 * would spend more on messages than they save.
 */
const THREAD_MIN_FILE = 8 * CHUNK_SIZE

const WORKER_URL = new URL(import.meta.url.endsWith('.ts') ? './chunk-worker.ts' : './chunk-worker.js', import.meta.url)

/**
 * Stands in for a chunk the hashing thread keeps: the importer sees an empty array, the
 * leaf importer finds the CID and length here.
 */
const threadChunks = new WeakMap<Uint8Array, { cid: CID, len: number }>()

type WorkerMessage =
  | { hashed: { index: number, len: number, digest: ArrayBuffer } }
  | { written: { index: number } }
  | { done: true }
  | { error: { code: string, message: string, write: boolean } }

/** One hashing thread for an import, started at its first large file and ended with it. */
class ChunkThread {
  private worker: Worker | undefined
  /** Placements whose bytes the thread has not yet written, by chunk index. */
  private readonly unwritten = new Map<number, Placement>()

  private readonly placeBlock: (cid: CID, len: number) => Promise<Placement | undefined>

  constructor (place: (cid: CID, len: number) => Promise<Placement | undefined>) {
    this.placeBlock = place
  }

  async * read (entry: FsEntry, onBytes: (n: number) => void, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
    this.worker ??= new Worker(WORKER_URL)
    const worker = this.worker
    const leaves: Array<Promise<Uint8Array>> = []
    let placing: Promise<unknown> = Promise.resolve()
    let ended: { error?: Error } | undefined
    let wake: (() => void) | undefined
    const place = async (index: number, len: number, digest: ArrayBuffer): Promise<Uint8Array> => {
      const cid = CID.createV1(raw.code, Digest.create(0x12, new Uint8Array(digest)))
      const placement = await this.placeBlock(cid, len)
      if (placement === undefined) {
        worker.postMessage({ skip: { index } })
      } else {
        this.unwritten.set(index, placement)
        worker.postMessage({ place: { index, fd: placement.fd, off: placement.off } })
      }
      const token = new Uint8Array(0)
      threadChunks.set(token, { cid, len })
      return token
    }
    const onMessage = (msg: WorkerMessage): void => {
      if ('hashed' in msg) {
        const { index, len, digest } = msg.hashed
        const leaf = placing.then(async () => await place(index, len, digest))
        leaf.catch(() => { /* met by the reader, in order */ })
        placing = leaf
        leaves.push(leaf)
      } else if ('written' in msg) {
        this.unwritten.get(msg.written.index)?.landed()
        this.unwritten.delete(msg.written.index)
      } else if ('done' in msg) {
        ended = {}
      } else {
        const { code, message, write } = msg.error
        const cause = Object.assign(new Error(message), { code })
        ended = {
          error: code === 'ESHRANK'
            ? new WeftError('ERR_PATH_UNREADABLE', `${entry.absPath}: the file shrank while it was being added`)
            : write ? storeWriteError(cause, entry.absPath) : fsError(cause, entry.absPath)
        }
      }
      wake?.()
    }
    const onError = (err: Error): void => {
      ended = { error: new WeftError('ERR_INTERNAL', `the hashing thread failed: ${err.message}`) }
      wake?.()
    }
    const onAbort = (): void => { wake?.() }
    worker.on('message', onMessage)
    worker.on('error', onError)
    signal?.addEventListener('abort', onAbort)
    worker.postMessage({ start: { path: entry.absPath, size: entry.size, chunkSize: CHUNK_SIZE } })
    let next = 0
    try {
      for (;;) {
        signal?.throwIfAborted()
        if (ended?.error !== undefined) throw ended.error
        if (next < leaves.length) {
          const token = await leaves[next++]
          const len = threadChunks.get(token)?.len ?? 0
          onBytes(len)
          yield token
        } else if (ended !== undefined) {
          await placing
          if (next === leaves.length) return
        } else {
          await new Promise<void>(resolve => { wake = resolve })
        }
      }
    } finally {
      worker.off('message', onMessage)
      worker.off('error', onError)
      signal?.removeEventListener('abort', onAbort)
      // A thread stopped half way is mid-file: it cannot serve the next one.
      if (ended === undefined || ended.error !== undefined) await this.close()
    }
  }

  /** Ends the thread; what it never wrote fails, so the store undoes those blocks. */
  async close (): Promise<void> {
    const worker = this.worker
    this.worker = undefined
    await worker?.terminate()
    for (const placement of this.unwritten.values()) placement.landed(new WeftError('ERR_INTERNAL', 'the import stopped before this block was written'))
    this.unwritten.clear()
  }
}

/**
 * Raw leaves hashed here with node:crypto (or by the hashing thread, for large files) and
 * stored without a second hash: the CID is computed from these very bytes, which is the
 * check the store would make.
 */
function rawLeafImporter (): BufferImporter {
  return async function * (file, blockstore) {
    for await (const block of file.content) {
      yield async () => {
        const placed = threadChunks.get(block)
        if (placed !== undefined) return { cid: placed.cid, size: BigInt(placed.len), block }
        const digest = createHash('sha256').update(block).digest()
        const cid = CID.createV1(raw.code, Digest.create(0x12, digest))
        await blockstore.put(cid, block)
        return { cid, size: BigInt(block.length), block }
      }
    }
  }
}

/** UnixFS time: whole seconds rounded down (also before 1970) and a non-negative remainder. */
export function unixfsTime (mtimeNs: bigint): { secs: bigint, nsecs: number } {
  let secs = mtimeNs / 1_000_000_000n
  let nsecs = mtimeNs % 1_000_000_000n
  if (nsecs < 0n) {
    secs -= 1n
    nsecs += 1_000_000_000n
  }
  return { secs, nsecs: Number(nsecs) }
}

/** Imports one file or folder with the IPIP-499 `unixfs-v1-2025` profile. */
export async function importPath (store: ContentBlockstore, path: string, options: ImportOptions = {}): Promise<ImportResult> {
  const { entries, symlinks, totalBytes } = await collect(path, options)
  if (entries.length === 0) {
    throw new WeftError('ERR_PATH_UNREADABLE', `${path}: a symlink; weft add does not follow symlinks`)
  }
  let bytes = 0
  let files = 0
  const totalFiles = entries.filter(e => e.kind === 'file').length
  const onBytes = (n: number): void => {
    bytes += n
    options.onProgress?.({ type: 'content:import:bytes', bytes, totalBytes, files, totalFiles })
  }
  const thread = store.place === undefined ? undefined : new ChunkThread(store.place.bind(store))
  const candidates = async function * (): AsyncGenerator<ImportCandidate> {
    for (const entry of entries) {
      const meta = {
        ...(options.preserveMode === true ? { mode: entry.mode } : {}),
        ...(options.preserveMtime === true ? { mtime: unixfsTime(entry.mtimeNs) } : {})
      }
      if (entry.kind === 'dir') {
        // Every folder gets its own entry, as `ipfs add -r` gives it: the entry counts in
        // the parent's size estimate, so leaving it out can change where sharding starts.
        yield { path: entry.dagPath, ...meta }
      } else {
        files++
        const content = entry.size <= SYNC_READ_MAX
          ? readSmall(entry, onBytes)
          : thread !== undefined && entry.size >= THREAD_MIN_FILE ? thread.read(entry, onBytes, options.signal) : readChunks(entry, onBytes, options.signal)
        yield { path: entry.dagPath, content, ...meta }
      }
    }
  }
  const putter = {
    put: async (cid: CID, block: Uint8Array) => {
      await store.put(cid, block, { hashed: true })
      return cid
    }
  }
  const imported: ImportedEntry[] = []
  try {
    for await (const e of importer(candidates(), putter as never, {
      profile: 'unixfs-v1-2025',
      chunker: source => source,
      bufferImporter: rawLeafImporter(),
      blockWriteConcurrency: 4
    })) {
      imported.push({ path: e.path ?? '', cid: e.cid, size: Number(e.size) })
    }
  } catch (err) {
    if (thread !== undefined) {
      // Blocks the thread never wrote fail as it ends; the flush undoes them now, not at the next add.
      await thread.close()
      await store.flush().catch(() => {})
    }
    throw err
  } finally {
    await thread?.close()
  }
  await store.flush()
  const rootPath = entries[0].dagPath
  const root = imported.find(e => e.path === rootPath)
  if (root === undefined) throw new WeftError('ERR_INTERNAL', `the importer returned no entry for ${rootPath}`)
  // The importer does not report empty folders, though it links them; `ipfs add` lists them.
  const reported = new Set(imported.map(e => e.path))
  for (const entry of entries) {
    if (entry.kind !== 'dir' || reported.has(entry.dagPath)) continue
    const inner = entry.dagPath.slice(rootPath.length)
    const found = await exporter(`${root.cid}${inner}`, { get: async function * (cid: CID) { yield await store.get(cid) } })
    imported.splice(imported.length - 1, 0, { path: entry.dagPath, cid: found.cid, size: Number(found.size) })
  }
  return { root, entries: imported, symlinks, bytes: totalBytes, files: totalFiles }
}

/**
 * Imports bytes already in memory as one UnixFS file (the same profile and raw leaves as
 * importPath), without copying them: the importer gets 1 MiB views of `bytes`. One chunk
 * or less gives a single raw block, whose CID is the file's.
 */
export async function importBytes (store: ContentBlockstore, bytes: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<CID> {
  const chunks = function * (): Generator<Uint8Array> {
    if (bytes.byteLength === 0) yield bytes
    for (let at = 0; at < bytes.byteLength; at += CHUNK_SIZE) {
      options.signal?.throwIfAborted()
      yield bytes.subarray(at, Math.min(bytes.byteLength, at + CHUNK_SIZE))
    }
  }
  const putter = {
    put: async (cid: CID, block: Uint8Array) => {
      await store.put(cid, block, { hashed: true })
      return cid
    }
  }
  let root: CID | undefined
  for await (const e of importer([{ content: chunks() }], putter as never, {
    profile: 'unixfs-v1-2025',
    chunker: source => source,
    bufferImporter: rawLeafImporter(),
    blockWriteConcurrency: 4
  })) root = e.cid
  if (root === undefined) throw new WeftError('ERR_INTERNAL', 'the importer returned no file')
  return root
}
