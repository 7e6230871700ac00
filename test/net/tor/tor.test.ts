/**
 * Onion routing over a private Tor network on 127.0.0.1 (src/demo/tornet.ts): a publisher on its
 * onion address, a follower in onion-only mode, and what each side knows of the other.
 * Needs Debian's tor (scripts/ensure-tor.sh installs it as root); skipped, saying why,
 * where it is missing.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { createNode } from '../../../src/node/index.ts'
import { isOnion } from '../../../src/net/index.ts'
import { configSchema } from '../../../src/repo/config.ts'
import { tmpHome } from '../../helpers/home.ts'
import { until } from '../../helpers/until.ts'
import { startCapture, type RunningCapture } from '../../helpers/capture.ts'
import { startTorNet, torUnavailable } from '../../../src/demo/tornet.ts'
import { addDir, createTorNode, dialUntilConnected, fetched, makeSite, onionAddr, sha256Of } from './tor-node.ts'

const unavailable = await torUnavailable()

test('network.tor is a setting of a private network, and a tor that cannot run is ERR_TOR_UNAVAILABLE', async t => {
  const parsed = configSchema.parse({ network: { name: 'x', tor: { onionOnly: true } }, bootstrap: ['/onion3/vww6ybal4bd7szmgncyruucpgfkqahzddi37ktceo3ah7ngmcopnpyyd:4101/p2p/12D3KooWAHwfmW4bQtKXCfBLFBFbh6QMHBEkqVrNabHWaLJmaVh5'] })
  assert.deepEqual(parsed.network, { name: 'x', tor: { onionOnly: true, port: 4101, torrc: [], binary: 'tor' } })
  assert.throws(() => configSchema.parse({ network: { name: 'x', tor: { control: 'nowhere' } } }))
  await assert.rejects(createNode({
    home: await tmpHome(t),
    online: true,
    net: { listen: [], network: { name: 'x', tor: { onionOnly: true, port: 4101, torrc: [], binary: join('/nonexistent', 'tor') } }, bootstrap: [], mdns: false }
  }), (err: any) => err.code === 'ERR_TOR_UNAVAILABLE' && /cannot run/.test(err.message))
})

test('over a private Tor network: an onion-only follower gets a site from its publisher\'s onion address, and nothing it sends or others hold names an IP address', { skip: unavailable, timeout: 420_000 }, async t => {
  const tornet = await startTorNet()
  t.after(tornet.stop)
  t.diagnostic(`private Tor network: consensus of 6 relays after ${Math.round(tornet.consensusMs)} ms`)
  const started = performance.now()
  const [publisher, follower] = await Promise.all([
    createTorNode(t, tornet, { onionOnly: false }),
    createTorNode(t, tornet, { onionOnly: true })
  ])
  t.diagnostic(`two weft nodes' tors bootstrapped and published their onion services after ${Math.round(performance.now() - started)} ms`)

  // The onion-only node listens and announces its onion address and nothing else.
  assert.deepEqual(follower.libp2p.getMultiaddrs().map(a => a.decapsulate('/p2p').toString()), [follower.tor.listenAddr.toString()])
  // The publisher has both: TCP for direct peers, the onion service for the rest.
  assert.ok(publisher.libp2p.getMultiaddrs().some(a => a.toString().includes('/tcp/')))
  assert.ok(publisher.libp2p.getMultiaddrs().some(isOnion))

  // Loopback traffic to the publisher's TCP port: only the follower could send any, and must not.
  const tcpPorts = publisher.libp2p.getMultiaddrs().flatMap(a => a.getComponents().filter(c => c.name === 'tcp').map(c => Number(c.value)))
  let capture: RunningCapture | undefined
  if (process.getuid?.() === 0) capture = await startCapture(t, tcpPorts)
  else t.diagnostic('not root: the loopback capture (no packet to the publisher\'s TCP port) was not taken')

  // A direct dial from the onion-only node is refused before any socket opens.
  const opened: string[] = []
  follower.libp2p.addEventListener('connection:open', e => { opened.push(e.detail.remoteAddr.toString()) })
  const tcpAddr = publisher.libp2p.getMultiaddrs().find(a => a.toString().includes('/tcp/'))
  assert.ok(tcpAddr !== undefined)
  await assert.rejects(follower.libp2p.dial(tcpAddr, { signal: AbortSignal.timeout(10_000) }))

  await dialUntilConnected(follower, onionAddr(publisher))

  const site = await makeSite(t, 1024 * 1024)
  await publisher.sites.create('blog')
  const root = await addDir(publisher, site.dir)
  const published = await publisher.sites.publish('blog', root)
  await follower.sites.follow(published.name)
  await fetched(follower, published.name, 0n, 180_000)
  for (const file of site.files) {
    assert.equal(await sha256Of(follower, `${root}/${file}`), await sha256Of(publisher, `${root}/${file}`), `${file} arrived intact over onion routing`)
  }

  // Every connection the onion-only node has, and every one it opened, went to an onion address.
  const connections = follower.libp2p.getConnections()
  assert.ok(connections.length > 0)
  for (const c of connections) assert.ok(isOnion(c.remoteAddr), `connection to ${c.remoteAddr.toString()} is not through tor`)
  for (const a of opened) assert.match(a, /^\/onion3\//)

  if (capture !== undefined) {
    const seen = await capture.stop()
    assert.equal(seen.packets, 0, `the onion-only follower sent ${seen.packets} packets to the publisher's TCP port ${tcpPorts.join(', ')}`)
  }

  // What identify sends: listen addresses and the signed peer record, onion only; no observed address.
  const toFollower = publisher.libp2p.getConnections(follower.libp2p.peerId)[0]
  assert.ok(toFollower !== undefined, 'the publisher has a connection from the follower')
  const sent = await publisher.libp2p.services.identify.identify(toFollower)
  assert.ok(sent.listenAddrs.length > 0)
  for (const a of sent.listenAddrs) assert.ok(isOnion(a), `identify sent ${a.toString()}`)
  assert.ok(sent.signedPeerRecord !== undefined)
  for (const a of sent.signedPeerRecord.addresses) assert.ok(isOnion(a), `the signed peer record holds ${a.toString()}`)

  // The publisher's address book, and its DHT's answer for the follower, hold only the onion address.
  const stored = await publisher.libp2p.peerStore.get(follower.libp2p.peerId)
  assert.ok(stored.addresses.length > 0)
  for (const a of stored.addresses) assert.ok(isOnion(a.multiaddr), `the publisher's peer store holds ${a.multiaddr.toString()}`)
  const found = await publisher.libp2p.peerRouting.findPeer(follower.libp2p.peerId, { signal: AbortSignal.timeout(30_000) })
  for (const a of found.multiaddrs) assert.ok(isOnion(a), `peer routing answers ${a.toString()}`)

  // The follower's provider record for the site, as the publisher's DHT hands it out.
  await follower.routing.provide(root, { signal: AbortSignal.timeout(60_000) }).catch(() => {})
  await until('the follower among the site\'s providers', async () => {
    for await (const p of publisher.libp2p.contentRouting.findProviders(root, { signal: AbortSignal.timeout(20_000) })) {
      if (p.id.equals(follower.libp2p.peerId)) {
        for (const a of p.multiaddrs) assert.ok(isOnion(a), `the follower's provider record holds ${a.toString()}`)
        return true
      }
    }
    return false
  }, 90_000, 1_000)
})
