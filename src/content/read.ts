/**
 * Reading a UnixFS file's bytes in order, one block at a time, only as fast as the reader
 * takes them. (ipfs-unixfs-exporter's `content()` walks a file's DAG ahead of its reader
 * into an unbounded queue, so a slow reader of a local 1 GiB file holds most of it in
 * memory.) Fetching ahead is the store's business: the gateway's store brings a file's
 * blocks in from the network in parallel, to disk, while this reads them in turn.
 */
import * as dagPb from '@ipld/dag-pb'
import type { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { identity } from 'multiformats/hashes/identity'
import { WeftError } from '../errors.ts'
import { decodeDagPb, decodeUnixFS } from '../blocks/index.ts'
import type { ContentBlockstore } from './types.ts'

/** Bytes [offset, offset + length) of the file at `cid` (raw leaf, identity or dag-pb UnixFS). */
export async function * readFile (store: Pick<ContentBlockstore, 'get'>, cid: CID, options: { offset?: number, length?: number } = {}): AsyncGenerator<Uint8Array> {
  const start = options.offset ?? 0
  const end = options.length === undefined ? Infinity : start + options.length
  if (end <= start) return
  yield * walk(store, cid, 0, start, end)
}

/** Yields the part of the node's bytes (which begin at `at` in the file) inside [start, end); returns the node's size. */
async function * walk (store: Pick<ContentBlockstore, 'get'>, cid: CID, at: number, start: number, end: number): AsyncGenerator<Uint8Array, number> {
  const bytes = cid.multihash.code === identity.code ? cid.multihash.digest : await store.get(cid)
  if (cid.code === raw.code || cid.multihash.code === identity.code && cid.code !== dagPb.code) {
    yield * slice(bytes, at, start, end)
    return bytes.byteLength
  }
  if (cid.code !== dagPb.code) throw new WeftError('ERR_NOT_A_FILE', `${cid} is not a UnixFS file`)
  const node = decodeDagPb(cid, bytes)
  const unixfs = node.Data === undefined ? undefined : decodeUnixFS(cid, node.Data)
  if (unixfs === undefined || (unixfs.type !== 'file' && unixfs.type !== 'raw')) throw new WeftError('ERR_NOT_A_FILE', `${cid} is not a UnixFS file`)
  const data = unixfs.data ?? new Uint8Array()
  yield * slice(data, at, start, end)
  let position = at + data.byteLength
  for (let i = 0; i < node.Links.length && position < end; i++) {
    const size = Number(unixfs.blockSizes[i] ?? 0n)
    if (position + size > start) {
      const read = yield * walk(store, node.Links[i].Hash, position, start, end)
      if (read !== size && position + size <= end) throw new WeftError('ERR_NOT_A_FILE', `${node.Links[i].Hash} holds ${read} bytes where its parent ${cid} says ${size}`)
    }
    position += size
  }
  return position - at
}

function * slice (bytes: Uint8Array, at: number, start: number, end: number): Generator<Uint8Array> {
  const from = Math.max(0, start - at)
  const to = Math.min(bytes.byteLength, end - at)
  if (to > from) yield bytes.subarray(from, to)
}
