/**
 * The private store: per user and site, files sealed on this node (aead.ts) before they
 * become ordinary blocks, and an index (index-doc.ts) sealed and named by a signed IPNS
 * record. The index as opened lives in the home's database (private_indexes), so listing
 * needs no decryption; the sealed block and the record are what other devices receive.
 * Rows and the cache are keyed by index name, not site: a replaced master key's index is
 * another index (its sequence, its entries), and the old key's row is kept but ignored.
 *
 * Writes to one site run one at a time (each reads the index, then writes the next).
 */
import { randomBytes } from 'node:crypto'
import type { DatabaseSync } from 'node:sqlite'
import { CID } from 'multiformats/cid'
import { WeftError, isWeftError } from '../errors.ts'
import type { Blocks } from '../blocks/index.ts'
import { importBytes, readFile, fetchingBlockstore, type ContentBlockstore } from '../content/index.ts'
import { transaction } from '../repo/index.ts'
import { checkRecord, decode, parseSiteName, RecordRejected, rejectionError, signRecord, type SiteRecord } from '../sites/index.ts'
import { pathProblem } from '../users/rules.ts'
import type { UserIdentity } from '../users/identity.ts'
import { openFileStream, openWithNonce, paddedSize, sealedSize, sealFile, sealWithNonce, KEY_BYTES } from './aead.ts'
import { canonicalJson, emptyIndex, folderOf, MAX_HISTORY, openIndex, parseHeldIndex, sealIndex, type Entry, type FileEntry, type PrivateIndex } from './index-doc.ts'
import { mergeIndexes, sameEntries, seenOf } from './merge.ts'
import { Serial } from './serial.ts'
import type { PrivateKeys } from './keys.ts'

export interface PrivateEntryInfo { path: string, size: number, mtime: number }
export interface PrivateUsage { files: number, bytes: number, stored: number }
export type ApplyOutcome = 'applied' | 'same' | 'older'

export interface PrivateEvents {
  /** After every change of a site's index here (a write, or a merge): sync pushes `record` to the other devices. */
  published: { site: string, record: Uint8Array }
}

export interface PrivateStore extends EventTarget {
  put(site: string, path: string, bytes: Uint8Array, options?: { signal?: AbortSignal }): Promise<PrivateEntryInfo>
  /** The file's bytes; ERR_PRIVATE_NOT_FOUND when none is at `path`, ERR_PRIVATE_TAMPERED when its ciphertext does not open. */
  get(site: string, path: string, options?: { signal?: AbortSignal }): Promise<Uint8Array>
  /** The file's bytes as they open, a segment (1 MiB) at a time, each only once it is authenticated: what the CLI and the gateway stream. */
  read(site: string, path: string, options?: { signal?: AbortSignal }): AsyncGenerator<Uint8Array>
  list(site: string): PrivateEntryInfo[]
  rm(site: string, path: string, options?: { signal?: AbortSignal }): Promise<void>
  /** `stored`: padded ciphertext bytes. */
  usage(site: string): PrivateUsage
  /** Sites with private data here. */
  sites(): string[]
  /** The `k51…` name of the site's index signing key. */
  indexName(site: string): string
  /** The held signed index record (marshalled IPNS), if any. */
  record(site: string): Uint8Array | undefined
  /**
   * Checks a record from another device: ERR_RECORD_INVALID when it is not signed by this
   * site's index key (or is malformed, expired), ERR_PRIVATE_ROLLBACK when its sequence is
   * below the held one; 'same' when it is the held one, else 'newer'.
   */
  checkRemote(site: string, record: Uint8Array): Promise<'newer' | 'same'>
  /**
   * A record from another device (via sync): checked, its index fetched through `fetch`
   * (which must bring the whole DAG under a CID into the store), opened, merged, and the
   * merge published when it differs from what arrived. Files new to this device are
   * fetched too. 'older' (refused, a rollback) and 'same' write nothing; a record that
   * fails checkRemote throws; an index that does not open is ERR_PRIVATE_TAMPERED with
   * nothing written.
   */
  applyRemote(site: string, record: Uint8Array, options: { signal?: AbortSignal, fetch: (cid: CID) => Promise<void> }): Promise<ApplyOutcome>
  /** Index blocks and file ciphertext held: gc keeps them. */
  heldRoots(): CID[]
  /** The live files of `folder` with their file keys, and the folder's generation: what a share's listing holds (src/private/shares.ts). */
  folderFiles(site: string, folder: string): FolderFiles
  /**
   * Moves `folder` to its next generation (revoking a share): every live file's key is
   * wrapped again under the new folder key; the ciphertext stays as it is. Returns the new generation.
   */
  rotateFolder(site: string, folder: string, options?: { signal?: AbortSignal }): Promise<number>
}

export interface FolderFiles {
  generation: number
  files: Array<{ path: string, cid: string, size: number, mtime: number, key: Uint8Array }>
}

export interface PrivateStoreComponents {
  /** private_indexes and private_device live in the home's database. */
  db: DatabaseSync
  /** The keys come from the user's master key, which stays in identity. */
  identity: Pick<UserIdentity, 'privateKeys'>
  /** Ciphertext and index blocks go in, and are read back verified. */
  blocks: Pick<Blocks, 'get' | 'put' | 'has' | 'flush'>
  /** Online: brings a block this home lacks from peers (a file written on another device). */
  fetchBlock?: (cid: CID, options: { signal?: AbortSignal }) => Promise<void>
}

export interface PrivateStoreInit {
  /** ms an index record stays valid. */
  validity: number
  /** ms a resolver may cache it. */
  ttl: number
}

export const PRIVATE_DEFAULTS: PrivateStoreInit = {
  // as user records: a device may be away for months and must still take the record
  validity: 365 * 24 * 3600_000,
  ttl: 5 * 60_000
}

type Row = Record<string, any>

/** MAX_ENTRIES entries of ~300 bytes of JSON each fit with room: a larger sealed index was not written by weft. */
const MAX_INDEX_BYTES = 64 * 1024 * 1024

interface Held {
  index: PrivateIndex
  record: SiteRecord
}

function notFound (site: string, path: string): WeftError {
  return new WeftError('ERR_PRIVATE_NOT_FOUND', `no private file ${JSON.stringify(path.slice(0, 200))} for site ${site}`)
}

function entryAt (index: PrivateIndex, path: string): Entry | undefined {
  return Object.hasOwn(index.entries, path) ? index.entries[path] : undefined
}

function liveEntries (index: PrivateIndex): Array<[string, FileEntry]> {
  return (Object.entries(index.entries).filter(([, e]) => e.deleted !== true) as Array<[string, FileEntry]>).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)
}

function checkPath (path: string): string {
  const problem = pathProblem(path)
  if (problem !== undefined) throw new WeftError('ERR_USAGE', `private file path ${JSON.stringify(String(path).slice(0, 200))}: ${problem}`)
  if (path.split('/').includes('__proto__')) throw new WeftError('ERR_USAGE', 'a private file path may not have a "__proto__" segment')
  return path
}

function parseCid (text: string, what: string): CID {
  try {
    return CID.parse(text)
  } catch {
    throw new WeftError('ERR_PRIVATE_TAMPERED', `${what} names no valid CID`)
  }
}

class SealedPrivateStore extends EventTarget implements PrivateStore {
  private readonly db: DatabaseSync
  private readonly identity: Pick<UserIdentity, 'privateKeys'>
  private readonly blocks: Pick<Blocks, 'get' | 'put' | 'has' | 'flush'>
  private readonly fetchBlock?: PrivateStoreComponents['fetchBlock']
  private readonly init: PrivateStoreInit
  private readonly serialised = new Serial()
  /** By index name. */
  private readonly cache = new Map<string, Held>()
  /** Ciphertext stored but not yet in an index (a write waiting its turn): gc keeps it meanwhile. */
  private readonly pending = new Map<string, CID>()
  private deviceId?: string

  constructor (components: PrivateStoreComponents, init: PrivateStoreInit) {
    super()
    this.db = components.db
    this.identity = components.identity
    this.blocks = components.blocks
    this.fetchBlock = components.fetchBlock
    this.init = init
  }

  /** This home's device id, made on first use. */
  private device (): string {
    if (this.deviceId !== undefined) return this.deviceId
    const row = this.db.prepare('SELECT id FROM private_device LIMIT 1').get() as Row | undefined
    if (row !== undefined) {
      this.deviceId = row.id as string
    } else {
      const id = randomBytes(16).toString('hex')
      this.db.prepare('INSERT INTO private_device (id) VALUES (?)').run(id)
      this.deviceId = id
    }
    return this.deviceId
  }

  private async serial<T> (site: string, fn: () => Promise<T>): Promise<T> {
    return await this.serialised.run(site, fn)
  }

  /** The index held under the site's current index name; a row of an earlier master key is not it. */
  private held (site: string): Held | undefined {
    // no row for the site: nothing to derive keys for (a read must not make a master key)
    if (this.db.prepare('SELECT 1 FROM private_indexes WHERE site = ? LIMIT 1').get(site) === undefined) return undefined
    return this.heldByName(this.keys(site).indexName)
  }

  private heldByName (indexName: string): Held | undefined {
    const cached = this.cache.get(indexName)
    if (cached !== undefined) return cached
    const row = this.db.prepare('SELECT record, body FROM private_indexes WHERE index_name = ?').get(indexName) as Row | undefined
    if (row === undefined) return undefined
    // written by this weft: parsed without a second signature check
    const record = decode(new Uint8Array(row.record))
    const held = { index: parseHeldIndex(row.body), record }
    this.cache.set(indexName, held)
    return held
  }

  private indexOf (site: string): PrivateIndex {
    return this.held(site)?.index ?? emptyIndex()
  }

  private keys (site: string): PrivateKeys {
    return this.identity.privateKeys(site)
  }

  private store (signal?: AbortSignal): ContentBlockstore {
    const fetchBlock = this.fetchBlock
    if (fetchBlock === undefined) return this.blocks
    return fetchingBlockstore(this.blocks, async cid => { await fetchBlock(cid, { signal }) })
  }

  /** Seals, stores and signs `index` as the site's new index, then says so ('published'). */
  private async commit (keys: PrivateKeys, index: PrivateIndex, options: { signal?: AbortSignal }): Promise<void> {
    // the write just made is seen from now on, and stays so after it is overwritten
    index.seen = seenOf(index)
    const root = await importBytes(this.blocks, sealIndex(keys.indexKey, index), options)
    await this.blocks.flush()
    options.signal?.throwIfAborted()
    const record = await signRecord(keys.indexSigner, `/ipfs/${root.toString()}`, BigInt(index.seq), this.init)
    this.save(keys, index, record)
    this.dispatchEvent(new CustomEvent('published', { detail: { site: keys.site, record: record.bytes } }))
  }

  private save (keys: PrivateKeys, index: PrivateIndex, record: SiteRecord): void {
    transaction(this.db, () => {
      this.db.prepare(`INSERT INTO private_indexes (index_name, site, record, sequence, root, body, updated) VALUES (?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (index_name) DO UPDATE SET record = excluded.record, sequence = excluded.sequence,
          root = excluded.root, body = excluded.body, updated = excluded.updated`)
        .run(keys.indexName, keys.site, record.bytes, index.seq, record.root.toString(), canonicalJson(index), Date.now())
    })
    this.cache.set(keys.indexName, { index, record })
  }

  /** The next version of an entry at `path`, replacing `previous`: a fresh id, the old one at the head of its history. */
  private successor (index: PrivateIndex, previous: Entry | undefined): Pick<Entry, 'id' | 'history' | 'seq' | 'device' | 'mtime'> {
    return {
      id: randomBytes(16).toString('hex'),
      history: previous === undefined ? [] : [previous.id, ...previous.history].slice(0, MAX_HISTORY),
      seq: index.seq + 1,
      device: this.device(),
      mtime: Date.now()
    }
  }

  async put (site: string, path: string, bytes: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<PrivateEntryInfo> {
    const name = parseSiteName(site).name
    checkPath(path)
    const keys = this.keys(name)
    // sealed and stored before the queue: a large file does not hold up other writes
    const fileKey = randomBytes(KEY_BYTES)
    const cid = await importBytes(this.blocks, sealFile(fileKey, bytes, paddedSize(bytes.byteLength)), options)
    const token = randomBytes(8).toString('hex')
    this.pending.set(token, cid)
    try {
      return await this.serial(name, async () => await this.putEntry(keys, path, cid, fileKey, bytes.byteLength, options))
    } finally {
      this.pending.delete(token)
    }
  }

  /** A write's turn in the site's queue: the next index, with the entry for `path` (its ciphertext already stored). */
  private async putEntry (keys: PrivateKeys, path: string, cid: CID, fileKey: Uint8Array, size: number, options: { signal?: AbortSignal }): Promise<PrivateEntryInfo> {
    const name = keys.site
    options.signal?.throwIfAborted()
    const index = structuredClone(this.indexOf(name))
    const folder = folderOf(path)
    const generation = Object.hasOwn(index.folders, folder) ? index.folders[folder].generation : 0
    const entry: FileEntry = {
      cid: cid.toString(),
      size,
      folder,
      generation,
      wrapped: sealWithNonce(keys.folderKey(folder, generation), fileKey).toString('base64'),
      ...this.successor(index, entryAt(index, path))
    }
    index.folders[folder] = { generation }
    index.entries[path] = entry
    index.seq += 1
    await this.commit(keys, index, options)
    return { path, size: entry.size, mtime: entry.mtime }
  }

  async * read (site: string, path: string, options: { signal?: AbortSignal } = {}): AsyncGenerator<Uint8Array> {
    const name = parseSiteName(site).name
    const entry = entryAt(this.indexOf(name), path)
    if (entry === undefined || entry.deleted === true) throw notFound(name, path)
    const keys = this.keys(name)
    const what = `the private file ${JSON.stringify(path.slice(0, 200))}`
    const fileKey = openWithNonce(keys.folderKey(entry.folder, entry.generation), Buffer.from(entry.wrapped, 'base64'), `the key of ${what}`)
    const cid = parseCid(entry.cid, what)
    const blocks = readFile(this.store(options.signal), cid)
    for await (const plain of openFileStream(fileKey, blocks, sealedSize(paddedSize(entry.size)), entry.size, what)) {
      options.signal?.throwIfAborted()
      yield plain
    }
  }

  async get (site: string, path: string, options: { signal?: AbortSignal } = {}): Promise<Uint8Array> {
    const chunks: Uint8Array[] = []
    for await (const chunk of this.read(site, path, options)) chunks.push(chunk)
    return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)
  }

  list (site: string): PrivateEntryInfo[] {
    return liveEntries(this.indexOf(parseSiteName(site).name)).map(([path, e]) => ({ path, size: e.size, mtime: e.mtime }))
  }

  async rm (site: string, path: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    const name = parseSiteName(site).name
    const keys = this.keys(name)
    await this.serial(name, async () => {
      options.signal?.throwIfAborted()
      const index = structuredClone(this.indexOf(name))
      const previous = entryAt(index, path)
      if (previous === undefined || previous.deleted === true) throw notFound(name, path)
      index.entries[path] = { deleted: true, ...this.successor(index, previous) }
      index.seq += 1
      await this.commit(keys, index, options)
    })
  }

  usage (site: string): PrivateUsage {
    const live = liveEntries(this.indexOf(parseSiteName(site).name))
    return {
      files: live.length,
      bytes: live.reduce((n, [, e]) => n + e.size, 0),
      stored: live.reduce((n, [, e]) => n + sealedSize(paddedSize(e.size)), 0)
    }
  }

  sites (): string[] {
    return (this.db.prepare('SELECT DISTINCT site FROM private_indexes ORDER BY site').all() as Row[]).map(r => r.site as string)
  }

  indexName (site: string): string {
    return this.keys(parseSiteName(site).name).indexName
  }

  record (site: string): Uint8Array | undefined {
    return this.held(parseSiteName(site).name)?.record.bytes
  }

  /** The record checked against the site's index name and the held sequence. */
  private async checked (keys: PrivateKeys, bytes: Uint8Array): Promise<{ record: SiteRecord, same: boolean }> {
    let record: SiteRecord
    try {
      record = await checkRecord(parseSiteName(keys.indexName), bytes)
    } catch (err) {
      if (err instanceof RecordRejected) throw rejectionError(err)
      throw err
    }
    const held = this.heldByName(keys.indexName)
    if (held !== undefined && record.sequence < held.record.sequence) {
      throw new WeftError('ERR_PRIVATE_ROLLBACK', `the private index record for ${keys.site} has sequence ${record.sequence}, below the ${held.record.sequence} held: a replay of an older index`)
    }
    return { record, same: held !== undefined && held.record.value === record.value }
  }

  async checkRemote (site: string, bytes: Uint8Array): Promise<'newer' | 'same'> {
    const { same } = await this.checked(this.keys(parseSiteName(site).name), bytes)
    return same ? 'same' : 'newer'
  }

  async applyRemote (site: string, bytes: Uint8Array, options: { signal?: AbortSignal, fetch: (cid: CID) => Promise<void> }): Promise<ApplyOutcome> {
    const name = parseSiteName(site).name
    const keys = this.keys(name)
    return await this.serial(name, async () => {
      let checked
      try {
        checked = await this.checked(keys, bytes)
      } catch (err) {
        if (isWeftError(err, 'ERR_PRIVATE_ROLLBACK')) return 'older'
        throw err
      }
      if (checked.same) return 'same'
      const { record } = checked
      await options.fetch(record.root)
      options.signal?.throwIfAborted()
      const sealed = Buffer.concat(await collect(readFile(this.blocks, record.root), MAX_INDEX_BYTES))
      const remote = openIndex(keys.indexKey, sealed)
      if (BigInt(remote.seq) !== record.sequence) throw new WeftError('ERR_PRIVATE_TAMPERED', `the private index says sequence ${remote.seq}, its record ${record.sequence}`)
      const local = this.indexOf(name)
      const merged = mergeIndexes(local, remote)
      // the files this device lacks come before anything is written: the index never names what is not here
      const localCids = new Set(liveEntries(local).map(([, e]) => e.cid))
      for (const [path, entry] of liveEntries(merged)) {
        if (localCids.has(entry.cid)) continue
        await options.fetch(parseCid(entry.cid, `the private file ${JSON.stringify(path.slice(0, 200))}`))
        options.signal?.throwIfAborted()
      }
      // another record of the sequence held, with nothing new (another device's seal of the same merge, a replay): nothing to write or forward
      const held = this.heldByName(keys.indexName)
      if (held !== undefined && record.sequence === held.record.sequence && sameEntries(merged, local) && sameEntries(merged, remote)) return 'same'
      if (sameEntries(merged, remote)) {
        this.save(keys, remote, record)
        return 'applied'
      }
      merged.seq = Math.max(local.seq, remote.seq) + 1
      await this.commit(keys, merged, options)
      return 'applied'
    })
  }

  folderFiles (site: string, folder: string): FolderFiles {
    const name = parseSiteName(site).name
    const index = this.indexOf(name)
    const keys = this.keys(name)
    const files = liveEntries(index).filter(([, e]) => e.folder === folder).map(([path, e]) => ({
      path,
      cid: e.cid,
      size: e.size,
      mtime: e.mtime,
      key: new Uint8Array(openWithNonce(keys.folderKey(e.folder, e.generation), Buffer.from(e.wrapped, 'base64'), `the key of the private file ${JSON.stringify(path.slice(0, 200))}`))
    }))
    return { generation: Object.hasOwn(index.folders, folder) ? index.folders[folder].generation : 0, files }
  }

  async rotateFolder (site: string, folder: string, options: { signal?: AbortSignal } = {}): Promise<number> {
    const name = parseSiteName(site).name
    const keys = this.keys(name)
    return await this.serial(name, async () => {
      options.signal?.throwIfAborted()
      const index = structuredClone(this.indexOf(name))
      const generation = (Object.hasOwn(index.folders, folder) ? index.folders[folder].generation : 0) + 1
      const folderKey = keys.folderKey(folder, generation)
      for (const [path, e] of liveEntries(index)) {
        if (e.folder !== folder) continue
        const fileKey = openWithNonce(keys.folderKey(e.folder, e.generation), Buffer.from(e.wrapped, 'base64'), `the key of the private file ${JSON.stringify(path.slice(0, 200))}`)
        // a successor (new id, the old in its history), so another device's merge takes it over the old wrapping instead of both sides ping-ponging
        index.entries[path] = { ...e, ...this.successor(index, e), mtime: e.mtime, generation, wrapped: sealWithNonce(folderKey, fileKey).toString('base64') }
      }
      index.folders[folder] = { generation }
      index.seq += 1
      await this.commit(keys, index, options)
      return generation
    })
  }

  heldRoots (): CID[] {
    const roots: CID[] = [...this.pending.values()]
    // every index name's, a replaced master key's too: its data stays (sealed) should that key come back
    const names = (this.db.prepare('SELECT index_name FROM private_indexes').all() as Row[]).map(r => r.index_name as string)
    for (const name of names) {
      const held = this.heldByName(name)
      if (held === undefined) continue
      roots.push(held.record.root)
      for (const [, e] of liveEntries(held.index)) {
        try {
          roots.push(CID.parse(e.cid))
        } catch { /* checked when the index was opened */ }
      }
    }
    return roots
  }
}

/** The sealed index, refused past `limit` bytes (a forged DAG cannot make the node read without end). */
async function collect (source: AsyncIterable<Uint8Array>, limit: number): Promise<Uint8Array[]> {
  const chunks: Uint8Array[] = []
  let size = 0
  for await (const chunk of source) {
    size += chunk.byteLength
    if (size > limit) throw new WeftError('ERR_PRIVATE_TAMPERED', `the private index is over ${limit} bytes`)
    chunks.push(chunk)
  }
  return chunks
}

export function createPrivateStore (components: PrivateStoreComponents, init: Partial<PrivateStoreInit> = {}): PrivateStore {
  return new SealedPrivateStore(components, { ...PRIVATE_DEFAULTS, ...init })
}
