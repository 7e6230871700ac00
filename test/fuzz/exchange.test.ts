/**
 * Fuzzing the exchange's frame decoder: every frame a peer sends either decodes to a
 * message or is a ProtocolViolation (which the session and server turn into a penalty for
 * the sender); nothing else may escape, since anything else would drop the stream without
 * blame or reach the node as a crash.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import fc from 'fast-check'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import * as dagPb from '@ipld/dag-pb'
import * as Digest from 'multiformats/hashes/digest'
import { BLOCK, CANCEL, DONT_HAVE, ProtocolViolation, WANT, decodeMessage, encodeBlockMessage, encodeCidMessage } from '../../src/exchange/wire.ts'
import { CaseCounter, hostileBytes, params, refusesCleanly } from './fuzz.ts'

function cidOf (code: number, bytes: Uint8Array, version: 0 | 1 = 1): CID {
  const digest = Digest.create(0x12, createHash('sha256').update(bytes).digest())
  return version === 0 ? CID.createV0(digest as never) : CID.createV1(code, digest)
}

const data = new TextEncoder().encode('a block of bytes for the exchange fuzzer')
const rawCid = cidOf(raw.code, data)
const pbCid = cidOf(dagPb.code, data, 0)
const frames = [
  encodeCidMessage(WANT, rawCid),
  encodeCidMessage(CANCEL, pbCid),
  encodeCidMessage(DONT_HAVE, rawCid),
  Buffer.concat(encodeBlockMessage(rawCid, data)),
  Buffer.concat(encodeBlockMessage(pbCid, data))
].map(f => new Uint8Array(f))

const isViolation = (err: unknown): boolean => err instanceof ProtocolViolation && err.message.length > 0

test('fuzz: exchange frames decode or are a ProtocolViolation', async () => {
  const counter = new CaseCounter()
  await fc.assert(fc.asyncProperty(hostileBytes(frames, 300), async frame => {
    counter.tick()
    await refusesCleanly(() => {
      const msg = decodeMessage(frame)
      // what decodes is a message the session can act on
      assert.ok([WANT, CANCEL, BLOCK, DONT_HAVE].includes(msg.type))
      assert.ok(CID.asCID(msg.cid) !== null)
    }, isViolation)
  }), params(40_000))
  console.log(counter.report('exchange frames'))
})

test('fuzz: the valid frames themselves decode (the mutations start from real messages)', () => {
  for (const frame of frames) assert.doesNotThrow(() => decodeMessage(frame))
})

test('regression: a BLOCK frame with a CID length past 2^53, or a padded one, is a ProtocolViolation', () => {
  // found by the fuzzer (FUZZ_RUNS=3): varint.encodingLength threw a RangeError, which the
  // session and server took for a broken stream, so the sender went unpenalised
  const huge = Uint8Array.from([BLOCK, 254, 255, 255, 255, 255, 133, 220, 126, ...rawCid.bytes, ...data])
  assert.throws(() => decodeMessage(huge), isViolation)
  // 0x80 | len, 0x00: the same length in two bytes, which would shift the CID by one
  const padded = Uint8Array.from([BLOCK, 0x80 | rawCid.bytes.byteLength, 0x00, ...rawCid.bytes, ...data])
  assert.throws(() => decodeMessage(padded), isViolation)
})
