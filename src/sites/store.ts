/** The sites tables in weft.db (layout in src/repo/layout.ts). Sequences are stored as decimal text: SQLite's integers stop at 2^63. */
import type { DatabaseSync } from 'node:sqlite'
import { transaction } from '../repo/index.ts'
import { decode, type RejectReason, type SiteRecord } from './records.ts'
import type { RecordBook } from './gate.ts'

export interface OwnSite { label: string, name: string, created: number, published: boolean, imported: boolean, floor: bigint }
export interface Follow { name: string, keep: number, created: number }
/**
 * `fetched`: when a fetch of this version last finished, for display only; whether the
 * version is held is walked in the store (held.ts), since gc can take blocks after it.
 * `pinned`: a follow keeps it (gc keeps its DAG).
 */
export interface SiteVersion { sequence: bigint, value: string, firstSeen: number, fetched?: number, pinned: boolean }
export interface StoredRecord { record: SiteRecord, fetched: number, source: string }
export interface Equivocation { sequence: bigint, valueA: string, valueB: string, seen: number }
export interface Rejection { reason: RejectReason, count: number, lastPeer?: string, lastSeen: number }

type Row = Record<string, any>

const toVersion = (r: Row): SiteVersion => ({ sequence: BigInt(r.sequence), value: r.value, firstSeen: r.first_seen, fetched: r.fetched ?? undefined, pinned: r.pinned === 1 })

export class SiteStore {
  private readonly db: DatabaseSync

  constructor (db: DatabaseSync) {
    this.db = db
  }

  ownSites (): OwnSite[] {
    return (this.db.prepare('SELECT label, name, created, published, imported, floor FROM sites ORDER BY label').all() as Row[])
      .map(r => ({ label: r.label, name: r.name, created: r.created, published: r.published === 1, imported: r.imported === 1, floor: BigInt(r.floor) }))
  }

  ownSite (labelOrName: string): OwnSite | undefined {
    return this.ownSites().find(s => s.label === labelOrName || s.name === labelOrName)
  }

  addOwnSite (label: string, name: string, imported?: { floor: bigint }): void {
    this.db.prepare('INSERT INTO sites (label, name, created, published, imported, floor) VALUES (?, ?, ?, 1, ?, ?)')
      .run(label, name, Date.now(), imported === undefined ? 0 : 1, (imported?.floor ?? 0n).toString())
  }

  removeOwnSite (label: string): void {
    this.db.prepare('DELETE FROM sites WHERE label = ?').run(label)
  }

  setPublished (name: string, published: boolean): void {
    this.db.prepare('UPDATE sites SET published = ? WHERE name = ?').run(published ? 1 : 0, name)
  }

  record (name: string): StoredRecord | undefined {
    const r = this.db.prepare('SELECT record, fetched, source FROM site_records WHERE name = ?').get(name) as Row | undefined
    return r === undefined ? undefined : { record: decode(new Uint8Array(r.record)), fetched: r.fetched, source: r.source }
  }

  /** Stores the record as the name's best, and its version if new; returns whether the version is new. */
  saveRecord (name: string, record: SiteRecord, source: string): boolean {
    return transaction(this.db, () => {
      this.db.prepare(`INSERT OR REPLACE INTO site_records (name, record, sequence, value, validity, ttl, fetched, source)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?)`).run(name, record.bytes, record.sequence.toString(), record.value, record.validity, record.ttl, Date.now(), source)
      const inserted = this.db.prepare('INSERT OR IGNORE INTO site_versions (name, sequence, value, first_seen) VALUES (?, ?, ?, ?)')
        .run(name, record.sequence.toString(), record.value, Date.now())
      return inserted.changes > 0
    })
  }

  /** Marks the cached record fresh again (a resolve found nothing newer). */
  touchRecord (name: string): void {
    this.db.prepare('UPDATE site_records SET fetched = ? WHERE name = ?').run(Date.now(), name)
  }

  versions (name: string): SiteVersion[] {
    return (this.db.prepare('SELECT sequence, value, first_seen, fetched, pinned FROM site_versions WHERE name = ? ORDER BY length(sequence) DESC, sequence DESC').all(name) as Row[])
      .map(toVersion)
  }

  version (name: string, sequence: bigint): SiteVersion | undefined {
    const row = this.db.prepare('SELECT sequence, value, first_seen, fetched, pinned FROM site_versions WHERE name = ? AND sequence = ?').get(name, sequence.toString()) as Row | undefined
    return row === undefined ? undefined : toVersion(row)
  }

  markFetched (name: string, sequence: bigint, pinned: boolean): void {
    this.db.prepare('UPDATE site_versions SET fetched = ?, pinned = ? WHERE name = ? AND sequence = ?').run(Date.now(), pinned ? 1 : 0, name, sequence.toString())
  }

  markUnpinned (name: string, sequence: bigint): void {
    this.db.prepare('UPDATE site_versions SET pinned = 0 WHERE name = ? AND sequence = ?').run(name, sequence.toString())
  }

  /** Releases every version of `name` to gc (unfollow). */
  releaseAll (name: string): void {
    this.db.prepare('UPDATE site_versions SET pinned = 0 WHERE name = ?').run(name)
  }

  heldValues (): string[] {
    return (this.db.prepare('SELECT DISTINCT value FROM site_versions WHERE pinned = 1').all() as Row[]).map(r => r.value)
  }

  follows (): Follow[] {
    return this.db.prepare('SELECT name, keep, created FROM follows ORDER BY created').all() as unknown as Follow[]
  }

  follow (name: string): Follow | undefined {
    return this.db.prepare('SELECT name, keep, created FROM follows WHERE name = ?').get(name) as Follow | undefined
  }

  addFollow (name: string, keep: number): void {
    this.db.prepare('INSERT INTO follows (name, keep, created) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET keep = excluded.keep').run(name, keep, Date.now())
  }

  removeFollow (name: string): boolean {
    return this.db.prepare('DELETE FROM follows WHERE name = ?').run(name).changes > 0
  }

  addEquivocation (name: string, sequence: bigint, valueA: string, other: SiteRecord): void {
    this.db.prepare('INSERT OR IGNORE INTO site_equivocations (name, sequence, value_a, value_b, record_b, seen) VALUES (?, ?, ?, ?, ?, ?)')
      
      .run(name, sequence.toString(), valueA, other.value, other.bytes, Date.now())
  }

  equivocations (name: string): Equivocation[] {
    return (this.db.prepare('SELECT sequence, value_a, value_b, seen FROM site_equivocations WHERE name = ? ORDER BY length(sequence), sequence').all(name) as Row[])
      .map(r => ({ sequence: BigInt(r.sequence), valueA: r.value_a, valueB: r.value_b, seen: r.seen }))
  }

  countRejection (name: string, reason: RejectReason, peer: string | undefined): void {
    this.db.prepare(`INSERT INTO site_rejections (name, reason, count, last_peer, last_seen) VALUES (?, ?, 1, ?, ?)
      ON CONFLICT (name, reason) DO UPDATE SET count = count + 1, last_peer = excluded.last_peer, last_seen = excluded.last_seen`)
      .run(name, reason, peer ?? null, Date.now())
  }

  rejections (name: string): Rejection[] {
    return (this.db.prepare('SELECT reason, count, last_peer, last_seen FROM site_rejections WHERE name = ? ORDER BY reason').all(name) as Row[])
      .map(r => ({ reason: r.reason, count: r.count, lastPeer: r.last_peer ?? undefined, lastSeen: r.last_seen }))
  }

  /** Notes that `peer` pushed or served the site now; true when it never had before. */
  sawPeer (name: string, peer: string): boolean {
    const known = this.db.prepare('SELECT 1 FROM site_peers WHERE name = ? AND peer = ?').get(name, peer) !== undefined
    this.db.prepare('INSERT INTO site_peers (name, peer, last_seen) VALUES (?, ?, ?) ON CONFLICT (name, peer) DO UPDATE SET last_seen = excluded.last_seen')
      .run(name, peer, Date.now())
    return !known
  }

  /** The sites a peer was seen pushing or serving. */
  sitesSeenWith (peer: string): string[] {
    return (this.db.prepare('SELECT name FROM site_peers WHERE peer = ?').all(peer) as Row[]).map(r => r.name)
  }

  peers (name: string): Array<{ peer: string, lastSeen: number }> {
    return (this.db.prepare('SELECT peer, last_seen FROM site_peers WHERE name = ? ORDER BY last_seen DESC LIMIT 50').all(name) as Row[])
      .map(r => ({ peer: r.peer, lastSeen: r.last_seen }))
  }
}

/** The site store as the record gate's book: a site's records are keyed by its name. */
export function siteRecordBook (store: SiteStore): RecordBook {
  return {
    current: name => store.record(name)?.record,
    save: (name, record, source) => store.saveRecord(name, record, source),
    touch: name => { store.touchRecord(name) },
    equivocation: (name, sequence, heldValue, other) => { store.addEquivocation(name, sequence, heldValue, other) },
    rejection: (name, reason, peer) => { store.countRejection(name, reason, peer) }
  }
}
