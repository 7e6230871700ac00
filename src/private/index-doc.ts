/**
 * The private index of one user on one site: which paths exist, where their ciphertext is,
 * and their wrapped file keys. It is JSON,
 *
 *   { v: 1, seq, folders: { [F]: { generation } }, entries: { [path]: Entry }, seen?: { [device]: seq } }
 *   Entry     = { cid, size, folder, generation, wrapped, mtime, id, history, seq, device }
 *   Tombstone = { deleted: true, id, history, seq, device, mtime }
 *
 * `id` is 16 random bytes (hex) per write; `history` the ids the entry replaced, newest
 * first, at most 16; `device` a random id per home; `wrapped` base64 of
 * nonce24 ‖ XChaCha20-Poly1305(folderKey(folder, generation), nonce24, fileKey).
 * `seen[device]` is the highest entry `seq` from that device this index has taken in (its
 * writes and merges), overwritten or deleted ones included: what the merge knows was seen
 * beyond the bounded `history`. An index written before `seen` has none; its entries stand in.
 *
 * Sealed: the JSON padded with spaces to a bucket (aead.ts paddedSize), then
 * nonce24 ‖ XChaCha20-Poly1305(indexKey, nonce24, padded), imported as a UnixFS file
 * (one raw block up to 1 MiB). An IPNS record signed by the index signer names it
 * (value `/ipfs/<cid>`, sequence = seq).
 */
import { z } from 'zod'
import { WeftError } from '../errors.ts'
import { openWithNonce, paddedSize, sealWithNonce } from './aead.ts'

/** Ids in `history`: enough to recognise any write a device saw before its own, without the list growing with every edit. */
export const MAX_HISTORY = 16
/** An index opened from a peer is refused past this many entries (a forged one cannot make the node build an unbounded map). */
export const MAX_ENTRIES = 100_000
/** Devices in `seen`: every home a person ever wrote from (a reinstall is a new one), with room to spare. */
export const MAX_SEEN_DEVICES = 10_000

export interface FileEntry {
  cid: string
  /** Plaintext bytes (the ciphertext is padded). */
  size: number
  folder: string
  generation: number
  wrapped: string
  mtime: number
  id: string
  history: string[]
  seq: number
  device: string
  deleted?: undefined
}

export interface Tombstone {
  deleted: true
  id: string
  history: string[]
  seq: number
  device: string
  mtime: number
}

export type Entry = FileEntry | Tombstone

export interface PrivateIndex {
  v: 1
  seq: number
  folders: Record<string, { generation: number }>
  entries: Record<string, Entry>
  /** Absent in indexes written before it. */
  seen?: Record<string, number>
}

const hex16 = z.string().regex(/^[0-9a-f]{32}$/)
const count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER)
const common = {
  id: hex16,
  history: z.array(hex16).max(MAX_HISTORY),
  seq: count,
  device: hex16,
  mtime: count
}
const ENTRY = z.union([
  z.object({ deleted: z.literal(true), ...common }).strict(),
  z.object({
    cid: z.string().min(1).max(200),
    size: count,
    folder: z.string().max(1024),
    generation: count,
    wrapped: z.string().max(200),
    ...common
  }).strict()
])
const INDEX = z.object({
  v: z.literal(1),
  seq: count,
  folders: z.record(z.string().max(1024), z.object({ generation: count }).strict()),
  entries: z.record(z.string().min(1).max(1024), ENTRY),
  seen: z.record(hex16, count).optional()
}).strict()

export function emptyIndex (): PrivateIndex {
  return { v: 1, seq: 0, folders: {}, entries: {} }
}

/** The folder a path's file key is wrapped under: its first segment, '' at the root. */
export function folderOf (path: string): string {
  const slash = path.indexOf('/')
  return slash < 0 ? '' : path.slice(0, slash)
}

/** The index as JSON with its keys sorted, so two equal indexes have equal text. */
export function canonicalJson (value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v
    return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0))
  })
}

export function sealIndex (indexKey: Uint8Array, index: PrivateIndex): Buffer {
  const json = Buffer.from(canonicalJson(index))
  const padded = Buffer.alloc(paddedSize(json.byteLength), 0x20)
  json.copy(padded)
  return sealWithNonce(indexKey, padded)
}

/** Opens and checks a sealed index; ERR_PRIVATE_TAMPERED when it does not open or is not a valid index. */
export function openIndex (indexKey: Uint8Array, sealed: Uint8Array): PrivateIndex {
  const text = openWithNonce(indexKey, sealed, 'the private index').toString('utf8')
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    throw new WeftError('ERR_PRIVATE_TAMPERED', 'the private index opens but is not JSON')
  }
  // a key the parser would turn into a prototype is never a path this weft writes
  const entries = (parsed as { entries?: unknown } | null)?.entries
  const folders = (parsed as { folders?: unknown } | null)?.folders
  for (const map of [entries, folders]) {
    if (map !== null && typeof map === 'object' && Object.hasOwn(map, '__proto__')) throw new WeftError('ERR_PRIVATE_TAMPERED', 'the private index names a path "__proto__"')
  }
  const result = INDEX.safeParse(parsed)
  if (!result.success) throw new WeftError('ERR_PRIVATE_TAMPERED', `the private index opens but is not valid: ${result.error.issues[0].message.slice(0, 200)}`)
  if (Object.keys(result.data.entries).length > MAX_ENTRIES) throw new WeftError('ERR_PRIVATE_TAMPERED', `the private index holds more than ${MAX_ENTRIES} entries`)
  if (Object.keys(result.data.seen ?? {}).length > MAX_SEEN_DEVICES) throw new WeftError('ERR_PRIVATE_TAMPERED', `the private index has seen more than ${MAX_SEEN_DEVICES} devices`)
  return result.data as PrivateIndex
}

/** Parses an index held in the home (written by this weft). */
export function parseHeldIndex (text: string): PrivateIndex {
  return JSON.parse(text) as PrivateIndex
}
