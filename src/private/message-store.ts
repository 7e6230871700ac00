/**
 * The messages tables in weft.db (migration in src/repo/db.ts):
 *
 * - `message_envelopes`: sealed envelopes this node carries for a site's users, by id
 *   (SHA-256 of the envelope), until `expires` (ms), at most `maxPerSite` envelopes and
 *   `maxBytesPerSite` bytes per site (past either, the oldest received go first);
 * - `message_inbox`: letters this node's person opened, by the envelope's id; at most
 *   `maxPerSender` from one sender to one recipient (past it, that sender's oldest go), and
 *   at most `maxInbox` letters and `maxInboxBytes` bytes of body per site and recipient
 *   (past either, the oldest received go: fresh sender keys cost nothing), each kept until
 *   `inboxExpiry` ms after it was received;
 * - `message_rejections`: envelopes refused, counted by site and reason.
 */
import type { DatabaseSync } from 'node:sqlite'
import { transaction } from '../repo/index.ts'

export interface InboxRow {
  /** The envelope's SHA-256 (hex). */
  id: string
  site: string
  recipient: string
  sender: string
  sent: number
  body: Uint8Array
  received: number
}

export interface StoreLimits {
  maxPerSite: number
  maxBytesPerSite: number
  maxPerSender: number
  maxInbox: number
  maxInboxBytes: number
  /** ms a letter stays in the inbox after it was received. */
  inboxExpiry: number
}

type Row = Record<string, any>

const toInbox = (r: Row): InboxRow => ({
  id: Buffer.from(r.id).toString('hex'),
  site: r.site,
  recipient: r.recipient,
  sender: r.sender,
  sent: r.sent,
  body: new Uint8Array(r.body),
  received: r.received
})

export class MessageStore {
  private readonly db: DatabaseSync
  private readonly limits: StoreLimits

  constructor (db: DatabaseSync, limits: StoreLimits) {
    this.db = db
    this.limits = limits
  }

  hasEnvelope (id: Uint8Array): boolean {
    return this.db.prepare('SELECT 1 FROM message_envelopes WHERE id = ?').get(id) !== undefined
  }

  /** Holds an envelope; false when it was held already. Past the site's caps the oldest go. */
  putEnvelope (id: Uint8Array, site: string, envelope: Uint8Array, expires: number, now = Date.now()): boolean {
    return transaction(this.db, () => {
      // what expired goes first, so it never counts against the caps (the sweep catches sites nothing arrives for)
      this.db.prepare('DELETE FROM message_envelopes WHERE expires <= ?').run(now)
      const added = this.db.prepare('INSERT OR IGNORE INTO message_envelopes (id, site, envelope, size, received, expires) VALUES (?, ?, ?, ?, ?, ?)')
        .run(id, site, envelope, envelope.byteLength, now, expires).changes > 0
      if (!added) return false
      const held = this.db.prepare('SELECT COUNT(*) AS n, COALESCE(SUM(size), 0) AS bytes FROM message_envelopes WHERE site = ?').get(site) as Row
      let count = Number(held.n)
      let bytes = Number(held.bytes)
      if (count > this.limits.maxPerSite || bytes > this.limits.maxBytesPerSite) {
        const oldest = this.db.prepare('SELECT id, size FROM message_envelopes WHERE site = ? ORDER BY received, id').iterate(site) as Iterable<Row>
        const drop = this.db.prepare('DELETE FROM message_envelopes WHERE id = ?')
        const doomed: Uint8Array[] = []
        for (const r of oldest) {
          if (count <= this.limits.maxPerSite && bytes <= this.limits.maxBytesPerSite) break
          doomed.push(r.id)
          count--
          bytes -= Number(r.size)
        }
        for (const d of doomed) drop.run(d)
      }
      return true
    })
  }

  /** Envelopes held for a site received at or after `since` (ms), newest first, a page at a time. */
  envelopes (site: string, since: number, offset: number, limit: number, now = Date.now()): Uint8Array[] {
    const rows = this.db.prepare('SELECT envelope FROM message_envelopes WHERE site = ? AND received >= ? AND expires > ? ORDER BY received DESC, id LIMIT ? OFFSET ?')
      .all(site, since, now, limit, offset) as Row[]
    return rows.map(r => new Uint8Array(r.envelope))
  }

  /** Drops envelopes and letters past their expiry; returns how many. */
  expire (now = Date.now()): number {
    const envelopes = Number(this.db.prepare('DELETE FROM message_envelopes WHERE expires <= ?').run(now).changes)
    return envelopes + Number(this.db.prepare('DELETE FROM message_inbox WHERE received <= ?').run(now - this.limits.inboxExpiry).changes)
  }

  held (site: string): { envelopes: number, bytes: number } {
    const r = this.db.prepare('SELECT COUNT(*) AS n, COALESCE(SUM(size), 0) AS bytes FROM message_envelopes WHERE site = ?').get(site) as Row
    return { envelopes: Number(r.n), bytes: Number(r.bytes) }
  }

  inInbox (id: Uint8Array): boolean {
    return this.db.prepare('SELECT 1 FROM message_inbox WHERE id = ?').get(id) !== undefined
  }

  /** Keeps an opened letter; past the per-sender cap that sender's oldest to this recipient go, past the recipient's caps the oldest of all. */
  putInbox (id: Uint8Array, row: Omit<InboxRow, 'id'>): boolean {
    return transaction(this.db, () => {
      this.db.prepare('DELETE FROM message_inbox WHERE received <= ?').run(row.received - this.limits.inboxExpiry)
      const added = this.db.prepare('INSERT OR IGNORE INTO message_inbox (id, site, recipient, sender, sent, body, received) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run(id, row.site, row.recipient, row.sender, row.sent, row.body, row.received).changes > 0
      if (!added) return false
      this.db.prepare(`DELETE FROM message_inbox WHERE id IN (
          SELECT id FROM message_inbox WHERE site = ? AND recipient = ? AND sender = ? ORDER BY received DESC, sent DESC LIMIT -1 OFFSET ?)`)
        .run(row.site, row.recipient, row.sender, this.limits.maxPerSender)
      const held = this.db.prepare('SELECT COUNT(*) AS n, COALESCE(SUM(LENGTH(body)), 0) AS bytes FROM message_inbox WHERE site = ? AND recipient = ?').get(row.site, row.recipient) as Row
      let count = Number(held.n)
      let bytes = Number(held.bytes)
      if (count > this.limits.maxInbox || bytes > this.limits.maxInboxBytes) {
        const oldest = this.db.prepare('SELECT id, LENGTH(body) AS size FROM message_inbox WHERE site = ? AND recipient = ? ORDER BY received, sent, id').iterate(row.site, row.recipient) as Iterable<Row>
        const doomed: Uint8Array[] = []
        for (const r of oldest) {
          if (count <= this.limits.maxInbox && bytes <= this.limits.maxInboxBytes) break
          doomed.push(r.id)
          count--
          bytes -= Number(r.size)
        }
        const drop = this.db.prepare('DELETE FROM message_inbox WHERE id = ?')
        for (const d of doomed) drop.run(d)
      }
      // the letter itself may have gone (larger than the byte cap): say so
      return this.inInbox(id)
    })
  }

  /** What a recipient opened on a site, newest first. */
  inbox (site: string, recipient: string): InboxRow[] {
    return (this.db.prepare('SELECT * FROM message_inbox WHERE site = ? AND recipient = ? ORDER BY sent DESC, id').all(site, recipient) as Row[]).map(toInbox)
  }

  rejection (site: string, reason: string, peer?: string): void {
    this.db.prepare(`INSERT INTO message_rejections (site, reason, count, last_peer, last_seen) VALUES (?, ?, 1, ?, ?)
      ON CONFLICT (site, reason) DO UPDATE SET count = count + 1, last_peer = COALESCE(excluded.last_peer, last_peer), last_seen = excluded.last_seen`)
      .run(site, reason, peer ?? null, Date.now())
  }

  rejections (site: string): Array<{ reason: string, count: number, lastPeer?: string }> {
    return (this.db.prepare('SELECT reason, count, last_peer FROM message_rejections WHERE site = ? ORDER BY reason').all(site) as Row[])
      .map(r => ({ reason: r.reason, count: Number(r.count), lastPeer: r.last_peer ?? undefined }))
  }
}
