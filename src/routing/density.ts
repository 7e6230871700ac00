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
   * Peers within the radius that should hold k, over k, before a key counts as attacked.
   * Honest density at the k closest varies with a Poisson spread (k = 20: the count within
   * that radius exceeds 2k = 40 with probability about 1e-4), so 2 flags an honest key
   * rarely and a cluster of k mined ids (which at least doubles the count) always.
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
  const radius = k / Math.max(networkSize, k)
  const observed = distances.filter(d => d <= radius).length
  const suspicious = observed >= threshold * k
  return { suspicious, observed, widenTo: suspicious ? Math.min(maxWiden, observed + k) : k }
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
 * the subtrees beside the key, from the radius that should hold k down by halves. A walk
 * towards key XOR offset meets the peers of that subtree, which a cluster mined within
 * the closest honest peer's distance does not reach.
 */
export function sideOffsets (k: number, networkSize: number, count = 6): number[] {
  const radius = k / Math.max(networkSize, k)
  return Array.from({ length: count }, (_, m) => Math.min(0.75, radius * 0.75 / 2 ** m))
}
