/**
 * The storage tables (migration in src/repo/db.ts): `storage_wanted` (what this node asked
 * others to hold, and how many copies), `storage_replicas` (who holds each, their audits)
 * and `storage_held` (what this node holds for others, per peer). Bytes are what the
 * request declared: a holder's fetch stops past them, so they bound what it stores.
 */
import type { DatabaseSync } from 'node:sqlite'

export type TargetKind = 'site' | 'cid'

export interface Wanted { target: string, kind: TargetKind, keep: number, copies: number, bytes: number, created: number }

/** `holding` counts towards the copies; `replaced` failed too many audits (or refused to go on). */
export type ReplicaState = 'holding' | 'replaced'

export interface Replica {
  target: string
  holder: string
  state: ReplicaState
  bytes: number
  added: number
  lastAudit?: number
  /** `pass`, or why the last audit failed. */
  lastResult?: string
  /** Failed audits in a row. */
  failures: number
  passes: number
}

/** `fetching` and `held` count against the offer; `failed` (the fetch failed or went past its bytes) does not. */
export type HeldState = 'fetching' | 'held' | 'failed'

export interface Held {
  target: string
  peer: string
  kind: TargetKind
  keep: number
  bytes: number
  /** Holders the requester wanted: the holders repair to this many without it. */
  copies: number
  state: HeldState
  /** Whether this hold made the follow (so releasing it unfollows): a site the person follows stays followed. */
  followed: boolean
  accepted: number
  reason?: string
}

export interface LedgerEntry {
  peer: string
  /** Bytes this node holds for the peer. */
  heldForPeer: number
  /** Bytes the peer holds for this node. */
  heldByPeer: number
}

type Row = Record<string, unknown>

const toReplica = (r: Row): Replica => ({
  target: r.target as string,
  holder: r.holder as string,
  state: r.state as ReplicaState,
  bytes: Number(r.bytes),
  added: Number(r.added),
  lastAudit: r.last_audit === null ? undefined : Number(r.last_audit),
  lastResult: (r.last_result as string | null) ?? undefined,
  failures: Number(r.failures),
  passes: Number(r.passes)
})

const toHeld = (r: Row): Held => ({
  target: r.target as string,
  peer: r.peer as string,
  kind: r.kind as TargetKind,
  keep: Number(r.keep),
  bytes: Number(r.bytes),
  copies: Number(r.copies),
  state: r.state as HeldState,
  followed: Number(r.followed) === 1,
  accepted: Number(r.accepted),
  reason: (r.reason as string | null) ?? undefined
})

export class StorageStore {
  private readonly db: DatabaseSync

  constructor (db: DatabaseSync) {
    this.db = db
  }

  // what this node asked others to hold

  want (w: Wanted): void {
    this.db.prepare(`INSERT INTO storage_wanted (target, kind, keep, copies, bytes, created) VALUES (?, ?, ?, ?, ?, ?)
      ON CONFLICT (target) DO UPDATE SET keep = excluded.keep, copies = excluded.copies, bytes = excluded.bytes`)
      .run(w.target, w.kind, w.keep, w.copies, w.bytes, w.created)
  }

  wanted (target?: string): Wanted[] {
    const rows = (target === undefined
      ? this.db.prepare('SELECT * FROM storage_wanted ORDER BY created').all()
      : this.db.prepare('SELECT * FROM storage_wanted WHERE target = ?').all(target)) as Row[]
    return rows.map(r => ({ target: r.target as string, kind: r.kind as TargetKind, keep: Number(r.keep), copies: Number(r.copies), bytes: Number(r.bytes), created: Number(r.created) }))
  }

  addReplica (target: string, holder: string, bytes: number): void {
    this.db.prepare(`INSERT INTO storage_replicas (target, holder, state, bytes, added) VALUES (?, ?, 'holding', ?, ?)
      ON CONFLICT (target, holder) DO UPDATE SET state = 'holding', bytes = excluded.bytes, added = excluded.added, failures = 0`)
      .run(target, holder, bytes, Date.now())
  }

  replicas (target: string): Replica[] {
    return (this.db.prepare('SELECT * FROM storage_replicas WHERE target = ? ORDER BY added').all(target) as Row[]).map(toReplica)
  }

  /** `pass`, `fetching` (neither: a new holder still fetching), or why it failed. */
  audited (target: string, holder: string, result: string): Replica | undefined {
    if (result === 'fetching') {
      this.db.prepare('UPDATE storage_replicas SET last_audit = ?, last_result = ? WHERE target = ? AND holder = ?').run(Date.now(), result, target, holder)
      return this.replicas(target).find(r => r.holder === holder)
    }
    const pass = result === 'pass'
    this.db.prepare(`UPDATE storage_replicas SET last_audit = ?, last_result = ?,
      failures = CASE WHEN ? THEN 0 ELSE failures + 1 END, passes = passes + ? WHERE target = ? AND holder = ?`)
      .run(Date.now(), result, pass ? 1 : 0, pass ? 1 : 0, target, holder)
    return this.replicas(target).find(r => r.holder === holder)
  }

  replace (target: string, holder: string): void {
    this.db.prepare('UPDATE storage_replicas SET state = \'replaced\' WHERE target = ? AND holder = ?').run(target, holder)
  }

  // what this node holds for others

  hold (h: Omit<Held, 'reason'>): void {
    this.db.prepare(`INSERT INTO storage_held (target, peer, kind, keep, bytes, copies, state, followed, accepted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (target, peer) DO UPDATE SET keep = excluded.keep, bytes = excluded.bytes, copies = excluded.copies, state = excluded.state, accepted = excluded.accepted, reason = NULL`)
      .run(h.target, h.peer, h.kind, h.keep, h.bytes, h.copies, h.state, h.followed ? 1 : 0, h.accepted)
  }

  setHeld (target: string, peer: string, state: HeldState, reason?: string, followed?: boolean): void {
    this.db.prepare('UPDATE storage_held SET state = ?, reason = ?, followed = COALESCE(?, followed) WHERE target = ? AND peer = ?')
      .run(state, reason ?? null, followed === undefined ? null : (followed ? 1 : 0), target, peer)
  }

  release (target: string, peer: string): Held | undefined {
    const held = this.heldFor(peer).find(h => h.target === target)
    this.db.prepare('DELETE FROM storage_held WHERE target = ? AND peer = ?').run(target, peer)
    return held
  }

  held (): Held[] {
    return (this.db.prepare('SELECT * FROM storage_held ORDER BY accepted').all() as Row[]).map(toHeld)
  }

  heldFor (peer: string): Held[] {
    return (this.db.prepare('SELECT * FROM storage_held WHERE peer = ?').all(peer) as Row[]).map(toHeld)
  }

  /** Other peers' holds of the same target (a site two peers asked for is followed once). */
  holdsOf (target: string): Held[] {
    return (this.db.prepare('SELECT * FROM storage_held WHERE target = ? AND state != \'failed\'').all(target) as Row[]).map(toHeld)
  }

  /** Bytes promised: the whole offer's use, or one peer's. */
  committed (peer?: string): number {
    const row = (peer === undefined
      ? this.db.prepare('SELECT COALESCE(SUM(bytes), 0) AS n FROM storage_held WHERE state != \'failed\'').get()
      : this.db.prepare('SELECT COALESCE(SUM(bytes), 0) AS n FROM storage_held WHERE peer = ? AND state != \'failed\'').get(peer)) as Row
    return Number(row.n)
  }

  /** Bytes `peer` holds for this node (replicas it still holds). */
  heldByPeer (peer: string): number {
    const row = this.db.prepare('SELECT COALESCE(SUM(bytes), 0) AS n FROM storage_replicas WHERE holder = ? AND state = \'holding\'').get(peer) as Row
    return Number(row.n)
  }

  ledger (): LedgerEntry[] {
    const rows = this.db.prepare(`SELECT peer, SUM(mine) AS held_for_peer, SUM(theirs) AS held_by_peer FROM (
        SELECT peer, bytes AS mine, 0 AS theirs FROM storage_held WHERE state != 'failed'
        UNION ALL SELECT holder AS peer, 0 AS mine, bytes AS theirs FROM storage_replicas WHERE state = 'holding'
      ) GROUP BY peer ORDER BY peer`).all() as Row[]
    return rows.map(r => ({ peer: r.peer as string, heldForPeer: Number(r.held_for_peer), heldByPeer: Number(r.held_by_peer) }))
  }
}
