/**
 * A follower cut off from a site's owner while it published (a partition on 127.0.0.1: the
 * follower's connection gater refuses the owner and the DHT peer that took the record)
 * misses the push for good; when the owner connects again, the follower asks it for the
 * record (`/weft/sites/record/1.0.0`) instead of waiting for its next DHT poll (off here,
 * as in every test node).
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { importPath } from '../../src/content/index.ts'
import { parseSiteName, type SiteEvents } from '../../src/sites/index.ts'
import { createTestnet, createTestNode, type OnlineNode } from '../helpers/testnet.ts'
import { tmpDir } from '../helpers/home.ts'
import { until } from '../helpers/until.ts'

async function publish (owner: OnlineNode, dir: string, text: string): Promise<bigint> {
  await writeFile(join(dir, 'index.html'), text)
  const { root } = await importPath(owner.blocks, dir, {})
  await owner.blocks.pin(root.cid, 'recursive')
  return (await owner.sites.publish('cut', root.cid)).sequence
}

async function heldSequence (node: OnlineNode, name: string): Promise<bigint | undefined> {
  const f = (await node.sites.following()).find(x => x.name === name)
  return f?.fetched === true ? f.sequence : undefined
}

/**
 * An owner, a peer that takes its records into the DHT, and a follower holding version one;
 * `partition.cut` puts the follower on one side (its gater refuses the other two).
 */
async function followedSite (t: TestContext): Promise<{ owner: OnlineNode, other: OnlineNode, follower: OnlineNode, dir: string, name: string, partition: { cut: boolean } }> {
  const [owner, other] = await createTestnet(t, 2)
  const away = new Set([owner.libp2p.peerId.toString(), other.libp2p.peerId.toString()])
  const partition = { cut: false }
  const follower = await createTestNode(t, { isBanned: peer => partition.cut && away.has(peer) })
  await follower.libp2p.dial(other.libp2p.getMultiaddrs()[0])
  await follower.libp2p.dial(owner.libp2p.getMultiaddrs()[0])
  const dir = await tmpDir(t)
  const { name } = await owner.sites.create('cut')
  assert.equal(await publish(owner, dir, 'one'), 0n)
  await follower.sites.follow(name)
  await until('version one held', async () => await heldSequence(follower, name) === 0n, 20_000, 50)
  return { owner, other, follower, dir, name, partition }
}

/**
 * The follower is cut off, the owner publishes version two, and the owner's gossip stops
 * offering it (gossipsub offers a message it sent for a few heartbeats: IHAVE); once it
 * offers it no more, only asking can bring version two. Then the cut ends and the follower
 * dials the owner. Returns where each sequence-1 record the follower took came from.
 */
async function missVersionTwo ({ owner, other, follower, dir, name, partition }: Awaited<ReturnType<typeof followedSite>>): Promise<string[]> {
  partition.cut = true
  await follower.libp2p.hangUp(owner.libp2p.peerId)
  await follower.libp2p.hangUp(other.libp2p.peerId)
  assert.equal(await publish(owner, dir, 'two'), 1n)
  assert.equal(await heldSequence(follower, name), 0n, 'no path: the push went nowhere')
  const gossip = (owner.libp2p.services.pubsub as any).mcache
  const topic = parseSiteName(name).topic
  await until('the owner\'s gossip no longer offers version two', () => (gossip.getGossipIDs(new Set([topic])).get(topic)?.length ?? 0) === 0, 20_000, 100)
  const sources: string[] = []
  follower.sites.addEventListener('record', e => {
    const { sequence, source } = (e as CustomEvent<SiteEvents['record']>).detail
    if (sequence === 1n) sources.push(source)
  })
  partition.cut = false
  await follower.libp2p.dial(owner.libp2p.getMultiaddrs()[0])
  return sources
}

test('a follower cut off from the owner while it published asks the owner for the record when it connects again', async t => {
  const setup = await followedSite(t)
  const { follower, name } = setup
  const sources = await missVersionTwo(setup)
  const took = await until('version two held', async () => await heldSequence(follower, name) === 1n, 20_000, 50)
  assert.deepEqual(sources, ['peer'], 'the record came from asking the owner')
  t.diagnostic(`version two held ${Math.round(took)} ms after the owner was back`)
})

test('a follower cut off just after a catch-up, back within the catch-up interval, is asked when the interval ends rather than never', async t => {
  const setup = await followedSite(t)
  const { owner, follower, name } = setup
  // The owner comes back once: the site catches up (nothing new), which starts the interval.
  // (When each site last caught up is off the typed interface.)
  const caughtUpAt: Map<string, number> = (follower.sites as any).follower.caughtUpAt
  await follower.libp2p.hangUp(owner.libp2p.peerId)
  await follower.libp2p.dial(owner.libp2p.getMultiaddrs()[0])
  await until('the first catch-up ran', () => caughtUpAt.has(name), 20_000, 50)
  const first = caughtUpAt.get(name) as number

  const sources = await missVersionTwo(setup)
  assert.ok(Date.now() - first < 30_000, 'the owner is back within the interval of the first catch-up')
  // the catch-up interval is 30 s: the ask comes when it ends
  await until('version two held', async () => await heldSequence(follower, name) === 1n, 45_000, 100)
  assert.deepEqual(sources, ['peer'], 'the record came from asking the owner')
  const gap = (caughtUpAt.get(name) as number) - first
  assert.ok(gap >= 30_000, `no sooner than the interval allows: the second catch-up came ${gap} ms after the first`)
})
