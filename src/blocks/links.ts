import * as dagPb from '@ipld/dag-pb'
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { UnixFS } from 'ipfs-unixfs'
import { WeftError } from '../errors.ts'

/** Codecs whose links weft can follow; blocks of any other codec are refused on import. */
export const SUPPORTED_CODECS = new Set([dagPb.code, raw.code, dagCbor.code])

export function assertCodecSupported (cid: CID): void {
  if (!SUPPORTED_CODECS.has(cid.code)) {
    throw new WeftError('ERR_UNSUPPORTED_CODEC', `${cid} uses codec 0x${cid.code.toString(16)}, which weft cannot decode`)
  }
}

/**
 * A block that hashes to its CID can still be garbage for its codec (whoever made the CID
 * chose the bytes), so decoding is a refusal with a code, never a raw parser error.
 */
function malformed (cid: CID, what: string, err: unknown): WeftError {
  return new WeftError('ERR_BLOCK_MALFORMED', `${cid} is not valid ${what}: ${(err as Error).message.split('\n')[0].slice(0, 200)}`, { cause: err })
}

export function decodeDagPb (cid: CID, bytes: Uint8Array): dagPb.PBNode {
  try {
    return dagPb.decode(bytes)
  } catch (err) {
    throw malformed(cid, 'dag-pb', err)
  }
}

export function decodeDagCbor (cid: CID, bytes: Uint8Array): unknown {
  try {
    return dagCbor.decode(bytes)
  } catch (err) {
    throw malformed(cid, 'dag-cbor', err)
  }
}

/** The UnixFS metadata in a dag-pb node's Data. */
export function decodeUnixFS (cid: CID, data: Uint8Array | undefined): UnixFS {
  try {
    if (data === undefined) throw new Error('the node has no UnixFS data')
    return UnixFS.unmarshal(data)
  } catch (err) {
    throw malformed(cid, 'UnixFS', err)
  }
}

/** HAMT parameters weft follows: murmur3-x64-64 names, a power-of-two fanout up to 1024 (kubo writes 256). */
const HAMT_HASH = 0x22n
const MAX_HAMT_FANOUT = 1024n

/**
 * Refuses a HAMT shard block whose fanout or hash function the exporter cannot walk: a fanout
 * of 1 (zero bits a level) sends hamt-sharding into endless recursion until the process dies.
 * Other blocks pass untouched.
 */
export function assertWalkableShard (cid: CID, bytes: Uint8Array): void {
  if (cid.code !== dagPb.code) return
  const node = decodeDagPb(cid, bytes)
  if (node.Data === undefined) return
  const unixfs = decodeUnixFS(cid, node.Data)
  if (unixfs.type !== 'hamt-sharded-directory') return
  const fanout = unixfs.fanout ?? 0n
  if ((unixfs.hashType !== undefined && unixfs.hashType !== HAMT_HASH) || fanout < 2n || fanout > MAX_HAMT_FANOUT || (fanout & (fanout - 1n)) !== 0n) {
    throw new WeftError('ERR_BLOCK_MALFORMED', `${cid} is a HAMT shard with fanout ${fanout} and hash 0x${(unixfs.hashType ?? 0n).toString(16)}; weft follows murmur3 shards with a power-of-two fanout up to ${MAX_HAMT_FANOUT}`)
  }
}

function collectCids (value: unknown, out: CID[]): void {
  const cid = CID.asCID(value)
  if (cid !== null) {
    out.push(cid)
  } else if (Array.isArray(value)) {
    for (const v of value) collectCids(v, out)
  } else if (value !== null && typeof value === 'object' && !(value instanceof Uint8Array)) {
    for (const v of Object.values(value)) collectCids(v, out)
  }
}

/** The CIDs a block links to. Raw blocks have none, so callers need not read them at all. */
export function blockLinks (cid: CID, bytes: Uint8Array): CID[] {
  switch (cid.code) {
    case raw.code: return []
    case dagPb.code: return decodeDagPb(cid, bytes).Links.map(l => l.Hash)
    case dagCbor.code: {
      const out: CID[] = []
      collectCids(decodeDagCbor(cid, bytes), out)
      return out
    }
    default:
      assertCodecSupported(cid)
      return []
  }
}

/** A string key for a block: its multihash (codec-independent, as the store keys blocks). */
export function blockKey (cid: CID): string {
  return multihashKey(cid.multihash.bytes)
}

export function multihashKey (mh: Uint8Array): string {
  return Buffer.from(mh.buffer, mh.byteOffset, mh.byteLength).toString('base64')
}

export interface DagReader {
  get(cid: CID): Promise<Uint8Array>
  has(cid: CID): boolean
}

/**
 * Visits every block of the DAG under `root` once, depth-first, parents before children.
 * Raw blocks have no links, so unless `readRaw` is set they are only checked for
 * presence: walking a large file costs one read per dag-pb node.
 */
export async function walkDag (store: DagReader, root: CID, visit: (cid: CID, bytes?: Uint8Array) => void | Promise<void>, options: { readRaw?: boolean } = {}): Promise<void> {
  const seen = new Set<string>()
  const stack = [root]
  while (stack.length > 0) {
    const cid = stack.pop() as CID
    const key = blockKey(cid)
    if (seen.has(key)) continue
    seen.add(key)
    if (!store.has(cid)) throw new WeftError('ERR_BLOCK_NOT_FOUND', `block ${cid} (under ${root}) is not in the local store`)
    if (cid.code === raw.code && options.readRaw !== true) {
      await visit(cid)
      continue
    }
    const bytes = await store.get(cid)
    await visit(cid, bytes)
    const links = blockLinks(cid, bytes)
    for (let i = links.length - 1; i >= 0; i--) stack.push(links[i])
  }
}
