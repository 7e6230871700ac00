/**
 * libp2p's datastore in the home's SQLite db (table `datastore`, key TEXT, value BLOB), so
 * what libp2p keeps there outlives the process: the peer store (addresses, protocols,
 * keys, tags such as kad-dht's `kad-peer`, from which kad-dht refills its routing table at
 * start), the DHT records this node holds for others (`/dht/record/…`) and the provider
 * records (`/dht/provider/…`). libp2p and kad-dht expire what they keep there themselves:
 * peers unseen for 6 h, records after 36 h, provider records after 48 h.
 */
import type { DatabaseSync, StatementSync } from 'node:sqlite'
import { NotFoundError } from '@libp2p/interface'
import { BaseDatastore } from 'datastore-core'
import { Key, type KeyQuery, type Pair, type Query } from 'interface-datastore'
import type { AbortOptions } from '@libp2p/interface'

/**
 * Rows read per step of a query. A query is read in pages by key, not in one go: the
 * provider records of a busy DHT server run to hundreds of thousands, and libp2p deletes
 * rows (expired peers, records) while it walks a query, which a page-by-key walk survives.
 */
const QUERY_PAGE = 256

/** Above every character a key holds (keys are ASCII), so `[prefix, prefix + END)` is the prefix's range. */
const PREFIX_END = '\uffff'

export class SqliteDatastore extends BaseDatastore {
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
    this.statements.put.run(key.toString(), value)
    return key
  }

  get (key: Key, options?: AbortOptions): Uint8Array {
    options?.signal?.throwIfAborted()
    const row = this.statements.get.get(key.toString()) as { value: Uint8Array } | undefined
    if (row === undefined) throw new NotFoundError(`${key.toString()} is not in the datastore`)
    return row.value
  }

  has (key: Key, options?: AbortOptions): boolean {
    options?.signal?.throwIfAborted()
    return this.statements.has.get(key.toString()) !== undefined
  }

  delete (key: Key, options?: AbortOptions): void {
    options?.signal?.throwIfAborted()
    this.statements.delete.run(key.toString())
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
