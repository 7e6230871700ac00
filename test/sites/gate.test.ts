import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import {
  RecordGate, RecordRejected, checkRecord, signRecord, siteNameOf,
  type RecordBook, type RecordGateEvents, type RejectReason, type SiteRecord
} from '../../src/sites/index.ts'

const HOUR = 3_600_000
const randomRoot = async (): Promise<string> => `/ipfs/${CID.createV1(raw.code, await sha256.digest(randomBytes(16)))}`

/** A second kind of book, as user contributions will keep: records keyed by (site, user), not by site. */
class ContributionBook implements RecordBook {
  readonly records = new Map<string, SiteRecord>()
  readonly versions = new Set<string>()
  readonly touched: string[] = []
  readonly equivocations: Array<{ key: string, sequence: bigint, heldValue: string, otherValue: string }> = []
  readonly rejections: Array<{ key: string, reason: RejectReason, peer?: string }> = []
  current (key: string): SiteRecord | undefined { return this.records.get(key) }
  save (key: string, record: SiteRecord): boolean {
    this.records.set(key, record)
    const version = `${key}@${record.sequence}`
    if (this.versions.has(version)) return false
    this.versions.add(version)
    return true
  }

  touch (key: string): void { this.touched.push(key) }
  equivocation (key: string, sequence: bigint, heldValue: string, other: SiteRecord): void { this.equivocations.push({ key, sequence, heldValue, otherValue: other.value }) }
  rejection (key: string, reason: RejectReason, peer: string | undefined): void { this.rejections.push({ key, reason, peer }) }
}

test('the record gate runs over another book and key: sequence rule, equivocation kept as evidence, and only hostile senders pay', async () => {
  const site = siteNameOf(peerIdFromPrivateKey(await generateKeyPair('Ed25519'))).name
  const alice = await generateKeyPair('Ed25519')
  const bob = await generateKeyPair('Ed25519')
  const users = new Map([[`${site}/alice`, alice], [`${site}/bob`, bob]])
  const book = new ContributionBook()
  const penalties: Array<{ peer: string, detail: string }> = []
  const gate = new RecordGate({ book, penalise: (peer, detail) => { penalties.push({ peer, detail }) } }, {
    // each key is checked against its own user's public key, as the users code will with the user's routing key
    check: async (key, bytes) => await checkRecord(siteNameOf(peerIdFromPrivateKey(users.get(key) ?? bob)), bytes),
    label: 'test:contributions'
  })
  const accepted: Array<RecordGateEvents['accepted']> = []
  const rejected: Array<RecordGateEvents['rejected']> = []
  gate.on('accepted', detail => { accepted.push(detail) })
  const off = gate.on('rejected', detail => { rejected.push(detail) })

  const aliceKey = `${site}/alice`
  const bobKey = `${site}/bob`
  const first = await signRecord(alice, await randomRoot(), 3n, { validity: HOUR, ttl: 60_000 })
  assert.equal((await gate.accept(aliceKey, first.bytes, { kind: 'pubsub', peer: 'relay-1' })).outcome, 'new')
  assert.deepEqual(accepted.map(a => [a.key, a.record.sequence, a.isNew, a.source.kind]), [[aliceKey, 3n, true, 'pubsub']])
  // the same user's record under another user's key is a forgery: refused, and the relay pays
  await assert.rejects(gate.accept(bobKey, first.bytes, { kind: 'pubsub', peer: 'relay-2' }),
    (err: unknown) => err instanceof RecordRejected && err.reason === 'bad-signature')
  assert.equal(book.current(bobKey), undefined)
  assert.equal(penalties.length, 1)
  assert.equal(penalties[0].peer, 'relay-2')
  assert.match(penalties[0].detail, /bad-signature record for .*\/bob/)

  // the same record again changes nothing and is not announced
  assert.equal((await gate.accept(aliceKey, first.bytes, { kind: 'dht' })).outcome, 'same')
  assert.deepEqual(book.touched, [aliceKey])
  // a later validity for the same version replaces the held record, quietly
  const refreshed = await signRecord(alice, first.value, 3n, { validity: 2 * HOUR, ttl: 60_000 })
  assert.equal((await gate.accept(aliceKey, refreshed.bytes, { kind: 'dht' })).outcome, 'refresh')
  assert.equal(book.current(aliceKey)?.validity, refreshed.validity)
  assert.equal(accepted.length, 1)

  // stale and equivocating records are refused and counted, but may come in good faith: nobody pays
  const stale = await signRecord(alice, await randomRoot(), 2n, { validity: HOUR, ttl: 60_000 })
  await assert.rejects(gate.accept(aliceKey, stale.bytes, { kind: 'pubsub', peer: 'relay-3' }),
    (err: unknown) => err instanceof RecordRejected && err.reason === 'stale')
  const other = await signRecord(alice, await randomRoot(), 3n, { validity: HOUR, ttl: 60_000 })
  await assert.rejects(gate.accept(aliceKey, other.bytes, { kind: 'pubsub', peer: 'relay-4' }),
    (err: unknown) => err instanceof RecordRejected && err.reason === 'equivocation')
  assert.deepEqual(book.equivocations, [{ key: aliceKey, sequence: 3n, heldValue: first.value, otherValue: other.value }])
  assert.equal(book.current(aliceKey)?.value, first.value)
  assert.equal(penalties.length, 1)
  assert.deepEqual(book.rejections.map(r => [r.key, r.reason, r.peer]), [[bobKey, 'bad-signature', 'relay-2'], [aliceKey, 'stale', 'relay-3'], [aliceKey, 'equivocation', 'relay-4']])
  assert.deepEqual(rejected.map(r => r.reason), ['bad-signature', 'stale', 'equivocation'])

  // a higher sequence is the user's next contribution; the other user's key is untouched
  const next = await signRecord(alice, await randomRoot(), 4n, { validity: HOUR, ttl: 60_000 })
  assert.equal((await gate.accept(aliceKey, next.bytes, { kind: 'local' })).outcome, 'new')
  assert.deepEqual(accepted.map(a => a.record.sequence), [3n, 4n])
  assert.equal(book.current(bobKey), undefined)

  // a listener that stopped hears nothing more
  off()
  await assert.rejects(gate.accept(aliceKey, stale.bytes, { kind: 'local' }))
  assert.equal(rejected.length, 3)
  assert.equal(book.rejections.length, 4)
})
