import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { CID } from 'multiformats/cid'
import { importPath, resolveEntry } from '../../src/content/index.ts'
import { walkDag } from '../../src/blocks/index.ts'
import { nodeGateway } from '../../src/daemon/index.ts'
import { createNode } from '../../src/node/index.ts'
import { createTestnet, createTestNode, type OnlineNode } from '../helpers/testnet.ts'
import { tmpDir } from '../helpers/home.ts'
import { until } from '../helpers/until.ts'

/** Waits for `check` to hold (polling: the state under test lives in the store, not in events). */
/** Whether every block of the DAG under `root` is in the node's store. */
async function complete (node: OnlineNode, root: CID): Promise<boolean> {
  try {
    await walkDag(node.blocks, root, () => {})
    return true
  } catch {
    return false
  }
}

async function followInfo (node: OnlineNode, name: string) {
  return (await node.sites.following()).find(f => f.name === name)
}

/** A folder of many small pages and a file of several blocks, imported and pinned by `node`. */
async function makeSite (t: Parameters<typeof tmpDir>[0], node: OnlineNode, text: string): Promise<CID> {
  const dir = await tmpDir(t)
  await mkdir(join(dir, 'pages'))
  await writeFile(join(dir, 'index.html'), text)
  for (let i = 0; i < 30; i++) await writeFile(join(dir, 'pages', `p${i}.html`), `<p>${text} page ${i}</p>`)
  await writeFile(join(dir, 'big.bin'), randomBytes(3 * 1024 * 1024 + 5))
  const { root } = await importPath(node.blocks, dir, {})
  await node.blocks.pin(root.cid, 'recursive')
  return root.cid
}

test('re-following after unfollow and gc fetches the whole version again: held is what the store holds, not a flag', async t => {
  const [owner, follower] = await createTestnet(t, 2)
  await owner.sites.create('blog')
  const root = await makeSite(t, owner, 'one')
  const { name } = await owner.sites.publish('blog', root)
  await follower.sites.follow(name)
  await until('the follower to hold version 0', async () => (await followInfo(follower, name))?.fetched === true)
  assert.ok(await complete(follower, root))

  // A visit to one page keeps a fraction of the site past gc (the visit cache's pin-free blocks
  // go, so keep one page by pinning it): the store holds some blocks of the version, not all.
  await follower.sites.unfollow(name)
  const entry = await resolveEntry(follower.blocks, { cid: root, segments: ['pages', 'p1.html'], text: `${root}/pages/p1.html` })
  await follower.blocks.pin(entry.cid, 'recursive')
  await follower.blocks.gc()
  assert.equal(follower.blocks.has(root), false)
  assert.equal(follower.blocks.has(entry.cid), true)

  const info = await follower.sites.follow(name)
  assert.equal(info.sequence, 0n)
  await until('the follower to fetch version 0 again', async () => await complete(follower, root), 15_000)
  await until('following to say it is held', async () => (await followInfo(follower, name))?.fetched === true)
  assert.equal((await followInfo(follower, name))?.state, 'held')
  // held again: gc keeps it
  await follower.blocks.unpin(entry.cid)
  await follower.blocks.gc()
  assert.ok(await complete(follower, root))
})

test('a node started over a followed version that lost blocks while it was down fetches them again by itself', async t => {
  const [owner] = await createTestnet(t, 1)
  await owner.sites.create('blog')
  const root = await makeSite(t, owner, 'one')
  const { name } = await owner.sites.publish('blog', root)
  const home = await tmpDir(t)
  let follower = await createTestNode(t, { home })
  await follower.libp2p.dial(owner.libp2p.getMultiaddrs()[0])
  await follower.sites.follow(name)
  await until('the follower to hold version 0', async () => (await followInfo(follower, name))?.fetched === true)
  await follower.stop()

  // With no daemon running: unfollow, gc, follow again (offline, nothing can be fetched).
  const offline = await createNode({ home })
  await offline.sites.unfollow(name)
  await offline.blocks.gc()
  assert.equal(offline.blocks.has(root), false)
  await offline.sites.follow(name)
  await offline.stop()

  follower = await createTestNode(t, { home })
  await follower.libp2p.dial(owner.libp2p.getMultiaddrs()[0])
  await until('the restarted follower to fetch version 0 again', async () => await complete(follower, root), 15_000)
  await until('following to say it is held', async () => (await followInfo(follower, name))?.state === 'held')
})

test('a followed site whose newest version no peer can supply is served from the newest complete version held, with its sequence in the headers', async t => {
  const [owner, follower] = await createTestnet(t, 2)
  await owner.sites.create('blog')
  const root0 = await makeSite(t, owner, 'version zero')
  const { name } = await owner.sites.publish('blog', root0)
  await follower.sites.follow(name)
  await until('the follower to hold version 0', async () => (await followInfo(follower, name))?.fetched === true)

  // Version 1's blocks live only on a node nobody is connected to.
  const island = await createTestNode(t)
  const root1 = await makeSite(t, island, 'version one')
  await owner.sites.publish('blog', root1)
  await until('the follower to learn of version 1', async () => (await followInfo(follower, name))?.sequence === 1n)

  const gateway = nodeGateway(follower, { init: { fetchTimeout: 3_000 } })
  const url = `http://${name}.ipns.localhost:8080/`
  let r = await gateway(new Request(url, { headers: { host: `${name}.ipns.localhost:8080` } }))
  assert.equal(r.status, 200, await r.clone().text())
  assert.equal(await r.text(), 'version zero')
  assert.equal(r.headers.get('x-weft-sequence'), '0')
  assert.equal(r.headers.get('x-weft-newest-sequence'), '1')
  assert.doesNotMatch(r.headers.get('cache-control') ?? '', /max-age=[1-9]/, 'an older version is not cached as current')
  const state = await followInfo(follower, name)
  assert.equal(state?.fetched, false)
  assert.equal(state?.state, 'updating')
  assert.equal(state?.held, 0n)

  // Once a peer has version 1, the follower fetches it by itself and serves it.
  await follower.libp2p.dial(island.libp2p.getMultiaddrs()[0])
  await until('the follower to hold version 1', async () => (await followInfo(follower, name))?.state === 'held', 30_000)
  r = await gateway(new Request(url, { headers: { host: `${name}.ipns.localhost:8080` } }))
  assert.equal(r.status, 200)
  assert.equal(await r.text(), 'version one')
  assert.equal(r.headers.get('x-weft-sequence'), '1')
  assert.equal(r.headers.get('x-weft-newest-sequence'), '1')
})

test('following says what is true of a site with no record yet, and of one whose only version no peer has', async t => {
  const [owner, follower] = await createTestnet(t, 2)
  const silent = await owner.sites.create('silent')
  await follower.sites.follow(silent.name)
  const none = await followInfo(follower, silent.name)
  assert.equal(none?.state, 'no-record')
  assert.equal(none?.fetched, false)

  await owner.sites.create('lost')
  const island = await createTestNode(t)
  const { name } = await owner.sites.publish('lost', await makeSite(t, island, 'nowhere'))
  await follower.sites.follow(name)
  const lost = await followInfo(follower, name)
  assert.equal(lost?.sequence, 0n)
  assert.equal(lost?.held, undefined)
  assert.ok(lost?.state === 'fetching' || lost?.state === 'waiting', lost?.state)
})
