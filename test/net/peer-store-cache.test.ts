import { test } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PeerData, PeerId, PeerStore } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { CachedPeerStore, createNet, type WeftLibp2p } from '../../src/net/index.ts'
import { until } from '../helpers/until.ts'

async function node (t: import('node:test').TestContext): Promise<WeftLibp2p> {
  const libp2p = await createNet({ privateKey: await generateKeyPair('Ed25519'), network: { name: 'testnet' }, bootstrap: [], listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false })
  t.after(async () => { await libp2p.stop() })
  return libp2p
}

/** libp2p's own peer store, counting the merges that reach it. */
function counted (store: PeerStore): { store: PeerStore, merges: () => number } {
  let merges = 0
  const merge = store.merge.bind(store)
  return {
    store: Object.assign(Object.create(store) as PeerStore, { merge: async (id: PeerId, data: PeerData) => { merges++; return await merge(id, data) } }),
    merges: () => merges
  }
}

test('a node\'s components read the peer store through the cache, and libp2p itself keeps working through it', async t => {
  const a = await node(t)
  const b = await node(t)
  const components = (a as unknown as { components: { peerStore: PeerStore } }).components
  assert.ok(components.peerStore instanceof CachedPeerStore, 'components.peerStore is the cache')
  assert.equal(a.peerStore, components.peerStore, 'libp2p.peerStore (what weft\'s routing merges into) is the same cache')
  // dial, identify (protocols merged through the cache), ping over a new stream
  await a.dial(b.getMultiaddrs()[0])
  await until('identify to have told a b\'s protocols', async () => (await a.peerStore.get(b.peerId).catch(() => undefined))?.protocols.includes('/ipfs/ping/1.0.0') === true, 10_000)
  assert.ok(await a.services.ping.ping(b.peerId) >= 0)
  const seen = await components.peerStore.get(b.peerId)
  assert.ok(seen.protocols.includes('/ipfs/ping/1.0.0'))
  // what the cache serves is what libp2p's store beneath it holds
  const stored = await (components.peerStore as CachedPeerStore)['inner'].get(b.peerId)
  assert.deepEqual(seen.addresses.map(x => x.multiaddr.toString()).sort(), stored.addresses.map(x => x.multiaddr.toString()).sort())
  assert.deepEqual([...seen.protocols].sort(), [...stored.protocols].sort())
})

test('the cache: merges that add nothing are not written, ones that do are, writes to the store beneath show at once, deletes too', async t => {
  const a = await node(t)
  const { store, merges } = counted(a.peerStore)
  const cache = new CachedPeerStore(store, a)
  const peer = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
  const one = multiaddr('/ip4/127.0.0.1/tcp/4001')
  const two = multiaddr('/ip4/127.0.0.1/tcp/4002')

  await cache.merge(peer, { multiaddrs: [one], protocols: ['/x/1'] })
  assert.equal(merges(), 1)
  // the same again, and a subset, many times: nothing to write
  for (let i = 0; i < 10; i++) await cache.merge(peer, { protocols: ['/x/1'] })
  await cache.merge(peer, { multiaddrs: [one] })
  // the store keeps addresses without the peer's own /p2p suffix: the same address with it adds nothing
  await cache.merge(peer, { multiaddrs: [multiaddr(`${one.toString()}/p2p/${peer.toString()}`)] })
  assert.equal(merges(), 1, 'merges that add nothing reached the store')
  // something new goes through, and is what the store holds
  await cache.merge(peer, { protocols: ['/y/1'] })
  assert.equal(merges(), 2)
  assert.deepEqual((await a.peerStore.get(peer)).protocols.sort(), ['/x/1', '/y/1'])
  // tags are not judged: written
  await cache.merge(peer, { tags: { t: { value: 1 } } })
  assert.equal(merges(), 3)

  // a write made beneath the cache (libp2p's connection manager holds the plain store) shows at once
  assert.equal((await cache.get(peer)).addresses.length, 1)
  await a.peerStore.merge(peer, { multiaddrs: [two] })
  assert.deepEqual((await cache.getInfo(peer)).multiaddrs.map(String).sort(), [one.toString(), two.toString()])
  // and a merge of that address, now known, is not written again
  await cache.merge(peer, { multiaddrs: [two] })
  assert.equal(merges(), 3)

  await cache.delete(peer)
  await assert.rejects(cache.get(peer), { name: 'NotFoundError' })
  assert.equal(await cache.has(peer), false)
})
