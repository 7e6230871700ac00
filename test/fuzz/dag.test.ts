/**
 * Fuzzing dag-pb and dag-cbor decoding where weft walks and serves DAGs. A peer can send
 * any bytes as a block as long as they hash to the CID it is asked for, so a block that
 * verifies may still be malformed dag-pb or UnixFS. Every reader must then refuse with a
 * coded error (or, for the gateway, answer a status that is not a 500 "bug in weft").
 *
 * Each case is a valid block of a real imported site with its bytes mutated, stored under
 * its own new CID in a real store, so the readers meet links to real blocks beside garbage.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import fc from 'fast-check'
import * as dagPb from '@ipld/dag-pb'
import * as dagCbor from '@ipld/dag-cbor'
import { UnixFS } from 'ipfs-unixfs'
import { CID } from 'multiformats/cid'
import { base32 } from 'multiformats/bases/base32'
import * as Digest from 'multiformats/hashes/digest'
import { blockLinks, walkDag } from '../../src/blocks/index.ts'
import { cat, importPath, ls, parseContentPath, readFile, resolvePath } from '../../src/content/index.ts'
import { createNode } from '../../src/node/index.ts'
import { nodeGateway } from '../../src/daemon/index.ts'
import { tmpDir, tmpHome } from '../helpers/home.ts'
import { CaseCounter, isCodedRefusal, mutated, params, refusesCleanly } from './fuzz.ts'

const cidOf = (code: number, bytes: Uint8Array): CID => CID.createV1(code, Digest.create(0x12, createHash('sha256').update(bytes).digest()))

async function drain (source: AsyncIterable<Uint8Array>): Promise<number> {
  let n = 0
  for await (const chunk of source) n += chunk.byteLength
  return n
}

test('fuzz: malformed dag-pb and dag-cbor blocks that verify are refused with coded errors by every reader', async t => {
  const node = await createNode({ home: await tmpHome(t) })
  t.after(async () => { await node.stop() })
  const dir = await tmpDir(t)
  await mkdir(join(dir, 'sub'))
  await writeFile(join(dir, 'index.html'), '<!doctype html><p>hello</p>')
  await writeFile(join(dir, 'a.txt'), 'a\n')
  await writeFile(join(dir, 'sub', 'big.bin'), randomBytes(2 * 1024 * 1024 + 100))
  const { root, entries } = await importPath(node.blocks, dir, {})
  // the dag-pb blocks of the site: the root folder, the subfolder, the big file's root
  const pbCids = [root.cid, ...entries.map(e => e.cid)].filter(c => c.code === dagPb.code)
  const pbBlocks = await Promise.all(pbCids.map(async c => await node.blocks.get(c)))
  // a HAMT shard (as kubo writes one for a big folder: fanout 256, murmur3 names), whose
  // links point at the site's files, so the sharded paths of the readers are fuzzed too
  const files = entries.filter(e => e.path.endsWith('.txt') || e.path.endsWith('.html'))
  const shard = dagPb.encode(dagPb.prepare({
    Data: new UnixFS({ type: 'hamt-sharded-directory', fanout: 256n, hashType: 0x22n, data: Uint8Array.of(0x01, 0x80) }).marshal(),
    Links: files.map((f, i) => ({ Hash: f.cid, Name: `${(0x3a + i * 16).toString(16).toUpperCase()}${f.path.split('/').pop()}`, Tsize: f.size }))
  }))
  const shardCid = cidOf(dagPb.code, shard)
  await node.blocks.put(shardCid, shard)
  pbBlocks.push(shard)
  const cborBlocks = [dagCbor.encode({ a: root.cid, b: [1, { c: pbCids[0] }], d: new Uint8Array(3) })]
  assert.ok(pbBlocks.length >= 4)
  assert.equal((await ls(node.blocks, parseContentPath(shardCid.toString()))).length, files.length, 'the shard lists its entries')

  const gateway = nodeGateway(node)
  const store = node.blocks
  const accept = (err: unknown): boolean => isCodedRefusal(err)
  const gatewayGet = async (url: string, headers: Record<string, string> = {}): Promise<void> => {
    const r = await gateway(new Request(url, { headers: { host: new URL(url).host, ...headers } }))
    const body = await r.text().catch((err: unknown) => { if (!accept(err)) throw err; return '' })
    assert.ok(!(r.status >= 500 && body.includes('ERR_INTERNAL')), `gateway ${url}: ${r.status} ${body.slice(0, 300)}`)
  }

  const counter = new CaseCounter()
  const cases = fc.oneof(
    { arbitrary: mutated(pbBlocks).map(bytes => ({ code: dagPb.code, bytes })), weight: 4 },
    { arbitrary: mutated(cborBlocks).map(bytes => ({ code: dagCbor.code, bytes })), weight: 1 }
  )
  await fc.assert(fc.asyncProperty(cases, fc.nat(4096), async ({ code, bytes }, offset) => {
    counter.tick()
    const cid = cidOf(code, bytes)
    await store.put(cid, bytes)
    const path = parseContentPath(cid.toString())
    const readers: Array<() => Promise<unknown>> = [
      async () => blockLinks(cid, bytes),
      async () => { await walkDag(store, cid, () => {}) },
      async () => await resolvePath(store, cid, []),
      async () => await resolvePath(store, cid, ['sub', 'big.bin']),
      async () => await resolvePath(store, cid, ['a.txt']),
      async () => await drain(cat(store, path)),
      async () => await drain(cat(store, path, { offset, length: 100 })),
      async () => await drain(readFile(store, cid, { offset })),
      async () => await ls(store, path)
    ]
    if (code === dagPb.code) {
      const origin = `http://${cid.toString(base32)}.ipfs.localhost:8080`
      readers.push(
        async () => { await gatewayGet(`${origin}/`) },
        async () => { await gatewayGet(`${origin}/sub/big.bin`, { range: `bytes=${offset}-${offset + 10}` }) },
        async () => { await gatewayGet(`${origin}/?format=car&dag-scope=entity&entity-bytes=${offset}:*`) },
        async () => { await gatewayGet(`${origin}/?format=raw`) }
      )
    }
    for (const [i, read] of readers.entries()) {
      await refusesCleanly(read, accept).catch((err: Error) => { throw new Error(`reader ${i}: ${err.message}`, { cause: err }) })
    }
  }), params(1_500))
  console.log(counter.report('dag-pb/dag-cbor readers (8-12 readers each)'))
})

test('regression: a dag-pb or dag-cbor block that hashes right but does not decode is ERR_BLOCK_MALFORMED for cat, walks and the gateway', async t => {
  // found by the fuzzer: these escaped as raw parser errors, so cat said ERR_INTERNAL ("a bug in weft") and the gateway 500
  const node = await createNode({ home: await tmpHome(t) })
  t.after(async () => { await node.stop() })
  const badPb = Uint8Array.of(0x0f, 0x00) // field 1 with wire type 7
  const badCbor = Uint8Array.of(0xa1, 0x61, 0x61, 0xd8, 0x2a, 0x45, 0x00, 0x01, 0x70, 0x12, 0x20) // a CID whose digest is cut short
  const malformed = (err: unknown): boolean => isCodedRefusal(err, ['ERR_BLOCK_MALFORMED'])
  for (const [code, bytes] of [[dagPb.code, badPb], [dagCbor.code, badCbor]] as const) {
    const cid = cidOf(code, bytes)
    await node.blocks.put(cid, bytes)
    assert.throws(() => blockLinks(cid, bytes), malformed)
    await assert.rejects(walkDag(node.blocks, cid, () => {}), malformed)
  }
  // the exporter reads the dag-cbor one (a dag-pb root it calls "not UnixFS", ERR_DAG_PATH_NOT_FOUND)
  await assert.rejects(drain(cat(node.blocks, parseContentPath(cidOf(dagCbor.code, badCbor).toString()))), malformed)
  const cid = cidOf(dagPb.code, badPb)
  await assert.rejects(resolvePath(node.blocks, cid, []), malformed)
  const r = await nodeGateway(node)(new Request(`http://${cid.toString(base32)}.ipfs.localhost:8080/`, { headers: { host: `${cid.toString(base32)}.ipfs.localhost:8080` } }))
  assert.equal(r.status, 502)
  assert.match(await r.text(), /ERR_BLOCK_MALFORMED/)
})

test('regression: a HAMT shard whose entry name splits a surrogate pair, or whose shard block is garbage, is listed or refused, never a 500', async t => {
  // found with FUZZ_SEED=6: encodeURIComponent threw on the lone surrogate left by the 2-character
  // prefix, and the exporter's protobuf error on a damaged shard escaped resolvePath: both ERR_INTERNAL
  const node = await createNode({ home: await tmpHome(t) })
  t.after(async () => { await node.stop() })
  const leaf = new TextEncoder().encode('x')
  const leafCid = CID.createV1(0x55, Digest.create(0x12, createHash('sha256').update(leaf).digest()))
  await node.blocks.put(leafCid, leaf)
  const shardOf = (links: dagPb.PBLink[]): Uint8Array => dagPb.encode(dagPb.prepare({ Data: new UnixFS({ type: 'hamt-sharded-directory', fanout: 256n, hashType: 0x22n, data: Uint8Array.of(0x01) }).marshal(), Links: links }))
  const garbage = Uint8Array.of(0x12, 0x03, 0x0a, 0x01, 0x0c) // a link whose Hash is one byte
  const garbageCid = cidOf(dagPb.code, garbage)
  await node.blocks.put(garbageCid, garbage)
  for (const shard of [shardOf([{ Hash: leafCid, Name: 'A\u{1F600}x', Tsize: 1 }]), shardOf([{ Hash: garbageCid, Name: '3A', Tsize: 5 }])]) {
    const cid = cidOf(dagPb.code, shard)
    await node.blocks.put(cid, shard)
    const host = `${cid.toString(base32)}.ipfs.localhost:8080`
    const r = await nodeGateway(node)(new Request(`http://${host}/`, { headers: { host } }))
    const body = await r.text()
    assert.ok(!body.includes('ERR_INTERNAL'), `${r.status} ${body.slice(0, 200)}`)
  }
})

test('regression: a HAMT shard with a fanout of 1 is ERR_BLOCK_MALFORMED, not an endless walk', async t => {
  // found with FUZZ_SEED=5: hamt-sharding took zero bits a level and recursed until the Map
  // holding its buckets overflowed, minutes later, killing the process
  const node = await createNode({ home: await tmpHome(t) })
  t.after(async () => { await node.stop() })
  for (const fanout of [1n, 3n, 1n << 20n]) {
    const shard = dagPb.encode(dagPb.prepare({ Data: new UnixFS({ type: 'hamt-sharded-directory', fanout, hashType: 0x22n, data: Uint8Array.of(0x01) }).marshal(), Links: [] }))
    const cid = cidOf(dagPb.code, shard)
    await node.blocks.put(cid, shard)
    await refusesCleanly(async () => { await resolvePath(node.blocks, cid, ['index.html']) }, err => isCodedRefusal(err, ['ERR_BLOCK_MALFORMED']))
    await refusesCleanly(async () => { await ls(node.blocks, parseContentPath(`${cid}/a`)) }, err => isCodedRefusal(err, ['ERR_BLOCK_MALFORMED']))
  }
})
