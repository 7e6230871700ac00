/**
 * Swarming: peers fetching the same blocks at once (a site's followers after an update)
 * serve each other, as BitTorrent peers do, instead of all pulling from the one peer that
 * had the blocks first.
 *
 * - A node answers a want for a block its own sessions are fetching when the block
 *   arrives, instead of DONT_HAVE at once: the want is parked (server.ts).
 * - Waits must not go round in a circle (A waits for B, B for C, C for A). A requester
 *   told which peers are fetching the same DAG (`swarm`) asks, for each block, one at
 *   random among the named providers and the swarm peers closer to the block than itself:
 *   closer by the XOR distance of sha256(peer id) to sha256(block CID), as in Kademlia.
 *   Every chain of such asks gets strictly closer to the block, so it ends at a holder;
 *   with n peers in the swarm the first holder is asked by about ln(n) of them, not n.
 *   Only when those lack the block does a requester ask farther peers (the usual pick); a
 *   node never parks a want from the peer its own fetch of that block is waiting on, and
 *   a longer circle (rare: it needs two such fallbacks) is broken by the parked want's
 *   silence deadline (server.ts).
 */
import { createHash } from 'node:crypto'

/** sha256 of a peer id's text or a CID's bytes: where it sits in the swarm's order. */
export function swarmKey (id: string | Uint8Array): Uint8Array {
  return createHash('sha256').update(id).digest()
}

/** Whether `a` is closer than `b` to `target` (XOR distance; equal keys are not closer). */
export function closer (a: Uint8Array, b: Uint8Array, target: Uint8Array): boolean {
  for (let i = 0; i < target.length; i++) {
    const da = a[i] ^ target[i]
    const db = b[i] ^ target[i]
    if (da !== db) return da < db
  }
  return false
}

type Waiter = (arrived: boolean) => void

/**
 * The blocks this node's sessions are fetching now, and the peers' parked wants waiting
 * for them: a waiter hears `true` once the block is stored, `false` once no session wants
 * it any more (the fetch ended or failed without it).
 */
export class InFlight {
  private readonly wanted = new Map<string, number>()
  private readonly waiters = new Map<string, Set<Waiter>>()
  private readonly sessions = new Set<{ waitingOn: (key: string, peer: string) => boolean }>()

  /** A running session, asked whether it is waiting on a peer for a block; returns a function that removes it. */
  register (session: { waitingOn: (key: string, peer: string) => boolean }): () => void {
    this.sessions.add(session)
    return () => { this.sessions.delete(session) }
  }

  /** Whether some session of this node waits on `peer` for `key` (so that peer must not wait on us for it). */
  waitingOn (key: string, peer: string): boolean {
    for (const session of this.sessions) {
      if (session.waitingOn(key, peer)) return true
    }
    return false
  }

  want (key: string): void {
    this.wanted.set(key, (this.wanted.get(key) ?? 0) + 1)
  }

  /** A session no longer wants `key` (it arrived, or the session ended). */
  unwant (key: string): void {
    const n = (this.wanted.get(key) ?? 0) - 1
    if (n > 0) {
      this.wanted.set(key, n)
      return
    }
    this.wanted.delete(key)
    this.notify(key, false)
  }

  isWanted (key: string): boolean {
    return this.wanted.has(key)
  }

  /** The block is in the store. */
  arrived (key: string): void {
    this.notify(key, true)
  }

  /** Calls `fn` once when `key` arrives or is given up; returns a function that stops waiting. */
  wait (key: string, fn: Waiter): () => void {
    let set = this.waiters.get(key)
    if (set === undefined) this.waiters.set(key, set = new Set())
    set.add(fn)
    return () => {
      const current = this.waiters.get(key)
      current?.delete(fn)
      if (current?.size === 0) this.waiters.delete(key)
    }
  }

  private notify (key: string, arrived: boolean): void {
    const set = this.waiters.get(key)
    if (set === undefined) return
    this.waiters.delete(key)
    for (const fn of set) fn(arrived)
  }
}
