/**
 * The process a site's queries run in (started by site-db-reader.ts with the db file as
 * its one argument). SQLite in node:sqlite cannot be interrupted, so the parent bounds a
 * query's time by killing this process; this file only runs statements and answers.
 *
 * Messages (structured clone over the IPC channel):
 *   out: { ready: true } once, when it can take queries
 *   in:  { id, sql, params, maxRows, maxBytes }
 *   out: { id, rows } | { id, error: { code, message } }
 * Imports nothing from weft, so it starts in tens of milliseconds.
 */
import { DatabaseSync, type StatementSync, type SQLInputValue } from 'node:sqlite'
import { Worker } from 'node:worker_threads'

interface Request { id: number, sql: string, params: SQLInputValue[] | Record<string, SQLInputValue>, maxRows: number, maxBytes: number }

/** Prepared statements kept: a page runs a handful of distinct queries; 128 bounds memory under a flood of distinct ones. */
const STATEMENT_CACHE = 128

const path = process.argv[2]
// Read-only connection, and query_only so not even a temp table can be written; extension loading stays off (the default).
const db = new DatabaseSync(path, { readOnly: true, allowExtension: false })
db.exec('PRAGMA query_only = 1')
const statements = new Map<string, StatementSync>()

function statement (sql: string): StatementSync {
  let stmt = statements.get(sql)
  if (stmt !== undefined) {
    statements.delete(sql) // re-insert: the map's order is the LRU order
  } else {
    stmt = db.prepare(sql)
    if (statements.size >= STATEMENT_CACHE) statements.delete(statements.keys().next().value as string)
  }
  statements.set(sql, stmt)
  return stmt
}

function sizeOf (row: Record<string, unknown>): number {
  let bytes = 0
  for (const v of Object.values(row)) bytes += typeof v === 'string' ? v.length * 2 : v instanceof Uint8Array ? v.byteLength : 8
  return bytes
}

function run (req: Request): unknown {
  const stmt = statement(req.sql)
  const rows: unknown[] = []
  let bytes = 0
  const iterator = Array.isArray(req.params) ? stmt.iterate(...req.params) : stmt.iterate(req.params)
  for (const row of iterator as Iterable<Record<string, unknown>>) {
    bytes += sizeOf(row)
    if (rows.length >= req.maxRows || bytes > req.maxBytes) {
      iterator.return?.()
      return { id: req.id, error: { code: 'ERR_QUERY_TOO_MANY_ROWS', message: `the answer has more than ${req.maxRows} rows or ${req.maxBytes} bytes; add a LIMIT` } }
    }
    rows.push(row)
  }
  return { id: req.id, rows }
}

function answer (req: Request): void {
  let out: unknown
  try {
    out = run(req)
  } catch (err) {
    out = { id: req.id, error: { code: 'ERR_QUERY_INVALID', message: (err as Error).message } }
  }
  process.send?.(out)
}

/** How often the watchdog looks for the parent: an orphaned runaway query spins at most this long. */
const ORPHAN_CHECK_MS = 1_000
// 'disconnect' waits for the running statement, which may never end if the node died
// mid-query; a thread of its own sees the parent go and kills this process. Queries wait
// until it runs: a worker's start needs this thread's event loop, which a query blocks.
const watchdog = new Worker(`setInterval(() => { if (process.ppid !== ${process.ppid}) process.kill(process.pid, 'SIGKILL') }, ${ORPHAN_CHECK_MS})`, {
  eval: true,
  // A small isolate: the default one reserves a code range that would not fit under the query process's data limit.
  resourceLimits: { codeRangeSizeMb: 4, maxOldGenerationSizeMb: 8, maxYoungGenerationSizeMb: 2 }
})
watchdog.unref()
// The parent sends queries only after this: until the watchdog runs, an orphan could outlive its node.
const ready = (): void => { process.send?.({ ready: true }) }
watchdog.once('online', ready)
// Without a watchdog queries still run (and still die at their deadline); only an orphan would outlive its node.
watchdog.once('error', ready)
process.on('message', answer)
// The parent is gone (or closed the db): nothing left to answer.
process.on('disconnect', () => { process.exit(0) })
