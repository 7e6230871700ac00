import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js'
import { isWeftError } from '../../src/errors.ts'
import {
  xchachaSeal, xchachaOpen, sealFile, openFile, paddedSize, sealedSize, sealWithNonce, openWithNonce,
  SEGMENT_BYTES, STREAM_PREFIX_BYTES, TAG_BYTES
} from '../../src/private/aead.ts'

const tampered = (err: unknown): boolean => isWeftError(err, 'ERR_PRIVATE_TAMPERED')

test('XChaCha20-Poly1305 (HChaCha20 + OpenSSL) equals noble\'s xchacha20poly1305 byte for byte', () => {
  for (const size of [0, 1, 63, 64, 65, 1000, 4096, 100_000]) {
    for (const withAad of [false, true]) {
      const key = randomBytes(32)
      const nonce = randomBytes(24)
      const plaintext = randomBytes(size)
      const aad = withAad ? randomBytes(17) : undefined
      const ours = xchachaSeal(key, nonce, plaintext, aad)
      const noble = xchacha20poly1305(key, nonce, aad).encrypt(plaintext)
      assert.deepEqual(new Uint8Array(ours), noble, `size ${size}, aad ${withAad}`)
      // each opens the other's
      assert.deepEqual(new Uint8Array(xchachaOpen(key, nonce, noble, aad)), new Uint8Array(plaintext))
      assert.deepEqual(xchacha20poly1305(key, nonce, aad).decrypt(ours), new Uint8Array(plaintext))
    }
  }
})

test('the draft-irtf-cfrg-xchacha-03 test vector (A.3.1)', () => {
  const plaintext = Buffer.from('Ladies and Gentlemen of the class of \'99: If I could offer you only one tip for the future, sunscreen would be it.')
  const aad = Buffer.from('50515253c0c1c2c3c4c5c6c7', 'hex')
  const key = Buffer.from('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f', 'hex')
  const nonce = Buffer.from('404142434445464748494a4b4c4d4e4f5051525354555657', 'hex')
  const sealed = xchachaSeal(key, nonce, plaintext, aad)
  assert.equal(sealed.subarray(0, 16).toString('hex'), 'bd6d179d3e83d43b9576579493c0e939')
  assert.equal(sealed.subarray(sealed.length - 16).toString('hex'), 'c0875924c1c7987947deafd8780acf49')
})

test('tampered input fails to open, in ours and in noble\'s alike', () => {
  const key = randomBytes(32)
  const nonce = randomBytes(24)
  const sealed = xchachaSeal(key, nonce, randomBytes(300))
  for (const at of [0, 150, sealed.length - 1]) {
    const bad = Buffer.from(sealed)
    bad[at] ^= 1
    assert.throws(() => xchachaOpen(key, nonce, bad), tampered)
    assert.throws(() => xchacha20poly1305(key, nonce).decrypt(bad))
  }
  assert.throws(() => xchachaOpen(randomBytes(32), nonce, sealed), tampered)
  assert.throws(() => xchachaOpen(key, nonce, sealed.subarray(0, 10)), tampered)
  const boxed = sealWithNonce(key, Buffer.from('a key'))
  assert.equal(openWithNonce(key, boxed, 'x').toString(), 'a key')
  boxed[3] ^= 1
  assert.throws(() => openWithNonce(key, boxed, 'x'), tampered)
})

test('padding buckets: 4 KiB steps to 64 KiB, then powers of two', () => {
  assert.equal(paddedSize(0), 4096)
  assert.equal(paddedSize(1), 4096)
  assert.equal(paddedSize(4096), 4096)
  assert.equal(paddedSize(4097), 8192)
  assert.equal(paddedSize(65536), 65536)
  assert.equal(paddedSize(65537), 131072)
  assert.equal(paddedSize(1_000_000), 1 << 20)
  assert.equal(paddedSize((1 << 20) + 1), 2 << 20)
  assert.equal(paddedSize(64 << 20), 64 << 20)
})

test('STREAM: a sealed file opens to its padded plaintext; tampering, truncation, extension and reordering fail', () => {
  const key = randomBytes(32)
  for (const size of [0, 10, SEGMENT_BYTES - 1, SEGMENT_BYTES, 3 * SEGMENT_BYTES + 5]) {
    const plaintext = randomBytes(size)
    const padTo = paddedSize(size)
    const sealed = sealFile(key, plaintext, padTo)
    assert.equal(sealed.length, sealedSize(padTo))
    const opened = openFile(key, sealed)
    assert.equal(opened.length, padTo)
    assert.deepEqual(opened.subarray(0, size), plaintext)
    assert.ok(opened.subarray(size).every(b => b === 0), 'padded with zeros')
  }
  const plaintext = randomBytes(3 * SEGMENT_BYTES)
  const sealed = sealFile(key, plaintext)
  const segment = SEGMENT_BYTES + TAG_BYTES
  // a flipped bit anywhere
  for (const at of [0, STREAM_PREFIX_BYTES + 5, STREAM_PREFIX_BYTES + segment + 1, sealed.length - 1]) {
    const bad = Buffer.from(sealed)
    bad[at] ^= 0x80
    assert.throws(() => openFile(key, bad), tampered, `bit at ${at}`)
  }
  // truncated at a segment boundary: the new last segment was not sealed as the last
  assert.throws(() => openFile(key, sealed.subarray(0, STREAM_PREFIX_BYTES + 2 * segment)), tampered)
  assert.throws(() => openFile(key, sealed.subarray(0, sealed.length - 1)), tampered)
  // extended by a segment copied from the middle
  assert.throws(() => openFile(key, Buffer.concat([sealed, sealed.subarray(STREAM_PREFIX_BYTES, STREAM_PREFIX_BYTES + segment)])), tampered)
  // segments 0 and 1 swapped
  const swapped = Buffer.concat([
    sealed.subarray(0, STREAM_PREFIX_BYTES),
    sealed.subarray(STREAM_PREFIX_BYTES + segment, STREAM_PREFIX_BYTES + 2 * segment),
    sealed.subarray(STREAM_PREFIX_BYTES, STREAM_PREFIX_BYTES + segment),
    sealed.subarray(STREAM_PREFIX_BYTES + 2 * segment)
  ])
  assert.throws(() => openFile(key, swapped), tampered)
  assert.throws(() => openFile(randomBytes(32), sealed), tampered)
  assert.deepEqual(openFile(key, sealed), plaintext)
})
