import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import { generateKeyPair, publicKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { createIPNSRecord, marshalIPNSRecord, unmarshalIPNSRecord } from 'ipns'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { createNode } from '../../src/node/index.ts'
import { createNet, type WeftLibp2p } from '../../src/net/index.ts'
import { importPath } from '../../src/content/index.ts'
import { joinNetwork } from '../../src/routing/index.ts'
import { parseSiteName, siteNameOf, type SiteEvents } from '../../src/sites/index.ts'
import { createTestnet, createTestNode, type OnlineNode } from '../helpers/testnet.ts'
import { tmpDir, tmpHome } from '../helpers/home.ts'
import { until } from '../helpers/until.ts'

const HOUR = 3_600_000
/** Signed exactly as a publisher would, but without weft's own checks on what is signed. */
const sign = async (key: PrivateKey, value: string, seq: bigint, validity = HOUR): Promise<Uint8Array> =>
  marshalIPNSRecord(await createIPNSRecord(key, value, seq, validity, { ttlNs: 60_000_000_000n }))
const randomRoot = async (): Promise<string> => `/ipfs/${CID.createV1(raw.code, await sha256.digest(randomBytes(16)))}`

test('the record gate: forged, foreign, expired, replayed, oversized, malformed and equivocating records are each refused, counted by reason, and change nothing', async t => {
  const node = await createNode({ home: await tmpHome(t) })
  t.after(async () => { await node.stop() })
  const owner = await generateKeyPair('Ed25519')
  const name = siteNameOf(peerIdFromPrivateKey(owner)).name
  const good = await randomRoot()
  assert.equal(await node.sites.receive(name, await sign(owner, good, 5n)), 'new')

  const refused = async (bytes: Uint8Array, reason: RegExp): Promise<void> => {
    await assert.rejects(node.sites.receive(name, bytes, 'hostile-peer'), (err: any) => {
      assert.equal(err.code, 'ERR_RECORD_INVALID')
      assert.match(err.message, reason)
      return true
    })
  }
  // a forged signature: one bit of the V2 signature flipped
  const forged = unmarshalIPNSRecord(await sign(owner, await randomRoot(), 6n))
  forged.signatureV2[10] ^= 0x01
  await refused(marshalIPNSRecord(forged), /^bad-signature/)
  // a record signed by another key, carrying that key: the key does not match the name
  const other = await generateKeyPair('Ed25519')
  const foreign = await createIPNSRecord(other, await randomRoot(), 7n, HOUR)
  await refused(marshalIPNSRecord({ ...foreign, pubKey: publicKeyToProtobuf(other.publicKey) }), /^wrong-key/)
  // ... and without it: the signature does not verify under the name's key
  await refused(marshalIPNSRecord(foreign), /^bad-signature/)
  // expired
  await refused(await sign(owner, await randomRoot(), 8n, -1_000), /^expired/)
  // a replay of an older version
  await refused(await sign(owner, await randomRoot(), 4n), /^sequence 4 is older than the 5/)
  // oversized: refused before parsing
  await refused(await sign(owner, `${good}/${'a'.repeat(11_000)}`, 9n), /^the record is \d+ bytes; the limit is 10240/)
  // not a record at all
  await refused(randomBytes(300), /^malformed/)
  // a signed value that is not a site root
  await refused(await sign(owner, '/ipns/elsewhere', 10n), /is not an \/ipfs\/ path/)
  // equivocation: sequence 5 signed again with another value
  const twin = await randomRoot()
  await refused(await sign(owner, twin, 5n), /^sequence 5 was already signed with another value/)

  const resolved = await node.sites.resolve(name)
  assert.equal(resolved.sequence, 5n)
  assert.equal(resolved.value, good)
  const info = await node.sites.info(name)
  assert.deepEqual(info.equivocations.map(e => [e.sequence, e.valueA, e.valueB]), [[5n, good, twin]])
  assert.deepEqual(Object.fromEntries(info.rejections.map(r => [r.reason, r.count])), {
    'bad-signature': 2, 'wrong-key': 1, expired: 1, stale: 1, 'too-large': 1, malformed: 1, 'bad-value': 1, equivocation: 1
  })
  assert.ok(info.rejections.every(r => r.lastPeer === 'hostile-peer'))
  // the same record again changes nothing; a later validity for the same version refreshes it
  assert.equal(await node.sites.receive(name, await sign(owner, good, 5n, HOUR / 2)), 'same')
  assert.equal(await node.sites.receive(name, await sign(owner, good, 5n, 2 * HOUR)), 'refresh')
  assert.equal((await node.sites.resolve(name)).sequence, 5n)
})

/** A bare libp2p node on the test network, with no weft behind it: it publishes whatever it is told to. */
async function hostilePeer (t: TestContext): Promise<WeftLibp2p> {
  const libp2p = await createNet({ privateKey: await generateKeyPair('Ed25519'), network: { name: 'testnet' }, bootstrap: [], listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false })
  t.after(async () => { await libp2p.stop() })
  return libp2p
}

async function publishSite (owner: OnlineNode, label: string, text: string, t: TestContext): Promise<{ name: string, root: string }> {
  const dir = await tmpDir(t)
  await writeFile(join(dir, 'index.html'), text)
  const { root } = await importPath(owner.blocks, dir, {})
  await owner.blocks.pin(root.cid, 'recursive')
  if (owner.sites.list().every(s => s.label !== label)) await owner.sites.create(label)
  const published = await owner.sites.publish(label, root.cid)
  return { name: published.name, root: published.root }
}

test('pushes: a stale replay is ignored without penalty; a flood of junk records gets its sender banned; the follower keeps serving the newest version and still takes updates', async t => {
  const [owner, follower] = await createTestnet(t, 2)
  const v0 = await publishSite(owner, 'site', 'v0', t)
  const name = v0.name
  const topic = parseSiteName(name).topic
  const v0Record = owner.sites.record(name)
  assert.ok(v0Record !== undefined)
  await follower.sites.follow(name)
  await until('the follower to hold v0', async () => (await follower.sites.following())[0]?.fetched === true, 10_000)
  const v1 = await publishSite(owner, 'site', 'v1', t)
  await until('the follower to hold v1', async () => { const [f] = await follower.sites.following(); return f?.sequence === 1n && f.fetched }, 10_000)

  const rejected: Array<SiteEvents['rejected']> = []
  follower.sites.addEventListener('rejected', e => { rejected.push((e as CustomEvent<SiteEvents['rejected']>).detail) })
  const join = async (peer: WeftLibp2p): Promise<void> => {
    await peer.dial(follower.libp2p.getMultiaddrs()[0])
    peer.services.pubsub.subscribe(topic)
    await until('the peer to see the follower on the topic', () => peer.services.pubsub.getSubscribers(topic).some(p => p.equals(follower.libp2p.peerId)), 10_000)
  }

  // A relay passes on the old record (a replay, or a peer serving an old root): ignored, counted, not punished.
  const relay = await hostilePeer(t)
  await join(relay)
  await relay.services.pubsub.publish(topic, v0Record)
  await until('the replay to be refused', () => rejected.some(r => r.reason === 'stale'), 10_000)
  assert.equal(follower.exchange.isBanned(relay.peerId.toString()), false)
  assert.equal((await follower.sites.resolve(name, { offline: true })).root, v1.root)

  // A flood of junk and forged records: refused, and the sender is banned and cut off.
  const attacker = await hostilePeer(t)
  await join(attacker)
  const stranger = await generateKeyPair('Ed25519')
  for (let i = 0; i < 200; i++) {
    const bytes = i % 2 === 0 ? randomBytes(200) : await sign(stranger, await randomRoot(), BigInt(100 + i))
    await attacker.services.pubsub.publish(topic, bytes).catch(() => {})
  }
  await until('the attacker to be banned', () => follower.exchange.isBanned(attacker.peerId.toString()), 10_000)
  await until('the attacker to be disconnected', () => follower.libp2p.getConnections(attacker.peerId).length === 0, 10_000)
  const fromAttacker = rejected.filter(r => r.peer === attacker.peerId.toString())
  assert.ok(fromAttacker.length >= 4, `${fromAttacker.length} rejections`)
  assert.ok(fromAttacker.every(r => r.reason === 'malformed' || r.reason === 'bad-signature'), JSON.stringify(fromAttacker.map(r => r.reason)))
  // (the attacker's dial may complete its side before the follower's gater hangs up: wait for the hang-up)
  await attacker.dial(follower.libp2p.getMultiaddrs()[0]).catch(() => {})
  await until('the follower to hang up on the attacker\'s new connection', () => attacker.getConnections(follower.libp2p.peerId).length === 0)
  assert.equal(follower.libp2p.getConnections(attacker.peerId).length, 0, 'and not let back in')
  assert.equal((await follower.sites.resolve(name, { offline: true })).root, v1.root)

  // The follower still takes the owner's next version.
  const v2 = await publishSite(owner, 'site', 'v2', t)
  await until('the follower to hold v2', async () => { const [f] = await follower.sites.following(); return f?.root === v2.root && f.fetched }, 10_000)
})

test('the DHT: a peer that serves an old record cannot roll a node back', async t => {
  const owner = await generateKeyPair('Ed25519')
  const name = siteNameOf(peerIdFromPrivateKey(owner))
  const [old, newer] = [await sign(owner, await randomRoot(), 0n), await sign(owner, await randomRoot(), 1n)]
  // A peer that holds only version 0 and answers with it.
  const stale = await hostilePeer(t)
  for await (const _ of stale.services.dht.put(name.routingKey, old)) { /* alone: stored locally only */ }
  const node = await createTestNode(t)
  assert.equal(await node.sites.receive(name.name, newer), 'new')
  await joinNetwork(node.libp2p, [stale.getMultiaddrs()[0]], { signal: AbortSignal.timeout(10_000) })
  const resolved = await node.sites.resolve(name.name, { fresh: true })
  assert.equal(resolved.sequence, 1n)
  assert.ok((await node.sites.info(name.name)).rejections.some(r => r.reason === 'stale' && r.count === 1))
  // A newcomer that only meets the stale peer gets version 0: the best it can know, and valid.
  const newcomer = await createTestNode(t)
  await joinNetwork(newcomer.libp2p, [stale.getMultiaddrs()[0]], { signal: AbortSignal.timeout(10_000) })
  assert.equal((await newcomer.sites.resolve(name.name)).sequence, 0n)
})
