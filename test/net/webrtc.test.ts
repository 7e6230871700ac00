/**
 * WebRTC's wiring (src/net/reach.ts) without namespaces: which addresses count as relayed,
 * which are refused, and that the transport's ICE servers are the configured ones only,
 * never @libp2p/webrtc's public defaults. test/net/nat punches through real NATs.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { createNet, isRelayed, type ReachInit } from '../../src/net/index.ts'
import { iceServers, isRelayLoop, reachListen } from '../../src/net/reach.ts'

const R = '12D3KooWA4aadbBVR4M1xzNFRoC1VkJH495pSmerX1xiuvfLnc7m'
const P = '12D3KooWHYyichEiXBJ1DdiwpzEu5Lq1htDvRdeyY7Uxkxy5FtxZ'

test('a dialled WebRTC connection keeps its relay address but is not relayed; a circuit connection is', () => {
  const conn = (addr: string, limits?: object) => ({ remoteAddr: multiaddr(addr), limits: limits as any })
  assert.equal(isRelayed(conn(`/ip4/11.0.0.1/tcp/4001/p2p/${R}/p2p-circuit/p2p/${P}`)), true)
  assert.equal(isRelayed(conn(`/ip4/11.0.0.1/tcp/4001/p2p/${R}/p2p-circuit/webrtc/p2p/${P}`)), false)
  assert.equal(isRelayed(conn(`/webrtc/p2p/${P}`)), false)
  assert.equal(isRelayed(conn(`/ip4/11.0.0.2/tcp/4101/p2p/${P}`)), false)
  // a limited connection is relayed whatever its address says
  assert.equal(isRelayed(conn(`/webrtc/p2p/${P}`, { bytes: 1n })), true)
})

test('the gater\'s relay loop: a relay reached through itself, and only that', () => {
  assert.equal(isRelayLoop(multiaddr(`/ip4/11.0.0.1/tcp/4001/p2p/${R}/p2p-circuit/webrtc/p2p/${R}`)), true)
  assert.equal(isRelayLoop(multiaddr(`/ip4/11.0.0.1/tcp/4001/p2p/${R}/p2p-circuit/webrtc/p2p/${P}`)), false)
  assert.equal(isRelayLoop(multiaddr(`/ip4/11.0.0.1/tcp/4001/p2p/${R}/p2p-circuit/p2p/${P}`)), false)
  assert.equal(isRelayLoop(multiaddr(`/ip4/11.0.0.1/tcp/4001/p2p/${R}`)), false)
})

test('a node listens on /webrtc (announces <relay>/p2p-circuit/webrtc) only when it reserves on relays and has a STUN server', () => {
  const use = { serve: false, use: true, holePunch: true }
  assert.deepEqual(reachListen({ ...use, stun: ['stun:11.0.0.1:3478'] }), ['/p2p-circuit', '/webrtc'])
  assert.deepEqual(reachListen(use), ['/p2p-circuit'])
  assert.deepEqual(reachListen({ ...use, stun: ['stun:11.0.0.1:3478'], webrtc: false }), ['/p2p-circuit'])
  assert.deepEqual(reachListen({ ...use, serve: true, stun: ['stun:11.0.0.1:3478'] }), [])
  assert.deepEqual(reachListen({ ...use, use: false, stun: ['stun:11.0.0.1:3478'] }), [])
})

test('ICE gets the configured STUN servers and nothing else: none by default', () => {
  assert.deepEqual(iceServers([])(), { iceServers: [] })
  assert.deepEqual(iceServers(['stun:11.0.0.1:3478'])(), { iceServers: [{ urls: ['stun:11.0.0.1:3478'] }] })
  // a fresh object each call: @libp2p/webrtc writes into the one it gets
  assert.notEqual(iceServers([])(), iceServers([])())
})

async function transportsOf (t: { after: (fn: () => Promise<void>) => void }, reach: ReachInit): Promise<{ names: string[], webrtc: any, addrs: string[] }> {
  const node = await createNet({ privateKey: await generateKeyPair('Ed25519'), network: { name: 'testnet' }, bootstrap: [], listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, reach })
  t.after(async () => { await node.stop() })
  // the transport manager is off libp2p's typed interface
  const transports: any[] = (node as any).components.transportManager.getTransports()
  return {
    names: transports.map(x => String(x[Symbol.toStringTag])),
    webrtc: transports.find(x => x[Symbol.toStringTag] === '@libp2p/webrtc'),
    addrs: node.getMultiaddrs().map(String)
  }
}

test('WebRTC is on by default with no ICE servers, and off with nat.webrtc false', async t => {
  const on = await transportsOf(t, { serve: false, use: true, holePunch: true })
  assert.ok(on.webrtc !== undefined, on.names.join(' '))
  // what the transport hands each RTCPeerConnection: @libp2p/webrtc fills in its public
  // servers only when iceServers is absent, and here it is an empty list
  assert.deepEqual(await on.webrtc.init.rtcConfiguration(), { iceServers: [] })
  const configured = await transportsOf(t, { serve: false, use: true, holePunch: true, stun: ['stun:127.0.0.1:3478'] })
  assert.deepEqual(await configured.webrtc.init.rtcConfiguration(), { iceServers: [{ urls: ['stun:127.0.0.1:3478'] }] })
  const off = await transportsOf(t, { serve: false, use: true, holePunch: true, webrtc: false })
  assert.equal(off.webrtc, undefined, off.names.join(' '))
})
