/**
 * A user's contribution is a small UnixFS folder. Building one is an in-memory import;
 * reading one that a peer names is a bounded walk: block by block, level by level, each
 * block fetched (verified) only while the bytes so far stay under the site's limit, so a
 * user record pointing at a huge DAG costs its sender, not this node's disk.
 */
import { importer } from 'ipfs-unixfs-importer'
import { UnixFS } from 'ipfs-unixfs'
import * as dagPb from '@ipld/dag-pb'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { WeftError } from '../errors.ts'
import type { ContributionFile } from './store.ts'

export interface FolderStore {
  put(cid: CID, bytes: Uint8Array): Promise<void>
  get(cid: CID): Promise<Uint8Array>
  flush(): Promise<void>
}

/** Folders nest this deep at most (`a/b/c/…`): contributions are small. */
export const MAX_FOLDER_DEPTH = 8
/** A folder block or a file's root block is small; bytes allowed beyond the files' own, per file, for the DAG's framing. */
const FRAMING_BYTES_PER_FILE = 1024

/** Imports `files` (relative path → bytes) as one folder; returns its root and each file. */
export async function buildFolder (store: FolderStore, files: Map<string, Uint8Array>): Promise<{ root: CID, files: ContributionFile[] }> {
  const candidates = [...files].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0).map(([path, content]) => ({ path, content }))
  const putter = { put: async (cid: CID, block: Uint8Array) => { await store.put(cid, block); return cid } }
  let root: CID | undefined
  const listed: ContributionFile[] = []
  for await (const entry of importer(candidates, putter as never, { profile: 'unixfs-v1-2025', wrapWithDirectory: true })) {
    if (entry.path === '' || entry.path === undefined) root = entry.cid
    else if (files.has(entry.path)) listed.push({ path: entry.path, size: files.get(entry.path)?.byteLength ?? 0, cid: entry.cid.toString() })
  }
  await store.flush()
  if (root === undefined) throw new WeftError('ERR_INTERNAL', 'the importer returned no folder root')
  return { root, files: listed.sort((a, b) => a.path < b.path ? -1 : 1) }
}

export class FolderRefused extends Error {
  readonly reason: 'too-large' | 'too-many-files' | 'malformed'
  constructor (reason: 'too-large' | 'too-many-files' | 'malformed', message: string) {
    super(message)
    this.name = 'FolderRefused'
    this.reason = reason
  }
}

/** Blocks asked for at once in a walk: enough to hide a round trip, few enough that a refusal wastes little. */
export const WALK_BATCH = 16
/** A file of the unixfs-v1-2025 profile is one level of 1 MiB leaves under its root; any file a contribution may hold needs at most two. */
export const MAX_FILE_DEPTH = 3
/** Folders a contribution may hold beyond its files (the same number as the folder depth allows paths to need, generously). */
const SPARE_ENTRIES = 64

/**
 * The most blocks a walk may take: two per file (its root and one leaf), one per MiB of
 * the byte limit twice over (leaves of bigger files, with room for other chunkers), and
 * the folders. Tiny blocks cannot make a walk run long.
 */
export function maxWalkBlocks (limits: { maxFiles: number, maxBytes: number }): number {
  return limits.maxFiles * 2 + Math.ceil(limits.maxBytes / (512 * 1024)) + SPARE_ENTRIES
}

/**
 * Walks the folder at `root`, getting each block through `get` (which fetches and verifies
 * what is missing), and lists its files. Blocks are asked for a batch at a time, and the
 * walk stops with FolderRefused as soon as it would pass `maxFiles` entries, `maxBytes` of
 * blocks (plus framing) or maxWalkBlocks blocks, and aborts what is still in flight.
 */
export async function walkFolder (get: (cid: CID, signal: AbortSignal) => Promise<Uint8Array>, root: CID, limits: { maxFiles: number, maxBytes: number }, options: { signal?: AbortSignal } = {}): Promise<ContributionFile[]> {
  const budget = limits.maxBytes + (limits.maxFiles + 1) * FRAMING_BYTES_PER_FILE
  const blockBudget = maxWalkBlocks(limits)
  const stop = new AbortController()
  const signal = options.signal === undefined ? stop.signal : AbortSignal.any([stop.signal, options.signal])
  let spent = 0
  let taken = 0
  let entryCount = 0
  const files: ContributionFile[] = []
  const take = async (cid: CID): Promise<Uint8Array> => {
    if (++taken > blockBudget) throw new FolderRefused('too-large', `the folder is more than ${blockBudget} blocks`)
    const bytes = await get(cid, signal)
    spent += bytes.byteLength
    if (spent > budget) throw new FolderRefused('too-large', `the folder holds more than ${limits.maxBytes} bytes`)
    return bytes
  }
  type Item = { cid: CID, path: string, depth: number, kind: 'root' | 'entry' | 'part' }
  const entries = (node: dagPb.PBNode, item: Item): Item[] => {
    if (item.depth >= MAX_FOLDER_DEPTH) throw new FolderRefused('malformed', `folders nest deeper than ${MAX_FOLDER_DEPTH}`)
    // counted before a single entry is fetched: a folder of thousands of links costs one block
    entryCount += node.Links.length
    if (entryCount > limits.maxFiles + SPARE_ENTRIES) throw new FolderRefused('too-many-files', `the folder holds more than ${limits.maxFiles} files`)
    return node.Links.map(link => {
      const name = link.Name ?? ''
      if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\\') || name.includes('\0')) {
        throw new FolderRefused('malformed', `a folder entry is named ${JSON.stringify(name.slice(0, 80))}`)
      }
      return { cid: link.Hash, path: item.path === '' ? name : `${item.path}/${name}`, depth: item.depth + 1, kind: 'entry' }
    })
  }
  const visit = (item: Item, bytes: Uint8Array): Item[] => {
    if (item.cid.code === raw.code) {
      if (item.kind === 'root') throw new FolderRefused('malformed', 'the contribution is a file, not a folder')
      if (item.kind === 'entry') files.push({ path: item.path, size: bytes.byteLength, cid: item.cid.toString() })
      return []
    }
    const where = item.path === '' ? 'the root' : item.path
    if (item.cid.code !== dagPb.code) throw new FolderRefused('malformed', `${where} is not UnixFS (codec 0x${item.cid.code.toString(16)})`)
    let node: dagPb.PBNode
    let fs: UnixFS
    try {
      node = dagPb.decode(bytes)
      fs = UnixFS.unmarshal(node.Data ?? new Uint8Array())
    } catch (err) {
      throw new FolderRefused('malformed', `${where} is not UnixFS: ${(err as Error).message}`)
    }
    if (item.kind === 'part') {
      if (fs.type !== 'file' && fs.type !== 'raw') throw new FolderRefused('malformed', `a part of ${item.path} is a ${fs.type}`)
      if (node.Links.length > 0 && item.depth >= MAX_FILE_DEPTH) throw new FolderRefused('malformed', `${item.path} is a DAG deeper than ${MAX_FILE_DEPTH} levels`)
      return node.Links.map(link => ({ ...item, cid: link.Hash, depth: item.depth + 1 }))
    }
    if (fs.type === 'directory') return entries(node, item)
    if (item.kind === 'root') throw new FolderRefused('malformed', `the contribution is a ${fs.type}, not a folder (sharded folders are not taken)`)
    if (fs.type !== 'file' && fs.type !== 'raw') throw new FolderRefused('malformed', `${item.path} is a ${fs.type}; contributions hold files and folders`)
    files.push({ path: item.path, size: Number(fs.fileSize()), cid: item.cid.toString() })
    if (files.length > limits.maxFiles) throw new FolderRefused('too-many-files', `the folder holds more than ${limits.maxFiles} files`)
    // a part's depth counts levels inside its file, from 1
    return node.Links.map(link => ({ ...item, cid: link.Hash, kind: 'part' as const, depth: 1 }))
  }
  const queue: Item[] = [{ cid: root, path: '', depth: 0, kind: 'root' }]
  try {
    while (queue.length > 0) {
      const batch = queue.splice(0, WALK_BATCH)
      const blocks = await Promise.all(batch.map(async item => ({ item, bytes: await take(item.cid) })))
      for (const { item, bytes } of blocks) queue.push(...visit(item, bytes))
    }
  } catch (err) {
    stop.abort(err)
    throw err
  }
  if (files.length > limits.maxFiles) throw new FolderRefused('too-many-files', `the folder holds more than ${limits.maxFiles} files`)
  return files.sort((a, b) => a.path < b.path ? -1 : 1)
}

/** Reads a small file's bytes whole (a contribution file the site's database takes). */
export async function readSmallFile (get: (cid: CID) => Promise<Uint8Array>, cid: CID, maxBytes: number): Promise<Uint8Array> {
  const bytes = await get(cid)
  if (cid.code === raw.code) return bytes
  const node = dagPb.decode(bytes)
  const fs = UnixFS.unmarshal(node.Data ?? new Uint8Array())
  if (node.Links.length === 0) return fs.data ?? new Uint8Array()
  if (Number(fs.fileSize()) > maxBytes) throw new FolderRefused('too-large', `the file is over ${maxBytes} bytes`)
  const parts: Uint8Array[] = []
  for (const link of node.Links) parts.push(await readSmallFile(get, link.Hash, maxBytes))
  return Buffer.concat(parts)
}

export { CID }
