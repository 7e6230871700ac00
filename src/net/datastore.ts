/**
 * libp2p's datastore in the home's SQLite db (table `datastore`, key TEXT, value BLOB), so
 * what libp2p keeps there outlives the process: the peer store (addresses, protocols,
 * keys, tags such as kad-dht's `kad-peer`, from which kad-dht refills its routing table at
 * start), the DHT records this node holds for others (`/dht/record/…`) and the provider
 * records (`/dht/provider/…`). What is kept stays bounded: the peer store forgets peers
 * unseen for 6 h, and kad-dht serves no record or provider record older than 48 h, which
 * routing/dht-store.ts drops at start (kad-dht itself drops them only lazily).
 */
import type { DatabaseSync, StatementSync } from 'node:sqlite'
import { NotFoundError } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import { BaseDatastore } from 'datastore-core'
import { Key, type KeyQuery, type Pair, type Query } from 'interface-datastore'
import type { AbortOptions } from '@libp2p/interface'

/**
 * Rows read per step of a query. A query is read in pages by key, not in one go: the
 * provider records of a busy DHT server run to hundreds of thousands, and libp2p deletes
 * rows (expired peers, records) while it walks a query, which a page-by-key walk survives.
 */
const QUERY_PAGE = 256

/**
 * Writes wait this long (ms) and go to the db together, in one transaction. libp2p writes
 * the peer store in bursts (a DHT walk updates dozens of peers at once); one commit per
 * write cost 140 µs each against 7 µs in memory (10,000 puts, loaded 2-core machine), and
 * a crash loses at most this much of a cache that refills itself.
 */
const WRITE_DELAY = 50

const log = logger('weft:net:datastore')

/** Above every character a key holds (keys are ASCII), so `[prefix, prefix + END)` is the prefix's range. */
const PREFIX_END = '\uffff'

export class SqliteDatastore extends BaseDatastore {
  private readonly db: DatabaseSync
  /** Writes not yet in the db: a value, or undefined for a delete. */
  private readonly pending = new Map<string, Uint8Array | undefined>()
  private timer: NodeJS.Timeout | undefined
  private readonly statements: {
    put: StatementSync
    get: StatementSync
    has: StatementSync
    delete: StatementSync
    page: StatementSync
    keys: StatementSync
  }

  constructor (db: DatabaseSync) {
    super()
    this.db = db
    this.statements = {
      put: db.prepare('INSERT OR REPLACE INTO datastore (key, value) VALUES (?, ?)'),
      get: db.prepare('SELECT value FROM datastore WHERE key = ?'),
      has: db.prepare('SELECT 1 FROM datastore WHERE key = ?'),
      delete: db.prepare('DELETE FROM datastore WHERE key = ?'),
      page: db.prepare(`SELECT key, value FROM datastore WHERE key >= ? AND key < ? ORDER BY key LIMIT ${QUERY_PAGE}`),
      keys: db.prepare(`SELECT key FROM datastore WHERE key >= ? AND key < ? ORDER BY key LIMIT ${QUERY_PAGE}`)
    }
  }

  put (key: Key, value: Uint8Array, options?: AbortOptions): Key {
    options?.signal?.throwIfAborted()
    this.write(key.toString(), value)
    return key
  }

  get (key: Key, options?: AbortOptions): Uint8Array {
    options?.signal?.throwIfAborted()
    const k = key.toString()
    const value = this.pending.has(k) ? this.pending.get(k) : (this.statements.get.get(k) as { value: Uint8Array } | undefined)?.value
    if (value === undefined) throw new NotFoundError(`${k} is not in the datastore`)
    return value
  }

  has (key: Key, options?: AbortOptions): boolean {
    options?.signal?.throwIfAborted()
    const k = key.toString()
    return this.pending.has(k) ? this.pending.get(k) !== undefined : this.statements.has.get(k) !== undefined
  }

  delete (key: Key, options?: AbortOptions): void {
    options?.signal?.throwIfAborted()
    this.write(key.toString(), undefined)
  }

  /** Writes what waits to the db now (the node calls it when it stops, before the db closes). */
  flush (): void {
    clearTimeout(this.timer)
    this.timer = undefined
    if (this.pending.size === 0) return
    const writes = [...this.pending]
    this.pending.clear()
    // libp2p's last writes after the node stopped: the db has closed, and they are not needed
    if (!this.db.isOpen) return
    // another module's transaction (all of weft's are synchronous) may be open: join it
    const own = !this.db.isTransaction
    try {
      if (own) this.db.exec('BEGIN IMMEDIATE')
      for (const [key, value] of writes) {
        if (value === undefined) this.statements.delete.run(key)
        else this.statements.put.run(key, value)
      }
      if (own) this.db.exec('COMMIT')
    } catch (err) {
      if (own && this.db.isOpen && this.db.isTransaction) this.db.exec('ROLLBACK')
      // a cache that refills itself: losing a burst of it must not take the node down
      log.error('could not write %d datastore entries: %s', writes.length, (err as Error).message)
    }
  }

  private write (key: string, value: Uint8Array | undefined): void {
    this.pending.set(key, value)
    if (this.timer !== undefined) return
    this.timer = setTimeout(() => { this.flush() }, WRITE_DELAY)
    this.timer.unref()
  }

  * _all (q: Query, options?: AbortOptions): Generator<Pair> {
    for (const row of this.pages(this.statements.page, q.prefix, options)) {
      yield { key: new Key(row.key), value: row.value as Uint8Array }
    }
  }

  * _allKeys (q: KeyQuery, options?: AbortOptions): Generator<Key> {
    for (const row of this.pages(this.statements.keys, q.prefix, options)) yield new Key(row.key)
  }

  /** Rows under `prefix` (BaseDatastore.query applies filters, orders and limits after). */
  private * pages (statement: StatementSync, prefix: string | undefined, options?: AbortOptions): Generator<{ key: string, value?: Uint8Array }> {
    // a query reads the db alone, so what waits goes in first
    this.flush()
    const until = (prefix ?? '') + PREFIX_END
    let from = prefix ?? ''
    for (let first = true; ; first = false) {
      options?.signal?.throwIfAborted()
      const rows = statement.all(from, until) as Array<{ key: string, value?: Uint8Array }>
      // each page after the first starts at the last key of the one before
      for (const row of first ? rows : rows.filter(r => r.key !== from)) yield row
      if (rows.length < QUERY_PAGE) return
      from = rows[rows.length - 1].key
    }
  }
}
