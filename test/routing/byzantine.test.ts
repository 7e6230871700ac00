import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { createHardenedLookups, findProvidersReliably, provideReliably } from '../../src/routing/index.ts'
import { keyDistance } from '../../src/routing/density.ts'
import { blockVerifier, createHostileNet, type HonestNode } from './hostile-dht.ts'

const kadId = (bytes: Uint8Array): Uint8Array => createHash('sha256').update(bytes).digest()

// 24 honest kad-dht nodes and 12 Sybils whose ids were mined closer to one CID's key than
// any honest node, k = 5: the Sybils hold the key's k closest places, swallow provider
// records and answer with each other. kad-dht's own provide and lookup miss the content;
// weft's hardened ones see the cluster, widen past it, and find the provider.
test('a hardened lookup finds content that a Sybil cluster hides from kad-dht\'s', async (t) => {
  const block = randomBytes(1024)
  const cid = CID.createV1(raw.code, await sha256.digest(block))
  const blocks = new Map([[Buffer.from(cid.bytes).toString('hex'), block]])
  const net = await createHostileNet({ honest: 24, hostile: 12, attack: 'sybil', k: 5, target: cid.multihash.bytes, blocks })
  t.after(async () => { await net.stop() })
  const byDistance = [...net.honest].sort((a, b) => keyDistance(kadId(a.peerId.toMultihash().bytes), kadId(cid.multihash.bytes)) - keyDistance(kadId(b.peerId.toMultihash().bytes), kadId(cid.multihash.bytes)))
  // the publisher is the honest node farthest from the key, so no walk for it passes by it
  const publisher = byDistance[byDistance.length - 1]
  const finders: HonestNode[] = byDistance.slice(8, 11)

  await provideReliably(publisher, cid, { signal: AbortSignal.timeout(180_000) })
  for (const finder of finders) {
    const found = await findProvidersReliably(finder, cid, { signal: AbortSignal.timeout(180_000) })
    assert.ok(!found.some(p => p.id.equals(publisher.peerId)), 'kad-dht\'s defaults found the provider: the cluster did not hide it, so the test shows nothing')
  }

  const hardenedPublisher = createHardenedLookups(publisher)
  const stored = await hardenedPublisher.provide(cid, { signal: AbortSignal.timeout(180_000) })
  assert.ok(stored > 0, 'the hardened provide reached no peer')
  // Every default lookup missed; the hardened ones must find it from most finders. Not from
  // all: a walk is random and now and then misses the few honest holders past the cluster
  // (seen here in about 1 run of 3: one finder of three missed; docs/byzantine.md).
  const missed: string[] = []
  for (const finder of finders) {
    const found = await createHardenedLookups(finder).findProviders(cid, blockVerifier(finder, cid), { signal: AbortSignal.timeout(180_000) })
    if (!found.some(p => p.id.equals(publisher.peerId))) missed.push(finder.peerId.toString())
  }
  t.diagnostic(`hardened lookups that found the provider: ${finders.length - missed.length} of ${finders.length}`)
  assert.ok(missed.length <= 1, `the hardened lookups from ${missed.join(', ')} missed the provider`)
})
