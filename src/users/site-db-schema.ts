/**
 * The `db` section of a site's weft.json (docs: /work/notes/users-spec.md, "weft.json
 * sections"): tables with typed columns and indexes, and maps from contribution files to
 * tables. It is written by the site's owner and read by every follower, so it is parsed
 * strictly: anything unknown or out of bounds is refused, never guessed at.
 *
 * ```json
 * "db": { "version": 1,
 *   "tables": { "posts": { "columns": { "id": "TEXT", "date": "INTEGER" }, "indexes": [["date"]] } },
 *   "maps": [ { "file": "posts.json", "table": "posts", "key": "posts" } ] }
 * ```
 */
import { createHash } from 'node:crypto'
import { WeftError } from '../errors.ts'
import { MAX_PATTERN_CHARS, pathProblem } from './rules.ts'

export type ColumnType = 'TEXT' | 'INTEGER' | 'REAL' | 'BLOB'

export interface SiteDbSchema {
  version: number
  tables: Record<string, { columns: Record<string, ColumnType>, indexes?: string[][] }>
  maps: Array<{ file: string, table: string, key?: string }>
}

/** SQLite's own names start sqlite_; lowercase only, so two spellings never name one table. */
const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/
/** The columns every table gets (the contributor and the file a row came from), and SQLite's row id aliases. */
export const IMPLICIT_COLUMNS = ['user', 'file'] as const
const RESERVED_COLUMNS = new Set<string>([...IMPLICIT_COLUMNS, 'rowid', 'oid', '_rowid_'])
const COLUMN_TYPES = new Set<string>(['TEXT', 'INTEGER', 'REAL', 'BLOB'])

/** ZeroNet's busiest sites (ZeroTalk, ZeroMe) use 6–10 tables; 32 leaves room without letting a schema make thousands. */
export const MAX_TABLES = 32
/** SQLite allows 2000 per table; 64 is far past any forum or profile row and keeps inserts cheap. */
export const MAX_COLUMNS = 64
/** Every index slows each contribution's insert; 8 per table covers the sorts and lookups a page needs. */
export const MAX_INDEXES = 8
/** Columns in one index: more than 4 is never selective enough to help a page. */
export const MAX_INDEX_COLUMNS = 4
/** One map per table per file kind, with room to spare. */
export const MAX_MAPS = 64
/** The same bound as the `users.files` patterns. */
export const MAX_PATTERN_LENGTH = MAX_PATTERN_CHARS
/** A version is a counter an owner bumps; past 2^31 is a typo or an attack. */
const MAX_VERSION = 2 ** 31 - 1

function invalid (what: string): never {
  throw new WeftError('ERR_SITE_DB_SCHEMA_INVALID', `the site's weft.json db section is invalid: ${what}`)
}

function isPlainObject (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function onlyKeys (obj: Record<string, unknown>, allowed: string[], where: string): void {
  for (const k of Object.keys(obj)) if (!allowed.includes(k)) invalid(`unknown field ${JSON.stringify(k)} in ${where}`)
}

function identifier (name: unknown, what: string): string {
  if (typeof name !== 'string' || !IDENTIFIER.test(name) || name.startsWith('sqlite_')) {
    invalid(`${what} ${JSON.stringify(name)} must match ${IDENTIFIER.source} and not start with sqlite_`)
  }
  // assigned as a key it would set the object's prototype, not name a table or column
  if (name === '__proto__') invalid(`${what} "__proto__" is not allowed`)
  return name
}

/** A `users.files`-style pattern, checked by the same rule as those (rules.ts). */
function pattern (p: unknown, where: string): string {
  if (typeof p !== 'string' || p.length === 0 || p.length > MAX_PATTERN_LENGTH) invalid(`${where}.file must be a pattern of 1 to ${MAX_PATTERN_LENGTH} characters`)
  const problem = pathProblem(p)
  if (problem !== undefined) invalid(`${where}.file ${JSON.stringify(p)}: ${problem.replace('the path', 'the pattern')}`)
  return p
}

/**
 * The `db` section of a parsed weft.json, or undefined when it has none. Throws
 * ERR_SITE_DB_SCHEMA_INVALID for anything else than the format above.
 */
export function parseDbSchema (weftJson: unknown): SiteDbSchema | undefined {
  if (!isPlainObject(weftJson)) invalid('weft.json is not a JSON object')
  const db = weftJson.db
  if (db === undefined) return undefined
  if (!isPlainObject(db)) invalid('db is not an object')
  onlyKeys(db, ['version', 'tables', 'maps'], 'db')
  const version = db.version
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 1 || version > MAX_VERSION) invalid('db.version must be a whole number from 1')
  if (!isPlainObject(db.tables)) invalid('db.tables is not an object')
  const tableNames = Object.keys(db.tables)
  if (tableNames.length === 0 || tableNames.length > MAX_TABLES) invalid(`db.tables must hold 1 to ${MAX_TABLES} tables`)
  const tables: SiteDbSchema['tables'] = {}
  for (const name of tableNames) {
    identifier(name, 'table name')
    const table = db.tables[name]
    if (!isPlainObject(table)) invalid(`table ${name} is not an object`)
    onlyKeys(table, ['columns', 'indexes'], `table ${name}`)
    if (!isPlainObject(table.columns)) invalid(`table ${name} has no columns object`)
    const columnNames = Object.keys(table.columns)
    if (columnNames.length === 0 || columnNames.length > MAX_COLUMNS) invalid(`table ${name} must have 1 to ${MAX_COLUMNS} columns`)
    const columns: Record<string, ColumnType> = {}
    for (const c of columnNames) {
      identifier(c, `column name in ${name}`)
      if (RESERVED_COLUMNS.has(c)) invalid(`column ${name}.${c} is reserved (every table has user and file; rowid names SQLite's row id)`)
      const type = table.columns[c]
      if (typeof type !== 'string' || !COLUMN_TYPES.has(type)) invalid(`column ${name}.${c} must be TEXT, INTEGER, REAL or BLOB`)
      columns[c] = type as ColumnType
    }
    let indexes: string[][] | undefined
    if (table.indexes !== undefined) {
      if (!Array.isArray(table.indexes) || table.indexes.length > MAX_INDEXES) invalid(`table ${name}.indexes must be a list of at most ${MAX_INDEXES}`)
      indexes = table.indexes.map((index: unknown, i: number) => {
        if (!Array.isArray(index) || index.length === 0 || index.length > MAX_INDEX_COLUMNS) invalid(`table ${name}.indexes[${i}] must list 1 to ${MAX_INDEX_COLUMNS} columns`)
        return index.map((c: unknown) => {
          if (typeof c !== 'string' || !(Object.hasOwn(columns, c) || (IMPLICIT_COLUMNS as readonly string[]).includes(c))) invalid(`table ${name}.indexes[${i}] names ${JSON.stringify(c)}, not a column of ${name}`)
          return c
        })
      })
    }
    tables[name] = indexes === undefined ? { columns } : { columns, indexes }
  }
  if (!Array.isArray(db.maps) || db.maps.length > MAX_MAPS) invalid(`db.maps must be a list of at most ${MAX_MAPS}`)
  const maps = db.maps.map((m: unknown, i: number) => {
    const where = `db.maps[${i}]`
    if (!isPlainObject(m)) invalid(`${where} is not an object`)
    onlyKeys(m, ['file', 'table', 'key'], where)
    const file = pattern(m.file, where)
    if (typeof m.table !== 'string' || !Object.hasOwn(tables, m.table)) invalid(`${where}.table names no table in db.tables`)
    if (m.key === undefined) return { file, table: m.table }
    if (typeof m.key !== 'string' || m.key.length === 0 || m.key.length > MAX_PATTERN_LENGTH) invalid(`${where}.key must be a field name of 1 to ${MAX_PATTERN_LENGTH} characters`)
    return { file, table: m.table, key: m.key }
  })
  return { version, tables, maps }
}

/**
 * The hash kept in a site db to tell whether it was built with this schema. `layout`
 * is site-db.ts's own format version, so a change in how weft lays out tables rebuilds too.
 */
export function schemaHash (schema: SiteDbSchema, layout: number): string {
  const canonical = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(canonical)
    if (isPlainObject(v)) return Object.fromEntries(Object.keys(v).sort().map(k => [k, canonical(v[k])]))
    return v
  }
  return createHash('sha256').update(JSON.stringify({ layout, schema: canonical(schema) })).digest('hex')
}
