/**
 * The Users interface from the shared design (notes/users-spec.md), alone: the gateway's
 * site API is written against it while src/users/ (identity, rules, records, site db,
 * contributions) is built beside it. The real `createUsers` returns this.
 */
import type { Startable } from '@libp2p/interface'

export interface Contribution {
  /** k51… site name. */
  site: string
  /** k51… user id. */
  user: string
  sequence: bigint
  /** CID of the user's folder. */
  root: string
  files: Array<{ path: string, size: number, cid: string }>
  /** ms epoch the current record was first seen. */
  updated: number
}

export interface UserEvents {
  contribution: { site: string, user: string, sequence: bigint, root: string }
  removed: { site: string, user: string, reason: string }
}

export interface Users extends Startable, EventTarget {
  /** The user's id on a site (creates the master key on first use). */
  id (site: string): string
  /** Writes (or with bytes undefined, removes) one file of this user's contribution on the site, signs and publishes it. */
  write (site: string, path: string, bytes: Uint8Array | undefined, options?: { signal?: AbortSignal }): Promise<Contribution>
  /** Accepted contributions on a site (in rules, not banned, folder held), newest first. */
  contributions (site: string): Contribution[]
  /** One accepted contribution, or undefined. */
  contribution (site: string, user: string): Contribution | undefined
  /** Rows from the site's database (read-only SQL; ERR_QUERY_REFUSED, ERR_QUERY_TIMEOUT). */
  query (site: string, sql: string, params?: unknown[] | Record<string, unknown>, options?: { signal?: AbortSignal }): Promise<Array<Record<string, unknown>>>
  /** Whether this node's person allowed the site to sign as them; and allowing it. */
  allowed (site: string): boolean
  allow (site: string, allowed: boolean): void
}
