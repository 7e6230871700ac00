/**
 * The users tables in weft.db (layout in src/repo/layout.ts). A record's gate key is
 * `<site>/<user>`; sequences are decimal text, as for sites (SQLite integers stop at 2^63).
 *
 * A contribution row is what the current record's folder held when it was last checked:
 * `state` is `accepted` (in the rules, folder held whole: served, in the site's database),
 * `refused` (outside the rules or banned; `reason` says which), or `pending` (its folder is
 * not in the store yet).
 */
import type { DatabaseSync } from 'node:sqlite'
import { transaction } from '../repo/index.ts'
import { decode, type RejectReason, type SiteRecord } from '../sites/index.ts'
import type { Contribution, UsersInfo } from './index.ts'

export interface ContributionFile { path: string, size: number, cid: string }
export type ContributionState = 'accepted' | 'refused' | 'pending'
export interface ContributionRow {
  site: string
  user: string
  sequence: bigint
  root: string
  files: ContributionFile[]
  state: ContributionState
  reason?: string
  updated: number
}

type Row = Record<string, any>

export function gateKey (site: string, user: string): string {
  return `${site}/${user}`
}

function splitKey (key: string): [string, string] {
  const i = key.indexOf('/')
  return [key.slice(0, i), key.slice(i + 1)]
}

const toContribution = (r: Row): ContributionRow => ({
  site: r.site,
  user: r.user,
  sequence: BigInt(r.sequence),
  root: r.root,
  files: JSON.parse(r.files),
  state: r.state,
  reason: r.reason ?? undefined,
  updated: r.updated
})

/** A held record seen again is noted at most this often. */
const TOUCH_AFTER_MS = 60_000

/** A row as the Users interface gives it. */
export function contributionOf (row: ContributionRow): Contribution {
  return { site: row.site, user: row.user, sequence: row.sequence, root: row.root, files: row.files, updated: row.updated }
}

export class UserStore {
  private readonly db: DatabaseSync

  constructor (db: DatabaseSync) {
    this.db = db
  }

  // ---- the record book the gate keeps its records in ----

  current (key: string): SiteRecord | undefined {
    const [site, user] = splitKey(key)
    const r = this.db.prepare('SELECT record FROM user_records WHERE site = ? AND user = ?').get(site, user) as Row | undefined
    return r === undefined ? undefined : decode(new Uint8Array(r.record))
  }

  save (key: string, record: SiteRecord, source: string): boolean {
    const [site, user] = splitKey(key)
    const held = this.db.prepare('SELECT sequence FROM user_records WHERE site = ? AND user = ?').get(site, user) as Row | undefined
    const now = Date.now()
    this.db.prepare(`INSERT INTO user_records (site, user, record, sequence, value, validity, ttl, fetched, source, first_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (site, user) DO UPDATE SET record = excluded.record, sequence = excluded.sequence, value = excluded.value, validity = excluded.validity,
        ttl = excluded.ttl, fetched = excluded.fetched, source = excluded.source,
        first_seen = CASE WHEN user_records.sequence = excluded.sequence THEN user_records.first_seen ELSE excluded.first_seen END`)
      .run(site, user, record.bytes, record.sequence.toString(), record.value, record.validity, record.ttl, now, source, now)
    return held === undefined || held.sequence !== record.sequence.toString()
  }

  touch (key: string): void {
    const [site, user] = splitKey(key)
    // a catch-up round hands over every held record again: a write per record per round is a write for nothing
    const now = Date.now()
    this.db.prepare('UPDATE user_records SET fetched = ? WHERE site = ? AND user = ? AND fetched < ?').run(now, site, user, now - TOUCH_AFTER_MS)
  }

  equivocation (key: string, sequence: bigint, heldValue: string, other: SiteRecord): void {
    const [site, user] = splitKey(key)
    this.db.prepare('INSERT OR IGNORE INTO user_equivocations (site, user, sequence, value_a, value_b, record_b, seen) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(site, user, sequence.toString(), heldValue, other.value, other.bytes, Date.now())
  }

  rejection (key: string, reason: RejectReason, peer: string | undefined): void {
    const [site] = splitKey(key)
    this.db.prepare(`INSERT INTO user_rejections (site, reason, count, last_peer, last_seen) VALUES (?, ?, 1, ?, ?)
      ON CONFLICT (site, reason) DO UPDATE SET count = count + 1, last_peer = excluded.last_peer, last_seen = excluded.last_seen`)
      .run(site, reason, peer ?? null, Date.now())
  }

  // ---- records and contributions ----

  /** The records of a site's accepted contributions, newest first, a page at a time (for a peer catching up). */
  acceptedRecords (site: string, offset: number, limit: number): Uint8Array[] {
    if (limit <= 0) return []
    return (this.db.prepare(`SELECT r.record FROM user_records r JOIN contributions c ON c.site = r.site AND c.user = r.user AND c.sequence = r.sequence
      WHERE r.site = ? AND c.state = 'accepted' ORDER BY r.first_seen DESC, r.user LIMIT ? OFFSET ?`).all(site, limit, offset) as Row[])
      .map(r => new Uint8Array(r.record))
  }

  /**
   * Keeps at most `keep` contributions of a site that are not accepted (refused, or pending
   * a folder no peer had), dropping the oldest with their records, never `except`'s (one's own):
   * a peer handing over junk from fresh keys cannot grow the home without bound.
   */
  evictUnaccepted (site: string, keep: number, except: string): void {
    const old = this.db.prepare(`SELECT user FROM contributions WHERE site = ? AND state != 'accepted' AND user != ?
      ORDER BY updated DESC LIMIT -1 OFFSET ?`).all(site, except, keep) as Row[]
    if (old.length === 0) return
    transaction(this.db, () => {
      for (const { user } of old) {
        this.db.prepare('DELETE FROM contributions WHERE site = ? AND user = ?').run(site, user)
        this.db.prepare('DELETE FROM user_records WHERE site = ? AND user = ?').run(site, user)
      }
    })
  }

  recordOf (site: string, user: string): { record: SiteRecord, firstSeen: number } | undefined {
    const r = this.db.prepare('SELECT record, first_seen FROM user_records WHERE site = ? AND user = ?').get(site, user) as Row | undefined
    return r === undefined ? undefined : { record: decode(new Uint8Array(r.record)), firstSeen: r.first_seen }
  }

  /** Users with a record held on a site. */
  users (site: string): string[] {
    return (this.db.prepare('SELECT user FROM user_records WHERE site = ?').all(site) as Row[]).map(r => r.user)
  }

  /** Sites with any user record held. */
  sites (): string[] {
    return (this.db.prepare('SELECT DISTINCT site FROM user_records').all() as Row[]).map(r => r.site)
  }

  setContribution (row: ContributionRow): void {
    this.db.prepare(`INSERT OR REPLACE INTO contributions (site, user, sequence, root, files, state, reason, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
      .run(row.site, row.user, row.sequence.toString(), row.root, JSON.stringify(row.files), row.state, row.reason ?? null, row.updated)
  }

  contribution (site: string, user: string): ContributionRow | undefined {
    const r = this.db.prepare('SELECT * FROM contributions WHERE site = ? AND user = ?').get(site, user) as Row | undefined
    return r === undefined ? undefined : toContribution(r)
  }

  contributions (site: string, state?: ContributionState): ContributionRow[] {
    const rows = state === undefined
      ? this.db.prepare('SELECT * FROM contributions WHERE site = ? ORDER BY updated DESC').all(site)
      : this.db.prepare('SELECT * FROM contributions WHERE site = ? AND state = ? ORDER BY updated DESC').all(site, state)
    return (rows as Row[]).map(toContribution)
  }

  /** Folder roots gc must keep: every accepted or pending contribution's (a pending one is being fetched). */
  heldRoots (): Array<{ site: string, root: string }> {
    return (this.db.prepare("SELECT site, root FROM contributions WHERE state != 'refused'").all() as Row[]).map(r => ({ site: r.site, root: r.root }))
  }

  /** Drops a site's user records and contributions (a site no longer followed). */
  forgetSite (site: string): void {
    transaction(this.db, () => {
      this.db.prepare('DELETE FROM user_records WHERE site = ?').run(site)
      this.db.prepare('DELETE FROM contributions WHERE site = ?').run(site)
    })
  }

  rejections (site: string): Array<{ reason: string, count: number, lastPeer?: string }> {
    return (this.db.prepare('SELECT reason, count, last_peer FROM user_rejections WHERE site = ? ORDER BY reason').all(site) as Row[])
      .map(r => ({ reason: r.reason, count: r.count, lastPeer: r.last_peer ?? undefined }))
  }

  equivocations (site: string): Array<{ user: string, sequence: bigint }> {
    return (this.db.prepare('SELECT user, sequence FROM user_equivocations WHERE site = ?').all(site) as Row[])
      .map(r => ({ user: r.user, sequence: BigInt(r.sequence) }))
  }

  allowed (site: string): boolean {
    return this.db.prepare('SELECT 1 FROM user_consent WHERE site = ?').get(site) !== undefined
  }

  allow (site: string, allowed: boolean): void {
    if (allowed) this.db.prepare('INSERT OR REPLACE INTO user_consent (site, changed) VALUES (?, ?)').run(site, Date.now())
    else this.db.prepare('DELETE FROM user_consent WHERE site = ?').run(site)
  }

  /** Every contribution known on a site with its state, and the records refused (`weft user list`), under `config` (the rules last read). */
  info (site: string, config: { rules?: unknown, problem?: string } | undefined): UsersInfo {
    return {
      site,
      takesContributions: config?.rules !== undefined,
      problem: config?.problem,
      contributions: this.contributions(site).map(r => ({
        user: r.user, sequence: r.sequence, root: r.root, state: r.state, reason: r.reason, files: r.files.length, bytes: r.files.reduce((n, f) => n + f.size, 0)
      })),
      rejections: this.rejections(site),
      equivocations: this.equivocations(site)
    }
  }

  allowedSites (): string[] {
    return (this.db.prepare('SELECT site FROM user_consent ORDER BY changed').all() as Row[]).map(r => r.site)
  }
}
