import { test } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { ed25519 } from '@noble/curves/ed25519.js'
import { randomBytes } from 'node:crypto'
import { isWeftError } from '../../src/errors.ts'
import {
  decodeShareFile, encodeShareFile, openGrant, openListing, sealGrant, sealListing, xchachaSeal, x25519PrivateKey, x25519SecretOf, MAX_RECIPIENTS, type Grant
} from '../../src/private/index.ts'
import { userIdOfPublicKey } from '../../src/users/index.ts'

const SITE = 'k51qzi5uqu5dlvj2baxnqndepeb86cbk3ng7n3i46uzyxzyqj2xjonzllnv0v8'
const TAG = '0123456789abcdef0123456789abcdef'
const tampered = (err: unknown): boolean => isWeftError(err, 'ERR_PRIVATE_TAMPERED')

async function person (): Promise<{ key: PrivateKey, id: string, open: (box: Uint8Array) => Promise<Grant | 'bad-signature' | undefined> }> {
  const key = await generateKeyPair('Ed25519')
  const secret = x25519PrivateKey(x25519SecretOf(key))
  const publicX = ed25519.utils.toMontgomery(key.publicKey.raw)
  return { key, id: userIdOfPublicKey(key.publicKey), open: async box => await openGrant(box, secret, publicX) }
}

test('share format: a grant opens only for its recipient, with the sharer\'s signature; re-sealed or forged, it is refused', async () => {
  const [alice, bob, carol] = await Promise.all([person(), person(), person()])
  const grant: Grant = { site: SITE, sharer: alice.id, recipient: bob.id, folder: 'notes', generation: 3, tag: TAG, key: randomBytes(32) }
  const box = await sealGrant(grant, alice.key)
  assert.deepEqual(await bob.open(box), { ...grant, key: Buffer.from(grant.key) })
  assert.equal(await carol.open(box), undefined, 'addressed to someone else: nothing opens')
  for (const at of [0, 1, 40, box.byteLength - 1]) {
    const bad = Buffer.from(box)
    bad[at] ^= 1
    assert.equal(await bob.open(bad), undefined, `byte ${at} flipped`)
  }
  // bob passes alice's grant on to carol, sealed anew: alice's signature covered the old ephemeral key
  const opened = await bob.open(box) as Grant
  const resealed = await sealGrant({ ...opened, recipient: carol.id }, bob.key)
  assert.equal(await carol.open(resealed), 'bad-signature')
  // carol forges a grant in alice's name
  assert.equal(await bob.open(await sealGrant(grant, carol.key)), 'bad-signature')
})

test('share format: a listing opens under its grant\'s key only for its site, sharer, tag and generation', async () => {
  const key = randomBytes(32)
  const files = new Map([['a.md', { cid: 'bafkqaaa', size: 1, mtime: 2, key: randomBytes(32) }]])
  const grant: Grant = { site: SITE, sharer: 'k51alice', recipient: 'k51bob', folder: 'notes', generation: 1, tag: TAG, key }
  const sealed = sealListing(key, { site: SITE, sharer: 'k51alice', tag: TAG }, { folder: 'notes', generation: 1, files })
  const listing = openListing(grant, sealed)
  assert.deepEqual([...listing.files.keys()], ['a.md'])
  assert.deepEqual(Buffer.from(listing.files.get('a.md')?.key ?? []), Buffer.from(files.get('a.md')?.key ?? []))
  for (const other of [{ generation: 2 }, { tag: 'f'.repeat(32) }, { sharer: 'k51carol' }, { site: 'k51other' }, { key: randomBytes(32) }]) {
    assert.throws(() => openListing({ ...grant, ...other }, sealed), tampered, JSON.stringify(Object.keys(other)))
  }
  // sealed under the right key, but naming another folder, or a "__proto__" path
  const aad = (g: number): Buffer => Buffer.from(`weft/share-listing/v1\0${SITE}\0k51alice\0${TAG}\0${g}`)
  const nonce = randomBytes(24)
  const lying = Buffer.concat([nonce, xchachaSeal(key, nonce, Buffer.from(JSON.stringify({ v: 1, folder: 'diary', generation: 1, files: {} })), aad(1))])
  assert.throws(() => openListing(grant, lying), tampered)
  const proto = Buffer.concat([nonce, xchachaSeal(key, nonce, Buffer.from('{"v":1,"folder":"notes","generation":1,"files":{"__proto__":{"cid":"x","size":1,"mtime":1,"key":""}}}'), aad(1))])
  assert.throws(() => openListing(grant, proto), tampered)
})

test('share format: a share file round-trips; junk, a wrong version or too many boxes is none', () => {
  const file = { listing: randomBytes(100), boxes: [randomBytes(200), randomBytes(200)], own: randomBytes(60) }
  const decoded = decodeShareFile(encodeShareFile(file))
  assert.ok(decoded !== undefined)
  assert.deepEqual(Buffer.from(decoded.listing), file.listing)
  assert.deepEqual(decoded.boxes.map(b => Buffer.from(b).toString('hex')).sort(), file.boxes.map(b => b.toString('hex')).sort())
  for (const junk of ['', 'null', '[]', '{"v":2}', '{"v":1,"listing":"","boxes":[],"own":"","extra":1}', '{"v":1,"listing":"!!","boxes":[],"own":""}']) {
    assert.equal(decodeShareFile(Buffer.from(junk)), undefined, junk)
  }
  assert.equal(decodeShareFile(encodeShareFile({ ...file, boxes: Array.from({ length: MAX_RECIPIENTS + 1 }, () => randomBytes(8)) })), undefined)
})
