import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { createIPNSRecord, marshalIPNSRecord, unmarshalIPNSRecord, multihashToIPNSRoutingKey } from 'ipns'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { importPath } from '../../src/content/index.ts'
import { base32 } from 'multiformats/bases/base32'
import { createNode } from '../../src/node/index.ts'
import { SqliteDatastore } from '../../src/net/index.ts'
import { pruneDhtStore } from '../../src/routing/index.ts'
import { createTestNode, type OnlineNode } from '../helpers/testnet.ts'
import { tmpDir, tmpHome } from '../helpers/home.ts'
import { until } from '../helpers/until.ts'

/** Polls `condition` until it holds; fails after `ms`. */
const connected = (a: OnlineNode, b: OnlineNode): boolean => a.libp2p.getConnections(b.libp2p.peerId).length > 0

/** Rows and bytes of libp2p's datastore in the node's home db. */
function datastoreSize (node: OnlineNode): { rows: number, bytes: number } {
  // (a home from before the datastore was kept on disk has no table: nothing kept)
  if (node.repo.db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'datastore'").get() === undefined) return { rows: 0, bytes: 0 }
  const row = node.repo.db.prepare('SELECT COUNT(*) AS rows, COALESCE(SUM(LENGTH(key) + LENGTH(value)), 0) AS bytes FROM datastore').get() as { rows: number, bytes: number }
  return { rows: Number(row.rows), bytes: Number(row.bytes) }
}

test('a restarted node redials the peer it met, with no bootstrap list', async t => {
  const a = await createTestNode(t)
  const home = await tmpHome(t)
  let b = await createTestNode(t, { home })
  await b.libp2p.dial(a.libp2p.getMultiaddrs()[0])
  // identify tells each side where the other listens (and puts it in the DHT's table)
  const table = (n: OnlineNode): number => (n.libp2p.services.dht as unknown as { routingTable: { size: number } }).routingTable.size
  await until('identify done both ways', () => table(a) > 0 && table(b) > 0, 5_000)
  const seenBefore = a.reconnect?.known.get(b.libp2p.peerId.toString())?.lastSeen ?? 0
  await b.stop()
  await until('a sees b go', () => !connected(a, b), 5_000)

  const started = performance.now()
  b = await createTestNode(t, { home })
  await until('the restarted b is connected to a', () => connected(b, a), 10_000)
  t.diagnostic(`reconnected ${(performance.now() - started).toFixed(0)} ms after createNode began`)
  // both remember the other, and a saw b again: its last-seen moved on
  assert.ok(seenBefore > 0)
  assert.ok(b.reconnect?.known.get(a.libp2p.peerId.toString()) !== undefined)
  await until('a updates last seen', () => (a.reconnect?.known.get(b.libp2p.peerId.toString())?.lastSeen ?? 0) > seenBefore, 5_000)
  const size = datastoreSize(b)
  t.diagnostic(`b's datastore: ${size.rows} rows, ${size.bytes} bytes`)
  assert.ok(size.rows > 0)
})

/** A TCP port on 127.0.0.1 that was free a moment ago. */
async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  await new Promise(resolve => server.close(resolve))
  return port
}

test('a node whose only peer restarts keeps redialling it, with back-off, until it is back', async t => {
  const port = await freePort()
  const homeA = await tmpHome(t)
  const options = {
    home: homeA,
    online: true,
    net: { listen: [`/ip4/127.0.0.1/tcp/${port}`], network: { name: 'testnet' }, bootstrap: [], mdns: false },
    reprovideInterval: 0,
    sites: { republishInterval: 0, pollInterval: 0 },
    // a stays passive: whatever connects the two after its restart is b's doing
    reconnect: { redialPeers: 0 }
  }
  let a = await createNode(options)
  t.after(async () => { await a.stop() })
  const b = await createTestNode(t, { home: await tmpHome(t) })
  await b.libp2p.dial(a.libp2p!.getMultiaddrs()[0])
  await until('b remembers a', () => b.reconnect?.known.get(a.libp2p!.peerId.toString()) !== undefined, 5_000)
  await a.stop()
  await until('b alone', () => b.libp2p.getConnections().length === 0, 5_000)
  // b's first two tries (at once, then after the first back-off) fail while a is down
  await until('b tried twice', () => (b.reconnect?.status().dials ?? 0) >= 2, 5_000)
  assert.equal(b.reconnect?.status().redialling, true)
  const started = performance.now()
  a = await createNode(options)
  await until('b reconnected to the restarted a', () => b.libp2p.getConnections(a.libp2p!.peerId).length > 0, 15_000)
  t.diagnostic(`b reconnected ${(performance.now() - started).toFixed(0)} ms after a began to start again`)
})

test('DHT records and provider records a node holds for others survive its restart', async t => {
  const publisher = await createTestNode(t)
  const home = await tmpHome(t)
  let holder = await createTestNode(t, { home })
  await publisher.libp2p.dial(holder.libp2p.getMultiaddrs()[0])
  await until('holder in the publisher\'s routing table', () => (publisher.libp2p.services.dht as unknown as { routingTable: { size: number } }).routingTable.size > 0, 5_000)

  const key = await generateKeyPair('Ed25519')
  const value = `/ipfs/${CID.createV1(raw.code, await sha256.digest(randomBytes(32)))}`
  const recordKey = multihashToIPNSRoutingKey(key.publicKey.toMultihash())
  const took = await publisher.routing.putRecord(recordKey, marshalIPNSRecord(await createIPNSRecord(key, value, 1n, 600_000)), { signal: AbortSignal.timeout(10_000) })
  assert.ok(took >= 1, 'the holder took the record')
  const cid = CID.createV1(raw.code, await sha256.digest(randomBytes(32)))
  await publisher.routing.provide(cid, { signal: AbortSignal.timeout(10_000) })
  const before = datastoreSize(holder)

  // the publisher leaves for good; the holder restarts on its home
  await publisher.stop()
  await holder.stop()
  holder = await createTestNode(t, { home })
  const after = datastoreSize(holder)
  t.diagnostic(`holder's datastore before restart ${before.rows} rows / ${before.bytes} bytes, after ${after.rows} rows / ${after.bytes} bytes`)

  // a newcomer that knows only the holder finds both
  const newcomer = await createTestNode(t)
  await newcomer.libp2p.dial(holder.libp2p.getMultiaddrs()[0])
  await until('holder in the newcomer\'s routing table', () => (newcomer.libp2p.services.dht as unknown as { routingTable: { size: number } }).routingTable.size > 0, 5_000)
  const got = unmarshalIPNSRecord(await newcomer.routing.getRecord(recordKey, { signal: AbortSignal.timeout(10_000) }))
  assert.equal(got.value, value)
  const providers: string[] = []
  for await (const p of newcomer.routing.findProviders(cid, { signal: AbortSignal.timeout(10_000) })) providers.push(p.toString())
  assert.deepEqual(providers, [publisher.libp2p.peerId.toString()])
})

test('the DHT routing table comes back from disk: its peers that still answer are in it again after a restart', async t => {
  const a = await createTestNode(t)
  const home = await tmpHome(t)
  const b = await createTestNode(t, { home })
  await b.libp2p.dial(a.libp2p.getMultiaddrs()[0])
  const table = (n: { libp2p?: OnlineNode['libp2p'] }): { size: number, find: (p: unknown) => Promise<unknown> } => (n.libp2p?.services.dht as unknown as { routingTable: { size: number, find: (p: unknown) => Promise<unknown> } }).routingTable
  await until('a in b\'s routing table', async () => (await table(b).find(a.libp2p.peerId)) != null, 5_000)
  await b.stop()
  // no redial: only kad-dht's own refill (it pings each peer from the peer store before adding it)
  const again = await createNode({
    home,
    online: true,
    net: { listen: ['/ip4/127.0.0.1/tcp/0'], network: { name: 'testnet' }, bootstrap: [], mdns: false },
    reprovideInterval: 0,
    sites: { republishInterval: 0, pollInterval: 0 },
    reconnect: { redialPeers: 0 }
  })
  t.after(async () => { await again.stop() })
  await until('a back in b\'s routing table', async () => (await table(again).find(a.libp2p.peerId)) != null, 10_000)
  assert.equal(table(again).size, 1)
})

test('a followed site catches up by itself after its follower restarts while the owner published a new version', async t => {
  const owner = await createTestNode(t)
  const home = await tmpHome(t)
  let follower = await createTestNode(t, { home })
  await follower.libp2p.dial(owner.libp2p.getMultiaddrs()[0])
  await until('follower in the owner\'s routing table', () => (owner.libp2p.services.dht as unknown as { routingTable: { size: number } }).routingTable.size > 0, 5_000)

  const dir = await tmpDir(t)
  await writeFile(join(dir, 'index.html'), '<h1>one</h1>')
  const site = await owner.sites.create('blog')
  const root1 = (await importPath(owner.blocks, dir, {})).root.cid
  await owner.blocks.pin(root1, 'recursive')
  await owner.sites.publish('blog', root1)
  await follower.sites.follow(site.name)
  const held = async (n: OnlineNode, seq: bigint): Promise<boolean> => (await n.sites.following()).some(f => f.name === site.name && f.fetched && (f.sequence ?? -1n) >= seq)
  await until('follower fetched version 0', () => held(follower, 0n), 20_000)

  await follower.stop()
  await writeFile(join(dir, 'index.html'), '<h1>two</h1>')
  const root2 = (await importPath(owner.blocks, dir, {})).root.cid
  await owner.blocks.pin(root2, 'recursive')
  const second = await owner.sites.publish('blog', root2)
  assert.equal(second.sequence, 1n)

  // nobody dials anybody: the follower finds the owner again and catches up
  const started = performance.now()
  follower = await createTestNode(t, { home })
  await until('the restarted follower fetched version 1', () => held(follower, 1n), 30_000)
  t.diagnostic(`caught up ${(performance.now() - started).toFixed(0)} ms after createNode began`)
  assert.ok(await follower.blocks.has(root2))
})

test('a node whose remembered peers are all gone starts, gives up after its tries, and stops at once; restarts leak no handles', async t => {
  const a = await createTestNode(t)
  const home = await tmpHome(t)
  const b = await createTestNode(t, { home })
  await b.libp2p.dial(a.libp2p.getMultiaddrs()[0])
  await until('b remembers a', () => b.reconnect?.known.get(a.libp2p.peerId.toString()) !== undefined, 5_000)
  // and two damaged rows, which must not stop the others being tried
  const insert = b.repo.db.prepare('INSERT INTO peers (peer, addrs, last_seen) VALUES (?, ?, ?)')
  insert.run(peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString(), 'not json', Date.now())
  insert.run(peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString(), '["/not/an/address"]', Date.now())
  await a.stop()
  await b.stop()

  const options = {
    home,
    online: true,
    net: { listen: ['/ip4/127.0.0.1/tcp/0'], network: { name: 'testnet' }, bootstrap: [], mdns: false },
    reprovideInterval: 0,
    sites: { republishInterval: 0, pollInterval: 0 }
  }
  // a short schedule: three tries, then the round ends by itself
  let started = performance.now()
  const bounded = await createNode({ ...options, reconnect: { attempts: 3, retryDelay: 20 } })
  t.diagnostic(`started in ${(performance.now() - started).toFixed(0)} ms with every remembered peer gone`)
  const report = await bounded.reconnect?.settled()
  assert.deepEqual(report, { tried: 3, connected: 0 })
  assert.equal(bounded.libp2p?.getConnections().length, 0)
  await bounded.stop()

  // the default schedule runs for minutes; stop() ends it at once
  const resources = (): number => process.getActiveResourcesInfo().filter(r => r !== 'TTYWrap').length
  const baseline = resources()
  for (let i = 0; i < 15; i++) {
    const node = await createNode(options)
    // the round is still in its back-off (8 tries over minutes) when stop() comes
    const round = node.reconnect?.settled()
    started = performance.now()
    await node.stop()
    assert.deepEqual(await round, { tried: 3, connected: 0 })
    const stopMs = performance.now() - started
    assert.ok(stopMs < 2_000, `stop took ${stopMs.toFixed(0)} ms`)
  }
  // sockets and timers close a moment after stop() returns; none may stay
  const settledMs = await until(`resources back to ${baseline} (${process.getActiveResourcesInfo().join(', ')})`, () => resources() <= baseline, 10_000)
  t.diagnostic(`15 restarts: active resources back to ${resources()} (before: ${baseline}) ${settledMs.toFixed(0)} ms after the last stop`)
})

test('a banned peer is not redialled after a restart', async t => {
  const a = await createTestNode(t)
  const home = await tmpHome(t)
  const b = await createTestNode(t, { home })
  await b.libp2p.dial(a.libp2p.getMultiaddrs()[0])
  await until('b remembers a', () => b.reconnect?.known.get(a.libp2p.peerId.toString()) !== undefined, 5_000)
  await b.stop()
  const banned = a.libp2p.peerId.toString()
  const again = await createNode({
    home,
    online: true,
    net: { listen: ['/ip4/127.0.0.1/tcp/0'], network: { name: 'testnet' }, bootstrap: [], mdns: false, isBanned: peer => peer === banned },
    reprovideInterval: 0,
    sites: { republishInterval: 0, pollInterval: 0 }
  })
  t.after(async () => { await again.stop() })
  assert.deepEqual(await again.reconnect?.settled(), { tried: 0, connected: 0 })
  // and the gater still refuses a dial by hand
  await assert.rejects(again.libp2p!.dial(a.libp2p.getMultiaddrs()[0]))
  assert.equal(again.libp2p?.getConnections().length, 0)
})

test('what the DHT keeps on disk stays bounded: stale records go, and our provider records for blocks we no longer hold', async t => {
  const publisher = await createTestNode(t)
  const home = await tmpHome(t)
  let holder = await createTestNode(t, { home })
  await publisher.libp2p.dial(holder.libp2p.getMultiaddrs()[0])
  await until('holder in the publisher\'s routing table', () => (publisher.libp2p.services.dht as unknown as { routingTable: { size: number } }).routingTable.size > 0, 5_000)
  await until('publisher in the holder\'s routing table', () => (holder.libp2p.services.dht as unknown as { routingTable: { size: number } }).routingTable.size > 0, 5_000)

  // for others: a record and a provider record; our own: one for a block held, one for a block gone
  const key = await generateKeyPair('Ed25519')
  const recordKey = multihashToIPNSRoutingKey(key.publicKey.toMultihash())
  await publisher.routing.putRecord(recordKey, marshalIPNSRecord(await createIPNSRecord(key, '/ipfs/bafkqaaa', 1n, 600_000)), { signal: AbortSignal.timeout(10_000) })
  const theirs = CID.createV1(raw.code, await sha256.digest(randomBytes(32)))
  await publisher.routing.provide(theirs, { signal: AbortSignal.timeout(10_000) })
  const bytes = randomBytes(64)
  const held = CID.createV1(raw.code, await sha256.digest(bytes))
  await holder.blocks.put(held, bytes)
  await holder.blocks.flush()
  const gone = CID.createV1(raw.code, await sha256.digest(randomBytes(32)))
  await holder.routing.provide(held, { signal: AbortSignal.timeout(10_000) })
  await holder.routing.provide(gone, { signal: AbortSignal.timeout(10_000) })

  const providerKey = (cid: CID, peer: OnlineNode): string => `/dht/provider/${base32.baseEncode(cid.multihash.bytes)}/${peer.libp2p.peerId.toString()}`
  const keys = (node: OnlineNode): Set<string> => new Set((node.repo.db.prepare('SELECT key FROM datastore').all() as Array<{ key: string }>).map(r => r.key))
  // (writes reach the db a moment later, together)
  await until('the three provider records on disk', () => [providerKey(theirs, publisher), providerKey(held, holder), providerKey(gone, holder)].every(k => keys(holder).has(k)), 5_000)
  const before = keys(holder)
  const records = (ks: Set<string>): number => [...ks].filter(k => k.startsWith('/dht/record/')).length
  assert.equal(records(before), 1)

  await publisher.stop()
  await holder.stop()
  holder = await createTestNode(t, { home })
  const after = keys(holder)
  assert.ok(!after.has(providerKey(gone, holder)), 'our provider record for a block we no longer hold is dropped at start')
  assert.ok(after.has(providerKey(held, holder)))
  assert.ok(after.has(providerKey(theirs, publisher)))
  assert.equal(records(after), 1)

  // two days on (kad-dht serves neither after 48 h), what others gave us goes; ours for what we hold stays
  const datastore = new SqliteDatastore(holder.repo.db)
  const report = await pruneDhtStore({ datastore, self: holder.libp2p.peerId, holds: cid => holder.blocks.has(cid) }, { now: Date.now() + 49 * 60 * 60_000 })
  datastore.flush()
  assert.deepEqual(report, { records: 1, providers: 1, own: 0, kept: 1 })
  const later = keys(holder)
  assert.equal(records(later), 0)
  assert.ok(!later.has(providerKey(theirs, publisher)))
  assert.ok(later.has(providerKey(held, holder)))
})

test('the peers a node remembers are bounded: at most 256, none unseen for 14 days, the most recent kept', async t => {
  const node = await createTestNode(t)
  const known = node.reconnect?.known
  assert.ok(known !== undefined)
  const now = Date.now()
  const day = 24 * 60 * 60_000
  const ids: string[] = []
  for (let i = 0; i < 600; i++) {
    const id = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    ids.push(id)
    // the first 100 were last seen 20 to 15 days ago, the rest within the last days, newest last
    const lastSeen = i < 100 ? now - 20 * day + i * 60_000 : now - day + i * 60_000
    known.seen(id, Array.from({ length: 12 }, (_, j) => `/ip4/127.0.0.1/tcp/${1000 + j}`), lastSeen)
    assert.ok(known.count() <= 256 + 64, `${known.count()} peers kept after ${i + 1} seen`)
  }
  known.prune(now)
  assert.equal(known.count(), 256)
  assert.deepEqual(known.recent(256).map(p => p.peer), ids.slice(-256).reverse())
  assert.equal(known.recent(1)[0].addrs.length, 8, 'at most 8 addresses a peer')
  // two weeks later, without a sighting, all are forgotten
  known.prune(now + 15 * day)
  assert.equal(known.count(), 0)
})
