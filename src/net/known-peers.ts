/**
 * The peers this node has talked to, in the home's db (table `peers`: peer id, the
 * addresses it listens on as JSON, last seen in ms since the epoch), so a restarted
 * node knows whom to dial. Bounded by age and by count; the newest are kept.
 */
import type { DatabaseSync, StatementSync } from 'node:sqlite'

export interface KnownPeer {
  peer: string
  addrs: string[]
  lastSeen: number
}

export interface KnownPeersLimits {
  /** Forget a peer not seen for this long (ms). */
  maxAge: number
  /** Keep at most this many peers, the most recently seen. */
  maxPeers: number
  /** Keep at most this many addresses per peer. */
  maxAddrs: number
}

// a type, not an interface: node:sqlite's rows are Records, which only a type alias matches
type Row = { peer: string, addrs: string, last_seen: number }

function toKnownPeer (r: Row): KnownPeer {
  let addrs: unknown
  try {
    addrs = JSON.parse(r.addrs)
  } catch { /* a damaged row: no address to dial */ }
  return { peer: r.peer, addrs: Array.isArray(addrs) ? addrs.filter(a => typeof a === 'string') : [], lastSeen: r.last_seen }
}

export class KnownPeers {
  private readonly limits: KnownPeersLimits
  private readonly statements: Record<'upsert' | 'touch' | 'recent' | 'get' | 'forget' | 'pruneOld' | 'pruneExtra' | 'count', StatementSync>
  /** Peers added since the last prune: a node on a busy network meets many between restarts. */
  private added = 0

  constructor (db: DatabaseSync, limits: KnownPeersLimits) {
    this.limits = limits
    this.statements = {
      upsert: db.prepare(`INSERT INTO peers (peer, addrs, last_seen) VALUES (?, ?, ?)
        ON CONFLICT (peer) DO UPDATE SET addrs = excluded.addrs, last_seen = excluded.last_seen`),
      touch: db.prepare('UPDATE peers SET last_seen = ? WHERE peer = ?'),
      recent: db.prepare('SELECT peer, addrs, last_seen FROM peers ORDER BY last_seen DESC LIMIT ?'),
      get: db.prepare('SELECT peer, addrs, last_seen FROM peers WHERE peer = ?'),
      forget: db.prepare('DELETE FROM peers WHERE peer = ?'),
      pruneOld: db.prepare('DELETE FROM peers WHERE last_seen < ?'),
      pruneExtra: db.prepare('DELETE FROM peers WHERE peer NOT IN (SELECT peer FROM peers ORDER BY last_seen DESC LIMIT ?)'),
      count: db.prepare('SELECT COUNT(*) AS n FROM peers')
    }
  }

  /** Records that `peer` was seen now; `addrs`, when given and not empty, replace the ones kept. */
  seen (peer: string, addrs: string[] = [], now = Date.now()): void {
    const kept = [...new Set(addrs)].slice(0, this.limits.maxAddrs)
    if (kept.length === 0) {
      // a peer with no address to dial is not worth a row; one already kept is seen again
      this.statements.touch.run(now, peer)
      return
    }
    this.statements.upsert.run(peer, JSON.stringify(kept), now)
    // at most a quarter over the limit between prunes, without a DELETE per new peer
    if (++this.added >= Math.max(1, this.limits.maxPeers / 4)) this.prune(now)
  }

  /** The most recently seen peers first, at most `limit`. */
  recent (limit: number): KnownPeer[] {
    return (this.statements.recent.all(limit) as Row[]).map(toKnownPeer)
  }

  get (peer: string): KnownPeer | undefined {
    const row = this.statements.get.get(peer) as Row | undefined
    return row === undefined ? undefined : toKnownPeer(row)
  }

  forget (peer: string): void {
    this.statements.forget.run(peer)
  }

  /** Drops peers older than maxAge and all but the maxPeers newest; returns how many went. */
  prune (now = Date.now()): number {
    this.added = 0
    const old = this.statements.pruneOld.run(now - this.limits.maxAge).changes
    const extra = this.statements.pruneExtra.run(this.limits.maxPeers).changes
    return Number(old) + Number(extra)
  }

  count (): number {
    return (this.statements.count.get() as { n: number }).n
  }
}
