/**
 * The peers this node has talked to, in the home's db (table `peers`: peer id, the
 * addresses it listens on as JSON, last seen in ms since the epoch), so a restarted
 * node knows whom to dial. Bounded by age and by count; the newest are kept.
 */
import type { DatabaseSync } from 'node:sqlite'

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

export class KnownPeers {
  private readonly db: DatabaseSync
  private readonly limits: KnownPeersLimits

  constructor (db: DatabaseSync, limits: KnownPeersLimits) {
    this.db = db
    this.limits = limits
  }

  /** Records that `peer` was seen now; `addrs`, when given and not empty, replace the ones kept. */
  seen (peer: string, addrs: string[] = [], now = Date.now()): void {
    const kept = [...new Set(addrs)].slice(0, this.limits.maxAddrs)
    if (kept.length > 0) {
      this.db.prepare(`INSERT INTO peers (peer, addrs, last_seen) VALUES (?, ?, ?)
        ON CONFLICT (peer) DO UPDATE SET addrs = excluded.addrs, last_seen = excluded.last_seen`).run(peer, JSON.stringify(kept), now)
    } else {
      // a peer with no address to dial is not worth a row; one already kept is seen again
      this.db.prepare('UPDATE peers SET last_seen = ? WHERE peer = ?').run(now, peer)
    }
  }

  /** The most recently seen peers first, at most `limit`. */
  recent (limit: number): KnownPeer[] {
    const rows = this.db.prepare('SELECT peer, addrs, last_seen FROM peers ORDER BY last_seen DESC LIMIT ?').all(limit) as Array<{ peer: string, addrs: string, last_seen: number }>
    return rows.map(r => ({ peer: r.peer, addrs: JSON.parse(r.addrs) as string[], lastSeen: r.last_seen }))
  }

  get (peer: string): KnownPeer | undefined {
    const r = this.db.prepare('SELECT peer, addrs, last_seen FROM peers WHERE peer = ?').get(peer) as { peer: string, addrs: string, last_seen: number } | undefined
    return r === undefined ? undefined : { peer: r.peer, addrs: JSON.parse(r.addrs) as string[], lastSeen: r.last_seen }
  }

  forget (peer: string): void {
    this.db.prepare('DELETE FROM peers WHERE peer = ?').run(peer)
  }

  /** Drops peers older than maxAge and all but the maxPeers newest; returns how many went. */
  prune (now = Date.now()): number {
    const old = this.db.prepare('DELETE FROM peers WHERE last_seen < ?').run(now - this.limits.maxAge).changes
    const extra = this.db.prepare(`DELETE FROM peers WHERE peer NOT IN
      (SELECT peer FROM peers ORDER BY last_seen DESC LIMIT ?)`).run(this.limits.maxPeers).changes
    return Number(old) + Number(extra)
  }

  count (): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM peers').get() as { n: number }).n
  }
}
