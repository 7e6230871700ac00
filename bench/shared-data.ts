/** Random test data the benchmarks write: one large file, or a folder of small files. */
import { randomFillSync } from 'node:crypto'
import { closeSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs'
import { join } from 'node:path'

const MiB = 1024 * 1024

export function writeLargeFile (path: string, bytes: number): void {
  const fd = openSync(path, 'w')
  try {
    const piece = Buffer.allocUnsafe(MiB)
    for (let done = 0; done < bytes; done += MiB) writeSync(fd, randomFillSync(piece), 0, Math.min(MiB, bytes - done))
  } finally {
    closeSync(fd)
  }
}

export function writeSmallFiles (dir: string, count: number, bytesEach: number): void {
  mkdirSync(dir)
  const bytes = Buffer.allocUnsafe(bytesEach)
  for (let i = 0; i < count; i++) writeFileSync(join(dir, smallFileName(i, count)), randomFillSync(bytes))
}

/** The name writeSmallFiles gives file `i` of `count`. */
export function smallFileName (i: number, count: number): string {
  return `f${String(i).padStart(String(count - 1).length, '0')}.bin`
}
