/**
 * A site's database, built on this node from its users' accepted contributions
 * (issue 12, item 5). The file (the integrator puts it at <home>/users/<site>.db) holds:
 *
 * - one table per `db.tables` entry: the schema's columns (declared type = SQLite
 *   affinity) plus `user TEXT NOT NULL` and `file TEXT NOT NULL`; indexes named
 *   `"<table>:<n>"`, and `"<table>:user"` on (user, file) for replacing a user's rows;
 * - `"weft:meta"` (key, value): `schema` = the hash of the schema the tables follow,
 *   `built` = the same hash once every contribution was put (markBuilt);
 * - `"weft:users"` (user, rows): who contributed, and how many rows each.
 * Names with `:` cannot clash with a schema's tables (identifiers are [a-z0-9_]).
 *
 * Rows from JSON: strings, numbers and null as they are (whole numbers as INTEGER); true/false as 1/0; an object or
 * array value as its JSON text (SQLite's json_* functions read it). Writes happen here,
 * on the caller's thread, bounded by the per-file and per-user caps below; reads run in a
 * separate process (site-db-reader.ts) that is killed at the query's deadline.
 */
import { DatabaseSync, type SQLInputValue } from 'node:sqlite'
import { WeftError } from '../errors.ts'
import { IMPLICIT_COLUMNS, schemaHash, type SiteDbSchema } from './site-db-schema.ts'
import { globMatch } from './rules.ts'
import { checkReadOnlySql } from './site-db-sql.ts'
import { SiteDbReader, type QueryParams } from './site-db-reader.ts'

export { parseDbSchema, type SiteDbSchema, type ColumnType } from './site-db-schema.ts'

/** How weft lays tables out in the file; bump it to rebuild every site db after a change here. */
const LAYOUT_VERSION = 1
/** A page waiting longer than a second for its data is broken anyway; the benchmark's queries take < 5 ms. */
export const DEFAULT_QUERY_TIMEOUT_MS = 1_000
/** A page shows tens of rows; 10,000 rows of ~1 KiB is ~10 MiB crossing the process boundary, the most one answer should cost. */
export const DEFAULT_MAX_ROWS = 10_000
/** The same bound in bytes, for few rows with huge values (randomblob(1e8)). */
export const MAX_RESULT_BYTES = 16 * 1024 * 1024
/**
 * JSON a put reads, summed over the user's files (a file that would pass it is skipped):
 * JSON.parse is slowest on tiny values, 3.7 MiB of `{}` took 590 ms here (2 cores, load 8),
 * so 512 KiB holds the event loop ~80 ms at worst. The spec's usual maxBytes is 64 KiB.
 */
export const MAX_JSON_BYTES_PER_USER = 512 * 1024
/** One file is one list (a user's posts); at ≥ 50 bytes of JSON a row, a 64 KiB contribution holds ~1,300 rows. */
export const MAX_ROWS_PER_FILE = 1_000
/** Bounds a put's inserts: 2,000 rows into a table with 4 indexes took 15 ms (bench sitedb, load 4) to 33–88 ms (load 8) on 2 cores; the issue's benchmark has 10 rows a user. */
export const MAX_ROWS_PER_USER = 2_000

export interface SiteDbComponents {
  /** The database file. */
  path: string
}

export interface SiteDbInit {
  schema: SiteDbSchema
  /** ms a query may take from asking to rows (default DEFAULT_QUERY_TIMEOUT_MS). */
  queryTimeout?: number
  /** Rows a query may return; more fails with ERR_QUERY_TOO_MANY_ROWS (default DEFAULT_MAX_ROWS). */
  maxRows?: number
}

export interface PutResult {
  rows: number
  skipped: Array<{ path: string, reason: string }>
}

export interface SiteDb {
  /**
   * Replaces every row this user contributed (one transaction). Only files matching a map
   * are read; a file that is not JSON, too large, or of the wrong shape is skipped and
   * listed, never failing the whole user. Rows past the caps are dropped and listed.
   */
  putUser(user: string, files: Map<string, Uint8Array>): PutResult
  removeUser(user: string): void
  users(): string[]
  /**
   * Read-only SQL: one SELECT, VALUES or WITH … SELECT; anything else is ERR_QUERY_REFUSED.
   * Runs in another process: past queryTimeout ERR_QUERY_TIMEOUT, past maxRows
   * ERR_QUERY_TOO_MANY_ROWS (an error, not a silent cut: add a LIMIT), SQLite's own
   * complaints (syntax, unknown table, bad parameters) ERR_QUERY_INVALID.
   */
  query(sql: string, params?: unknown[] | Record<string, unknown>, options?: { signal?: AbortSignal }): Promise<Array<Record<string, unknown>>>
  /**
   * Whether the file holds a complete build for this schema. When false, openSiteDb has
   * already emptied it into the new layout: put every accepted contribution, then call
   * markBuilt(). A crash before markBuilt() leaves it false, so the next open starts over.
   */
  readonly schemaMatches: boolean
  /** Records that every contribution was put under the current schema. */
  markBuilt(): void
  /** Keeps the query process started until the release is called: someone will query soon. */
  keepWarm(): () => void
  close(): Promise<void>
}

const META = '"weft:meta"'
const USERS = '"weft:users"'
/** Identifiers come from parseDbSchema ([a-z0-9_]) or are weft's own; quoting keeps keywords (e.g. `order`) usable as names. */
const q = (name: string): string => `"${name}"`

function toSqlValue (v: unknown): SQLInputValue {
  if (v === null || v === undefined) return null
  if (typeof v === 'string') return v
  // node:sqlite binds every JS number as a REAL: 1 would be '1.0' in a TEXT column. Whole numbers go in as INTEGER.
  if (typeof v === 'number') return Number.isSafeInteger(v) ? BigInt(v) : v
  if (typeof v === 'boolean') return v ? 1n : 0n
  return JSON.stringify(v)
}

function checkParams (params: unknown[] | Record<string, unknown> | undefined): QueryParams {
  if (params === undefined) return []
  const ok = (v: unknown): v is SQLInputValue => v === null || typeof v === 'string' || typeof v === 'bigint' || v instanceof Uint8Array || (typeof v === 'number' && Number.isFinite(v))
  const values = Array.isArray(params) ? params : typeof params === 'object' && params !== null ? Object.values(params) : undefined
  if (values === undefined || !values.every(ok)) {
    throw new WeftError('ERR_QUERY_INVALID', 'query parameters must be a list or an object of strings, finite numbers, bigints, bytes or null')
  }
  return params as QueryParams
}

class SqliteSiteDb implements SiteDb {
  private readonly db: DatabaseSync
  private readonly schema: SiteDbSchema
  private readonly hash: string
  private readonly reader: SiteDbReader
  private readonly inserts = new Map<string, ReturnType<DatabaseSync['prepare']>>()
  private matches: boolean

  constructor (components: SiteDbComponents, init: SiteDbInit) {
    this.schema = init.schema
    this.hash = schemaHash(init.schema, LAYOUT_VERSION)
    this.db = new DatabaseSync(components.path)
    // WAL: the query process reads while contributions are written, neither waiting for the other.
    this.db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;')
    this.db.exec(`CREATE TABLE IF NOT EXISTS ${META} (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS ${USERS} (user TEXT PRIMARY KEY, rows INTEGER NOT NULL)`)
    const meta = (key: string): string | undefined => (this.db.prepare(`SELECT value FROM ${META} WHERE key = ?`).get(key) as { value: string } | undefined)?.value
    this.matches = meta('schema') === this.hash && meta('built') === this.hash
    if (!this.matches) this.relayout()
    for (const [name, table] of Object.entries(this.schema.tables)) {
      const columns = [...IMPLICIT_COLUMNS, ...Object.keys(table.columns)]
      this.inserts.set(name, this.db.prepare(`INSERT INTO ${q(name)} (${columns.map(q).join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`))
    }
    this.reader = new SiteDbReader(components.path, {
      queryTimeout: init.queryTimeout ?? DEFAULT_QUERY_TIMEOUT_MS,
      maxRows: init.maxRows ?? DEFAULT_MAX_ROWS,
      maxBytes: MAX_RESULT_BYTES
    })
  }

  get schemaMatches (): boolean {
    return this.matches
  }

  /** Drops every table of an older schema and creates this one's, empty. */
  private relayout (): void {
    this.transaction(() => {
      const old = this.db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT LIKE 'weft:%'").all() as Array<{ name: string }>
      for (const { name } of old) this.db.exec(`DROP TABLE ${q(name.replaceAll('"', '""'))}`)
      this.db.exec(`DELETE FROM ${USERS}`)
      for (const [name, table] of Object.entries(this.schema.tables)) {
        const columns = Object.entries(table.columns).map(([c, type]) => `${q(c)} ${type}`)
        this.db.exec(`CREATE TABLE ${q(name)} (user TEXT NOT NULL, file TEXT NOT NULL${columns.map(c => `, ${c}`).join('')})`)
        this.db.exec(`CREATE INDEX ${q(`${name}:user`)} ON ${q(name)} (user, file)`)
        for (const [i, index] of (table.indexes ?? []).entries()) this.db.exec(`CREATE INDEX ${q(`${name}:${i}`)} ON ${q(name)} (${index.map(q).join(', ')})`)
      }
      this.db.prepare(`INSERT OR REPLACE INTO ${META} (key, value) VALUES ('schema', ?)`).run(this.hash)
      this.db.prepare(`DELETE FROM ${META} WHERE key = 'built'`).run()
    })
  }

  markBuilt (): void {
    this.db.prepare(`INSERT OR REPLACE INTO ${META} (key, value) VALUES ('built', ?)`).run(this.hash)
    this.matches = true
  }

  private transaction<T> (fn: () => T): T {
    this.db.exec('BEGIN IMMEDIATE')
    try {
      const result = fn()
      this.db.exec('COMMIT')
      return result
    } catch (err) {
      if (this.db.isTransaction) this.db.exec('ROLLBACK')
      throw err
    }
  }

  private deleteRows (user: string): void {
    for (const name of Object.keys(this.schema.tables)) this.db.prepare(`DELETE FROM ${q(name)} WHERE user = ?`).run(user)
  }

  putUser (user: string, files: Map<string, Uint8Array>): PutResult {
    if (typeof user !== 'string' || user.length === 0) throw new WeftError('ERR_USAGE', 'putUser needs a user id')
    const skipped: PutResult['skipped'] = []
    let rows = 0
    let jsonBytes = 0
    const decoder = new TextDecoder('utf-8', { fatal: true })
    // Sorted, so which rows the caps drop does not depend on the order the files arrived in.
    const paths = [...files.keys()].sort()
    this.transaction(() => {
      this.deleteRows(user)
      for (const path of paths) {
        const maps = this.schema.maps.filter(m => globMatch(m.file, path))
        if (maps.length === 0) continue
        const bytes = files.get(path) as Uint8Array
        if (jsonBytes + bytes.byteLength > MAX_JSON_BYTES_PER_USER) {
          skipped.push({ path, reason: `past ${MAX_JSON_BYTES_PER_USER} bytes of JSON for one user` })
          continue
        }
        jsonBytes += bytes.byteLength
        let json: unknown
        try {
          json = JSON.parse(decoder.decode(bytes))
        } catch {
          skipped.push({ path, reason: 'not UTF-8 JSON' })
          continue
        }
        for (const map of maps) {
          const items = itemsOf(json, map.key)
          if (typeof items === 'string') { skipped.push({ path, reason: items }); continue }
          const insert = this.inserts.get(map.table) as ReturnType<DatabaseSync['prepare']>
          const columns = Object.keys(this.schema.tables[map.table].columns)
          let inFile = 0
          let notObjects = 0
          for (const item of items) {
            if (typeof item !== 'object' || item === null || Array.isArray(item)) { notObjects++; continue }
            if (inFile >= MAX_ROWS_PER_FILE || rows >= MAX_ROWS_PER_USER) {
              skipped.push({ path, reason: `rows past ${inFile >= MAX_ROWS_PER_FILE ? `${MAX_ROWS_PER_FILE} per file` : `${MAX_ROWS_PER_USER} per user`} dropped` })
              break
            }
            const values = columns.map(c => Object.hasOwn(item, c) ? toSqlValue((item as Record<string, unknown>)[c]) : null)
            insert.run(user, path, ...values)
            inFile++
            rows++
          }
          if (notObjects > 0) skipped.push({ path, reason: `${notObjects} item(s) are not JSON objects` })
        }
      }
      this.db.prepare(`INSERT OR REPLACE INTO ${USERS} (user, rows) VALUES (?, ?)`).run(user, rows)
    })
    return { rows, skipped }
  }

  removeUser (user: string): void {
    this.transaction(() => {
      this.deleteRows(user)
      this.db.prepare(`DELETE FROM ${USERS} WHERE user = ?`).run(user)
    })
  }

  users (): string[] {
    return (this.db.prepare(`SELECT user FROM ${USERS} ORDER BY user`).all() as Array<{ user: string }>).map(r => r.user)
  }

  async query (sql: string, params?: unknown[] | Record<string, unknown>, options: { signal?: AbortSignal } = {}): Promise<Array<Record<string, unknown>>> {
    checkReadOnlySql(sql)
    return await this.reader.run(sql, checkParams(params), options)
  }

  /** Keeps the query process started until the release is called (SiteDbReader.keepWarm). */
  keepWarm (): () => void {
    return this.reader.keepWarm()
  }

  async close (): Promise<void> {
    await this.reader.close()
    if (this.db.isOpen) this.db.close()
  }
}

/** The items a map turns into rows, or why there are none. */
function itemsOf (json: unknown, key: string | undefined): unknown[] | string {
  if (key !== undefined) {
    if (typeof json !== 'object' || json === null || Array.isArray(json)) return `not a JSON object with a ${JSON.stringify(key)} list`
    const list = Object.hasOwn(json, key) ? (json as Record<string, unknown>)[key] : undefined
    return Array.isArray(list) ? list : `no ${JSON.stringify(key)} list`
  }
  if (Array.isArray(json)) return json
  if (typeof json === 'object' && json !== null) return [json]
  return 'neither a JSON array nor an object'
}

/** Opens (creating if absent) a site's database; when its schema changed, it is emptied into the new layout (see schemaMatches). */
export async function openSiteDb (components: SiteDbComponents, init: SiteDbInit): Promise<SiteDb> {
  return new SqliteSiteDb(components, init)
}
