/**
 * `?format=tar` or `Accept: application/x-tar` (the path gateway spec): a file or a folder as
 * a POSIX tar (ustar, with a PAX `path` record for names over 100 bytes or not ASCII), every
 * entry under `<cid>/`. The folder is listed first, all of it, so a name that climbs out
 * of it (`../x`, possible in a DAG anyone made) is refused with a status before any byte is
 * sent; then each file streams as its blocks verify.
 *
 * Each entry: a 512-byte header (name, mode, size in octal, mtime 0, checksum, type `0` file
 * or `5` folder), the bytes, padding to 512; the archive ends with two zero blocks.
 */
import { posix } from 'node:path'
import type { CID } from 'multiformats/cid'
import { ls, parseContentPath, readFile, type ContentBlockstore } from '../content/index.ts'
import { WeftError } from '../errors.ts'

const BLOCK = 512

interface TarEntry {
  path: string
  cid: CID
  type: 'file' | 'directory'
  size: number
}

/** Every entry under `root` (a folder or a file of `size` bytes), named `<name>/…`, folders before what they hold. */
export async function tarEntries (store: ContentBlockstore, root: { cid: CID, type: 'file' | 'directory', size: number }, name: string, options: { signal?: AbortSignal } = {}): Promise<TarEntry[]> {
  if (root.type === 'file') return [{ path: name, cid: root.cid, type: 'file', size: root.size }]
  const out: TarEntry[] = []
  const walk = async (cid: CID, path: string): Promise<void> => {
    options.signal?.throwIfAborted()
    out.push({ path, cid, type: 'directory', size: 0 })
    for (const e of await ls(store, parseContentPath(cid.toString()))) {
      const child = posix.normalize(posix.join(path, e.name))
      if (e.name === '' || e.name.includes('\0') || !child.startsWith(`${name}/`)) {
        throw new WeftError('ERR_INVALID_PATH', `${cid} holds an entry named ${JSON.stringify(e.name.slice(0, 80))}, which would land outside the archive's folder`)
      }
      if (e.type === 'directory') await walk(e.cid, child)
      else out.push({ path: child, cid: e.cid, type: 'file', size: e.size })
    }
  }
  await walk(root.cid, name)
  return out
}

function octal (value: number, width: number): string {
  return value.toString(8).padStart(width - 1, '0') + '\0'
}

function header (name: string, type: '0' | '5' | 'x', size: number, mode: number): Uint8Array {
  const h = Buffer.alloc(BLOCK)
  h.write(name, 0, 100, 'utf8')
  h.write(octal(mode, 8), 100, 'ascii')
  h.write(octal(0, 8), 108, 'ascii')
  h.write(octal(0, 8), 116, 'ascii')
  h.write(octal(size, 12), 124, 'ascii')
  h.write(octal(0, 12), 136, 'ascii')
  h.write(' '.repeat(8), 148, 'ascii')
  h.write(type, 156, 'ascii')
  h.write('ustar\0', 257, 'ascii')
  h.write('00', 263, 'ascii')
  let sum = 0
  for (const b of h) sum += b
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'ascii')
  return h
}

function padding (size: number): Uint8Array {
  return new Uint8Array((BLOCK - size % BLOCK) % BLOCK)
}

/** A PAX record `<length> path=<name>\n`, whose length counts its own digits. */
function paxPath (name: string): Uint8Array {
  const body = ` path=${name}\n`
  let length = Buffer.byteLength(body)
  while (String(length).length + Buffer.byteLength(body) !== length) length = String(length).length + Buffer.byteLength(body)
  return Buffer.from(`${length}${body}`)
}

function * entryHeader (path: string, type: '0' | '5', size: number): Generator<Uint8Array> {
  const name = type === '5' ? `${path}/` : path
  // ustar holds 100 bytes of ASCII reliably; anything else goes in a PAX record first
  if (Buffer.byteLength(name) > 100 || !/^[\x20-\x7e]*$/.test(name)) {
    const record = paxPath(name)
    yield header('PaxHeader', 'x', record.byteLength, 0o644)
    yield record
    yield padding(record.byteLength)
  }
  yield header(name.replace(/[^\x20-\x7e]/g, '_').slice(0, 100), type, size, type === '5' ? 0o755 : 0o644)
}

/** The archive's bytes: headers, each file's bytes as read, padding, the two closing blocks. */
export async function * tarStream (store: ContentBlockstore, entries: TarEntry[]): AsyncGenerator<Uint8Array> {
  for (const entry of entries) {
    yield * entryHeader(entry.path, entry.type === 'directory' ? '5' : '0', entry.size)
    if (entry.type === 'directory') continue
    let sent = 0
    for await (const chunk of readFile(store, entry.cid)) {
      sent += chunk.byteLength
      yield chunk
    }
    if (sent !== entry.size) throw new WeftError('ERR_NOT_A_FILE', `${entry.cid} gave ${sent} bytes where its DAG says ${entry.size}`)
    yield padding(entry.size)
  }
  yield new Uint8Array(BLOCK * 2)
}
