/**
 * Which `origins` a pinning node dials for a client, and the `delegates` it hands out
 * (src/storage/pinning/addresses.ts): a client's word never makes the node look up a name
 * or, on the public network, dial into its own LAN.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { multiaddr } from '@multiformats/multiaddr'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { delegatesOf, dialableOrigin } from '../../src/storage/pinning/index.ts'

// 8.8.4.4 stands for any public address: it is only classified here, never dialled
test('origins: IP addresses over TCP or WebSockets ending in another peer\'s id; no names, no local addresses on the public network', async () => {
  const self = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
  const peer = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
  const verdict = (text: string, network: 'ipfs' | 'private'): string => {
    const v = dialableOrigin(text, network, self)
    return 'skipped' in v ? v.skipped : `dial ${v.peer === peer ? 'peer' : v.peer}`
  }
  const cases: Array<[string, string, string]> = [
    [`/ip4/127.0.0.1/tcp/4101/p2p/${peer}`, 'dial peer', 'a local address on the public network'],
    [`/ip4/192.168.1.20/tcp/4101/p2p/${peer}`, 'dial peer', 'a local address on the public network'],
    [`/ip4/10.1.2.3/tcp/4102/ws/p2p/${peer}`, 'dial peer', 'a local address on the public network'],
    [`/ip6/fe80::1/tcp/4101/p2p/${peer}`, 'dial peer', 'a local address on the public network'],
    [`/ip4/8.8.4.4/tcp/4101/p2p/${peer}`, 'dial peer', 'dial peer'],
    [`/ip4/8.8.4.4/tcp/4102/ws/p2p/${peer}`, 'dial peer', 'dial peer'],
    [`/dns4/example.com/tcp/4101/p2p/${peer}`, 'not an IP address', 'not an IP address'],
    [`/dnsaddr/bootstrap.libp2p.io/p2p/${peer}`, 'not an IP address', 'not an IP address'],
    [`/ip4/8.8.4.4/udp/4101/quic-v1/p2p/${peer}`, 'not TCP or WebSockets', 'not TCP or WebSockets'],
    [`/ip4/8.8.4.4/tcp/4101/p2p/${self}`, 'this node itself', 'this node itself'],
    ['/ip4/8.8.4.4/tcp/4101', 'no /p2p/<peer id> at its end', 'no /p2p/<peer id> at its end'],
    [`/ip4/0.0.0.0/tcp/4101/p2p/${peer}`, 'an unspecified address', 'an unspecified address'],
    ['garbage', 'not a multiaddr', 'not a multiaddr']
  ]
  for (const [text, onPrivate, onIpfs] of cases) {
    assert.equal(verdict(text, 'private'), onPrivate, `${text} on a private network`)
    assert.equal(verdict(text, 'ipfs'), onIpfs, `${text} on the IPFS network`)
  }
})

test('delegates: the node\'s addresses, each ending in its id, at most 20, at least one', async () => {
  const self = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
  const addresses = Array.from({ length: 25 }, (_, i) => multiaddr(`/ip4/127.0.0.1/tcp/${4000 + i}`))
  const delegates = delegatesOf([multiaddr(`/ip4/127.0.0.1/tcp/4000/p2p/${self}`), ...addresses], self)
  assert.equal(delegates.length, 20)
  assert.equal(delegates[0], `/ip4/127.0.0.1/tcp/4000/p2p/${self}`)
  assert.equal(new Set(delegates).size, 20)
  assert.ok(delegates.every(d => d.endsWith(`/p2p/${self}`)))
  assert.deepEqual(delegatesOf([], self), [`/p2p/${self}`])
})
