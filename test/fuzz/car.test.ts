/**
 * Fuzzing CAR import: `weft car import` and the API's car/import take a file from anyone.
 * Every CAR either imports (each block checked against its CID) or fails with a coded
 * error; the bytes arrive in arbitrary chunks, as a socket or a file stream gives them.
 * The store is a real one in a temporary home.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import fc from 'fast-check'
import { CarWriter } from '@ipld/car'
import * as dagPb from '@ipld/dag-pb'
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import * as Digest from 'multiformats/hashes/digest'
import { importCar } from '../../src/content/index.ts'
import { createNode } from '../../src/node/index.ts'
import { tmpHome } from '../helpers/home.ts'
import { CaseCounter, hostileBytes, isCodedRefusal, params, refusesCleanly } from './fuzz.ts'

function block (code: number, bytes: Uint8Array): { cid: CID, bytes: Uint8Array } {
  return { cid: CID.createV1(code, Digest.create(0x12, createHash('sha256').update(bytes).digest())), bytes }
}

async function car (roots: CID[], blocks: Array<{ cid: CID, bytes: Uint8Array }>): Promise<Uint8Array> {
  const { writer, out } = CarWriter.create(roots as never)
  const chunks: Uint8Array[] = []
  const collected = (async () => { for await (const c of out) chunks.push(c) })()
  for (const b of blocks) await writer.put({ cid: b.cid as never, bytes: b.bytes })
  await writer.close()
  await collected
  return new Uint8Array(Buffer.concat(chunks))
}

const leaf = block(raw.code, new TextEncoder().encode('leaf bytes for the CAR fuzzer'))
const pb = block(dagPb.code, dagPb.encode(dagPb.prepare({ Data: Uint8Array.of(8, 1), Links: [{ Hash: leaf.cid, Name: 'leaf', Tsize: 29 }] })))
const cbor = block(dagCbor.code, dagCbor.encode({ link: leaf.cid, list: [1, 'two', pb.cid] }))
const valid = [
  await car([pb.cid], [pb, leaf]),
  await car([cbor.cid, leaf.cid], [cbor, leaf, pb]),
  await car([], [leaf])
]

/** The bytes cut at the given fractions, as a stream delivers them. */
function chunked (bytes: Uint8Array, cuts: number[]): AsyncIterable<Uint8Array> {
  const at = [...new Set(cuts.map(c => Math.floor(c * bytes.byteLength)))].sort((a, b) => a - b)
  return (async function * () {
    let from = 0
    for (const to of [...at, bytes.byteLength]) {
      if (to > from) yield bytes.subarray(from, to)
      from = to
    }
  })()
}

const CODES = ['ERR_CAR_INVALID', 'ERR_BLOCK_HASH_MISMATCH', 'ERR_UNSUPPORTED_CODEC', 'ERR_UNSUPPORTED_HASH', 'ERR_BLOCK_TOO_LARGE'] as const

test('fuzz: CAR import stores verified blocks or fails with a coded error', async t => {
  const node = await createNode({ home: await tmpHome(t) })
  t.after(async () => { await node.stop() })
  for (const bytes of valid) assert.ok((await importCar(node.blocks, chunked(bytes, []))).blocks > 0, 'the valid CARs import')

  const counter = new CaseCounter()
  const cuts = fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 3 })
  await fc.assert(fc.asyncProperty(hostileBytes(valid, 400), cuts, async (bytes, at) => {
    counter.tick()
    await refusesCleanly(async () => {
      const result = await importCar(node.blocks, chunked(bytes, at))
      for (const root of result.roots) assert.ok(CID.asCID(root) !== null, 'roots are CIDs')
    }, err => isCodedRefusal(err, [...CODES]))
  }), params(10_000))
  console.log(counter.report('CAR import'))
})
