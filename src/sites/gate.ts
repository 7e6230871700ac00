/**
 * The record gate: the one way a signed record (a site's version today, a user's
 * contribution next) gets into a node. Validity first, then the sequence rule. A record
 * never replaces one with a higher sequence; a different value under the same sequence is
 * equivocation and is kept out (the first one seen stays).
 *
 * What the gate accepted lives in a RecordBook keyed by whatever the record kind is keyed
 * by (a site's name; a site and a user), so each kind keeps its own tables and shares the
 * rules.
 */
import type { PeerId } from '@libp2p/interface'
import { logger, type Logger } from '@libp2p/logger'
import { RecordRejected, type RejectReason, type SiteRecord } from './records.ts'

/** Where a record came from, for counters, logs and `resolve`'s answer. */
export interface RecordSource {
  /** `peer`: a peer's answer to the record ask (ask.ts). */
  kind: 'self' | 'pubsub' | 'dht' | 'local' | 'peer'
  /** The peer that handed it over (a pubsub relay), charged for junk. */
  peer?: string
  /** The peer that signed the pubsub message carrying it: likely to hold the version. */
  origin?: PeerId
}

/** Where a gate keeps what it accepted; the site store is one, a users store will be another. */
export interface RecordBook {
  /** The record held for `key`, the one a newcomer is compared with. */
  current: (key: string) => SiteRecord | undefined
  /** Stores the record as the key's best (and its version if new); true when the version is new. */
  save: (key: string, record: SiteRecord, source: string) => boolean
  /** Marks the held record fresh again (the same version came back). */
  touch: (key: string) => void
  /** Keeps the evidence of a second value signed under `sequence`. */
  equivocation: (key: string, sequence: bigint, heldValue: string, other: SiteRecord) => void
  /** Counts a refused record. */
  rejection: (key: string, reason: RejectReason, peer: string | undefined) => void
}

export interface RecordGateComponents {
  book: RecordBook
  /** A peer that sent a forged or malformed record pays for it (absent offline). */
  penalise?: (peer: string, detail: string) => void
}

export interface RecordGateInit {
  /** Checks the bytes as a record for `key` (size, key, signature, expiry); throws RecordRejected. */
  check: (key: string, bytes: Uint8Array) => Promise<SiteRecord>
  /** Names the gate's logger (`weft:<label>`). */
  label?: string
}

export type GateOutcome = 'new' | 'refresh' | 'same'

export interface RecordGateEvents {
  /** A record that became the key's current one with a higher sequence (or the first); a later validity alone is saved quietly. */
  accepted: { key: string, record: SiteRecord, isNew: boolean, source: RecordSource }
  rejected: { key: string, reason: RejectReason, peer?: string }
}

/** Reasons that only a broken or hostile sender produces; stale and equivocating records may be relayed in good faith. */
const HOSTILE = new Set<RejectReason>(['too-large', 'malformed', 'wrong-key', 'bad-signature', 'bad-value', 'wrong-site'])

export function isHostile (reason: RejectReason): boolean {
  return HOSTILE.has(reason)
}

type Listeners = { [K in keyof RecordGateEvents]: Array<(detail: RecordGateEvents[K]) => void> }

/**
 * Listeners are called in turn inside `accept`, not through an EventTarget: what they do
 * (a sync, an event for the service's listeners) is part of taking the record, and a
 * listener that throws makes `accept` throw to its caller instead of escaping as an
 * uncaught exception (EventTarget's rule for a throwing listener).
 */
export class RecordGate {
  private readonly components: RecordGateComponents
  private readonly init: RecordGateInit
  private readonly log: Logger
  private readonly listeners: Listeners = { accepted: [], rejected: [] }

  constructor (components: RecordGateComponents, init: RecordGateInit) {
    this.components = components
    this.init = init
    this.log = logger(`weft:${init.label ?? 'records'}`)
  }

  /** Calls `fn` for each event of `type`, in the order added; returns the way to stop. */
  on<K extends keyof RecordGateEvents> (type: K, fn: (detail: RecordGateEvents[K]) => void): () => void {
    const list = this.listeners[type] as Array<(detail: RecordGateEvents[K]) => void>
    list.push(fn)
    return () => {
      const at = list.indexOf(fn)
      if (at >= 0) list.splice(at, 1)
    }
  }

  /** Checks and keeps `bytes` as a record for `key`; throws RecordRejected (counted, and charged to a hostile sender). */
  async accept (key: string, bytes: Uint8Array, source: RecordSource): Promise<{ outcome: GateOutcome, record: SiteRecord }> {
    const { book } = this.components
    let record: SiteRecord
    try {
      record = await this.init.check(key, bytes)
      const current = book.current(key)
      if (current !== undefined) {
        if (record.sequence < current.sequence) throw new RecordRejected('stale', `sequence ${record.sequence} is older than the ${current.sequence} already held`)
        if (record.sequence === current.sequence) {
          if (record.value !== current.value) {
            book.equivocation(key, record.sequence, current.value, record)
            throw new RecordRejected('equivocation', `sequence ${record.sequence} was already signed with another value (${current.value})`)
          }
          if (record.validity <= current.validity) {
            book.touch(key)
            return { outcome: 'same', record }
          }
          book.save(key, record, source.kind)
          return { outcome: 'refresh', record }
        }
      }
    } catch (err) {
      if (err instanceof RecordRejected) this.reject(key, err, source)
      throw err
    }
    const isNew = book.save(key, record, source.kind)
    this.log('%s: sequence %s (%s) from %s', key, record.sequence, record.value, source.peer ?? source.kind)
    this.emit('accepted', { key, record, isNew, source })
    return { outcome: isNew ? 'new' : 'refresh', record }
  }

  private reject (key: string, err: RecordRejected, source: RecordSource): void {
    this.components.book.rejection(key, err.reason, source.peer)
    this.log.error('%s: refused a record from %s (%s): %s', key, source.peer ?? source.kind, err.reason, err.message)
    this.emit('rejected', { key, reason: err.reason, peer: source.peer })
    if (source.peer !== undefined && isHostile(err.reason)) this.components.penalise?.(source.peer, `${err.reason} record for ${key}`)
  }

  private emit<K extends keyof RecordGateEvents> (type: K, detail: RecordGateEvents[K]): void {
    for (const fn of [...this.listeners[type]] as Array<(detail: RecordGateEvents[K]) => void>) fn(detail)
  }
}
