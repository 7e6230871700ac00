import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { importPath } from '../../src/content/index.ts'
import { tmpDir } from '../helpers/home.ts'
import { createTestnet, createTestNode } from '../helpers/testnet.ts'
import { createHostilePeer } from '../helpers/hostile.ts'
import { until } from '../helpers/until.ts'

test('swarming: a peer fetching a DAG serves each block to another as soon as it has it, while the only holder serves one peer, slowly', async t => {
  // The owner holds 24 blocks, answers one every 100 ms, and serves only the first peer
  // that asks (a: the owner's upload goes to one follower). b asks the owner (refused)
  // and a, which holds almost none of the blocks yet: without swarming a says DONT_HAVE
  // and b's fetch fails; with it a answers each want as the block arrives.
  const holder = await createTestNode(t)
  const dir = await tmpDir(t)
  for (let i = 0; i < 23; i++) await writeFile(join(dir, `f${i}.bin`), randomBytes(16 * 1024))
  const { root } = await importPath(holder.blocks, dir)
  const owner = await createHostilePeer(t, 'trickle-one', holder.blocks)
  const [a, b] = await createTestnet(t, 2, { swarm: true })
  await a.libp2p.dial(owner.getMultiaddrs()[0])
  await b.libp2p.dial(owner.getMultiaddrs()[0])
  const fetchingA = a.exchange.fetch(root.cid, { providers: [owner.peerId], signal: AbortSignal.timeout(60_000) })
  await until('a holds the root', () => a.blocks.has(root.cid), 20_000, 5)
  const heldByA = a.exchange.stats.blocksReceived
  const fromB = await b.exchange.fetch(root.cid, { providers: [owner.peerId], swarm: [a.libp2p.peerId], signal: AbortSignal.timeout(60_000) })
  const fromA = await fetchingA
  assert.equal(fromA.blocks, 24)
  assert.deepEqual(fromA.fromPeers, { [owner.peerId.toString()]: 24 }, 'a got every block from the owner')
  assert.equal(fromB.blocks, 24)
  assert.deepEqual(fromB.fromPeers, { [a.libp2p.peerId.toString()]: 24 }, 'b got every block from a')
  assert.ok(heldByA < 12, `a held ${heldByA} of 24 blocks when b began: most were served to b as they reached a`)
  assert.equal(b.exchange.peerRecord(a.libp2p.peerId), undefined, 'waiting on a cost it nothing at b')
})
