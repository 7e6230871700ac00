/**
 * Trustless answers (the IPFS trustless gateway spec): a client that verifies for itself
 * gets blocks, not files. `?format=raw` or `Accept: application/vnd.ipld.raw` is one block;
 * `?format=car` or `application/vnd.ipld.car` is a CARv1 with the blocks that prove the path
 * from the root and then the terminal's `dag-scope` (`block`, `entity` or `all`, the default)
 * narrowed by `entity-bytes=from:to`; `?format=ipns-record` or
 * `application/vnd.ipfs.ipns-record` is the site's signed record as its owner signed it.
 */
import { CarWriter } from '@ipld/car'
import * as dagPb from '@ipld/dag-pb'
import type { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { blockLinks, blockKey, decodeDagPb, decodeUnixFS } from '../blocks/index.ts'
import type { ContentBlockstore } from '../content/index.ts'
import { WeftError } from '../errors.ts'

export type TrustlessFormat = 'raw' | 'car' | 'ipns-record'
export type DagScope = 'block' | 'entity' | 'all'

const MEDIA_TYPES: Record<string, TrustlessFormat> = {
  'application/vnd.ipld.raw': 'raw',
  'application/vnd.ipld.car': 'car',
  'application/vnd.ipfs.ipns-record': 'ipns-record'
}

/** The trustless format a request asks for, by `?format=` first, then by its Accept header. */
export function requestedFormat (url: URL, accept: string | null): TrustlessFormat | undefined {
  const format = url.searchParams.get('format')
  if (format !== null) {
    if (format === 'raw' || format === 'car' || format === 'ipns-record') return format
    throw new WeftError('ERR_USAGE', `?format=${format.slice(0, 40)} is not one of raw, car, ipns-record`)
  }
  for (const part of (accept ?? '').split(',')) {
    const type = part.split(';')[0].trim().toLowerCase()
    if (MEDIA_TYPES[type] !== undefined) return MEDIA_TYPES[type]
  }
  return undefined
}

export interface CarParams {
  scope: DagScope
  /** Inclusive byte range of the terminal file; `to` undefined means to the end. */
  from?: number
  to?: number
}

/** `dag-scope` and `entity-bytes` from the query (or the Accept header's parameters are not used: the spec puts them in the query). */
export function carParams (url: URL): CarParams {
  const scope = url.searchParams.get('dag-scope') ?? 'all'
  if (scope !== 'block' && scope !== 'entity' && scope !== 'all') throw new WeftError('ERR_USAGE', `dag-scope=${scope.slice(0, 40)} is not one of block, entity, all`)
  const bytes = url.searchParams.get('entity-bytes')
  if (bytes === null) return { scope }
  const m = /^(-?\d+):(-?\d+|\*)$/.exec(bytes)
  if (m === null) throw new WeftError('ERR_USAGE', `entity-bytes=${bytes.slice(0, 40)} must be from:to (integers, to may be *)`)
  return { scope: scope === 'all' ? 'entity' : scope, from: Number(m[1]), to: m[2] === '*' ? undefined : Number(m[2]) }
}

export interface Block { cid: CID, bytes: Uint8Array }

/** The blocks of a UnixFS file that hold bytes [from, to] (inclusive, already made absolute), depth first. */
async function * fileRange (store: ContentBlockstore, cid: CID, from: number, to: number): AsyncGenerator<Block> {
  const bytes = await store.get(cid)
  yield { cid, bytes }
  if (cid.code !== dagPb.code) return
  const node = decodeDagPb(cid, bytes)
  if (node.Links.length === 0 || node.Data === undefined) return
  const unixfs = decodeUnixFS(cid, node.Data)
  if (unixfs.type !== 'file' && unixfs.type !== 'raw') return
  let start = unixfs.data?.byteLength ?? 0
  for (let i = 0; i < node.Links.length; i++) {
    const size = Number(unixfs.blockSizes[i] ?? 0n)
    const end = start + size - 1
    if (end >= from && start <= to) yield * fileRange(store, node.Links[i].Hash, Math.max(0, from - start), Math.min(size - 1, to - start))
    start += size
    if (start > to) break
  }
}

function fileSize (bytes: Uint8Array, cid: CID): number {
  if (cid.code === raw.code) return bytes.byteLength
  const node = decodeDagPb(cid, bytes)
  return node.Data === undefined ? 0 : Number(decodeUnixFS(cid, node.Data).fileSize())
}

/** The terminal entity: a file's blocks (within entity-bytes), a folder's own blocks (a sharded one's every shard), or one block. */
async function * entityBlocks (store: ContentBlockstore, cid: CID, params: CarParams): AsyncGenerator<Block> {
  const bytes = await store.get(cid)
  if (cid.code === raw.code) {
    yield { cid, bytes }
    return
  }
  if (cid.code !== dagPb.code) {
    yield { cid, bytes }
    return
  }
  const node = decodeDagPb(cid, bytes)
  const unixfs = node.Data === undefined ? undefined : decodeUnixFS(cid, node.Data)
  if (unixfs?.type === 'hamt-sharded-directory') {
    yield { cid, bytes }
    // shard blocks carry no name suffix beyond the 2-hex prefix; entries' own blocks are not part of the folder
    for (const link of node.Links) {
      if ((link.Name ?? '').length === 2) yield * entityBlocks(store, link.Hash, params)
    }
    return
  }
  if (unixfs?.type !== 'file' && unixfs?.type !== 'raw') {
    yield { cid, bytes }
    return
  }
  const size = fileSize(bytes, cid)
  const abs = (n: number): number => n < 0 ? Math.max(0, size + n) : n
  const from = abs(params.from ?? 0)
  const to = Math.min(size - 1, params.to === undefined ? size - 1 : abs(params.to))
  if (size === 0 || from > to) {
    yield { cid, bytes }
    return
  }
  yield * fileRange(store, cid, from, to)
}

/** Every block under `cid`, depth first (the DAG is made local before this is called). */
async function * allBlocks (store: ContentBlockstore, root: CID): AsyncGenerator<Block> {
  const stack = [root]
  const seen = new Set<string>()
  while (stack.length > 0) {
    const cid = stack.pop() as CID
    if (seen.has(blockKey(cid))) continue
    seen.add(blockKey(cid))
    const bytes = await store.get(cid)
    yield { cid, bytes }
    const links = blockLinks(cid, bytes)
    for (let i = links.length - 1; i >= 0; i--) stack.push(links[i])
  }
}

/** The terminal's blocks for a scope: `block` is the one block, `entity` and `all` as above. */
export function scopeBlocks (store: ContentBlockstore, terminal: CID, params: CarParams): AsyncGenerator<Block> {
  if (params.scope === 'all') return allBlocks(store, terminal)
  if (params.scope === 'entity') return entityBlocks(store, terminal, params)
  return (async function * () { yield { cid: terminal, bytes: await store.get(terminal) } })()
}

/** A CARv1 stream rooted at `root`: the path's blocks, then `blocks`, each block once. */
export async function * carStream (root: CID, pathBlocks: Block[], blocks: AsyncIterable<Block>): AsyncGenerator<Uint8Array> {
  const { writer, out } = CarWriter.create([root as never])
  const seen = new Set<string>()
  const put = async (block: Block): Promise<void> => {
    const key = blockKey(block.cid)
    if (seen.has(key)) return
    seen.add(key)
    await writer.put({ cid: block.cid as never, bytes: block.bytes })
  }
  let failure: unknown
  const pump = (async () => {
    try {
      for (const block of pathBlocks) await put(block)
      for await (const block of blocks) await put(block)
    } catch (err) {
      failure = err
    } finally {
      await writer.close()
    }
  })()
  for await (const chunk of out) yield chunk
  await pump
  if (failure !== undefined) throw failure
}
