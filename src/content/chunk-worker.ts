/**
 * The thread that reads a large file's chunks, hashes them and writes them into the pack
 * where the block store placed them, so `weft add` hashes on one core while reads and
 * writes run in the thread pool, and the chunks never cross threads: a ring of RING
 * buffers is reused, so memory stays flat for any file size and nothing waits for page
 * faults or garbage collection.
 *
 * In:  `{ start: { path, size, chunkSize } }` a file (one at a time);
 *      `{ place: { index, fd, off } }` write chunk `index` at `off` in the pack `fd`;
 *      `{ skip: { index } }` the store holds that block already.
 * Out: `{ hashed: { index, len, digest } }` (digest transferred), `{ written: { index } }`,
 *      `{ done: true }` once every chunk of the file is hashed and written or skipped,
 *      `{ error: { code, message, write } }` (the file could not be read, or a write failed).
 * No imports from weft: the thread starts in a few milliseconds.
 */
import { createHash } from 'node:crypto'
import { open, type FileHandle } from 'node:fs/promises'
import { write } from 'node:fs'
import { promisify } from 'node:util'
import { parentPort } from 'node:worker_threads'

/** Chunks read ahead of their writes; 8 × 1 MiB in memory at most. */
const RING = 8

const writeAsync = promisify(write)

interface Start { path: string, size: number, chunkSize: number }
type Reply = { place: { index: number, fd: number, off: number } } | { skip: { index: number } }

if (parentPort === null) throw new Error('chunk-worker.ts runs as a worker thread')
const port = parentPort

const replies = new Map<number, (reply: Reply) => void>()
let ring: Buffer[] = []

port.on('message', (msg: { start: Start } | Reply) => {
  if ('start' in msg) {
    readFile(msg.start).catch((err: NodeJS.ErrnoException & { write?: boolean }) => {
      port.postMessage({ error: { code: err.code ?? 'EIO', message: err.message, write: err.write === true } })
    })
    return
  }
  const index = 'place' in msg ? msg.place.index : msg.skip.index
  replies.get(index)?.(msg)
  replies.delete(index)
})

async function readFile ({ path, size, chunkSize }: Start): Promise<void> {
  if (ring.length === 0 || ring[0].length !== chunkSize) ring = Array.from({ length: RING }, () => Buffer.allocUnsafeSlow(chunkSize))
  const fh = await open(path, 'r')
  /** The write (or skip) of the chunk last held by each slot: the slot is free once it settles. */
  const busy: Array<Promise<void>> = Array.from({ length: RING }, async () => {})
  const chunks = Math.max(1, Math.ceil(size / chunkSize))
  /** Reads chunk `index` into its slot once the slot's last write has settled. */
  const readChunk = async (index: number): Promise<Buffer> => {
    const slot = index % RING
    await busy[slot]
    const buf = ring[slot].subarray(0, Math.min(chunkSize, size - index * chunkSize))
    await readFully(fh, buf, index * chunkSize)
    return buf
  }
  // The next chunk is read (in the thread pool) while this one is hashed here.
  let next = readChunk(0)
  try {
    for (let index = 0; index < chunks; index++) {
      const buf = await next
      if (index + 1 < chunks) next = readChunk(index + 1)
      const digest = createHash('sha256').update(buf).digest()
      const digestBytes = digest.buffer.slice(digest.byteOffset, digest.byteOffset + digest.byteLength)
      const reply = new Promise<Reply>(resolve => { replies.set(index, resolve) })
      port.postMessage({ hashed: { index, len: buf.length, digest: digestBytes } }, [digestBytes])
      const slot = index % RING
      busy[slot] = reply.then(async r => {
        if (!('place' in r)) return
        try {
          await writeFully(r.place.fd, buf, r.place.off)
        } catch (err) {
          throw Object.assign(err as Error, { write: true })
        }
        port.postMessage({ written: { index } })
      })
      busy[slot].catch(() => { /* met when the slot is next used, or at the end */ })
    }
    await Promise.all(busy)
    port.postMessage({ done: true })
  } finally {
    await next.catch(() => { /* the read ahead of a failed file: its error is the same or moot */ })
    await fh.close()
  }
}

async function readFully (fh: FileHandle, buf: Buffer, position: number): Promise<void> {
  let filled = 0
  while (filled < buf.length) {
    const { bytesRead } = await fh.read(buf, filled, buf.length - filled, position + filled)
    if (bytesRead === 0) throw Object.assign(new Error('the file shrank while it was being added'), { code: 'ESHRANK' })
    filled += bytesRead
  }
}

async function writeFully (fd: number, buf: Buffer, position: number): Promise<void> {
  let done = 0
  while (done < buf.length) done += (await writeAsync(fd, buf, done, buf.length - done, position + done)).bytesWritten
}
