import { test } from 'node:test'
import assert from 'node:assert/strict'
import { judgeDensity } from '../../src/routing/density.ts'

// Distances as fractions of the key space: n peers spread evenly sit at i/n.
const even = (n: number, count: number): number[] => Array.from({ length: count }, (_, i) => (i + 0.5) / n)

test('an evenly spread neighbourhood is not a cluster; the part of a cluster a walk sees is', () => {
  assert.equal(judgeDensity(even(48, 10), 48, 5).suspicious, false, 'k = 5, n = 48, evenly spread')
  assert.equal(judgeDensity(even(10_000, 40), 10_000, 20).suspicious, false, 'k = 20, n = 10,000, evenly spread')
  // bench byzantine's real nodes at k = 5: a 10-id cluster inside the closest honest peer's
  // distance, of which a walk met 6, then the honest peers it met (as in one run of it)
  const seen = [0.002, 0.004, 0.006, 0.008, 0.011, 0.014, 0.05, 0.16, 0.2, 0.25]
  const verdict = judgeDensity(seen, 33, 5)
  assert.ok(verdict.observed < 10, 'fewer than 2k within k/n: the count alone would pass it')
  assert.equal(verdict.suspicious, true)
  assert.ok(verdict.widenTo >= 6 + 5, `widened to ${verdict.widenTo}: the cluster seen plus k`)
})
