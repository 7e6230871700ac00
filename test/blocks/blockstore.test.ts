import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { appendFile, readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import * as dagPb from '@ipld/dag-pb'
import * as Digest from 'multiformats/hashes/digest'
import { createNode, type WeftNode } from '../../src/node/index.ts'
import { isWeftError } from '../../src/errors.ts'
import { tmpHome } from '../helpers/home.ts'
import type { TestContext } from 'node:test'

function rawBlock (bytes: Uint8Array): { cid: CID, bytes: Uint8Array } {
  return { cid: CID.createV1(raw.code, Digest.create(0x12, createHash('sha256').update(bytes).digest())), bytes }
}

function pbBlock (links: CID[]): { cid: CID, bytes: Uint8Array } {
  const bytes = dagPb.encode(dagPb.prepare({ Data: new Uint8Array([8, 1]), Links: links.map((Hash, i) => ({ Hash, Name: `l${i}` })) }))
  return { cid: CID.createV1(dagPb.code, Digest.create(0x12, createHash('sha256').update(bytes).digest())), bytes }
}

async function open (t: TestContext, home: string, storageMax = 10e9): Promise<WeftNode> {
  const node = await createNode({ home, configOverrides: c => ({ ...c, datastore: { ...c.datastore, storageMax } }) })
  t.after(async () => { await node.stop() })
  return node
}

const rejectsWith = async (p: Promise<unknown>, code: string): Promise<void> => {
  await assert.rejects(p, (err: unknown) => isWeftError(err) && err.code === code)
}

describe('pack blockstore', () => {
  test('stores, finds and returns blocks; a repeated put stores nothing new', async t => {
    const node = await open(t, await tmpHome(t))
    const a = rawBlock(randomBytes(1000))
    await node.blocks.put(a.cid, a.bytes)
    assert.equal(node.blocks.has(a.cid), true)
    assert.deepEqual(Buffer.from(await node.blocks.get(a.cid)), Buffer.from(a.bytes))
    await node.blocks.put(a.cid, a.bytes)
    await node.blocks.flush()
    assert.equal(node.blocks.stat().blocks, 1)
    assert.equal(node.blocks.stat().bytes, 1000)
    const missing = rawBlock(randomBytes(10))
    assert.equal(node.blocks.has(missing.cid), false)
    await rejectsWith(node.blocks.get(missing.cid), 'ERR_BLOCK_NOT_FOUND')
  })

  test('refuses a block whose bytes do not match its CID, and unsupported hashes', async t => {
    const node = await open(t, await tmpHome(t))
    const a = rawBlock(randomBytes(100))
    const tampered = Uint8Array.from(a.bytes)
    tampered[0] ^= 1
    await rejectsWith(node.blocks.put(a.cid, tampered), 'ERR_BLOCK_HASH_MISMATCH')
    assert.equal(node.blocks.has(a.cid), false)
    const blake3 = CID.createV1(raw.code, Digest.create(0x1e, new Uint8Array(32)))
    await rejectsWith(node.blocks.put(blake3, new Uint8Array(10)), 'ERR_UNSUPPORTED_HASH')
    await rejectsWith(node.blocks.put(...Object.values(rawBlock(new Uint8Array(3 * 1024 * 1024))) as [CID, Uint8Array]), 'ERR_BLOCK_TOO_LARGE')
    assert.equal(node.blocks.stat().blocks, 0)
  })

  test('keeps blocks across a restart', async t => {
    const home = await tmpHome(t)
    const blocks = Array.from({ length: 50 }, () => rawBlock(randomBytes(4096)))
    const first = await createNode({ home })
    for (const b of blocks) await first.blocks.put(b.cid, b.bytes)
    await first.stop()
    const second = await open(t, home)
    for (const b of blocks) assert.deepEqual(Buffer.from(await second.blocks.get(b.cid)), Buffer.from(b.bytes))
    assert.equal((await second.blocks.verify()).problems.length, 0)
  })

  test('refuses to pass datastore.storageMax and stays consistent', async t => {
    const node = await open(t, await tmpHome(t), 10 * 2 ** 10)
    const a = rawBlock(randomBytes(6000))
    const b = rawBlock(randomBytes(6000))
    await node.blocks.put(a.cid, a.bytes)
    await rejectsWith(node.blocks.put(b.cid, b.bytes), 'ERR_QUOTA_EXCEEDED')
    assert.equal(node.blocks.has(b.cid), false)
    const report = await node.blocks.verify()
    assert.deepEqual(report, { ok: 1, problems: [] })
  })

  test('cuts a torn write off the end of a pack and drops packs nothing indexes', async t => {
    const home = await tmpHome(t)
    const a = rawBlock(randomBytes(5000))
    const first = await createNode({ home })
    await first.blocks.put(a.cid, a.bytes)
    await first.stop()
    const packs = join(home, 'blocks')
    const [pack] = (await readdir(packs)).filter(n => n.endsWith('.pack'))
    // What a kill -9 in the middle of a write leaves: bytes with no index row.
    await appendFile(join(packs, pack), randomBytes(777))
    await writeFile(join(packs, '00000099.pack'), randomBytes(100))
    const second = await open(t, home)
    assert.equal((await stat(join(packs, pack))).size, 5000)
    assert.deepEqual((await readdir(packs)).filter(n => n.endsWith('.pack')).sort(), [pack])
    assert.deepEqual(await second.blocks.verify(), { ok: 1, problems: [] })
    const b = rawBlock(randomBytes(10))
    await second.blocks.put(b.cid, b.bytes)
    assert.deepEqual(Buffer.from(await second.blocks.get(b.cid)), Buffer.from(b.bytes))
  })

  test('repo verify finds a block damaged on disk', async t => {
    const home = await tmpHome(t)
    const a = rawBlock(randomBytes(300))
    const b = rawBlock(randomBytes(300))
    const first = await createNode({ home })
    await first.blocks.put(a.cid, a.bytes)
    await first.blocks.put(b.cid, b.bytes)
    await first.stop()
    const packs = join(home, 'blocks')
    const [pack] = (await readdir(packs)).filter(n => n.endsWith('.pack'))
    const bytes = await readFile(join(packs, pack))
    bytes[310] ^= 0xff // inside the second block
    await writeFile(join(packs, pack), bytes)
    const second = await open(t, home)
    const report = await second.blocks.verify()
    assert.equal(report.ok, 1)
    assert.equal(report.problems.length, 1)
    assert.equal(report.problems[0].problem, 'hash mismatch')
    assert.deepEqual(report.problems[0].cid.multihash.bytes, b.cid.multihash.bytes)
  })
})

describe('pins and garbage collection', () => {
  test('recursive pins need the whole DAG; direct pins only the block', async t => {
    const node = await open(t, await tmpHome(t))
    const leaf = rawBlock(randomBytes(100))
    const absent = rawBlock(randomBytes(100))
    const parent = pbBlock([leaf.cid, absent.cid])
    await node.blocks.put(parent.cid, parent.bytes)
    await node.blocks.put(leaf.cid, leaf.bytes)
    await rejectsWith(node.blocks.pin(parent.cid), 'ERR_BLOCK_NOT_FOUND')
    assert.deepEqual(node.blocks.pins(), [])
    await node.blocks.pin(parent.cid, 'direct')
    assert.deepEqual(node.blocks.pins().map(p => [p.cid.toString(), p.type]), [[parent.cid.toString(), 'direct']])
    await node.blocks.put(absent.cid, absent.bytes)
    await node.blocks.pin(parent.cid, 'recursive')
    assert.deepEqual(node.blocks.pins().map(p => p.type), ['recursive'])
  })

  test('unpinning says why it cannot', async t => {
    const node = await open(t, await tmpHome(t))
    const leaf = rawBlock(randomBytes(100))
    const parent = pbBlock([leaf.cid])
    await node.blocks.put(leaf.cid, leaf.bytes)
    await node.blocks.put(parent.cid, parent.bytes)
    await node.blocks.pin(parent.cid)
    await rejectsWith(node.blocks.unpin(leaf.cid), 'ERR_PINNED_INDIRECTLY')
    await rejectsWith(node.blocks.unpin(rawBlock(randomBytes(5)).cid), 'ERR_NOT_PINNED')
    await node.blocks.unpin(parent.cid)
    assert.deepEqual(node.blocks.pins(), [])
  })

  test('gc removes exactly what no pin reaches and gives the disk space back', async t => {
    const home = await tmpHome(t)
    const node = await open(t, home)
    const shared = rawBlock(randomBytes(50_000))
    const onlyA = rawBlock(randomBytes(50_000))
    const onlyB = rawBlock(randomBytes(50_000))
    const loose = rawBlock(randomBytes(50_000))
    const a = pbBlock([shared.cid, onlyA.cid])
    const b = pbBlock([shared.cid, onlyB.cid])
    const direct = rawBlock(randomBytes(1000))
    for (const blk of [shared, onlyA, onlyB, loose, a, b, direct]) await node.blocks.put(blk.cid, blk.bytes)
    await node.blocks.pin(a.cid)
    await node.blocks.pin(b.cid)
    await node.blocks.pin(direct.cid, 'direct')
    await node.blocks.unpin(b.cid)
    const before = node.blocks.stat()
    const result = await node.blocks.gc()
    assert.equal(result.blocks, 3) // onlyB, loose, b
    assert.equal(result.bytes, 100_000 + b.bytes.byteLength)
    const after = node.blocks.stat()
    assert.equal(after.packBytes, before.packBytes - result.bytes)
    for (const kept of [shared, onlyA, a, direct]) assert.equal(node.blocks.has(kept.cid), true)
    for (const gone of [onlyB, loose, b]) assert.equal(node.blocks.has(gone.cid), false)
    assert.deepEqual((await node.blocks.verify()).problems, [])
    // A second gc finds nothing; the store still takes new blocks.
    assert.equal((await node.blocks.gc()).blocks, 0)
    const fresh = rawBlock(randomBytes(10))
    await node.blocks.put(fresh.cid, fresh.bytes)
    assert.deepEqual(Buffer.from(await node.blocks.get(fresh.cid)), Buffer.from(fresh.bytes))
  })
})
