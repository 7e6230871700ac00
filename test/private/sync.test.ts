import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { generateKeyPair, generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { unmarshalIPNSRecord } from 'ipns'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { createPrivateSync, privateTopic, type ApplyOutcome, type PrivateSync, type PrivateSyncInit, type SyncStore } from '../../src/private/sync.ts'
import { signRecord, siteNameOf, MAX_RECORD_BYTES } from '../../src/sites/index.ts'
import { createTestnet, type OnlineNode } from '../helpers/testnet.ts'
import { until } from '../helpers/until.ts'

const SITE = 'k51qzi5uqu5dlvj2baxnqndepeb86cbk3ng7n3i46uzyxzyqj2xjonzllnv0v8'
const HOUR = 3_600_000

/**
 * Stands in for the private store (src/private/store.ts) only: an "index" is one random raw
 * block, named by an IPNS record the index key signs. applyRemote does what the real one
 * must do with the network: it fetches the block through sync's `fetch` into the node's
 * real store, and refuses an older sequence.
 */
class IndexStore extends EventTarget implements SyncStore {
  key: PrivateKey
  readonly node: OnlineNode
  readonly held = new Map<string, { bytes: Uint8Array, sequence: bigint, cid: CID }>()
  readonly applyCalls: Array<{ site: string, outcome: ApplyOutcome | 'threw' }> = []

  constructor (key: PrivateKey, node: OnlineNode) {
    super()
    this.key = key
    this.node = node
  }

  sites (): string[] { return [...this.held.keys()] }
  indexName (_site: string): string { return siteNameOf(peerIdFromPrivateKey(this.key)).name }
  record (site: string): Uint8Array | undefined { return this.held.get(site)?.bytes }

  /** A change made on this device: a new index block and record, then 'published'. */
  async write (site: string, sequence: bigint): Promise<Uint8Array> {
    const block = randomBytes(2048)
    const cid = CID.createV1(raw.code, await sha256.digest(block))
    await this.node.blocks.put(cid, block)
    const { bytes } = await signRecord(this.key, `/ipfs/${cid.toString()}`, sequence, { validity: HOUR, ttl: 60_000 })
    this.held.set(site, { bytes, sequence, cid })
    this.dispatchEvent(new CustomEvent('published', { detail: { site, record: bytes } }))
    return bytes
  }

  async applyRemote (site: string, bytes: Uint8Array, options: { signal?: AbortSignal, fetch: (cid: CID) => Promise<void> }): Promise<ApplyOutcome> {
    try {
      const record = unmarshalIPNSRecord(bytes)
      const held = this.held.get(site)
      const outcome: ApplyOutcome = held === undefined || record.sequence > held.sequence ? 'applied' : record.sequence === held.sequence ? 'same' : 'older'
      if (outcome === 'applied') {
        const cid = CID.parse(record.value.slice('/ipfs/'.length))
        await options.fetch(cid)
        assert.ok(this.node.blocks.has(cid), 'fetch brought the index block')
        this.held.set(site, { bytes, sequence: record.sequence, cid })
      }
      this.applyCalls.push({ site, outcome })
      return outcome
    } catch (err) {
      this.applyCalls.push({ site, outcome: 'threw' })
      throw err
    }
  }
}

interface Device { node: OnlineNode, store: IndexStore, sync: PrivateSync, penalties: Array<{ peer: string, detail: string }> }

async function device (t: TestContext, node: OnlineNode, key: PrivateKey, options: { init?: PrivateSyncInit, routing?: OnlineNode['routing'], start?: boolean } = {}): Promise<Device> {
  const store = new IndexStore(key, node)
  const penalties: Device['penalties'] = []
  const { libp2p } = node
  // the node's own sync (over its real store) steps aside for the one under test
  await node.privateSync?.stop()
  const sync = createPrivateSync({
    store,
    sites: () => [SITE],
    pubsub: libp2p.services.pubsub,
    routing: options.routing ?? node.routing,
    fetch: async (cid, o) => { await node.exchange.fetch(cid, o) },
    penalise: (peer, detail) => { penalties.push({ peer, detail }); node.exchange.penalise(peer, 'bad-record', detail) },
    onPeerConnected: fn => {
      libp2p.addEventListener('peer:connect', fn)
      return () => { libp2p.removeEventListener('peer:connect', fn) }
    },
    handle: async (protocol, handler) => { await libp2p.handle(protocol, handler, { maxInboundStreams: 8 }) },
    unhandle: async protocol => { await libp2p.unhandle(protocol) },
    dialProtocol: async (peer, protocol, o) => await libp2p.dialProtocol(peer, protocol, o)
  }, { requestTimeout: 5_000, ...options.init })
  if (options.start !== false) await sync.start()
  t.after(async () => { await sync.stop() })
  return { node, store, sync, penalties }
}

/** The key both devices derive for the site's index (the real store derives it from the master key). */
async function indexKey (): Promise<PrivateKey> {
  return await generateKeyPairFromSeed('Ed25519', randomBytes(32))
}

const sameRecord = (a: Device, b: Device) => (): boolean => {
  const x = a.store.record(SITE)
  const y = b.store.record(SITE)
  return x !== undefined && y !== undefined && Buffer.from(x).equals(y)
}

async function meshed (nodes: OnlineNode[]): Promise<void> {
  await until('every node sees its connections', () => nodes.every(x => x.libp2p.getConnections().length === nodes.length - 1))
}

test('a change on one device reaches the other over the topic, its index block fetched; and back', async t => {
  const nodes = await createTestnet(t, 3)
  await meshed(nodes)
  const key = await indexKey()
  const a = await device(t, nodes[0], key)
  const b = await device(t, nodes[1], key)
  const topic = privateTopic(a.store.indexName(SITE))
  await until('the devices meet on the topic', () => a.node.libp2p.services.pubsub.getSubscribers(topic).some(p => p.equals(b.node.libp2p.peerId)))
  await a.store.write(SITE, 1n)
  await until('b applies a\'s record', sameRecord(a, b))
  assert.ok(b.node.blocks.has(a.store.held.get(SITE)!.cid))
  await b.store.write(SITE, 2n)
  await until('a applies b\'s record', sameRecord(a, b))
  assert.equal(a.store.held.get(SITE)?.sequence, 2n)
  assert.deepEqual(a.penalties, [])
  assert.deepEqual(b.penalties, [])
  // the third node never subscribed: it carries nothing of the index
  assert.equal(nodes[2].libp2p.services.pubsub.getSubscribers(topic).length, 2)
})

test('pushes that fail size or signature are rejected before the store sees them, and cost the sender; a replayed older record is refused without a penalty', async t => {
  const nodes = await createTestnet(t, 3)
  await meshed(nodes)
  const key = await indexKey()
  const a = await device(t, nodes[0], key)
  const b = await device(t, nodes[1], key)
  const mallory = nodes[2]
  const topic = privateTopic(a.store.indexName(SITE))
  const first = await a.store.write(SITE, 1n)
  await until('b applies a\'s first record', sameRecord(a, b))
  await a.store.write(SITE, 2n)
  await until('b applies a\'s second record', sameRecord(a, b))
  const calls = b.store.applyCalls.length

  const pubsub = mallory.libp2p.services.pubsub
  pubsub.subscribe(topic)
  await until('mallory meets b on the topic', () => pubsub.getSubscribers(topic).some(p => p.equals(b.node.libp2p.peerId)) &&
    b.node.libp2p.services.pubsub.getSubscribers(topic).some(p => p.equals(mallory.libp2p.peerId)))
  const stranger = await generateKeyPair('Ed25519')
  const forged = (await signRecord(stranger, '/ipfs/bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy', 9n, { validity: HOUR, ttl: 0 })).bytes
  await pubsub.publish(topic, forged)
  await pubsub.publish(topic, randomBytes(MAX_RECORD_BYTES + 1))
  await pubsub.publish(topic, new TextEncoder().encode('not a record'))
  const mine = mallory.libp2p.peerId.toString()
  await until('b charged mallory three times', () => b.penalties.filter(p => p.peer === mine).length === 3)
  assert.equal(b.store.applyCalls.length, calls, 'no rejected push reached the store')
  assert.equal(b.store.held.get(SITE)?.sequence, 2n)

  // a record a's key really signed, but older: the store refuses it, and relaying an old record is no offence
  await pubsub.publish(topic, first)
  await until('b\'s store refuses the replay', () => b.store.applyCalls.some(c => c.outcome === 'older'))
  assert.equal(b.store.held.get(SITE)?.sequence, 2n)
  assert.equal(b.penalties.length, 3)
  assert.deepEqual(a.penalties.filter(p => p.peer !== mine), [])
})

test('a device that was away asks the other for its record when it joins the topic (no DHT)', async t => {
  const nodes = await createTestnet(t, 2)
  await meshed(nodes)
  const key = await indexKey()
  const a = await device(t, nodes[0], key)
  await a.store.write(SITE, 5n)
  const noDht = { ...nodes[1].routing, getRecord: async () => { throw new Error('no DHT in this test') }, putRecord: async () => 0 }
  const b = await device(t, nodes[1], key, { routing: noDht })
  await until('b takes a\'s record from a', sameRecord(a, b))
  assert.equal(b.store.held.get(SITE)?.sequence, 5n)
})

test('a device that was away takes the record from the DHT when the other device is gone', async t => {
  const nodes = await createTestnet(t, 3)
  await meshed(nodes)
  const key = await indexKey()
  const a = await device(t, nodes[0], key)
  const record = await a.store.write(SITE, 3n)
  // the put reached the DHT: a third node finds it
  await until('the record is in the DHT', async () => {
    try {
      return Buffer.from(await nodes[2].routing.getRecord(siteNameOf(peerIdFromPrivateKey(key)).routingKey, { signal: AbortSignal.timeout(2_000) })).equals(record)
    } catch { return false }
  })
  await a.sync.stop()
  const b = await device(t, nodes[1], key)
  await until('b takes a\'s record from the DHT', sameRecord(a, b))
})

test('refresh follows the sites as they change: a new index key (a replaced master key) moves the device to the new topic', async t => {
  const nodes = await createTestnet(t, 2)
  await meshed(nodes)
  const key = await indexKey()
  const a = await device(t, nodes[0], key)
  const pubsub = a.node.libp2p.services.pubsub
  const before = privateTopic(a.store.indexName(SITE))
  assert.ok(pubsub.getTopics().includes(before))
  a.store.key = await indexKey()
  a.sync.refresh()
  const after = privateTopic(a.store.indexName(SITE))
  assert.notEqual(after, before)
  assert.ok(pubsub.getTopics().includes(after))
  assert.equal(pubsub.getTopics().includes(before), false)
  assert.equal(pubsub.topicValidators.has(before), false)
  // the other device, still on the new key, meets it there
  const b = await device(t, nodes[1], a.store.key)
  await a.store.write(SITE, 1n)
  await until('b applies a\'s record on the new topic', sameRecord(a, b))
  await a.sync.stop()
  assert.equal(pubsub.getTopics().some(topic => topic.startsWith('/weft/private/')), false, 'stop leaves every topic')
})

test('each peer has a bucket of pushes: past it a push is rejected before the store and charged', async t => {
  const nodes = await createTestnet(t, 3)
  await meshed(nodes)
  const key = await indexKey()
  const a = await device(t, nodes[0], key)
  const b = await device(t, nodes[1], key, { init: { peerBurst: 3, peerRate: 0.001 } })
  const mallory = nodes[2]
  const topic = privateTopic(a.store.indexName(SITE))
  const first = await a.store.write(SITE, 1n)
  await until('b applies a\'s record', sameRecord(a, b))
  await a.store.write(SITE, 2n)
  await until('b applies a\'s second record', sameRecord(a, b))
  const calls = b.store.applyCalls.length
  const pubsub = mallory.libp2p.services.pubsub
  pubsub.subscribe(topic)
  await until('mallory meets b on the topic', () => pubsub.getSubscribers(topic).some(p => p.equals(b.node.libp2p.peerId)) &&
    b.node.libp2p.services.pubsub.getSubscribers(topic).some(p => p.equals(mallory.libp2p.peerId)))
  // a replayed record is no offence by itself; ten of them at once are
  for (let i = 0; i < 10; i++) await pubsub.publish(topic, first)
  const mine = mallory.libp2p.peerId.toString()
  await until('b charges mallory for the flood', () => b.penalties.some(p => p.peer === mine && p.detail.includes('at once')))
  // a's answer to the replays (its own record, 'same' here) may reach b too; mallory's replays are the 'older' ones
  assert.ok(b.store.applyCalls.slice(calls).filter(c => c.outcome === 'older').length <= 3, 'past the bucket nothing reached the store')
  assert.equal(b.store.held.get(SITE)?.sequence, 2n)
})

test('a device that missed pushes and writes gets the newer record back in answer, with no further write', async t => {
  const nodes = await createTestnet(t, 2)
  await meshed(nodes)
  const key = await indexKey()
  const a = await device(t, nodes[0], key)
  const b = await device(t, nodes[1], key)
  const topic = privateTopic(a.store.indexName(SITE))
  await until('the devices meet on the topic', () => a.node.libp2p.services.pubsub.getSubscribers(topic).some(p => p.equals(b.node.libp2p.peerId)) &&
    b.node.libp2p.services.pubsub.getSubscribers(topic).some(p => p.equals(a.node.libp2p.peerId)))
  await a.store.write(SITE, 1n)
  await until('b applies a\'s first record', sameRecord(a, b))
  // b misses a's next pushes (they arrive, and are dropped)
  let deaf = true
  let dropped = 0
  const apply = b.store.applyRemote.bind(b.store)
  b.store.applyRemote = async (site, bytes, options) => {
    if (!deaf) return await apply(site, bytes, options)
    dropped++
    return 'same'
  }
  const missed = b.store.applyCalls.length
  await a.store.write(SITE, 2n)
  await a.store.write(SITE, 3n)
  await until('b drops both pushes', () => dropped === 2)
  deaf = false
  assert.equal(b.store.applyCalls.length, missed)
  // b writes from where it is: a refuses it as older, and answers with its own
  await b.store.write(SITE, 2n)
  await until('a refuses b\'s older record', () => a.store.applyCalls.some(c => c.outcome === 'older'))
  await until('b takes a\'s record in answer', sameRecord(a, b))
  assert.equal(b.store.held.get(SITE)?.sequence, 3n)
})
