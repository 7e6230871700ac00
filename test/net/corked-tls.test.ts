import { test } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Connection, Libp2p, Stream } from '@libp2p/interface'
import { tcp } from '@libp2p/tcp'
import { tls } from '@libp2p/tls'
import { yamux } from '@libp2p/yamux'
import { createLibp2p } from 'libp2p'
import { Uint8ArrayList } from 'uint8arraylist'
import { corkedTls, isCorked } from '../../src/net/corked-tls.ts'
import { createNet } from '../../src/net/index.ts'
import { until } from '../helpers/until.ts'

const ECHO = '/weft-test/echo/1.0.0'
const MESSAGES = 10
const SIZE = 300
const echo = (stream: Stream): void => {
  stream.addEventListener('message', event => { stream.send(event.data) })
}

/** A node with TCP, the given TLS and Yamux, and nothing else: no identify, no DHT, no pubsub, so only the test's stream talks. */
async function bare (t: import('node:test').TestContext, encrypter: ReturnType<typeof tls>): Promise<Libp2p> {
  const node = await createLibp2p({ addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] }, transports: [tcp()], connectionEncrypters: [encrypter], streamMuxers: [yamux()] })
  t.after(async () => { await node.stop() })
  await node.handle(ECHO, echo)
  return node
}

/** Counts the TLS records `connection` sends from now: its TCP bytes (beneath TLS and Yamux), read record header by record header. */
function countRecords (connection: Connection): () => number {
  const maConn = (connection as unknown as { maConn: { send: (data: Uint8Array | Uint8ArrayList) => boolean } }).maConn
  const send = maConn.send.bind(maConn)
  const sent = new Uint8ArrayList()
  maConn.send = data => { sent.append(data instanceof Uint8Array ? data.slice() : data.subarray()); return send(data) }
  return () => {
    let records = 0
    // a record: type (1 byte), legacy version (2), length (2), then that many bytes
    for (let at = 0; at + 5 <= sent.byteLength; at += 5 + sent.getUint16(at + 3)) records++
    return records
  }
}

/**
 * Sends MESSAGES messages of SIZE bytes over `ECHO`, each once the last came back (a frame
 * alone in its turn of the event loop, as most of a node's are: a pubsub message, a DHT
 * request); returns how many TLS records the sender sent meanwhile (the frames, and Yamux's
 * window updates for the echoes).
 */
async function oneByOne (from: Libp2p, to: Libp2p): Promise<number> {
  const connection = await from.dial(to.getMultiaddrs()[0])
  assert.equal(connection.encryption, '/tls/1.0.0')
  const stream = await connection.newStream(ECHO)
  let echoed = 0
  stream.addEventListener('message', event => { echoed += event.data.byteLength })
  // the stream is open and negotiated: what is counted now is the messages alone
  const records = countRecords(connection)
  for (let i = 1; i <= MESSAGES; i++) {
    stream.send(new Uint8Array(SIZE).fill(i))
    await until('the message to come back', () => echoed === i * SIZE, 10_000, 1)
  }
  await stream.close()
  return records()
}

test('corked TLS seals a Yamux frame (header and payload) as one TLS record, not two; plain @libp2p/tls reads it and is read', async t => {
  const a = await bare(t, corkedTls())
  const b = await bare(t, corkedTls())
  const plain = await bare(t, tls())
  // per message: its Yamux frame (a header and a payload) as one record, and the window update for its echo
  const corked = await oneByOne(a, b)
  assert.ok(corked <= 2 * MESSAGES + 1, `corked: ${corked} records`)
  // @libp2p/tls as it comes seals the header and the payload apart: three records a message; the corked node reads them and its answers are read
  const uncorked = await oneByOne(plain, b)
  assert.ok(uncorked >= 3 * MESSAGES, `plain: ${uncorked} records`)
  // and a corked sender to the plain node
  const toPlain = await oneByOne(a, plain)
  assert.ok(toPlain <= 2 * MESSAGES + 1, `corked to plain: ${toPlain} records`)
  t.diagnostic(`TLS records for ${MESSAGES} messages, each sent once the last came back, and the window updates for their echoes: corked ${corked}, plain ${uncorked}`)
})

test('weft\'s nodes use it: their TLS connections are corked, and carry streams both ways', async t => {
  const node = async (): Promise<Libp2p> => {
    const libp2p = await createNet({ privateKey: await generateKeyPair('Ed25519'), network: { name: 'testnet' }, bootstrap: [], listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false })
    t.after(async () => { await libp2p.stop() })
    await libp2p.handle(ECHO, echo)
    return libp2p
  }
  const a = await node()
  const b = await node()
  await oneByOne(a, b)
  for (const [from, to] of [[a, b], [b, a]]) {
    const [connection] = from.getConnections(to.peerId)
    const encrypted = (connection as unknown as { muxer: { maConn: unknown } }).muxer.maConn
    assert.ok(isCorked(encrypted), 'the connection beneath the muxer is corked')
  }
})
