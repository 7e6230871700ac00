import { DatabaseSync } from 'node:sqlite'
import { WeftError } from '../errors.ts'

/** Each entry moves the schema from version i to i + 1. Never edit one that has shipped. */
const MIGRATIONS: string[] = [
  `CREATE TABLE blocks (mh BLOB PRIMARY KEY, pack INTEGER NOT NULL, off INTEGER NOT NULL, len INTEGER NOT NULL) WITHOUT ROWID;
   CREATE INDEX blocks_by_pack ON blocks (pack, off);
   CREATE TABLE pins (cid TEXT PRIMARY KEY, type TEXT NOT NULL CHECK (type IN ('recursive', 'direct')), created INTEGER NOT NULL);`
]

export const DB_VERSION = MIGRATIONS.length

export function openDatabase (path: string): DatabaseSync {
  const db = new DatabaseSync(path)
  db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;')
  db.exec('CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)')
  const row = db.prepare('SELECT value FROM meta WHERE key = ?').get('schema_version') as { value: string } | undefined
  const current = row === undefined ? 0 : Number(row.value)
  if (current > DB_VERSION) {
    db.close()
    throw new WeftError('ERR_REPO_INVALID', `${path} has schema version ${current}, newer than this weft understands (${DB_VERSION})`)
  }
  for (let v = current; v < DB_VERSION; v++) {
    db.exec('BEGIN')
    try {
      db.exec(MIGRATIONS[v])
      db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)').run('schema_version', String(v + 1))
      db.exec('COMMIT')
    } catch (err) {
      db.exec('ROLLBACK')
      throw err
    }
  }
  return db
}

/** Runs fn inside one transaction. */
export function transaction<T> (db: DatabaseSync, fn: () => T): T {
  db.exec('BEGIN IMMEDIATE')
  try {
    const result = fn()
    db.exec('COMMIT')
    return result
  } catch (err) {
    db.exec('ROLLBACK')
    throw err
  }
}
