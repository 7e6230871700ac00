/**
 * Writes blocks into packs, one `writev` for each run of blocks that follow each other in
 * a pack: a 10,000-file add then makes tens of writes instead of 10,000, each a trip
 * through the thread pool with its own request object.
 */
import { write, writev } from 'node:fs'
import { promisify } from 'node:util'

const writeAsync = promisify(write)
const writevAsync = promisify(writev)

/** Linux's IOV_MAX: the most buffers one writev takes. */
const MAX_BUFFERS = 1024
/** Bytes one writev carries at most, so a run of large blocks still lands in steps. */
const MAX_BYTES = 8 * 1024 * 1024

interface Queued {
  fd: number
  off: number
  bytes: Uint8Array
  done: PromiseWithResolvers<void>
}

export class PackWriter {
  private readonly queue: Queued[] = []
  private draining = false

  /** Settles when `bytes` are written at `off` in `fd` (rejects with the write's error). */
  async write (fd: number, off: number, bytes: Uint8Array): Promise<void> {
    const done = Promise.withResolvers<void>()
    this.queue.push({ fd, off, bytes, done })
    if (!this.draining) void this.drain()
    await done.promise
  }

  private async drain (): Promise<void> {
    this.draining = true
    try {
      while (this.queue.length > 0) {
        const first = this.queue[0]
        let count = 1
        let end = first.off + first.bytes.byteLength
        while (count < this.queue.length && count < MAX_BUFFERS && end - first.off < MAX_BYTES) {
          const next = this.queue[count]
          if (next.fd !== first.fd || next.off !== end) break
          end += next.bytes.byteLength
          count++
        }
        const run = this.queue.splice(0, count)
        try {
          await writevAll(first.fd, run.map(q => q.bytes), first.off)
          for (const q of run) q.done.resolve()
        } catch (err) {
          for (const q of run) q.done.reject(err)
        }
      }
    } finally {
      this.draining = false
    }
  }
}

/** Writes all of `buffers` at `position`, going on after a short write. */
async function writevAll (fd: number, buffers: Uint8Array[], position: number): Promise<void> {
  let rest = buffers
  let at = position
  while (rest.length > 0) {
    const { bytesWritten } = await writevAsync(fd, rest, at)
    at += bytesWritten
    let skip = bytesWritten
    while (rest.length > 0 && skip >= rest[0].byteLength) {
      skip -= rest[0].byteLength
      rest = rest.slice(1)
    }
    if (skip > 0) rest = [rest[0].subarray(skip), ...rest.slice(1)]
  }
}

/** Writes all of `bytes` at `position`, going on after a short write. */
export async function writeAll (fd: number, bytes: Uint8Array, position: number): Promise<void> {
  let done = 0
  while (done < bytes.byteLength) {
    const { bytesWritten } = await writeAsync(fd, bytes, done, bytes.byteLength - done, position + done)
    done += bytesWritten
  }
}
