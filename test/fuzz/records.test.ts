/**
 * Fuzzing the IPNS record gate (checkRecord), which every record from the DHT, pubsub or a
 * peer passes before it is believed. A refusal must be a RecordRejected with its reason
 * (the site counts them, pubsub scores the sender by them); what passes must be a record
 * weft can use: a bigint sequence, a finite validity and TTL, an /ipfs/ root.
 *
 * Two sources of cases: the marshalled record's bytes mutated (the signature then fails,
 * but the protobuf and CBOR parsers see every kind of damage first), and records whose
 * signed DAG-CBOR data is fuzzed and then signed with the site's real key, as a hostile
 * publisher would, so the fields past the signature are reached too.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import * as cborg from 'cborg'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { signRecord, checkRecord, RecordRejected, siteNameOf, type SiteRecord } from '../../src/sites/index.ts'
import { CaseCounter, hostileBytes, params, refusesCleanly } from './fuzz.ts'

const key = await generateKeyPair('Ed25519')
const site = siteNameOf(peerIdFromPrivateKey(key))
const ROOT = 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'
const HOUR = 3_600_000
const valid = [
  (await signRecord(key, `/ipfs/${ROOT}`, 1n, { validity: HOUR, ttl: 60_000 })).bytes,
  (await signRecord(key, `/ipfs/${ROOT}/a/b`, 2n ** 40n, { validity: 365 * 24 * HOUR, ttl: 0 })).bytes
]

const isRejection = (err: unknown): boolean => err instanceof RecordRejected && err.message.length > 0

function assertUsable (record: SiteRecord): void {
  assert.equal(typeof record.sequence, 'bigint')
  assert.ok(record.sequence >= 0n, 'sequence is not negative')
  assert.ok(Number.isFinite(record.validity), 'validity is a time')
  assert.ok(Number.isFinite(record.ttl) && record.ttl >= 0, 'ttl is a duration')
  assert.ok(record.value.startsWith('/ipfs/'))
}

// protobuf: field number and wire type 2 (bytes), a varint length, the bytes
function pbBytes (field: number, bytes: Uint8Array): Uint8Array {
  const len: number[] = []
  let n = bytes.byteLength
  do { len.push((n & 0x7f) | (n > 0x7f ? 0x80 : 0)); n >>>= 7 } while (n > 0)
  return Uint8Array.from([(field << 3) | 2, ...len, ...bytes])
}

/** A V2-only IpnsEntry (signatureV2 = 8, data = 9) over `data`, signed with the site's key. */
async function signedEntry (data: Uint8Array): Promise<Uint8Array> {
  const signature = await key.sign(Buffer.concat([Buffer.from('ipns-signature:'), data]))
  return Buffer.concat([pbBytes(8, signature), pbBytes(9, data)])
}

const future = new Date(Date.now() + 24 * HOUR).toISOString().replace('Z', '000000Z')
const text = (s: string): Uint8Array => new TextEncoder().encode(s)
const field = <T>(good: T, ...odd: Array<fc.Arbitrary<unknown>>): fc.Arbitrary<unknown> => fc.oneof({ arbitrary: fc.constant(good), weight: 3 }, ...odd.map(arbitrary => ({ arbitrary, weight: 1 })))

// the fields of the signed data: mostly well formed, each sometimes anything at all
const signedData = fc.record({
  Value: field(text(`/ipfs/${ROOT}`), fc.uint8Array({ maxLength: 80 }), fc.string({ maxLength: 80 }).map(s => text(`/ipfs/${s}`)), fc.constant(text('/ipns/' + site.name)), fc.string(), fc.constant(null)),
  Validity: field(text(future), fc.uint8Array({ maxLength: 40 }), fc.constantFrom(text('1970-01-01T00:00:00Z'), text('9999-99-99T99:99:99.999999999Z'), text('')), fc.integer()),
  ValidityType: field(0, fc.integer(), fc.constant('0')),
  Sequence: field(5, fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }), fc.integer(), fc.double(), fc.string({ maxLength: 5 }), fc.constant(null)),
  TTL: field(60_000_000_000, fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }), fc.double(), fc.string({ maxLength: 5 }), fc.constant(null))
}, { requiredKeys: [] })

test('fuzz: IPNS record bytes are accepted as usable records or rejected with a reason', async () => {
  const counter = new CaseCounter()
  await fc.assert(fc.asyncProperty(hostileBytes(valid, 600), async bytes => {
    counter.tick()
    await refusesCleanly(async () => { assertUsable(await checkRecord(site, bytes)) }, isRejection)
  }), params(10_000))
  console.log(counter.report('IPNS record bytes'))
})

test('fuzz: records signed by the site over fuzzed data are usable or rejected with a reason', async () => {
  const counter = new CaseCounter()
  await fc.assert(fc.asyncProperty(signedData, async fields => {
    counter.tick()
    let data: Uint8Array
    try {
      data = cborg.encode(fields)
    } catch {
      return // not encodable (a float cborg refuses): nothing a peer could send
    }
    const bytes = await signedEntry(data)
    await refusesCleanly(async () => { assertUsable(await checkRecord(site, bytes)) }, isRejection)
  }), params(5_000))
  console.log(counter.report('signed IPNS record data'))
})

test('fuzz: the valid records pass the gate (the mutations start from accepted records)', async () => {
  for (const bytes of valid) assertUsable(await checkRecord(site, bytes))
  assertUsable(await checkRecord(site, await signedEntry(cborg.encode({ Value: text(`/ipfs/${ROOT}`), Validity: text(future), ValidityType: 0, Sequence: 5, TTL: 60_000_000_000 }))))
})

test('regression: a signed record without a sequence, or with a negative one or a TTL that is a string, is rejected as malformed', async () => {
  // found by the fuzzer: checkRecord passed it with sequence undefined, which sites then compared with bigints
  const base = { Value: text(`/ipfs/${ROOT}`), Validity: text(future), ValidityType: 0 }
  for (const fields of [base, { ...base, Sequence: -1, TTL: 1 }, { ...base, Sequence: 1, TTL: 'x' }, { ...base, Sequence: 'x' }]) {
    await assert.rejects(checkRecord(site, await signedEntry(cborg.encode(fields))), (err: unknown) => err instanceof RecordRejected && err.reason === 'malformed')
  }
})
