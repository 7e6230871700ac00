/**
 * Sybil clusters near a key, found by key-space density (Sridhar et al., "Content
 * Censorship in the InterPlanetary File System", NDSS 2024): ids are uniform, so the
 * number of peers within distance r of any key is about n·r (r as a fraction of the key
 * space, n the network size). An attacker who mines ids next to a key to take its k
 * closest places shows up as far more peers there than n predicts. The answer is to
 * widen: store and look up on the cluster plus k peers beyond it, so that honest peers
 * hold the record whatever the cluster does with it.
 */

/** Key-space density limits; every field carries why it is what it is. */
export const DENSITY_DEFAULTS = {
  /**
   * How many times denser than n predicts the peers closest to a key must be before it
   * counts as attacked: the j closest found (j >= k) lie within the radius that should hold
   * j / threshold. At j = 2k this is "2k peers where n predicts k" (k = 20: honest keys
   * reach it with probability about 1e-4, a Poisson tail); at j = k it is k peers where
   * n predicts k/2 (k = 20: about 4e-3; k = 5: about 0.1), which only costs a widened walk.
   * The j = k end is what sees a real cluster: a walk meets only the members that the
   * peers it asks name, k per answer, so a cluster of 2k shows some 6 of its 10 at k = 5
   * (measured: bench byzantine's real nodes, where the 2k count alone missed it).
   */
  threshold: 2,
  /** Never widen past this many peers (a bound on the walk a flood of ids can cause). */
  maxWiden: 200
}

export interface DensityVerdict {
  /** Whether the observed density near the key is past the threshold. */
  suspicious: boolean
  /** Peers observed within the radius where n predicts k. */
  observed: number
  /** How many of the closest peers a store or lookup should cover: k, or the cluster plus k. */
  widenTo: number
}

/**
 * Judges the peers found closest to a key. `distances` are XOR distances as fractions of
 * the key space (any order); `networkSize` is this node's estimate of n (see
 * estimateNetworkSize), not one the peers near the key could inflate.
 */
export function judgeDensity (distances: number[], networkSize: number, k: number, init: Partial<typeof DENSITY_DEFAULTS> = {}): DensityVerdict {
  const { threshold, maxWiden } = { ...DENSITY_DEFAULTS, ...init }
  const n = Math.max(networkSize, k)
  const sorted = [...distances].sort((a, b) => a - b)
  const observed = sorted.filter(d => d <= k / n).length
  // the most peers j (at least k) that sit within the radius where n predicts j / threshold
  let cluster = 0
  for (let j = k; j <= sorted.length; j++) if (n * sorted[j - 1] <= j / threshold) cluster = j
  const suspicious = cluster > 0
  return { suspicious, observed, widenTo: suspicious ? Math.min(maxWiden, Math.max(observed, cluster) + k) : k }
}

/**
 * n from the peers closest to this node's own id (a walk towards itself finds them): the
 * k-th of them sits at about k/n. A cluster would have to be mined next to every honest
 * node to skew this, which is what makes it the yardstick for keys elsewhere.
 */
export function estimateNetworkSize (ownDistances: number[], k: number): number {
  const sorted = [...ownDistances].sort((a, b) => a - b)
  if (sorted.length === 0) return k
  const i = Math.min(k, sorted.length) - 1
  return Math.max(sorted.length, (i + 1) / Math.max(sorted[i], Number.MIN_VALUE))
}

/** The XOR distance of two equal-length keys as a fraction of the key space (the first 48 bits count). */
export function keyDistance (a: Uint8Array, b: Uint8Array): number {
  let value = 0
  for (let i = 0; i < 6; i++) value = value * 256 + ((a[i] ?? 0) ^ (b[i] ?? 0))
  return value / 2 ** 48
}

/**
 * Where the honest peers past a cluster sit: XOR offsets (fractions of the key space) of
 * the subtrees beside the key, from one that should hold 1.5k to 3k peers (offset 3k/n)
 * down by halves, eight of them (to k/40n). A walk towards key XOR offset meets the peers
 * of that subtree, which a cluster mined within the closest honest peer's distance does
 * not reach. Only a subtree that holds peers helps: a walk into an empty one comes back
 * with the peers nearest to it, the cluster itself. Starting at 0.75k/n, as this did,
 * made most side walks such in a small network (at n = 36, k = 5 every subtree but the
 * first held under one peer), and a lookup whose side walks all met only Sybils missed;
 * the deep end is where the closest honest peer sits in a large one (the model's lookup
 * success fell from 97.5% to 92.5% at Sybil 20% without it; docs/byzantine.md).
 */
export function sideOffsets (k: number, networkSize: number, count = 8): number[] {
  const radius = k / Math.max(networkSize, k)
  const offsets = Array.from({ length: count }, (_, m) => Math.min(0.75, radius * 3 / 2 ** m))
  // in a network under 3k peers the first offsets name one subtree (the far half): walk it once
  const depths = new Set<number>()
  return offsets.filter(o => {
    const depth = subtreeDepth(o)
    if (depths.has(depth)) return false
    depths.add(depth)
    return true
  })
}

/** Which subtree beside a key an XOR offset falls in: d for an offset in (2^-d, 2^-(d-1)], the subtree of keys that first differ at bit d. */
export function subtreeDepth (offset: number): number {
  return Math.ceil(-Math.log2(offset))
}
