import { openSync, closeSync, fsyncSync, ftruncateSync, fstatSync, readdirSync, unlinkSync, read, fdatasync, constants } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { DatabaseSync, StatementSync } from 'node:sqlite'
import type { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { WeftError, isWeftError } from '../errors.ts'
import { transaction } from '../repo/db.ts'
import { multihashKey } from './links.ts'
import { IDENTITY_HASH, hashMatches, isHashSupported, verifyBlock } from './hashing.ts'
import { corruptError, storeWriteError } from './store-errors.ts'
import { ReadCache } from './read-cache.ts'
import { PackWriter, writeAll } from './pack-writer.ts'

export { storeWriteError } from './store-errors.ts'

const readAsync = promisify(read)
const fdatasyncAsync = promisify(fdatasync)

/** A pack stops taking new blocks once it is this large. */
const PACK_TARGET_SIZE = 256 * 1024 * 1024
/** Index (and fsync) written blocks after this many bytes or blocks. */
const FLUSH_BYTES = 64 * 1024 * 1024
const FLUSH_BLOCKS = 4096
/** A put waits for its own write once this many bytes are being written (one writev takes up to 8 MiB: more in flight only holds memory). */
const MAX_INFLIGHT_BYTES = 8 * 1024 * 1024
/** Recently read blocks kept in memory (a gateway serves the same pages again and again). */
const READ_CACHE_BYTES = 32 * 1024 * 1024

interface Location { pack: number, off: number, len: number }

interface Pending extends Location {
  mh: Uint8Array
  /** The bytes until the write lands, so a get in the meantime can answer. */
  bytes?: Uint8Array
  /** Settles when the write has landed or failed (never rejects: the failure is in `error`). */
  written: Promise<void>
  error?: unknown
  /** Undone after a failed write: never indexed, its bytes cut from the pack. */
  dropped?: boolean
}

export interface PackStoreOptions {
  sync: boolean
  storageMax: number
  /** Hash every block read from disk or the read cache against its CID (default true; benchmarks turn it off to measure it). */
  verifyReads?: boolean
}

export interface GetOptions {
  /** Trust the stored bytes without hashing them (overrides verifyReads; nothing uses it but benchmarks). */
  verify?: boolean
}

/** Where another thread writes a block's bytes (see PackStore.place). */
export interface Placement {
  fd: number
  off: number
  /** Called once the bytes are written, with the error if the write failed. */
  landed: (err?: unknown) => void
}

export interface PutOptions {
  /** The caller computed the CID from these very bytes a moment ago (the importer). */
  hashed?: boolean
}

export interface StoreStat {
  blocks: number
  bytes: number
  packs: number
  packBytes: number
  storageMax: number
}

export interface VerifyProblem { mh: Uint8Array, problem: 'hash mismatch' | 'truncated' | 'unsupported hash' }

const packName = (id: number): string => `${String(id).padStart(8, '0')}.pack`

/**
 * Blocks appended to pack files, indexed by multihash in SQLite. See repo/layout.ts for
 * the on-disk format and why a crash never exposes a partial block.
 */
export class PackStore {
  private readonly dir: string
  private readonly db: DatabaseSync
  private readonly options: PackStoreOptions
  private readonly fds = new Map<number, number>()
  private readonly pending = new Map<string, Pending>()
  private readonly readCache = new ReadCache(READ_CACHE_BYTES)
  private readonly writer = new PackWriter()
  private pendingBytes = 0
  private inflightBytes = 0
  /** The last write that failed and was undone (for the message of those who hear of it later). */
  private lastFailure: unknown
  /** Bumped by each undo: a flush() that began before one may have lost its caller's blocks. */
  private undoEpoch = 0
  /** An undo that no flush() has reported yet (it happened in an automatic flush). */
  private undoUnreported = false
  /** Set while a failed write is undone or compact() rewrites packs; puts wait for it before taking a place in a pack. */
  private putsHeld: Promise<void> | undefined
  private holders = 0
  private releasePuts: (() => void) | undefined
  /** Counts removals (gc, quarantine): whatever was built from stored blocks is stale once it moves. */
  deletions = 0
  private activePack = 0
  private activeSize = 0
  private usedBytes = 0
  private flushing: Promise<void> = Promise.resolve()
  private readonly stmt: {
    get: StatementSync
    insert: StatementSync
    del: StatementSync
    move: StatementSync
  }

  constructor (dir: string, db: DatabaseSync, options: PackStoreOptions) {
    this.dir = dir
    this.db = db
    this.options = options
    this.stmt = {
      get: db.prepare('SELECT pack, off, len FROM blocks WHERE mh = ?'),
      insert: db.prepare('INSERT OR IGNORE INTO blocks (mh, pack, off, len) VALUES (?, ?, ?, ?)'),
      del: db.prepare('DELETE FROM blocks WHERE mh = ?'),
      move: db.prepare('UPDATE blocks SET pack = ?, off = ? WHERE mh = ?')
    }
    this.recover()
  }

  /** Cuts unindexed tails (a write interrupted by a crash) and drops packs nothing points into. */
  private recover (): void {
    const ends = new Map<number, number>()
    for (const row of this.db.prepare('SELECT pack, MAX(off + len) AS end FROM blocks GROUP BY pack').all() as Array<{ pack: number, end: number }>) {
      ends.set(row.pack, row.end)
    }
    let highest = 0
    for (const name of readdirSync(this.dir)) {
      const m = /^(\d{8})\.pack$/.exec(name)
      if (m === null) continue
      const id = Number(m[1])
      const end = ends.get(id)
      if (end === undefined) {
        unlinkSync(join(this.dir, name))
        continue
      }
      const fd = this.fd(id)
      if (fstatSync(fd).size > end) ftruncateSync(fd, end)
      highest = Math.max(highest, id)
    }
    for (const [id] of ends) {
      if (!this.fds.has(id)) throw new WeftError('ERR_REPO_CORRUPT', `pack ${packName(id)} is missing but ${this.countIn(id)} blocks point into it`)
    }
    this.usedBytes = this.indexedBytes()
    if (highest === 0) {
      this.rollPack(1)
    } else {
      this.activePack = highest
      this.activeSize = fstatSync(this.fd(highest)).size
      if (this.activeSize >= PACK_TARGET_SIZE) this.rollPack(highest + 1)
    }
  }

  private countIn (pack: number): number {
    return Number((this.db.prepare('SELECT COUNT(*) AS n FROM blocks WHERE pack = ?').get(pack) as { n: number }).n)
  }

  private fd (pack: number): number {
    let fd = this.fds.get(pack)
    if (fd === undefined) {
      // Not O_APPEND: Linux ignores the position of a pwrite on an append-mode descriptor.
      fd = openSync(join(this.dir, packName(pack)), constants.O_RDWR | constants.O_CREAT, 0o644)
      this.fds.set(pack, fd)
    }
    return fd
  }

  private rollPack (id: number): void {
    this.activePack = id
    this.activeSize = 0
    this.fd(id)
  }

  private locate (mh: Uint8Array): Location | undefined {
    const key = multihashKey(mh)
    const p = this.pending.get(key)
    if (p !== undefined) return p
    return this.stmt.get.get(mh) as Location | undefined
  }

  has (cid: CID): boolean {
    if (cid.multihash.code === IDENTITY_HASH) return true
    if (this.readCache.has(multihashKey(cid.multihash.bytes))) return true
    return this.locate(cid.multihash.bytes) !== undefined
  }

  async put (cid: CID, bytes: Uint8Array, options: PutOptions = {}): Promise<void> {
    if (options.hashed !== true) verifyBlock(cid, bytes)
    if (cid.multihash.code === IDENTITY_HASH) return
    while (this.putsHeld !== undefined) await this.putsHeld
    // Write-behind: the bytes stay readable from memory until the write lands; the caller
    // waits only when too much is in flight.
    const entry = this.admit(cid, bytes.byteLength, bytes, async (fd, off) => { await this.writer.write(fd, off, bytes) })
    if (entry === undefined) return
    if (this.inflightBytes > MAX_INFLIGHT_BYTES) await entry.written
    if (this.pendingBytes > 2 * FLUSH_BYTES) await this.flushing
    if (entry.error !== undefined || entry.dropped === true) {
      // This block's write failed, or was undone with one that did: undo now (cutting the
      // tail at once) unless that already happened, then tell the caller. (The next flush()
      // reports it too: other callers' blocks went with it.)
      await this.flushBatch().catch(() => {})
      throw storeWriteError(entry.error ?? this.lastFailure, this.dir)
    }
  }

  /**
   * A place in the active pack for a block that another thread writes (the hashing thread
   * of an import: the bytes never come here). The caller hashed the bytes to `cid` and
   * calls `landed` once they are written (with the error if the write failed); until
   * then a read waits, and the block is indexed (after the fsync) like any put. Undefined
   * when the store holds the block already or it is on its way.
   */
  async place (cid: CID, len: number): Promise<Placement | undefined> {
    if (cid.multihash.code === IDENTITY_HASH) return undefined
    while (this.putsHeld !== undefined) await this.putsHeld
    // Waited for before the entry exists: a flush that took it in would wait for its write.
    if (this.pendingBytes > 2 * FLUSH_BYTES) await this.flushing
    while (this.putsHeld !== undefined) await this.putsHeld
    let placement: Placement | undefined
    this.admit(cid, len, undefined, async (fd, off) => {
      const landed = Promise.withResolvers<void>()
      placement = { fd, off, landed: err => { if (err === undefined) landed.resolve(); else landed.reject(err) } }
      await landed.promise
    })
    return placement
  }

  /**
   * Takes a block's place at the end of the active pack and starts its write; undefined
   * when the block is held or pending already. Flushes at FLUSH_BYTES / FLUSH_BLOCKS.
   */
  private admit (cid: CID, len: number, bytes: Uint8Array | undefined, write: (fd: number, off: number) => Promise<void>): Pending | undefined {
    const mh = cid.multihash.bytes
    const key = multihashKey(mh)
    if (this.pending.has(key) || this.stmt.get.get(mh) !== undefined) return undefined
    if (this.usedBytes + len > this.options.storageMax) {
      throw new WeftError('ERR_QUOTA_EXCEEDED', `storing ${len} more bytes would pass datastore.storageMax (${this.options.storageMax} bytes; ${this.usedBytes} used)`)
    }
    if (this.activeSize > 0 && this.activeSize + len > PACK_TARGET_SIZE) {
      try {
        this.rollPack(this.activePack + 1)
      } catch (err) {
        throw storeWriteError(err, this.dir)
      }
    }
    const entry: Pending = { mh, pack: this.activePack, off: this.activeSize, len, bytes, written: Promise.resolve() }
    this.activeSize += len
    this.usedBytes += len
    this.pendingBytes += len
    this.inflightBytes += len
    entry.written = write(this.fd(entry.pack), entry.off).then(() => {
      entry.bytes = undefined
    }, (err: unknown) => {
      entry.error = err
    }).finally(() => {
      this.inflightBytes -= entry.len
    })
    this.pending.set(key, entry)
    if (this.pendingBytes >= FLUSH_BYTES || this.pending.size >= FLUSH_BLOCKS) {
      this.flushBatch().catch(() => { /* undone; the next flush() reports it */ })
    }
    return entry
  }

  /**
   * The block's bytes, hashed against its CID first (unless verifyReads is off). A block
   * that no longer matches, or whose bytes the pack no longer holds, is quarantined (out
   * of the index and the read cache; compact() reclaims its bytes) and the read fails
   * with ERR_BLOCK_CORRUPT. Bytes still waiting for their write were hashed by put().
   */
  async get (cid: CID, options: GetOptions = {}): Promise<Uint8Array> {
    if (cid.multihash.code === IDENTITY_HASH) return cid.multihash.digest
    const key = multihashKey(cid.multihash.bytes)
    const pending = this.pending.get(key)
    if (pending?.bytes !== undefined) return pending.bytes
    // Placed for another thread's write: readable once it lands.
    if (pending !== undefined) await pending.written
    if (pending?.error !== undefined) throw new WeftError('ERR_BLOCK_NOT_FOUND', `block ${cid} is not in the local store (its write failed)`)
    const verify = options.verify ?? this.options.verifyReads ?? true
    const cached = this.readCache.get(key)
    if (cached !== undefined) {
      if (verify && !hashMatches(cid.multihash.code, cid.multihash.digest, cached)) {
        await this.quarantine(cid.multihash.bytes)
        throw corruptError(cid, 'its copy in memory does not match its hash')
      }
      return cached
    }
    const loc = pending ?? this.stmt.get.get(cid.multihash.bytes) as Location | undefined
    if (loc === undefined) throw new WeftError('ERR_BLOCK_NOT_FOUND', `block ${cid} is not in the local store`)
    let bytes: Uint8Array
    try {
      bytes = await this.readAt(loc)
    } catch (err) {
      if (!isWeftError(err, 'ERR_REPO_CORRUPT')) throw err
      await this.quarantine(cid.multihash.bytes)
      throw corruptError(cid, `its pack ${packName(loc.pack)} ends before the block does`)
    }
    if (verify && !hashMatches(cid.multihash.code, cid.multihash.digest, bytes)) {
      await this.quarantine(cid.multihash.bytes)
      throw corruptError(cid, `its bytes in ${packName(loc.pack)} do not match its hash`)
    }
    this.readCache.remember(key, bytes)
    return bytes
  }

  /**
   * Takes a damaged block out of the store: out of the index (in a transaction), out of the
   * read cache, out of usedBytes; compact() reclaims its bytes. has() says false after it.
   */
  async quarantine (mh: Uint8Array): Promise<boolean> {
    // A block written but not yet indexed is indexed first, so one transaction removes it either way.
    if (this.pending.has(multihashKey(mh))) await this.flush()
    this.readCache.forget(multihashKey(mh))
    const { blocks } = this.removeIndexed([mh])
    return blocks > 0
  }

  private async readAt (loc: Location): Promise<Uint8Array> {
    const buf = Buffer.allocUnsafe(loc.len)
    let done = 0
    while (done < loc.len) {
      const { bytesRead: n } = await readAsync(this.fd(loc.pack), buf, done, loc.len - done, loc.off + done)
      if (n === 0) break
      done += n
    }
    if (done < loc.len) throw new WeftError('ERR_REPO_CORRUPT', `pack ${packName(loc.pack)} ends before a block it indexes`)
    return buf
  }

  /**
   * Makes every written block durable (per datastore.sync) and visible in the index. When a
   * write, the fsync or the index commit fails (a full disk), every block not yet indexed
   * is undone at once (see undoPending) and the failure is thrown: ERR_DISK_FULL for
   * ENOSPC/EDQUOT. The store takes new work straight away.
   */
  async flush (): Promise<void> {
    const epoch = this.undoEpoch
    try {
      await this.flushBatch()
    } catch (err) {
      this.undoUnreported = false
      throw storeWriteError(err, this.dir)
    }
    if (this.undoEpoch !== epoch || this.undoUnreported) {
      // Blocks this caller may have put were undone by another flush (an automatic one).
      this.undoUnreported = false
      throw storeWriteError(this.lastFailure, this.dir)
    }
  }

  /** Indexes what is pending, or undoes it all if any of it failed; queued behind the flush before. */
  private async flushBatch (): Promise<void> {
    const run = this.flushing.then(async () => {
      const batch = [...this.pending.entries()]
      if (batch.length === 0) return
      await Promise.all(batch.map(([, e]) => e.written))
      try {
        const failed = batch.find(([, e]) => e.error !== undefined)
        if (failed !== undefined) throw failed[1].error
        if (this.options.sync) {
          // In the thread pool, so hashing and writing go on meanwhile.
          await Promise.all([...new Set(batch.map(([, e]) => e.pack))].map(async pack => { await fdatasyncAsync(this.fd(pack)) }))
        }
        transaction(this.db, () => {
          for (const [, e] of batch) this.stmt.insert.run(e.mh, e.pack, e.off, e.len)
        })
      } catch (err) {
        this.lastFailure = err
        await this.undoPending()
        throw err
      }
      for (const [key, e] of batch) {
        if (this.pending.get(key) === e) {
          this.pending.delete(key)
          this.pendingBytes -= e.len
        }
      }
    })
    this.flushing = run.catch(() => {})
    await run
  }

  /**
   * After a failed write: waits for every write still under way, drops every block that
   * was never indexed (from pending, the read cache and usedBytes) and cuts each pack back
   * to the end of what the index holds, so the failed write's tail frees its space now
   * instead of at the next open. Puts wait meanwhile.
   */
  private async undoPending (): Promise<void> {
    await this.holdingPuts(async () => {
      const packs = new Set<number>([this.activePack])
      // Readers may have built answers from these bytes while they waited in memory.
      if (this.pending.size > 0) this.deletions++
      while (this.pending.size > 0) {
        const entries = [...this.pending.values()]
        await Promise.all(entries.map(e => e.written))
        for (const e of entries) {
          e.dropped = true
          e.bytes = undefined
          packs.add(e.pack)
          const key = multihashKey(e.mh)
          if (this.pending.get(key) === e) this.pending.delete(key)
          this.readCache.forget(key)
        }
      }
      this.pendingBytes = 0
      for (const pack of packs) this.cutToIndexedEnd(pack)
      this.usedBytes = this.indexedBytes()
      this.undoEpoch++
      this.undoUnreported = true
    })
  }

  /** Runs fn while puts wait (nested holds are fine: puts resume when the last ends). */
  private async holdingPuts<T> (fn: () => Promise<T>): Promise<T> {
    if (this.holders++ === 0) {
      const held = Promise.withResolvers<void>()
      this.putsHeld = held.promise
      this.releasePuts = held.resolve
    }
    try {
      return await fn()
    } finally {
      if (--this.holders === 0) {
        this.putsHeld = undefined
        this.releasePuts?.()
      }
    }
  }

  /** Cuts a pack back to the end of the blocks the index holds in it (bytes past that were never indexed). */
  private cutToIndexedEnd (pack: number): void {
    const end = this.indexedEnd(pack)
    if (fstatSync(this.fd(pack)).size > end) ftruncateSync(this.fd(pack), end)
    if (pack === this.activePack) this.activeSize = end
  }

  private indexedEnd (pack: number): number {
    return Number((this.db.prepare('SELECT COALESCE(MAX(off + len), 0) AS n FROM blocks WHERE pack = ?').get(pack) as { n: number }).n)
  }

  private indexedBytes (): number {
    return Number((this.db.prepare('SELECT COALESCE(SUM(len), 0) AS n FROM blocks').get() as { n: number }).n)
  }

  /** Drops blocks from the index; their bytes go at the next compact(). */
  async deleteMany (mhs: Iterable<Uint8Array>): Promise<{ blocks: number, bytes: number }> {
    await this.flush()
    return this.removeIndexed(mhs)
  }

  private removeIndexed (given: Iterable<Uint8Array>): { blocks: number, bytes: number } {
    const mhs = [...given]
    let blocks = 0
    let bytes = 0
    try {
      transaction(this.db, () => {
        for (const mh of mhs) {
          const loc = this.stmt.get.get(mh) as Location | undefined
          if (loc === undefined) continue
          this.stmt.del.run(mh)
          blocks++
          bytes += loc.len
        }
      })
    } catch (err) {
      throw storeWriteError(err, this.dir)
    }
    // Only once the removal is committed: a failed transaction leaves every block readable.
    for (const mh of mhs) this.readCache.forget(multihashKey(mh))
    this.usedBytes -= bytes
    if (blocks > 0) this.deletions++
    return { blocks, bytes }
  }

  /**
   * Rewrites every pack that holds dead bytes, then deletes the old ones. Puts wait
   * meanwhile, so no put lands in a pack being rewritten and a failed copy (a full disk)
   * can be cut back; every block stays where the index says until its move commits.
   */
  async compact (): Promise<{ packsRewritten: number, bytesReclaimed: number }> {
    return await this.holdingPuts(async () => {
      await this.flush()
      const live = new Map<number, number>()
      for (const row of this.db.prepare('SELECT pack, SUM(len) AS n FROM blocks GROUP BY pack').all() as Array<{ pack: number, n: number }>) {
        live.set(row.pack, row.n)
      }
      const victims: number[] = []
      let reclaimed = 0
      for (const [pack, fd] of this.fds) {
        const size = fstatSync(fd).size
        const liveBytes = live.get(pack) ?? 0
        if (size > liveBytes && !(pack === this.activePack && size === 0)) {
          victims.push(pack)
          reclaimed += size - liveBytes
        }
      }
      if (victims.length === 0) return { packsRewritten: 0, bytesReclaimed: 0 }
      const written = new Set<number>()
      try {
        // Copy into a fresh pack so no victim is written while it is read.
        this.rollPack(Math.max(...this.fds.keys()) + 1)
        written.add(this.activePack)
        const select = this.db.prepare('SELECT mh, off, len FROM blocks WHERE pack = ? ORDER BY off')
        for (const pack of victims) {
          const moves: Array<{ mh: Uint8Array, pack: number, off: number }> = []
          for (const row of select.all(pack) as Array<{ mh: Uint8Array, off: number, len: number }>) {
            const bytes = await this.readAt({ pack, off: row.off, len: row.len })
            if (this.activeSize > 0 && this.activeSize + row.len > PACK_TARGET_SIZE) {
              if (this.options.sync) fsyncSync(this.fd(this.activePack))
              this.rollPack(this.activePack + 1)
              written.add(this.activePack)
            }
            await writeAll(this.fd(this.activePack), bytes, this.activeSize)
            moves.push({ mh: row.mh, pack: this.activePack, off: this.activeSize })
            this.activeSize += row.len
          }
          if (this.options.sync) fsyncSync(this.fd(this.activePack))
          transaction(this.db, () => {
            for (const m of moves) this.stmt.move.run(m.pack, m.off, m.mh)
          })
          closeSync(this.fd(pack))
          this.fds.delete(pack)
          unlinkSync(join(this.dir, packName(pack)))
        }
      } catch (err) {
        // The copies not yet indexed are cut away; every block still lives where the index says.
        for (const pack of written) this.cutToIndexedEnd(pack)
        throw storeWriteError(err, this.dir)
      }
      return { packsRewritten: victims.length, bytesReclaimed: reclaimed }
    })
  }

  /** Re-hashes every indexed block. */
  async * verify (): AsyncGenerator<VerifyProblem | { ok: number }> {
    await this.flush()
    let ok = 0
    const rows = this.db.prepare('SELECT mh, pack, off, len FROM blocks ORDER BY pack, off').all() as unknown as Array<Location & { mh: Uint8Array }>
    for (const row of rows) {
      let bytes: Uint8Array
      try {
        bytes = await this.readAt(row)
      } catch {
        yield { mh: row.mh, problem: 'truncated' }
        continue
      }
      const { code, digest } = Digest.decode(row.mh)
      if (!isHashSupported(code)) {
        yield { mh: row.mh, problem: 'unsupported hash' }
      } else if (!hashMatches(code, digest, bytes)) {
        yield { mh: row.mh, problem: 'hash mismatch' }
      } else {
        ok++
      }
    }
    yield { ok }
  }

  stat (): StoreStat {
    const row = this.db.prepare('SELECT COUNT(*) AS blocks, COALESCE(SUM(len), 0) AS bytes FROM blocks').get() as { blocks: number, bytes: number }
    let packBytes = 0
    for (const fd of this.fds.values()) packBytes += fstatSync(fd).size
    return {
      blocks: Number(row.blocks) + this.pending.size,
      bytes: this.usedBytes,
      packs: this.fds.size,
      packBytes,
      storageMax: this.options.storageMax
    }
  }

  /** Every indexed multihash, for garbage collection. */
  * allMultihashes (): Generator<Uint8Array> {
    for (const row of this.db.prepare('SELECT mh FROM blocks').iterate() as Iterable<{ mh: Uint8Array }>) yield row.mh
  }

  async close (): Promise<void> {
    await this.flush()
    for (const fd of this.fds.values()) closeSync(fd)
    this.fds.clear()
  }
}
