/**
 * Peers behind real NATs (network namespaces, nftables masquerade): a relay in the public
 * namespace, a publisher behind one NAT and a follower behind another. The follower gets
 * the site through the relay; a reachable peer that dials the publisher through the relay
 * ends up with a direct connection (DCUtR); the two NATed peers end up with a direct WebRTC
 * connection ICE punched (its STUN server, coturn, beside the relay); behind a symmetric NAT
 * the relay carries the site.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { until } from '../../helpers/until.ts'
import { tmpDir } from '../../helpers/home.ts'
import { createInternet, netnsUnavailable, spawnPeer, startStun, type Internet, type Lan, type NatKind, type Peer } from './netns.ts'

const unavailable = await netnsUnavailable()
const SITE_FILES = ['index.html', 'css/site.css', 'img/noise.bin']
/** Under libp2p's default 128 KiB a relayed connection may carry, as a small site is. */
const NOISE_BYTES = 48 * 1024

/** How long a punch may take (ms): DCUtR's 3 tries of 5 s (a WebRTC one took 0.3-2 s here). */
const PUNCH_WAIT = 15_000

const QUIC_AUTONAT_TODO = 'with @libp2p/autonat-v2 2.0.15 the relay\'s QUIC dial-back reaches the node but is refused ("No matching dial found for nonce value"): each dial-back connection makes the asker ask again over it, the server closes it after its dial-back, and the ask whose nonce the QUIC dial-back carries has died with it; TCP comes first in the request and gets through. With one AutoNAT server the address then waits for the next new connection'

interface Started { peer: Peer, id: string }
type Conn = { remoteAddr: string, relayed: boolean, opened: number }

/** Where a peer listens: TCP and QUIC (UDP) on one port number. */
function listenOn (ip: string, port: number): string[] {
  return [`/ip4/${ip}/tcp/${port}`, `/ip4/${ip}/udp/${port}/quic-v1`]
}

async function startPeer (t: any, ns: string, name: string, init: { listen: string[], announce?: boolean, bootstrap: string[], serve?: boolean, use?: boolean, stun?: string[] }): Promise<Started> {
  const peer = spawnPeer(t, ns, name)
  const home = join(await tmpDir(t, `weft-nat-${name}-`), 'home')
  const { peerId } = await peer.request('start', {
    home,
    listen: init.listen,
    // a node on the public side says where it is reachable (config addresses.announce)
    announce: init.announce === true ? init.listen : [],
    bootstrap: init.bootstrap,
    reach: { serve: init.serve ?? false, use: init.use ?? true, holePunch: true, stun: init.stun ?? [] }
  })
  return { peer, id: peerId }
}

async function makeSite (t: any): Promise<string> {
  const dir = await tmpDir(t)
  await mkdir(join(dir, 'css'))
  await mkdir(join(dir, 'img'))
  await writeFile(join(dir, 'index.html'), '<h1>behind a NAT</h1>')
  await writeFile(join(dir, 'css', 'site.css'), 'body { color: teal }')
  await writeFile(join(dir, 'img', 'noise.bin'), randomBytes(NOISE_BYTES))
  return dir
}

interface World { net: Internet, relay: Started, relayAddr: string, publisher: Started, follower: Started, publisherLan: Lan, followerLan: Lan, stun: string | undefined }

/** A relay on the public side, a publisher behind a `publisherNat`, a follower behind a cone NAT. */
async function buildWorld (t: any, publisherNat: NatKind): Promise<World> {
  const net = await createInternet(t)
  // ICE behind the NATs learns its public address and port from a STUN server on the public side
  const stun = await startStun(t, net.publicNs, net.publicIp)
  const relay = await startPeer(t, net.publicNs, 'relay', { listen: listenOn(net.publicIp, 4001), announce: true, bootstrap: [], serve: true, use: false })
  const relayAddr = `/ip4/${net.publicIp}/tcp/4001/p2p/${relay.id}`
  const lanA = await net.addLan(publisherNat)
  const lanB = await net.addLan('cone')
  const stunList = stun === undefined ? [] : [stun]
  const publisher = await startPeer(t, lanA.ns, 'publisher', { listen: listenOn(lanA.privateIp, 4101), bootstrap: [relayAddr], stun: stunList })
  const follower = await startPeer(t, lanB.ns, 'follower', { listen: listenOn(lanB.privateIp, 4101), bootstrap: [relayAddr], stun: stunList })
  // an unreachable node advertises a relay address once the relay grants a reservation,
  // and never its NAT's public address (the port peers see is not dialable from elsewhere)
  for (const [p, lan] of [[publisher, lanA], [follower, lanB]] as const) {
    await until(`${lan.ns} holds a relay reservation`, async () => (await p.peer.request<string[]>('addrs')).some(a => a.startsWith(`${relayAddr}/p2p-circuit`)), 30_000, 100)
    const addrs = await p.peer.request<string[]>('addrs')
    assert.ok(addrs.every(a => !a.includes(lan.publicIp)), `an unconfirmed NAT address is not announced: ${addrs.join(' ')}`)
  }
  await until('the publisher has the relay in its DHT routing table', async () => (await publisher.peer.request<number>('routingTableSize')) > 0, 30_000, 100)
  return { net, relay, relayAddr, publisher, follower, publisherLan: lanA, followerLan: lanB, stun }
}

async function publishAndFollow (t: any, w: World): Promise<{ name: string, root: string, hashes: Record<string, string> }> {
  const site = await w.publisher.peer.request('publish', { dir: await makeSite(t), label: 'nat-site', files: SITE_FILES })
  assert.equal(site.announced, true, 'the relay (a DHT server) took the record')
  await w.follower.peer.request('follow', { name: site.name })
  await until('the follower holds the site', async () => (await w.follower.peer.request('followState', { name: site.name })).state === 'held', 60_000, 200)
  const held = await w.follower.peer.request('hashes', { root: site.root, files: SITE_FILES })
  assert.deepEqual(held.hashes, site.hashes, 'bytes identical at the follower')
  return site
}

test('behind two cone NATs: the follower gets the site through the relay; a reachable peer reaches the publisher directly after DCUtR', { skip: unavailable, timeout: 240_000 }, async t => {
  const w = await buildWorld(t, 'cone')
  const site = await publishAndFollow(t, w)
  // the publisher and follower reached each other through the relay: relayed, or WebRTC
  // signalled through it (the subtest below takes that step by step); never TCP or QUIC
  const between = await w.follower.peer.request<Conn[]>('connections', { peer: w.publisher.id })
  t.diagnostic(`after following: ${JSON.stringify(between)}`)
  assert.ok(between.length > 0 && between.every(c => c.remoteAddr.includes(`/p2p/${w.relay.id}/p2p-circuit/`) || c.remoteAddr.startsWith('/webrtc/')), JSON.stringify(between))

  // A reachable peer on the public side dials the publisher's relay address; DCUtR on the
  // publisher sees that the dialler announces a public address and dials it straight
  // back out through its NAT, and the relayed connection is closed.
  const reachable = await startPeer(t, w.net.publicNs, 'reachable', { listen: listenOn(w.net.publicIp, 4002), announce: true, bootstrap: [w.relayAddr], use: false })
  // the publisher learns the reachable peer's addresses (identify) on a direct connection first
  await w.publisher.peer.request('dial', { addr: `/ip4/${w.net.publicIp}/tcp/4002/p2p/${reachable.id}` })
  // close that connection (an open one would be reused), so the next one goes through the relay
  // the plain relay address (the publisher also announces one for WebRTC, …/p2p-circuit/webrtc/…)
  const circuit = (await w.publisher.peer.request<string[]>('addrs')).find(a => a === `${w.relayAddr}/p2p-circuit/p2p/${w.publisher.id}`)!
  await reachable.peer.request('hangUp', { peer: w.publisher.id })
  const first = await reachable.peer.request('dial', { addr: circuit })
  assert.equal(first.relayed, true, `the first connection goes through the relay: ${first.remoteAddr}`)
  await until('DCUtR leaves a direct connection', async () => {
    const conns = await reachable.peer.request<Array<{ remoteAddr: string, relayed: boolean }>>('connections', { peer: w.publisher.id })
    // the publisher dialled out through its NAT (TCP or QUIC): the reachable peer sees the router's address
    return conns.some(c => !c.relayed && c.remoteAddr.startsWith(`/ip4/${w.publisherLan.publicIp}/`))
  }, 30_000, 100)
  const direct = await reachable.peer.request('fetch', { root: site.root, files: SITE_FILES })
  assert.deepEqual(direct.hashes, site.hashes, 'bytes identical at the reachable peer')

  await t.test('two peers both behind cone NATs: through the relay first, then a direct WebRTC connection ICE punched', { skip: w.stun === undefined ? 'coturn (the STUN server) is missing: scripts/ensure-netns.sh installs it as root' : false }, async () => {
    const publisherAddrs = await w.publisher.peer.request<string[]>('addrs')
    assert.ok(publisherAddrs.includes(`${w.relayAddr}/p2p-circuit/webrtc/p2p/${w.publisher.id}`), `the publisher announces a WebRTC address through its relay: ${publisherAddrs.join(' ')}`)
    // first through the relay: once every connection between the two is closed, the follower
    // can reach the publisher only through the relay (a redial by either side goes the same way)
    const { at: closed } = await w.follower.peer.request<{ at: number }>('hangUp', { peer: w.publisher.id })
    // closed at the publisher too: a relayed connection that arrives while it still counts an
    // old one open notifies no protocol topology, and DCUtR would not start on it
    await w.publisher.peer.request('hangUp', { peer: w.follower.id })
    await until('no connection between the two, at either end', async () =>
      (await w.publisher.peer.request<Conn[]>('connections', { peer: w.follower.id })).length === 0 &&
      (await w.follower.peer.request<Conn[]>('connections', { peer: w.publisher.id })).length === 0, 10_000, 50)
    await w.follower.peer.request('dial', { addr: circuit })
    // then DCUtR over the relayed connection swaps addresses, the /webrtc relay addresses among
    // them, and a WebRTC dial sends SDP and ICE candidates through the relay while ICE
    // punches a UDP path through both NATs; DCUtR then closes the relayed connection
    await until('the two NATed peers hold a direct WebRTC connection opened since', async () =>
      (await w.follower.peer.request<Conn[]>('connections', { peer: w.publisher.id })).some(c => !c.relayed && c.remoteAddr.includes('/webrtc/') && c.opened >= closed), PUNCH_WAIT, 200)
    const since = (await w.follower.peer.request<Conn[]>('openedConnections', { peer: w.publisher.id })).filter(c => c.opened >= closed)
    t.diagnostic(`the follower's connections to the publisher since: ${JSON.stringify(since)}`)
    const firstRelayed = since.findIndex(c => c.relayed && c.remoteAddr.includes('/p2p-circuit/'))
    const firstWebRTC = since.findIndex(c => !c.relayed && c.remoteAddr.includes('/webrtc/'))
    assert.ok(firstRelayed >= 0 && firstRelayed < firstWebRTC, `a relayed connection first, then WebRTC: ${JSON.stringify(since)}`)
    const atFollower = await w.follower.peer.request<Conn[]>('connections', { peer: w.publisher.id })
    const atPublisher = await w.publisher.peer.request<Conn[]>('connections', { peer: w.follower.id })
    t.diagnostic(`follower's connections: ${JSON.stringify(atFollower)}; publisher's: ${JSON.stringify(atPublisher)}`)
    // whichever side answered sees a plain /webrtc address: no /p2p-circuit in it
    assert.ok([...atFollower, ...atPublisher].some(c => c.remoteAddr.startsWith('/webrtc/p2p/') && !c.relayed), 'one side sees /webrtc/p2p/<peer>')
    // the path ICE chose: both NATs' public (server-reflexive) ports, the relay nowhere on it
    const paths = await w.follower.peer.request<Array<{ local: string, remote: string }>>('webrtcPaths', { peer: w.publisher.id })
    t.diagnostic(`ICE paths: ${JSON.stringify(paths)}`)
    assert.ok(paths.some(p => p.local.includes(`${w.followerLan.publicIp}:`) && p.remote.includes(`${w.publisherLan.publicIp}:`)), JSON.stringify(paths))
    // a new version of the site, announced while the relay still runs (it is the DHT server)
    const next = await w.publisher.peer.request('publish', { dir: await makeSite(t), label: 'nat-site', files: SITE_FILES })
    // the relay leaves: whatever the follower gets now came over the punched path
    await w.relay.peer.request('stop').catch(() => {})
    await until('no relayed connection is left', async () =>
      (await w.follower.peer.request<Conn[]>('connections', { peer: w.publisher.id })).every(c => !c.relayed), 30_000, 200)
    const direct = await w.follower.peer.request('fetch', { root: next.root, files: SITE_FILES })
    assert.deepEqual(direct.hashes, next.hashes, 'bytes identical over the punched connection')
    const after = await w.follower.peer.request<Conn[]>('connections', { peer: w.publisher.id })
    assert.ok(after.length > 0 && after.every(c => !c.relayed && c.remoteAddr.includes('/webrtc/')), JSON.stringify(after))
  })
})

test('behind a symmetric NAT hole punching (DCUtR, WebRTC) fails and the relay carries the site', { skip: unavailable, timeout: 240_000 }, async t => {
  const w = await buildWorld(t, 'symmetric')
  await publishAndFollow(t, w)
  // WebRTC is tried and fails: the STUN server saw one port of the publisher's NAT, the
  // follower's ICE checks are sent to it, and the NAT gave the checks toward the follower
  // another port (no TURN server here to relay through)
  if (w.stun !== undefined) {
    const webrtcAddr = `${w.relayAddr}/p2p-circuit/webrtc/p2p/${w.publisher.id}`
    assert.ok((await w.publisher.peer.request<string[]>('addrs')).includes(webrtcAddr), 'the publisher announces a WebRTC address')
    // the dial fails, or (joining a dial to the publisher already under way) ends relayed
    const tried = await w.follower.peer.request('dial', { addr: webrtcAddr }).catch((err: Error) => ({ failed: err.message.split('\n')[0] }))
    t.diagnostic(`a WebRTC dial through the symmetric NAT: ${JSON.stringify(tried)}`)
    assert.ok(tried.failed !== undefined || tried.relayed === true, JSON.stringify(tried))
  }
  // a failed WebRTC dial may take the relayed connection it signalled over with it: the
  // relay is still the way, so the follower dials it (as its next fetch would)
  if ((await w.follower.peer.request<Conn[]>('connections', { peer: w.publisher.id })).length === 0) {
    await w.follower.peer.request('dial', { addr: `${w.relayAddr}/p2p-circuit/p2p/${w.publisher.id}` })
  }
  const between = await w.follower.peer.request<Conn[]>('connections', { peer: w.publisher.id })
  t.diagnostic(`follower's connections: ${JSON.stringify(between)}`)
  assert.ok(between.length > 0, 'the follower is connected to the publisher')
  assert.ok(between.every(c => c.relayed && c.remoteAddr.includes('/p2p-circuit')), `only relayed connections: ${JSON.stringify(between)}`)
})

test('AutoNAT v2: a node with a public address learns its TCP address is reachable and announces it; behind NAT, its NAT\'s address is tried, fails and is never announced', { skip: unavailable, timeout: 240_000 }, async t => {
  const net = await createInternet(t)
  const relay = await startPeer(t, net.publicNs, 'relay', { listen: listenOn(net.publicIp, 4001), announce: true, bootstrap: [], serve: true, use: false })
  const relayAddr = `/ip4/${net.publicIp}/tcp/4001/p2p/${relay.id}`
  // a public node that announces nothing by config: only AutoNAT can vouch for its addresses
  const open = await startPeer(t, net.publicNs, 'open', { listen: listenOn(net.publicIp, 4003), bootstrap: [relayAddr], use: false })
  const lan = await net.addLan('cone')
  // over QUIC to the relay, so the relay sees (and identify reports) the NAT's UDP port
  const natted = await startPeer(t, lan.ns, 'natted', { listen: listenOn(lan.privateIp, 4101), bootstrap: [`/ip4/${net.publicIp}/udp/4001/quic-v1/p2p/${relay.id}`] })

  await until('the public node announces its TCP listen address once the relay dialled it back', async () => {
    const addrs = await open.peer.request<string[]>('addrs')
    return addrs.includes(`/ip4/${net.publicIp}/tcp/4003/p2p/${open.id}`)
  }, 60_000, 200)
  // the dial-back came on a connection of its own (AutoNAT v1 reused and closed the asker's)
  const toRelay = await open.peer.request<Array<{ direction: string, status: string }>>('connections', { peer: relay.id })
  assert.ok(toRelay.some(c => c.direction === 'outbound' && c.status === 'open'), `the public node's own connection to the relay is still open: ${JSON.stringify(toRelay)}`)
  assert.ok(await open.peer.request<number>('routingTableSize') > 0, 'the relay is still in its DHT routing table')

  await until('AutoNAT asked the relay to dial the NAT\'s port back, and the dial failed', async () => {
    const { results } = await natted.peer.request<{ results: Array<{ addr: string, failure: number }> }>('autoNat')
    return results.some(r => r.addr.startsWith(`/ip4/${lan.publicIp}/udp/`) && r.failure > 0)
  }, 60_000, 200)
  const { addresses } = await natted.peer.request<{ addresses: Array<{ addr: string, verified: boolean }> }>('autoNat')
  assert.ok(addresses.filter(a => a.addr.includes(lan.publicIp)).every(a => !a.verified), JSON.stringify(addresses))
  const announced = await natted.peer.request<string[]>('addrs')
  assert.ok(announced.every(a => !a.includes(lan.publicIp)), `the NAT's address is not announced: ${announced.join(' ')}`)
  assert.ok(announced.some(a => a.includes(`/p2p/${relay.id}/p2p-circuit`)), `the relay address is: ${announced.join(' ')}`)

  await t.test('the public node\'s QUIC listen address is confirmed too', { todo: QUIC_AUTONAT_TODO }, async () => {
    await until('the public node announces its QUIC listen address', async () =>
      (await open.peer.request<string[]>('addrs')).includes(`/ip4/${net.publicIp}/udp/4003/quic-v1/p2p/${open.id}`), 15_000, 200)
  })
})
