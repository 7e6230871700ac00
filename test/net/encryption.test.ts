import { test } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createNet, type NetInit, type WeftLibp2p } from '../../src/net/index.ts'
import { createLocalHelia } from '../helpers/helia.ts'

const base = { bootstrap: [], mdns: false, reach: { serve: false, use: false, holePunch: false } } satisfies Partial<NetInit>

async function net (t: { after: (fn: () => Promise<void>) => void }, init: Pick<NetInit, 'listen' | 'network'>): Promise<WeftLibp2p> {
  const node = await createNet({ ...base, ...init, privateKey: await generateKeyPair('Ed25519') })
  t.after(async () => { await node.stop() })
  return node
}

test('weft peers secure their connections with TLS over TCP and WebSockets; a Noise-only peer (stock Helia) gets Noise', async t => {
  const network = { name: 'testnet' }
  const a = await net(t, { network, listen: ['/ip4/127.0.0.1/tcp/0', '/ip4/127.0.0.1/tcp/0/ws'] })
  const b = await net(t, { network, listen: [] })
  const addr = (proto: 'tcp' | 'ws') => {
    const found = a.getMultiaddrs().find(m => proto === 'ws' ? m.toString().includes('/ws') : !m.toString().includes('/ws'))
    assert.ok(found, `a listens on ${proto}`)
    return found
  }
  const overTcp = await b.dial(addr('tcp'))
  assert.equal(overTcp.encryption, '/tls/1.0.0')
  await overTcp.close()
  const overWs = await b.dial(addr('ws'))
  assert.equal(overWs.encryption, '/tls/1.0.0')
  assert.ok(overWs.remoteAddr.toString().includes('/ws'), 'the connection went over WebSockets')
  // A stream over the TLS connection carries bytes both ways.
  const echoed = await b.services.ping.ping(addr('ws'))
  assert.ok(echoed >= 0)

  // A stock Helia node speaks Noise alone (as most IPFS peers do): a weft node offering TLS first
  // still connects. (A node on network 'ipfs' offers Noise first; not started here: it would
  // dial the public bootstrap list.)
  const helia = await createLocalHelia()
  t.after(async () => { await helia.stop() })
  const toHelia = await b.dial(helia.libp2p.getMultiaddrs()[0])
  assert.equal(toHelia.encryption, '/noise')
})
