/**
 * Issue 13's second device: two nodes linked with `userLink` read and write the same
 * private files. Writes made while connected reach the other device; the same file written
 * on both while they are apart is, once they meet again, one file on both (the documented
 * winner) and a conflict copy of the other write, so no write is lost silently.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { privateTopic } from '../../src/private/index.ts'
import { createTestNode, type OnlineNode } from '../helpers/testnet.ts'
import { until } from '../helpers/until.ts'

const SITE = 'k51qzi5uqu5dlvj2baxnqndepeb86cbk3ng7n3i46uzyxzyqj2xjonzllnv0v8'
const WAIT_MS = 30_000
const text = (s: string): Buffer => Buffer.from(s)

const paths = (node: OnlineNode): string[] => node.private.list(SITE).map(e => e.path)

async function contents (node: OnlineNode): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  for (const path of paths(node)) out[path] = Buffer.from(await node.private.get(SITE, path, { signal: AbortSignal.timeout(WAIT_MS) })).toString()
  return out
}

const sameListing = (a: OnlineNode, b: OnlineNode) => (): boolean => JSON.stringify(paths(a)) === JSON.stringify(paths(b))

test('second device: linked devices share writes; the same file written on both while apart ends as one file and a conflict copy on both', { timeout: 120_000 }, async t => {
  // a partition the test switches: while apart, neither device dials or accepts the other
  let apart = false
  const banned = (): boolean => apart
  const a = await createTestNode(t, { isBanned: banned })
  const b = await createTestNode(t, { isBanned: banned })
  await a.libp2p.dial(b.libp2p.getMultiaddrs()[0])

  a.users.allow(SITE, true)
  await b.userLink!.accept(a.userLink!.issue().code)
  b.users.allow(SITE, true)
  assert.equal(b.users.id(SITE), a.users.id(SITE))

  // connected: each device's write reaches the other
  await a.private.put(SITE, 'from-a.txt', text('written on A'))
  await b.private.put(SITE, 'notes/shared.md', text('v1, written on B'))
  await until('both devices to list both files', () => sameListing(a, b)() && paths(a).length === 2, WAIT_MS)
  assert.deepEqual(await contents(a), { 'from-a.txt': 'written on A', 'notes/shared.md': 'v1, written on B' })
  assert.deepEqual(await contents(b), await contents(a))

  // apart: both overwrite the shared file, and each writes one of its own
  apart = true
  await a.libp2p.hangUp(b.libp2p.peerId)
  await until('the devices to be apart', () => a.libp2p.getConnections(b.libp2p.peerId).length === 0 && b.libp2p.getConnections(a.libp2p.peerId).length === 0)
  await a.private.put(SITE, 'notes/shared.md', text('v2, written on A while apart'))
  await b.private.put(SITE, 'notes/shared.md', text('v2, written on B while apart'))
  await b.private.put(SITE, 'from-b-apart.txt', text('written on B while apart'))
  await a.private.rm(SITE, 'from-a.txt')
  assert.deepEqual(paths(a), ['notes/shared.md'], 'A did not hear of B\'s writes while apart')

  // together again
  apart = false
  await a.libp2p.dial(b.libp2p.getMultiaddrs()[0])
  await until('both devices to end with the same listing, with a conflict copy', () => sameListing(a, b)() && paths(a).some(p => p.startsWith('notes/shared.md.conflict-')), WAIT_MS)
  const onA = await contents(a)
  const onB = await contents(b)
  assert.deepEqual(onB, onA, 'both devices hold the same files with the same bytes')
  const conflicts = Object.keys(onA).filter(p => p.startsWith('notes/shared.md.conflict-'))
  assert.equal(conflicts.length, 1, 'one conflict copy')
  assert.deepEqual(Object.keys(onA).sort(), ['from-b-apart.txt', 'notes/shared.md', conflicts[0]].sort(), 'A\'s deletion and B\'s new file both carried over')
  assert.equal(onA['from-b-apart.txt'], 'written on B while apart')
  // neither concurrent write was lost: one is the file, the other its conflict copy
  assert.deepEqual([onA['notes/shared.md'], onA[conflicts[0]]].sort(), ['v2, written on A while apart', 'v2, written on B while apart'])
  // the v1 both had seen was overwritten knowingly by both: it is no conflict
  assert.ok(!Object.values(onA).includes('v1, written on B'))
})

test('second device: a linked device joins the site\'s private index topic at once, whether it allowed the site before or after linking, with no new connection', async t => {
  // the two linked devices never meet each other: a connection would refresh sync by itself
  const ids: string[] = []
  const a = await createTestNode(t)
  const before = await createTestNode(t, { isBanned: peer => peer === ids[1] })
  const after = await createTestNode(t, { isBanned: peer => peer === ids[0] })
  ids.push(before.libp2p.peerId.toString(), after.libp2p.peerId.toString())
  for (const b of [before, after]) await b.libp2p.dial(a.libp2p.getMultiaddrs()[0])
  a.users.allow(SITE, true)
  await a.private.put(SITE, 'note.txt', text('from A'))
  const topic = privateTopic(a.private.indexName(SITE))
  let connects = 0
  for (const b of [before, after]) b.libp2p.addEventListener('peer:connect', () => { connects++ })

  // allowed first: the link's new master key gives the index name
  before.users.allow(SITE, true)
  await before.userLink!.accept(a.userLink!.issue().code)
  // linked first: the consent adds the site
  await after.userLink!.accept(a.userLink!.issue().code)
  after.users.allow(SITE, true)

  for (const b of [before, after]) {
    await until('the linked device to join the topic', () => a.libp2p.services.pubsub.getSubscribers(topic).some(p => p.equals(b.libp2p.peerId)), WAIT_MS)
    await until('the linked device to take the index', () => paths(b).includes('note.txt'), WAIT_MS)
    assert.equal(Buffer.from(await b.private.get(SITE, 'note.txt', { signal: AbortSignal.timeout(WAIT_MS) })).toString(), 'from A')
  }
  assert.equal(connects, 0, 'no peer connected meanwhile: the link and the consent alone moved sync')
})
