/**
 * The Kademlia key space as the sweep provider sees it: 256-bit keys (SHA-256 of a peer
 * id's or a CID's multihash, kad-distance.ts), regions named by a bit prefix, and which
 * regions a set of walks has fully explored.
 *
 * A walk towards target t returns the k peers closest to t. Every peer sharing more
 * leading bits with t than the farthest of them is closer than it, so it is among them:
 * the walk has seen every peer under t's first (cpl(t, farthest) + 1) bits. That prefix
 * is "covered". A region is a covered prefix holding at least `replication` peers; the
 * `replication` closest peers of any key in it are then all in it and all known, so the
 * keys of a region are allocated to their true closest peers from what a few walks saw.
 */
import { createHash, randomBytes } from 'node:crypto'
import type { PeerId } from '@libp2p/interface'

/** Prefixes are strings of '0' and '1', most significant bit first. */
export type Prefix = string

export const sha256 = (bytes: Uint8Array): Buffer => createHash('sha256').update(bytes).digest()

export function bitAt (key: Uint8Array, i: number): 0 | 1 {
  return ((key[i >> 3] >> (7 - (i & 7))) & 1) as 0 | 1
}

export function hasPrefix (key: Uint8Array, prefix: Prefix): boolean {
  for (let i = 0; i < prefix.length; i++) if (bitAt(key, i) !== (prefix.charCodeAt(i) - 48)) return false
  return true
}

/** The first `bits` bits of `key` as a prefix. */
export function prefixOf (key: Uint8Array, bits: number): Prefix {
  let out = ''
  for (let i = 0; i < bits; i++) out += bitAt(key, i)
  return out
}

/** How many leading bits `a` and `b` share. */
export function commonPrefixLength (a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length; i++) {
    const x = a[i] ^ b[i]
    if (x !== 0) return i * 8 + Math.clz32(x) - 24
  }
  return a.length * 8
}

/** XOR distance of `a` and `b`, compared as big-endian numbers by Buffer.compare. */
export function distance (a: Uint8Array, b: Uint8Array): Buffer {
  const out = Buffer.alloc(a.length)
  for (let i = 0; i < a.length; i++) out[i] = a[i] ^ b[i]
  return out
}

/**
 * Bytes whose SHA-256 (what kad-dht walks towards) starts with `prefix`: 2^|prefix|
 * hashes on average. Undefined past `maxBits`, where the search would take seconds;
 * regions that deep mean a network of millions, and the caller walks to a key instead.
 */
export function preimageWithPrefix (prefix: Prefix, maxBits = 22): Uint8Array | undefined {
  if (prefix.length > maxBits) return undefined
  const seed = randomBytes(32)
  for (let n = 0; ; n++) {
    seed.writeUInt32BE(n, 0)
    if (hasPrefix(sha256(seed), prefix)) return Uint8Array.from(seed)
  }
}

export interface KnownPeer { id: PeerId, key: Buffer }

/** What the walks of one sweep have seen: the covered prefixes and the peers in them. */
export class Coverage {
  private readonly covered: Prefix[] = []
  readonly peers = new Map<string, KnownPeer>()

  /**
   * Records a walk towards `target` (a kad key) that found `found`, the closest peers that
   * answered; `width` is how many the walk returns at most (kad-dht's k). Fewer than
   * `width` covers everything only when the walk met every peer the routing table knows
   * (`whole`): a network smaller than k. Otherwise some peers did not answer in time, and
   * the farthest that did bounds what is covered, as usual.
   */
  addWalk (target: Uint8Array, found: PeerId[], width: number, whole = false): Prefix {
    const peers = found.map(id => ({ id, key: sha256(id.toMultihash().bytes) }))
      .sort((a, b) => Buffer.compare(distance(a.key, target), distance(b.key, target)))
      .slice(0, width)
    for (const p of peers) this.peers.set(p.id.toString(), p)
    const prefix = (peers.length < width && whole) || peers.length === 0 ? '' : prefixOf(target, commonPrefixLength(target, peers[peers.length - 1].key) + 1)
    // a wider prefix replaces the narrower ones it holds
    if (!this.isCovered(prefix)) this.cover(prefix)
    return prefix
  }

  private cover (prefix: Prefix): void {
    // a wider prefix replaces the narrower ones it holds; two covered halves make their parent
    for (let i = this.covered.length - 1; i >= 0; i--) if (this.covered[i].startsWith(prefix)) this.covered.splice(i, 1)
    const sibling = prefix === '' ? undefined : prefix.slice(0, -1) + (prefix.endsWith('0') ? '1' : '0')
    const at = sibling === undefined ? -1 : this.covered.indexOf(sibling)
    if (at === -1) this.covered.push(prefix)
    else {
      this.covered.splice(at, 1)
      this.cover(prefix.slice(0, -1))
    }
  }

  isCovered (prefix: Prefix): boolean {
    return this.covered.some(c => prefix.startsWith(c))
  }

  /** The parts of `prefix` no walk has covered yet (empty when it is fully explored). */
  gaps (prefix: Prefix): Prefix[] {
    if (this.isCovered(prefix)) return []
    if (!this.covered.some(c => c.startsWith(prefix))) return [prefix]
    return [...this.gaps(prefix + '0'), ...this.gaps(prefix + '1')]
  }

  peersUnder (prefix: Prefix): KnownPeer[] {
    return [...this.peers.values()].filter(p => hasPrefix(p.key, prefix))
  }

  /**
   * The narrowest covered prefix of `key` holding at least `replication` known peers, or
   * undefined when `key` is not covered. When even the widest covered prefix of `key`
   * holds fewer, that one: the caller widens it by walking into its sibling.
   */
  regionOf (key: Uint8Array, replication: number): Prefix | undefined {
    const widest = this.covered.find(c => hasPrefix(key, c))
    if (widest === undefined) return undefined
    let region = widest
    let under = this.peersUnder(region)
    if (under.length < replication) return region
    for (;;) {
      const next = region + bitAt(key, region.length)
      const narrower = under.filter(p => hasPrefix(p.key, next))
      if (narrower.length < replication) return region
      region = next
      under = narrower
    }
  }

  /** The `n` known peers closest to `key` among `candidates`. */
  static closest (key: Uint8Array, candidates: KnownPeer[], n: number): KnownPeer[] {
    return [...candidates].sort((a, b) => Buffer.compare(distance(a.key, key), distance(b.key, key))).slice(0, n)
  }
}
