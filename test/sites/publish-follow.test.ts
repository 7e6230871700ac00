import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { once } from 'node:events'
import type { CID } from 'multiformats/cid'
import { importPath, cat, parseContentPath } from '../../src/content/index.ts'
import type { SiteEvents } from '../../src/sites/index.ts'
import { createTestnet, createTestNode, type OnlineNode } from '../helpers/testnet.ts'
import { tmpDir } from '../helpers/home.ts'

async function addSite (node: OnlineNode, dir: string): Promise<CID> {
  const { root } = await importPath(node.blocks, dir, {})
  await node.blocks.pin(root.cid, 'recursive')
  return root.cid
}

async function readOffline (node: OnlineNode, path: string): Promise<string> {
  const chunks: Uint8Array[] = []
  for await (const c of cat(node.blocks, parseContentPath(path))) chunks.push(c)
  return Buffer.concat(chunks).toString('utf8')
}

/** Resolves when `node` has fetched every block of `sequence` of the site. */
function fetched (node: OnlineNode, name: string, sequence: bigint, ms = 20_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`sequence ${sequence} of ${name} not fetched within ${ms} ms`)) }, ms)
    const done = (): void => { clearTimeout(timer); node.sites.removeEventListener('fetched', listener); resolve() }
    const listener = (e: Event): void => {
      const d = (e as CustomEvent<SiteEvents['fetched']>).detail
      if (d.name === name && d.sequence >= sequence) done()
    }
    node.sites.addEventListener('fetched', listener)
    void node.sites.following().then(list => {
      const f = list.find(x => x.name === name)
      if (f?.fetched === true && (f.sequence ?? -1n) >= sequence) done()
    })
  })
}

test('publish, resolve, follow, update: followers get the new version pushed, and the site lives on when its owner goes offline', async t => {
  const [owner, f1, f2, visitor, spare] = await createTestnet(t, 5)
  const dir = await tmpDir(t)
  await mkdir(join(dir, 'css'))
  await writeFile(join(dir, 'index.html'), '<h1>version one</h1>')
  await writeFile(join(dir, 'css', 'site.css'), 'body { color: black }')
  await writeFile(join(dir, 'weft.json'), JSON.stringify({ title: 'Test blog', author: 'owner', entry: 'index.html' }))

  const site = await owner.sites.create('blog')
  assert.match(site.name, /^k51/)
  const root1 = await addSite(owner, dir)
  const first = await owner.sites.publish('blog', root1)
  assert.equal(first.sequence, 0n)
  assert.equal(first.changed, true)
  assert.equal(first.announced, true)
  assert.equal(first.root, root1.toString())

  // Publishing the same folder again makes no new version.
  const again = await owner.sites.publish('blog', root1)
  assert.equal(again.sequence, 0n)
  assert.equal(again.changed, false)

  // A visitor resolves through the DHT.
  const resolved = await visitor.sites.resolve(`/ipns/${site.name}`)
  assert.equal(resolved.value, `/ipfs/${root1}`)
  assert.equal(resolved.sequence, 0n)
  assert.equal(resolved.source, 'dht')
  assert.equal((await visitor.sites.resolve(site.name)).source, 'cache')

  // Followers fetch and pin the current version.
  await Promise.all([f1, f2].map(async f => {
    const info = await f.sites.follow(site.name)
    assert.equal(info.following, true)
    await fetched(f, site.name, 0n)
    assert.equal(await readOffline(f, `${root1}/index.html`), '<h1>version one</h1>')
    assert.deepEqual(f.sites.heldRoots().map(String), [root1.toString()])
  }))

  // The owner updates one file; the record is pushed and followers fetch the new blocks.
  await writeFile(join(dir, 'index.html'), '<h1>version two</h1>')
  const root2 = await addSite(owner, dir)
  const started = Date.now()
  const waits = [f1, f2].map(async f => { await fetched(f, site.name, 1n) })
  const second = await owner.sites.publish('blog', root2)
  assert.equal(second.sequence, 1n)
  await Promise.all(waits)
  const took = Date.now() - started
  for (const f of [f1, f2]) {
    assert.equal(await readOffline(f, `${root2}/index.html`), '<h1>version two</h1>')
    const info = await f.sites.info(site.name)
    assert.equal(info.current?.sequence, 1n)
    assert.equal(info.current?.root, root2.toString())
    assert.equal(info.site?.title, 'Test blog')
    assert.equal(info.site?.entry, 'index.html')
    assert.ok((info.size ?? 0) > 40, `size ${info.size}`)
    assert.deepEqual(info.versions.map(v => v.sequence), [1n, 0n])
    assert.ok(info.peers.length > 0, 'peers seen serving the site')
  }
  t.diagnostic(`update reached both followers, content included, in ${took} ms`)

  // The owner goes offline. A fresh visitor, linked only to the others, still resolves
  // the newest version and loads it from the followers.
  await owner.stop()
  const late = await createTestNode(t)
  for (const peer of [f1, f2, visitor, spare]) await late.libp2p.dial(peer.libp2p.getMultiaddrs()[0])
  const now = await late.sites.resolve(site.name)
  assert.equal(now.sequence, 1n)
  assert.equal(now.root, root2.toString())
  await late.exchange.fetch(root2, { signal: AbortSignal.timeout(20_000) })
  assert.equal(await readOffline(late, `${root2}/index.html`), '<h1>version two</h1>')
  assert.equal(await readOffline(late, `${root2}/css/site.css`), 'body { color: black }')
})

test('a follower keeps the configured number of versions and releases older ones to gc; unfollow releases the rest, and the user\'s own pins stay', async t => {
  const [owner, follower] = await createTestnet(t, 2, { sites: { keepVersions: 2 } })
  const dir = await tmpDir(t)
  const site = await owner.sites.create('notes')
  await follower.sites.follow(site.name)
  const roots: CID[] = []
  for (let i = 0; i < 3; i++) {
    await writeFile(join(dir, 'page.txt'), `edition ${i}`)
    roots.push(await addSite(owner, dir))
    const wait = fetched(follower, site.name, BigInt(i))
    await owner.sites.publish('notes', roots[i])
    await wait
  }
  const held = (cid: CID): boolean => follower.sites.heldRoots().some(r => r.equals(cid))
  assert.deepEqual(roots.map(held), [false, true, true])
  // gc drops the released version and keeps the held ones.
  await follower.blocks.gc()
  assert.deepEqual(roots.map(r => follower.blocks.has(r)), [false, true, true])
  // A pin the user made on a site's root is theirs: unfollow leaves it.
  await follower.blocks.pin(roots[2], 'recursive')
  await follower.sites.unfollow(site.name)
  assert.deepEqual(roots.map(held), [false, false, false])
  await follower.blocks.gc()
  assert.deepEqual(roots.map(r => follower.blocks.has(r)), [false, false, true])
  assert.deepEqual(await follower.sites.following(), [])
  await assert.rejects(follower.sites.unfollow(site.name), { code: 'ERR_NOT_FOLLOWING' })
})

test('a follower that was offline during an update catches up when it comes back; the owner re-signs records past half their validity', async t => {
  // The owner's clock is moved on instead of waiting out a validity: records are valid for the
  // default 48 hours, so no version can expire while a loaded machine catches up.
  let ahead = 0
  const [owner, other] = await createTestnet(t, 2, { sites: { now: () => Date.now() + ahead } })
  const dir = await tmpDir(t)
  await writeFile(join(dir, 'index.html'), 'one')
  const site = await owner.sites.create('away')
  await owner.sites.publish('away', await addSite(owner, dir))
  const home = await tmpDir(t)
  let follower = await createTestNode(t, { home })
  await follower.libp2p.dial(owner.libp2p.getMultiaddrs()[0])
  await follower.sites.follow(site.name)
  await fetched(follower, site.name, 0n)
  await follower.stop()

  await writeFile(join(dir, 'index.html'), 'two')
  const root2 = await addSite(owner, dir)
  await owner.sites.publish('away', root2)
  follower = await createTestNode(t, { home })
  const caughtUp = fetched(follower, site.name, 1n)
  await follower.libp2p.dial(other.libp2p.getMultiaddrs()[0])
  await caughtUp
  assert.equal(await readOffline(follower, `${root2}/index.html`), 'two')

  // Before half its validity, a republish puts the same record again, not a new signature.
  const before = await owner.sites.resolve(site.name, { offline: true })
  const validity = Date.parse(before.validity) - Date.now()
  await owner.sites.republish()
  assert.equal((await owner.sites.resolve(site.name, { offline: true })).validity, before.validity, 'not re-signed before half its validity')
  // Past half its validity (on the owner's clock), the republish signs the same version again, valid for longer.
  ahead = validity / 2 + 60_000
  await owner.sites.republish()
  const after = await owner.sites.resolve(site.name, { offline: true })
  assert.equal(after.sequence, before.sequence)
  assert.equal(after.value, before.value)
  assert.ok(Date.parse(after.validity) > Date.parse(before.validity) + validity / 2, `${before.validity} → ${after.validity}`)
  // ... and the other node gets it from the DHT.
  assert.equal((await other.sites.resolve(site.name, { fresh: true })).validity, after.validity)
})
