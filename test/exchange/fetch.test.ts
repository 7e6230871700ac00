import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { importPath, cat, parseContentPath } from '../../src/content/index.ts'
import { tmpDir } from '../helpers/home.ts'
import { createTestnet, createTestNode } from '../helpers/testnet.ts'
import { createHostilePeer } from '../helpers/hostile.ts'
import { until } from '../helpers/until.ts'

async function readAll (iter: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = []
  for await (const p of iter) parts.push(p)
  return Buffer.concat(parts)
}

test('a node fetches a DAG from a peer, verified, and can then read it offline', async t => {
  const [seeder, leecher] = await createTestnet(t, 2)
  const dir = await tmpDir(t)
  const data = randomBytes(20 * 1024 * 1024 + 123)
  await writeFile(join(dir, 'file.bin'), data)
  const { root } = await importPath(seeder.blocks, join(dir, 'file.bin'))
  const started = performance.now()
  const result = await leecher.exchange.fetch(root.cid)
  const ms = performance.now() - started
  t.diagnostic(`fetched ${result.blocks} blocks in ${ms.toFixed(0)} ms (${(data.length / 1048576 / (ms / 1000)).toFixed(0)} MiB/s)`)
  assert.equal(result.blocks, 22)
  assert.deepEqual(result.fromPeers, { [seeder.libp2p.peerId.toString()]: 22 }, 'all over the weft exchange, none over Bitswap')
  assert.deepEqual(await readAll(cat(leecher.blocks, parseContentPath(root.cid.toString()))), data)
  assert.equal(seeder.exchange.stats.blocksSent, 22)
})

test('four seeders share the work, and a folder of small files arrives whole', async t => {
  const nodes = await createTestnet(t, 5)
  const leecher = nodes[4]
  const dir = await tmpDir(t)
  const { mkdir } = await import('node:fs/promises')
  await mkdir(join(dir, 'site'))
  await writeFile(join(dir, 'site', 'big.bin'), randomBytes(24 * 1024 * 1024))
  for (let i = 0; i < 300; i++) await writeFile(join(dir, 'site', `page-${i}.html`), randomBytes(4096))
  const { root } = await importPath(nodes[0].blocks, join(dir, 'site'))
  for (const seeder of nodes.slice(1, 4)) await seeder.exchange.fetch(root.cid)
  const result = await leecher.exchange.fetch(root.cid)
  assert.equal(result.blocks, 1 + 25 + 300)
  const contributors = Object.keys(result.fromPeers)
  assert.ok(contributors.length >= 3, `work was spread over ${contributors.length} seeders: ${JSON.stringify(result.fromPeers)}`)
  assert.deepEqual((await leecher.blocks.verify()).problems, [])
  const { get } = await import('../../src/content/index.ts')
  await get(leecher.blocks, parseContentPath(root.cid.toString()), join(dir, 'copy'))
  const { readFile } = await import('node:fs/promises')
  assert.deepEqual(await readFile(join(dir, 'copy', 'page-7.html')), await readFile(join(dir, 'site', 'page-7.html')))
})

test('a slow but steady seeder is never taken for a staller, though its queue outlasts the request timeout', async t => {
  // Only silence counts as a stall. The seeder answers one want every TRICKLE_MS, in order, so
  // the last of a folder's 48 files waits about 48 x TRICKLE_MS (4.8 s), well past the 2 s
  // timeout, while the seeder is never silent for more than TRICKLE_MS.
  const timeout = 2_000
  const source = await createTestNode(t) // holds the blocks; the leecher never meets it
  const dir = await tmpDir(t)
  for (let i = 0; i < 48; i++) await writeFile(join(dir, `f${i}.bin`), randomBytes(1024))
  const { root } = await importPath(source.blocks, dir)
  const [leecher] = await createTestnet(t, 1, { requestTimeout: timeout })
  const seeder = await createHostilePeer(t, 'trickle', source.blocks)
  await leecher.libp2p.dial(seeder.getMultiaddrs()[0])
  const started = performance.now()
  const result = await leecher.exchange.fetch(root.cid)
  const ms = performance.now() - started
  assert.equal(result.blocks, 49)
  assert.deepEqual(Object.keys(result.fromPeers), [seeder.peerId.toString()])
  assert.ok(ms > 2 * timeout, `the queue outlasted the timeout: the fetch took ${ms.toFixed(0)} ms`)
  assert.equal(leecher.exchange.peerRecord(seeder.peerId), undefined, 'no penalty for a slow but steady seeder')
})

test('an update fetches only what is new: children already held do not end the fetch before their missing siblings arrive', async t => {
  const [seeder, leecher] = await createTestnet(t, 2)
  const dir = await tmpDir(t)
  // "a" sorts before "b": the held child comes first in the folder's links.
  await writeFile(join(dir, 'a.bin'), randomBytes(300_000))
  await writeFile(join(dir, 'b.bin'), randomBytes(300_000))
  await importPath(leecher.blocks, join(dir, 'a.bin'))
  const { root } = await importPath(seeder.blocks, dir)
  const result = await leecher.exchange.fetch(root.cid)
  assert.equal(result.blocks, 2, 'the folder and b, not a')
  assert.deepEqual(await readAll(cat(leecher.blocks, parseContentPath(`${root.cid}/b.bin`))), await readAll(cat(seeder.blocks, parseContentPath(`${root.cid}/b.bin`))))
})

test('a connection that times out on the serving side (a busy honest peer) costs the requester nothing', async t => {
  const [seeder, leecher] = await createTestnet(t, 2)
  const dir = await tmpDir(t)
  // 32 blocks: the connection is cut once the first is sent, long before the last
  await writeFile(join(dir, 'big.bin'), randomBytes(32 * 1024 * 1024))
  const { root } = await importPath(seeder.blocks, join(dir, 'big.bin'))
  let outcome: string | undefined
  const fetching = leecher.exchange.fetch(root.cid, { signal: AbortSignal.timeout(20_000) })
    .then(r => { outcome = `fetched ${r.blocks} blocks` }, (err: { code?: string, message: string }) => { outcome = `${err.code ?? 'error'}: ${err.message}` })
  // Abort the seeder's side of the connection mid-fetch, as libp2p's connection monitor does when a ping times out.
  await until('the seeder sent a block', () => seeder.exchange.stats.blocksSent > 0, 20_000, 1)
  const connections = seeder.libp2p.getConnections(leecher.libp2p.peerId)
  assert.ok(connections.length > 0 && outcome === undefined && seeder.exchange.stats.blocksSent < 33, `the abort comes mid-fetch (${seeder.exchange.stats.blocksSent} blocks sent, ${outcome ?? 'fetching'})`)
  const timeout = Object.assign(new Error('The operation was aborted due to timeout'), { name: 'TimeoutError' })
  for (const c of connections) c.abort(timeout)
  await fetching
  // the fetch's only seeder dropped it mid-way: the abort really cut the fetch short
  assert.match(outcome ?? '', /^ERR_BLOCK_NOT_FOUND: /)
  assert.ok(seeder.exchange.stats.blocksSent < 32, `${seeder.exchange.stats.blocksSent} of 32 blocks sent`)
  assert.equal(seeder.exchange.peerRecord(leecher.libp2p.peerId), undefined, 'no offence recorded')
  assert.equal(seeder.exchange.isBanned(leecher.libp2p.peerId.toString()), false)
})

test('a block no weft peer has fails as not found, not by waiting out the deadline on Bitswap (every weft peer speaks it too)', async t => {
  const [a] = await createTestnet(t, 3)
  const missing = 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'
  const { CID } = await import('multiformats/cid')
  await assert.rejects(a.exchange.fetch(CID.parse(missing), { signal: AbortSignal.timeout(60_000) }), { code: 'ERR_BLOCK_NOT_FOUND' })
})

test('servesBlock believes a peer only when it sends the block itself, hashing right, whatever this node holds', async t => {
  const [holder, asker, other] = await createTestnet(t, 3)
  const dir = await tmpDir(t)
  await writeFile(join(dir, 'a.bin'), randomBytes(4096))
  const { root } = await importPath(holder.blocks, join(dir, 'a.bin'))
  assert.equal(await asker.exchange.servesBlock(holder.libp2p.peerId, root.cid), true, 'the holder serves it')
  assert.equal(asker.blocks.has(root.cid), false, 'a probe stores nothing')
  assert.equal(await asker.exchange.servesBlock(other.libp2p.peerId, root.cid), false, 'a peer without it does not')
  // the asker holding the block must not make a peer that lacks it pass
  await asker.exchange.fetch(root.cid)
  assert.equal(await asker.exchange.servesBlock(other.libp2p.peerId, root.cid), false, 'a peer without it does not, though the asker holds it')
})
