/**
 * Trustless answers (the IPFS trustless gateway spec): a client that verifies for itself
 * gets blocks, not files. `?format=raw` or `Accept: application/vnd.ipld.raw` is one block;
 * `?format=car` or `application/vnd.ipld.car` is a CARv1 with the blocks that prove the path
 * from the root and then the terminal's `dag-scope` (`block`, `entity` or `all`, the default)
 * narrowed by `entity-bytes=from:to`, in depth-first order, each block once unless `dups=y`
 * (the Accept header's `dups` parameter, or `?car-dups=`, which wins); identity CIDs are never
 * blocks of a CAR (their bytes are in the CID). `?format=ipns-record` or
 * `application/vnd.ipfs.ipns-record` is the site's signed record as its owner signed it.
 */
import { CarWriter } from '@ipld/car'
import * as dagPb from '@ipld/dag-pb'
import type { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { identity } from 'multiformats/hashes/identity'
import { blockLinks, blockKey, decodeDagPb, decodeUnixFS } from '../blocks/index.ts'
import type { ContentBlockstore } from '../content/index.ts'
import { WeftError } from '../errors.ts'
import { isCodecFormat } from './codecs.ts'

/** What `?format=` or Accept asks for instead of the deserialized content (tar is not trustless, but is asked the same way). */
export type TrustlessFormat = 'raw' | 'car' | 'ipns-record' | 'tar'
export type DagScope = 'block' | 'entity' | 'all'

const MEDIA_TYPES: Record<string, TrustlessFormat> = {
  'application/vnd.ipld.raw': 'raw',
  'application/vnd.ipld.car': 'car',
  'application/vnd.ipfs.ipns-record': 'ipns-record',
  'application/x-tar': 'tar'
}

/** The trustless format a request asks for, by `?format=` first, then by its Accept header. */
export function requestedFormat (url: URL, accept: string | null): TrustlessFormat | undefined {
  const format = url.searchParams.get('format')
  if (format !== null) {
    if (format === 'raw' || format === 'car' || format === 'ipns-record' || format === 'tar') return format
    // answered by codecs.ts
    if (isCodecFormat(format)) return undefined
    throw new WeftError('ERR_USAGE', `?format=${format.slice(0, 40)} is not one of raw, car, ipns-record, tar, dag-cbor, dag-json, cbor, json (see docs/gateway.md)`)
  }
  for (const part of (accept ?? '').split(',')) {
    const type = part.split(';')[0].trim().toLowerCase()
    if (MEDIA_TYPES[type] !== undefined) return MEDIA_TYPES[type]
  }
  return undefined
}

export interface CarParams {
  scope: DagScope
  /** `dups=y`: every block met on the walk, as often as it is met. */
  dups: boolean
  /** Inclusive byte range of the terminal file; `to` undefined means to the end. */
  from?: number
  to?: number
}

/** The parameters of the Accept header's CAR media type (`version=1; order=dfs; dups=y`), lower-cased. */
function acceptedCarParams (accept: string | null): Map<string, string> {
  for (const part of (accept ?? '').split(',')) {
    const [type, ...params] = part.split(';').map(p => p.trim())
    if (type.toLowerCase() !== 'application/vnd.ipld.car') continue
    return new Map(params.map(p => { const [k, v = ''] = p.split('='); return [k.trim().toLowerCase(), v.trim().replace(/^"|"$/g, '').toLowerCase()] }))
  }
  return new Map()
}

/**
 * `dag-scope` and `entity-bytes` from the query; `dups` from `?car-dups=` or else the Accept
 * header (IPIP-0523: the query wins). Any `order` is answered with `dfs`, which the spec allows
 * for `unk`; `version` other than 1 is refused.
 */
export function carParams (url: URL, accept: string | null): CarParams {
  const scope = url.searchParams.get('dag-scope') ?? 'all'
  if (scope !== 'block' && scope !== 'entity' && scope !== 'all') throw new WeftError('ERR_USAGE', `dag-scope=${scope.slice(0, 40)} is not one of block, entity, all`)
  const accepted = acceptedCarParams(accept)
  const version = url.searchParams.get('car-version') ?? accepted.get('version') ?? '1'
  if (version !== '1') throw new WeftError('ERR_USAGE', `CAR version ${version.slice(0, 10)} is not served; ask for version=1`)
  const order = url.searchParams.get('car-order') ?? accepted.get('order') ?? 'dfs'
  if (order !== 'dfs' && order !== 'unk') throw new WeftError('ERR_USAGE', `CAR order ${order.slice(0, 20)} is not one of dfs, unk`)
  const dupsText = url.searchParams.get('car-dups') ?? accepted.get('dups') ?? 'n'
  if (dupsText !== 'y' && dupsText !== 'n') throw new WeftError('ERR_USAGE', `CAR dups=${dupsText.slice(0, 20)} is not one of y, n`)
  const dups = dupsText === 'y'
  const bytes = url.searchParams.get('entity-bytes')
  if (bytes === null) return { scope, dups }
  const m = /^(-?\d+):(-?\d+|\*)$/.exec(bytes)
  if (m === null) throw new WeftError('ERR_USAGE', `entity-bytes=${bytes.slice(0, 40)} must be from:to (integers, to may be *)`)
  return { scope: scope === 'all' ? 'entity' : scope, dups, from: Number(m[1]), to: m[2] === '*' ? undefined : Number(m[2]) }
}

/** A block's bytes; an identity CID's are its digest, never a stored block. */
export async function blockBytes (store: ContentBlockstore, cid: CID): Promise<Uint8Array> {
  return cid.multihash.code === identity.code ? cid.multihash.digest : await store.get(cid)
}

export interface Block { cid: CID, bytes: Uint8Array }

/** The blocks of a UnixFS file that hold bytes [from, to] (inclusive, already made absolute), depth first. */
async function * fileRange (store: ContentBlockstore, cid: CID, from: number, to: number): AsyncGenerator<Block> {
  const bytes = await blockBytes(store, cid)
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
  const bytes = await blockBytes(store, cid)
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

/** Every block under `cid`, depth first (the DAG is made local before this is called); a block met again is walked again with `dups`. */
async function * allBlocks (store: ContentBlockstore, root: CID, dups: boolean): AsyncGenerator<Block> {
  const stack = [root]
  const seen = new Set<string>()
  while (stack.length > 0) {
    const cid = stack.pop() as CID
    if (!dups && seen.has(blockKey(cid))) continue
    seen.add(blockKey(cid))
    const bytes = await blockBytes(store, cid)
    yield { cid, bytes }
    const links = blockLinks(cid, bytes)
    for (let i = links.length - 1; i >= 0; i--) stack.push(links[i])
  }
}

/** The terminal's blocks for a scope: `block` is the one block, `entity` and `all` as above. */
export function scopeBlocks (store: ContentBlockstore, terminal: CID, params: CarParams): AsyncGenerator<Block> {
  if (params.scope === 'all') return allBlocks(store, terminal, params.dups)
  if (params.scope === 'entity') return entityBlocks(store, terminal, params)
  return (async function * () { yield { cid: terminal, bytes: await blockBytes(store, terminal) } })()
}

/**
 * A CARv1 stream rooted at `root`: the path's blocks, then `blocks`, each block once, or with
 * `dups` each as often as the walk meets it (the terminal, already sent with the path, is not
 * sent twice). Identity CIDs are left out: their bytes are in the CID.
 */
export async function * carStream (root: CID, pathBlocks: Block[], blocks: AsyncIterable<Block>, options: { dups?: boolean } = {}): AsyncGenerator<Uint8Array> {
  const { writer, out } = CarWriter.create([root as never])
  const seen = new Set<string>()
  const put = async (block: Block, again: boolean): Promise<void> => {
    if (block.cid.multihash.code === identity.code) return
    const key = blockKey(block.cid)
    if (seen.has(key) && !again) return
    seen.add(key)
    await writer.put({ cid: block.cid as never, bytes: block.bytes })
  }
  let failure: unknown
  const pump = (async () => {
    try {
      for (const block of pathBlocks) await put(block, false)
      let first = true
      for await (const block of blocks) {
        await put(block, options.dups === true && !first)
        first = false
      }
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
