import { test } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { CID } from 'multiformats/cid'
import { CheckedRecords, checkUserRecord, signUserRecord, userIdOfPublicKey } from '../../src/users/records.ts'
import { RecordRejected } from '../../src/sites/index.ts'

const ROOT = CID.parse('bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi')
const SITE = 'k51qzi5uqu5dkk1shmfdasdz7gdfiy26dddu6jlv53nph8k7vm8xsnb9ouzvg7'
const OTHER = 'k51qzi5uqu5dlvj2baxnqndepeb86cbk3ng7n3i46uzyxzyqj2xjonzllnv0v8'

test('a record checked once skips its signature check after, but not its expiry, its site, or a changed byte', async t => {
  const key = await generateKeyPair('Ed25519')
  const checked = new CheckedRecords(4)
  const record = await signUserRecord(key, SITE, ROOT, 3n, { validity: 60_000, ttl: 1_000 })
  const first = await checkUserRecord(SITE, record.bytes, checked)
  assert.equal(checked.user(SITE, record.bytes), userIdOfPublicKey(key.publicKey))
  const again = await checkUserRecord(SITE, record.bytes, checked)
  assert.deepEqual({ ...again, bytes: undefined }, { ...first, bytes: undefined })
  // the cache is per site: the same bytes for another site are checked whole, and refused
  await assert.rejects(checkUserRecord(OTHER, record.bytes, checked), (err: unknown) => err instanceof RecordRejected && err.reason === 'wrong-site')
  // one byte changed is other bytes: checked whole, and the signature fails
  const tampered = new Uint8Array(record.bytes)
  tampered[tampered.length - 5] ^= 1
  assert.equal(checked.user(SITE, tampered), undefined)
  await assert.rejects(checkUserRecord(SITE, tampered, checked), RecordRejected)
  // expiry is read on every check, cached or not
  const short = await signUserRecord(key, SITE, ROOT, 4n, { validity: 10_000, ttl: 1_000 })
  await checkUserRecord(SITE, short.bytes, checked)
  t.mock.timers.enable({ apis: ['Date'], now: Date.now() + 60_000 })
  await assert.rejects(checkUserRecord(SITE, short.bytes, checked), (err: unknown) => err instanceof RecordRejected && err.reason === 'expired')
  t.mock.timers.reset()
  // bounded: the oldest go first
  for (let i = 0; i < 4; i++) await checkUserRecord(SITE, (await signUserRecord(key, SITE, ROOT, BigInt(10 + i), { validity: 60_000, ttl: 1_000 })).bytes, checked)
  assert.equal(checked.user(SITE, record.bytes), undefined)
})
