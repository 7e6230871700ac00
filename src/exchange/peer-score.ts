/**
 * What a misbehaving exchange peer costs. A peer whose score reaches the ban threshold
 * is disconnected and neither asked nor served until the ban ends (hsd's ban score).
 */

export type Offence = 'bad-block' | 'unsolicited' | 'stall' | 'malformed' | 'flood' | 'bad-record' | 'storage-flood'

export const PENALTY: Record<Offence, number> = {
  /** A block that does not hash to its CID: never an accident. */
  'bad-block': 100,
  /** A frame that breaks the wire format, or an oversized one. */
  malformed: 100,
  /** More open wants than the protocol allows. */
  flood: 100,
  /** A site record with a forged signature, the wrong key, or broken bytes (sites/). */
  'bad-record': 25,
  /** A storage request (src/storage/) past the per-peer rate: refused, and four in a row ban. */
  'storage-flood': 25,
  /** A block nobody asked this peer for. */
  unsolicited: 25,
  /** A want left unanswered past the timeout. */
  stall: 10
}

export interface PeerScoreInit {
  banThreshold?: number
  banMs?: number
  onBan?: (peer: string, reason: string) => void
}

export interface PeerRecord {
  score: number
  offences: Partial<Record<Offence, number>>
  /** What the last offence was, for logs and `weft peers`. */
  lastReason?: string
  bannedUntil?: number
}

export class PeerScores {
  private readonly peers = new Map<string, PeerRecord>()
  private readonly banThreshold: number
  private readonly banMs: number
  private readonly onBan?: (peer: string, reason: string) => void

  constructor (init: PeerScoreInit = {}) {
    this.banThreshold = init.banThreshold ?? 100
    this.banMs = init.banMs ?? 10 * 60_000
    this.onBan = init.onBan
  }

  penalise (peer: string, offence: Offence, detail: string): void {
    const record = this.peers.get(peer) ?? { score: 0, offences: {} }
    record.score += PENALTY[offence]
    record.offences[offence] = (record.offences[offence] ?? 0) + 1
    record.lastReason = `${offence}: ${detail}`
    this.peers.set(peer, record)
    if (record.score >= this.banThreshold && !this.isBanned(peer)) {
      record.bannedUntil = Date.now() + this.banMs
      this.onBan?.(peer, `${offence}: ${detail}`)
    }
  }

  isBanned (peer: string): boolean {
    const record = this.peers.get(peer)
    if (record?.bannedUntil === undefined) return false
    if (Date.now() < record.bannedUntil) return true
    // The ban is served: start afresh.
    this.peers.delete(peer)
    return false
  }

  get (peer: string): PeerRecord | undefined {
    return this.peers.get(peer)
  }
}
