/**
 * Path resolution for serving: each folder on the way is read once and its link looked up
 * by name; the terminal is described from its own block (a raw leaf's size from its
 * parent's link). ipfs-unixfs-exporter does the same walk with more work per step (it
 * reads a raw leaf whole, twice, to learn its size), so it is kept for what needs it:
 * sharded (HAMT) folders.
 */
import * as dagPb from '@ipld/dag-pb'
import { exporter } from 'ipfs-unixfs-exporter'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { identity } from 'multiformats/hashes/identity'
import { WeftError } from '../errors.ts'
import { assertWalkableShard, decodeDagCbor, decodeDagPb, decodeUnixFS } from '../blocks/index.ts'
import type { ContentBlockstore } from './types.ts'

export interface PathEntry {
  cid: CID
  type: 'file' | 'directory' | 'object'
  /** A file's bytes; 0 for folders and objects. */
  size: number
  /** The CID of the root and of each segment on the way, the entry's last (the gateway's X-Ipfs-Roots). */
  roots: CID[]
}

type Store = Pick<ContentBlockstore, 'get'>

const DAG_CBOR = 0x71

/**
 * Walks a dag-cbor value by map keys (and list indexes) from `segments[from]` until an IPLD
 * link: the link and the index after the segments used; ERR_DAG_PATH_NOT_FOUND for a key the
 * value lacks, ERR_DAG_PATH_INTO_DATA for a path that ends inside the object's data (not a block).
 */
function followCbor (value: unknown, segments: string[], from: number, where: string): { link: CID, next: number } {
  let v = value
  for (let i = from; i < segments.length; i++) {
    const key = segments[i]
    if (v === null || typeof v !== 'object' || CID.asCID(v) !== null || !Object.hasOwn(v, key)) {
      throw new WeftError('ERR_DAG_PATH_NOT_FOUND', `${where}/${segments.slice(from, i + 1).join('/')}: no such path in the DAG`)
    }
    v = (v as Record<string, unknown>)[key]
    const link = CID.asCID(v)
    if (link !== null) return { link, next: i + 1 }
  }
  throw new WeftError('ERR_DAG_PATH_INTO_DATA', `${where}/${segments.slice(from).join('/')} is data inside a dag-cbor object, not a block; ask for the object itself`)
}

interface Described extends Omit<PathEntry, 'roots'> {
  node?: dagPb.PBNode
  /** A dag-cbor object's decoded value, whose links a path may walk through. */
  value?: unknown
  sharded?: boolean
}

async function describe (store: Store, cid: CID, linkSize?: number): Promise<Described> {
  if (cid.code === raw.code) {
    const size = linkSize ?? (cid.multihash.code === identity.code ? cid.multihash.digest : await store.get(cid)).byteLength
    return { cid, type: 'file', size }
  }
  if (cid.code === DAG_CBOR) return { cid, type: 'object', size: 0, value: decodeDagCbor(cid, await store.get(cid)) }
  if (cid.code !== dagPb.code) return { cid, type: 'object', size: 0 }
  const node = decodeDagPb(cid, await store.get(cid))
  if (node.Data === undefined) throw new WeftError('ERR_DAG_PATH_NOT_FOUND', `${cid} is a dag-pb node without UnixFS data`)
  const unixfs = decodeUnixFS(cid, node.Data)
  if (unixfs.type === 'directory' || unixfs.type === 'hamt-sharded-directory') {
    return { cid, type: 'directory', size: 0, node, sharded: unixfs.type === 'hamt-sharded-directory' }
  }
  if (unixfs.type === 'file' || unixfs.type === 'raw') return { cid, type: 'file', size: Number(unixfs.fileSize()) }
  // symlinks and metadata nodes are not served
  return { cid, type: 'object', size: 0 }
}

/** The entry at `segments` below `root`: ERR_DAG_PATH_NOT_FOUND when a name is missing or a file is in the way. */
export async function resolvePath (store: Store, root: CID, segments: string[]): Promise<PathEntry> {
  let entry = await describe(store, root)
  const roots = [root]
  for (let i = 0; i < segments.length; i++) {
    if (entry.value !== undefined) {
      // through a dag-cbor object's keys to the block a link names
      const { link, next } = followCbor(entry.value, segments, i, [root, ...segments.slice(0, i)].join('/'))
      entry = await describe(store, link)
      roots.push(entry.cid)
      i = next - 1
      continue
    }
    if (entry.type !== 'directory') throw new WeftError('ERR_DAG_PATH_NOT_FOUND', `${[root, ...segments.slice(0, i)].join('/')} is not a folder`)
    if (entry.sharded === true) {
      // one segment at a time, so each segment's CID is known
      let found
      try {
        found = await exporter(`${entry.cid}/${segments[i]}`, { async * get (cid: CID) { const bytes = await store.get(cid); assertWalkableShard(cid, bytes); yield bytes } })
      } catch (err) {
        if ((err as Error).name === 'NotFoundError') throw new WeftError('ERR_DAG_PATH_NOT_FOUND', `${[root, ...segments].join('/')}: no such path in the DAG`)
        if (err instanceof WeftError || (err as Error).name === 'AbortError') throw err
        // the exporter's parsers on shard blocks that hashed right
        throw new WeftError('ERR_BLOCK_MALFORMED', `${entry.cid}: the sharded folder is malformed (${String((err as Error).message).split('\n')[0].slice(0, 200)})`, { cause: err })
      }
      entry = await describe(store, found.cid)
      roots.push(entry.cid)
      continue
    }
    const link = entry.node?.Links.find(l => l.Name === segments[i])
    if (link === undefined) throw new WeftError('ERR_DAG_PATH_NOT_FOUND', `${[root, ...segments.slice(0, i + 1)].join('/')}: no such path in the DAG`)
    entry = await describe(store, link.Hash, link.Hash.code === raw.code ? link.Tsize : undefined)
    roots.push(entry.cid)
  }
  return { cid: entry.cid, type: entry.type, size: entry.size, roots }
}
