/**
 * Pin requests the node accepted through the IPFS Pinning Service API, kept in the metadata
 * db (`pinning_requests`, src/repo/db.ts) so they outlive a restart. A request is apart from
 * the user's own pins (`weft pin add`, the `pins` table): gc keeps what a live request names
 * (heldRoots), and removing a request never touches a pin the user made.
 *
 * Row: requestid (a UUID), cid as the client sent it, cid_key (its CIDv1 text, what filters
 * match), name and name_lower (for the case-insensitive matches), origins and meta (JSON),
 * status (queued | pinning | pinned | failed), created (ms, unique: the spec pages by it),
 * info (JSON, string values) and updated (ms).
 */
import type { DatabaseSync, SQLInputValue } from 'node:sqlite'
import { randomUUID } from 'node:crypto'
import { CID } from 'multiformats/cid'
import { transaction } from '../../repo/db.ts'

export const PIN_STATUSES = ['queued', 'pinning', 'pinned', 'failed'] as const
export type PinStatusName = typeof PIN_STATUSES[number]
export type TextMatch = 'exact' | 'iexact' | 'partial' | 'ipartial'

/** What a client asks to pin (the spec's Pin object). */
export interface PinObject {
  cid: string
  name?: string
  origins?: string[]
  meta?: Record<string, string>
}

export interface PinRequest {
  requestid: string
  status: PinStatusName
  /** ms since the epoch; unique across requests. */
  created: number
  pin: PinObject
  info: Record<string, string>
}

export interface PinQuery {
  /** CIDv1 texts (already normalised). */
  cids?: string[]
  name?: string
  match?: TextMatch
  statuses: PinStatusName[]
  /** ms: created strictly before / after. */
  before?: number
  after?: number
  limit: number
  meta?: Record<string, string>
}

interface Row {
  requestid: string
  cid: string
  name: string | null
  origins: string
  meta: string
  status: PinStatusName
  created: number
  info: string
}

/** The CIDv1 text filters match on, so `Qm…` and its `bafy…` name the same request. */
export function cidKey (cid: string): string {
  return CID.parse(cid).toV1().toString()
}

function toRequest (row: Row): PinRequest {
  const pin: PinObject = { cid: row.cid }
  if (row.name !== null) pin.name = row.name
  const origins = JSON.parse(row.origins) as string[]
  if (origins.length > 0) pin.origins = origins
  const meta = JSON.parse(row.meta) as Record<string, string>
  if (Object.keys(meta).length > 0) pin.meta = meta
  return { requestid: row.requestid, status: row.status, created: row.created, pin, info: JSON.parse(row.info) as Record<string, string> }
}

const COLUMNS = 'requestid, cid, name, origins, meta, status, created, info'

export class PinRequests {
  private readonly db: DatabaseSync

  constructor (db: DatabaseSync) {
    this.db = db
  }

  /** A new queued request; `replacing` is removed in the same transaction (POST /pins/{id}). */
  add (pin: PinObject, replacing?: string): PinRequest {
    return transaction(this.db, () => {
      if (replacing !== undefined) this.db.prepare('DELETE FROM pinning_requests WHERE requestid = ?').run(replacing)
      // created is unique: the spec's clients page with `before` set to the oldest they saw
      const last = (this.db.prepare('SELECT MAX(created) AS last FROM pinning_requests').get() as { last: number | null }).last ?? 0
      const created = Math.max(Date.now(), last + 1)
      const requestid = randomUUID()
      this.db.prepare(`INSERT INTO pinning_requests (${COLUMNS}, cid_key, name_lower, updated) VALUES (?, ?, ?, ?, ?, 'queued', ?, '{}', ?, ?, ?)`).run(
        requestid, pin.cid, pin.name ?? null, JSON.stringify(pin.origins ?? []), JSON.stringify(pin.meta ?? {}), created,
        cidKey(pin.cid), pin.name?.toLowerCase() ?? null, created)
      return this.get(requestid) as PinRequest
    })
  }

  get (requestid: string): PinRequest | undefined {
    const row = this.db.prepare(`SELECT ${COLUMNS} FROM pinning_requests WHERE requestid = ?`).get(requestid) as Row | undefined
    return row === undefined ? undefined : toRequest(row)
  }

  /** Whether it was there to remove. */
  remove (requestid: string): boolean {
    return this.db.prepare('DELETE FROM pinning_requests WHERE requestid = ?').run(requestid).changes > 0
  }

  /** Moves a request on; false when it is gone (removed or replaced meanwhile). */
  setStatus (requestid: string, status: PinStatusName, info: Record<string, string> = {}): boolean {
    return this.db.prepare('UPDATE pinning_requests SET status = ?, info = ?, updated = ? WHERE requestid = ?')
      .run(status, JSON.stringify(info), Date.now(), requestid).changes > 0
  }

  /** Requests a worker still has to finish, oldest first; `pinning` ones were cut short by a stop. */
  unfinished (): PinRequest[] {
    const rows = this.db.prepare(`SELECT ${COLUMNS} FROM pinning_requests WHERE status IN ('queued', 'pinning') ORDER BY created`).all() as unknown as Row[]
    return rows.map(toRequest)
  }

  /** The newest `limit` requests that match, newest first, and how many match in all. */
  list (query: PinQuery): { count: number, results: PinRequest[] } {
    const where: string[] = []
    const params: SQLInputValue[] = []
    const within = (column: string, values: string[]): void => {
      where.push(`${column} IN (${values.map(() => '?').join(', ')})`)
      params.push(...values)
    }
    within('status', query.statuses)
    if (query.cids !== undefined) within('cid_key', query.cids)
    if (query.name !== undefined) {
      const match = query.match ?? 'exact'
      const folded = match === 'iexact' || match === 'ipartial'
      const column = folded ? 'name_lower' : 'name'
      where.push(match === 'exact' || match === 'iexact' ? `${column} = ?` : `instr(${column}, ?) > 0`)
      params.push(folded ? query.name.toLowerCase() : query.name)
    }
    if (query.before !== undefined) { where.push('created < ?'); params.push(query.before) }
    if (query.after !== undefined) { where.push('created > ?'); params.push(query.after) }
    // every key and value asked for, and any others besides (the spec's AND rule)
    for (const [key, value] of Object.entries(query.meta ?? {})) {
      where.push('EXISTS (SELECT 1 FROM json_each(pinning_requests.meta) WHERE json_each.key = ? AND json_each.value = ?)')
      params.push(key, value)
    }
    const clause = `WHERE ${where.join(' AND ')}`
    const { count } = this.db.prepare(`SELECT COUNT(*) AS count FROM pinning_requests ${clause}`).get(...params) as { count: number }
    const rows = this.db.prepare(`SELECT ${COLUMNS} FROM pinning_requests ${clause} ORDER BY created DESC LIMIT ?`).all(...params, query.limit) as unknown as Row[]
    return { count, results: rows.map(toRequest) }
  }

  /**
   * The roots gc keeps: every request not failed (a queued or pinning one keeps what it has
   * fetched so far, so a gc mid-fetch does not undo it).
   */
  * heldRoots (): Generator<CID> {
    const rows = this.db.prepare("SELECT DISTINCT cid_key FROM pinning_requests WHERE status != 'failed'").all() as Array<{ cid_key: string }>
    for (const row of rows) yield CID.parse(row.cid_key)
  }

  /** Roots of finished requests, for the DHT to announce. */
  * pinnedRoots (): Generator<CID> {
    const rows = this.db.prepare("SELECT DISTINCT cid_key FROM pinning_requests WHERE status = 'pinned'").all() as Array<{ cid_key: string }>
    for (const row of rows) yield CID.parse(row.cid_key)
  }
}
