import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { peerIdFromString } from '@libp2p/peer-id'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { importPath } from '../../src/content/index.ts'
import { isWeftError } from '../../src/errors.ts'
import { tmpDir } from '../helpers/home.ts'
import { createTestnet, type OnlineNode } from '../helpers/testnet.ts'
import { createHostilePeer, floodWants, type Misbehaviour } from '../helpers/hostile.ts'
import { until } from '../helpers/until.ts'
import type { TestContext } from 'node:test'

async function seed (t: TestContext, node: OnlineNode, bytes: number) {
  const dir = await tmpDir(t)
  const data = randomBytes(bytes)
  await writeFile(join(dir, 'data.bin'), data)
  return { data, cid: (await importPath(node.blocks, join(dir, 'data.bin'))).root.cid }
}

async function verifyAll (node: OnlineNode): Promise<void> {
  assert.deepEqual((await node.blocks.verify()).problems, [])
}

test('the fetch completes from the honest peers while one of four seeders corrupts every block', async t => {
  const nodes = await createTestnet(t, 4)
  const leecher = nodes[3]
  const { data, cid } = await seed(t, nodes[0], 12 * 1024 * 1024)
  // The other honest seeders get the content first.
  await nodes[1].exchange.fetch(cid)
  await nodes[2].exchange.fetch(cid)
  const liar = await createHostilePeer(t, 'corrupt', nodes[0].blocks)
  await leecher.libp2p.dial(liar.getMultiaddrs()[0])
  const result = await leecher.exchange.fetch(cid)
  assert.equal(result.blocks, 13)
  assert.equal(result.fromPeers[liar.peerId.toString()], undefined, 'nothing the liar sent was kept')
  const record = leecher.exchange.peerRecord(liar.peerId)
  assert.ok((record?.offences['bad-block'] ?? 0) >= 1, 'the liar was penalised')
  assert.ok(record?.bannedUntil !== undefined, 'and banned')
  // Hanging up takes a moment; the gater keeps the liar from coming back.
  await until('the liar to be disconnected', () => leecher.libp2p.getConnections(liar.peerId).length === 0)
  // (the liar's dial may complete its side before the leecher's gater hangs up: wait for the hang-up)
  await liar.dial(leecher.libp2p.getMultiaddrs()[0]).catch(() => {})
  await until('the leecher to hang up on the liar\'s new connection', () => liar.getConnections(leecher.libp2p.peerId).length === 0)
  assert.equal(leecher.libp2p.getConnections(liar.peerId).length, 0, 'and not let back in')
  await verifyAll(leecher)
  const { cat, parseContentPath } = await import('../../src/content/index.ts')
  const parts: Uint8Array[] = []
  for await (const p of cat(leecher.blocks, parseContentPath(cid.toString()))) parts.push(p)
  assert.deepEqual(Buffer.concat(parts), data)
})

for (const behaviour of ['silent', 'dont-have', 'unsolicited', 'malformed', 'oversized'] satisfies Misbehaviour[]) {
  test(`a peer that is ${behaviour}: the fetch completes from an honest one, and a misbehaving peer is penalised`, async t => {
    const [honest, leecher] = await createTestnet(t, 2, { requestTimeout: 500 })
    const { cid } = await seed(t, honest, 3 * 1024 * 1024)
    const hostile = await createHostilePeer(t, behaviour, honest.blocks)
    await leecher.libp2p.dial(hostile.getMultiaddrs()[0])
    const result = await leecher.exchange.fetch(cid, { signal: AbortSignal.timeout(20_000) })
    assert.equal(result.blocks, 4)
    assert.deepEqual(Object.keys(result.fromPeers), [honest.libp2p.peerId.toString()])
    const record = leecher.exchange.peerRecord(hostile.peerId)
    const expected = { silent: 'stall', 'dont-have': undefined, unsolicited: 'unsolicited', malformed: 'malformed', oversized: 'malformed' }[behaviour]
    if (expected === undefined) {
      // Saying "I don't have it" is honest behaviour: no penalty.
      assert.equal(record, undefined)
    } else {
      assert.ok((record?.offences[expected as 'stall'] ?? 0) >= 1, `${behaviour} → ${expected}: ${JSON.stringify(record)}`)
    }
    await verifyAll(leecher)
  })
}

test('a fetch that only hostile peers could serve fails cleanly instead of hanging', async t => {
  const [honest, leecher] = await createTestnet(t, 2)
  const { cid } = await seed(t, honest, 100_000)
  // The liar keeps a copy of the real bytes to corrupt; the honest node leaves.
  const copy = await honest.blocks.get(cid)
  await honest.stop()
  const hostile = await createHostilePeer(t, 'corrupt', { get: async () => copy })
  await leecher.libp2p.dial(hostile.getMultiaddrs()[0])
  await assert.rejects(leecher.exchange.fetch(cid, { signal: AbortSignal.timeout(10_000) }), (err: unknown) => isWeftError(err, 'ERR_BLOCK_NOT_FOUND'))
  assert.equal(leecher.blocks.has(cid), false)
  await verifyAll(leecher)
})

test('a peer that floods wants is cut off and banned; the node keeps serving others', async t => {
  const [server, honestClient] = await createTestnet(t, 2)
  const { cid } = await seed(t, server, 2 * 1024 * 1024)
  // 700 small blocks the server holds: 2.8 MB of answers the flooder never reads.
  const present: CID[] = []
  for (let i = 0; i < 700; i++) {
    const bytes = randomBytes(4096)
    const block = CID.createV1(raw.code, await sha256.digest(bytes))
    await server.blocks.put(block, bytes)
    present.push(block)
  }
  await server.blocks.flush()
  const flooder = await createHostilePeer(t, 'silent')
  await floodWants(flooder, server.libp2p, 20_000, present)
  const record = server.exchange.peerRecord(flooder.peerId)
  assert.ok((record?.offences.flood ?? 0) >= 1, JSON.stringify(record))
  assert.ok(record?.bannedUntil !== undefined)
  await until('the flooder to be disconnected', () => server.libp2p.getConnections(flooder.peerId).length === 0)
  // Everyone else is still served.
  const result = await honestClient.exchange.fetch(cid)
  assert.equal(result.blocks, 3)
  assert.equal(server.exchange.peerRecord(peerIdFromString(honestClient.libp2p.peerId.toString())), undefined)
})
