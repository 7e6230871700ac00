import { DatabaseSync } from 'node:sqlite'
import { WeftError } from '../errors.ts'

/** Each entry moves the schema from version i to i + 1. Never edit one that has shipped. */
const MIGRATIONS: string[] = [
  `CREATE TABLE blocks (mh BLOB PRIMARY KEY, pack INTEGER NOT NULL, off INTEGER NOT NULL, len INTEGER NOT NULL) WITHOUT ROWID;
   CREATE INDEX blocks_by_pack ON blocks (pack, off);
   CREATE TABLE pins (cid TEXT PRIMARY KEY, type TEXT NOT NULL CHECK (type IN ('recursive', 'direct')), created INTEGER NOT NULL);`,
  `CREATE TABLE sites (label TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, created INTEGER NOT NULL, published INTEGER NOT NULL DEFAULT 1,
     imported INTEGER NOT NULL DEFAULT 0, floor TEXT NOT NULL DEFAULT '0');
   CREATE TABLE site_records (name TEXT PRIMARY KEY, record BLOB NOT NULL, sequence TEXT NOT NULL, value TEXT NOT NULL,
     validity INTEGER NOT NULL, ttl INTEGER NOT NULL, fetched INTEGER NOT NULL, source TEXT NOT NULL);
   CREATE TABLE site_versions (name TEXT NOT NULL, sequence TEXT NOT NULL, value TEXT NOT NULL, first_seen INTEGER NOT NULL,
     fetched INTEGER, pinned INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (name, sequence));
   CREATE TABLE follows (name TEXT PRIMARY KEY, keep INTEGER NOT NULL, created INTEGER NOT NULL);
   CREATE TABLE site_equivocations (name TEXT NOT NULL, sequence TEXT NOT NULL, value_a TEXT NOT NULL, value_b TEXT NOT NULL,
     record_b BLOB NOT NULL, seen INTEGER NOT NULL, PRIMARY KEY (name, sequence, value_b));
   CREATE TABLE site_rejections (name TEXT NOT NULL, reason TEXT NOT NULL, count INTEGER NOT NULL, last_peer TEXT, last_seen INTEGER NOT NULL,
     PRIMARY KEY (name, reason));
   CREATE TABLE site_peers (name TEXT NOT NULL, peer TEXT NOT NULL, last_seen INTEGER NOT NULL, PRIMARY KEY (name, peer));`,
  `CREATE TABLE petnames (name TEXT PRIMARY KEY, value TEXT NOT NULL, created INTEGER NOT NULL);`,
  // libp2p's datastore (peer store, DHT records and provider records) and the peers this
  // node talked to, so a restart finds its network again (net/datastore.ts, net/known-peers.ts).
  `CREATE TABLE datastore (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
   CREATE TABLE peers (peer TEXT PRIMARY KEY, addrs TEXT NOT NULL, last_seen INTEGER NOT NULL);
   CREATE INDEX peers_by_last_seen ON peers (last_seen);`,
  // Users' contributions to sites (src/users/store.ts): the best record per (site, user),
  // what its folder held when checked, records refused, and the sites this node's person
  // allowed to sign as them.
  `CREATE TABLE user_records (site TEXT NOT NULL, user TEXT NOT NULL, record BLOB NOT NULL, sequence TEXT NOT NULL, value TEXT NOT NULL,
     validity INTEGER NOT NULL, ttl INTEGER NOT NULL, fetched INTEGER NOT NULL, source TEXT NOT NULL, first_seen INTEGER NOT NULL,
     PRIMARY KEY (site, user));
   CREATE TABLE contributions (site TEXT NOT NULL, user TEXT NOT NULL, sequence TEXT NOT NULL, root TEXT NOT NULL, files TEXT NOT NULL,
     state TEXT NOT NULL, reason TEXT, updated INTEGER NOT NULL, PRIMARY KEY (site, user));
   CREATE TABLE user_equivocations (site TEXT NOT NULL, user TEXT NOT NULL, sequence TEXT NOT NULL, value_a TEXT NOT NULL, value_b TEXT NOT NULL,
     record_b BLOB NOT NULL, seen INTEGER NOT NULL, PRIMARY KEY (site, user, sequence, value_b));
   CREATE TABLE user_rejections (site TEXT NOT NULL, reason TEXT NOT NULL, count INTEGER NOT NULL, last_peer TEXT, last_seen INTEGER NOT NULL,
     PRIMARY KEY (site, reason));
   CREATE TABLE user_consent (site TEXT PRIMARY KEY, changed INTEGER NOT NULL);`,
  // The person's private store per site (src/private/store.ts): the signed record naming the
  // sealed index, its sequence and block, and the index itself as opened (this home is the
  // user's own; only ciphertext ever leaves it). The device id tells this home's writes apart.
  `CREATE TABLE private_indexes (site TEXT PRIMARY KEY, index_name TEXT NOT NULL, record BLOB NOT NULL, sequence INTEGER NOT NULL,
     root TEXT NOT NULL, body TEXT NOT NULL, updated INTEGER NOT NULL);
   CREATE TABLE private_device (id TEXT NOT NULL);`,
  // Sealed messages (src/private/message-store.ts): envelopes carried for a site's users until
  // they expire, what this node's person could open (the inbox), and envelopes refused.
  `CREATE TABLE message_envelopes (id BLOB PRIMARY KEY, site TEXT NOT NULL, envelope BLOB NOT NULL, size INTEGER NOT NULL,
     received INTEGER NOT NULL, expires INTEGER NOT NULL) WITHOUT ROWID;
   CREATE INDEX message_envelopes_by_site ON message_envelopes (site, received);
   CREATE INDEX message_envelopes_by_expiry ON message_envelopes (expires);
   CREATE TABLE message_inbox (id BLOB PRIMARY KEY, site TEXT NOT NULL, recipient TEXT NOT NULL, sender TEXT NOT NULL, sent INTEGER NOT NULL,
     body BLOB NOT NULL, received INTEGER NOT NULL) WITHOUT ROWID;
   CREATE INDEX message_inbox_by_recipient ON message_inbox (site, recipient, sent);
   CREATE INDEX message_inbox_by_sender ON message_inbox (site, recipient, sender, received);
   CREATE TABLE message_rejections (site TEXT NOT NULL, reason TEXT NOT NULL, count INTEGER NOT NULL, last_peer TEXT, last_seen INTEGER NOT NULL,
     PRIMARY KEY (site, reason));`,
  // The private store keyed by index name, not site (src/private/store.ts): after a master key
  // is replaced (a forced link, import or recovery) the new key's index starts apart, and the
  // old key's row stays, sealed, for the day that key comes back.
  `CREATE TABLE private_indexes_by_name (index_name TEXT PRIMARY KEY, site TEXT NOT NULL, record BLOB NOT NULL, sequence INTEGER NOT NULL,
     root TEXT NOT NULL, body TEXT NOT NULL, updated INTEGER NOT NULL);
   INSERT INTO private_indexes_by_name (index_name, site, record, sequence, root, body, updated)
     SELECT index_name, site, record, sequence, root, body, updated FROM private_indexes;
   DROP TABLE private_indexes;
   ALTER TABLE private_indexes_by_name RENAME TO private_indexes;
   CREATE INDEX private_indexes_by_site ON private_indexes (site);`,
  // Requests taken through the IPFS Pinning Service API (src/storage/pinning/requests.ts).
  `CREATE TABLE pinning_requests (requestid TEXT PRIMARY KEY, cid TEXT NOT NULL, cid_key TEXT NOT NULL, name TEXT, name_lower TEXT,
     origins TEXT NOT NULL, meta TEXT NOT NULL, status TEXT NOT NULL CHECK (status IN ('queued', 'pinning', 'pinned', 'failed')),
     created INTEGER NOT NULL UNIQUE, info TEXT NOT NULL, updated INTEGER NOT NULL);
   CREATE INDEX pinning_requests_by_cid ON pinning_requests (cid_key);
   CREATE INDEX pinning_requests_by_status ON pinning_requests (status, created);`,
  // Replicas (src/storage/store.ts): what this node asked others to hold (and how many
  // copies), who holds each and how their audits went, and what it holds for others.
  `CREATE TABLE storage_wanted (target TEXT PRIMARY KEY, kind TEXT NOT NULL CHECK (kind IN ('site', 'cid')), keep INTEGER NOT NULL,
     copies INTEGER NOT NULL, bytes INTEGER NOT NULL, created INTEGER NOT NULL);
   CREATE TABLE storage_replicas (target TEXT NOT NULL, holder TEXT NOT NULL, state TEXT NOT NULL, bytes INTEGER NOT NULL, added INTEGER NOT NULL,
     last_audit INTEGER, last_result TEXT, failures INTEGER NOT NULL DEFAULT 0, passes INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (target, holder));
   CREATE INDEX storage_replicas_by_holder ON storage_replicas (holder, state);
   CREATE TABLE storage_held (target TEXT NOT NULL, peer TEXT NOT NULL, kind TEXT NOT NULL CHECK (kind IN ('site', 'cid')), keep INTEGER NOT NULL,
     bytes INTEGER NOT NULL, copies INTEGER NOT NULL DEFAULT 0, state TEXT NOT NULL, followed INTEGER NOT NULL DEFAULT 0, accepted INTEGER NOT NULL, reason TEXT,
     PRIMARY KEY (target, peer));
   CREATE INDEX storage_held_by_peer ON storage_held (peer, state);`
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
    // SQLite rolls back by itself on some failures (a full disk): a second ROLLBACK would hide the first error.
    if (db.isTransaction) db.exec('ROLLBACK')
    throw err
  }
}
