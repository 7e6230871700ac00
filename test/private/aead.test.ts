import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js'
import { isWeftError } from '../../src/errors.ts'
import {
  xchachaSeal, xchachaOpen, sealFile, openFile, openFileStream, paddedSize, sealedSize, sealWithNonce, openWithNonce,
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

/** The sealed bytes cut into pieces of `size` (or, with 0, random sizes), as blocks arrive. */
async function * pieces (bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.byteLength;) {
    const n = size > 0 ? size : 1 + Math.floor(Math.random() * 300_000)
    yield bytes.subarray(at, at + n)
    at += n
  }
}

async function collectStream (source: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const out: Uint8Array[] = []
  for await (const chunk of source) out.push(chunk)
  return Buffer.concat(out)
}

test('STREAM opened as blocks arrive: the same bytes as openFile, however the blocks cut it, padding dropped', async () => {
  const key = randomBytes(32)
  for (const size of [0, 5, 4096, SEGMENT_BYTES, 2 * SEGMENT_BYTES + 77]) {
    const plaintext = randomBytes(size)
    const padTo = paddedSize(size)
    const sealed = sealFile(key, plaintext, padTo)
    for (const cut of [1024 * 1024, 7, 0]) {
      if (cut === 7 && sealed.length > 100_000) continue
      const opened = await collectStream(openFileStream(key, pieces(sealed, cut), sealed.length, size))
      assert.deepEqual(opened, plaintext, `size ${size}, pieces of ${cut}`)
    }
  }
})

test('STREAM opened as blocks arrive: nothing of a tampered segment is released, and truncation or extension fails', async () => {
  const key = randomBytes(32)
  const plaintext = randomBytes(3 * SEGMENT_BYTES)
  const sealed = sealFile(key, plaintext)
  const segment = SEGMENT_BYTES + TAG_BYTES
  const bad = Buffer.from(sealed)
  bad[STREAM_PREFIX_BYTES + segment + 10] ^= 1
  const released: Uint8Array[] = []
  await assert.rejects(async () => {
    for await (const chunk of openFileStream(key, pieces(bad, 1024 * 1024), bad.length, plaintext.length)) released.push(chunk)
  }, tampered)
  assert.equal(Buffer.concat(released).length, SEGMENT_BYTES, 'only the first segment, which checked, came out')
  await assert.rejects(collectStream(openFileStream(key, pieces(sealed.subarray(0, STREAM_PREFIX_BYTES + 2 * segment), SEGMENT_BYTES), sealed.length, plaintext.length)), tampered)
  await assert.rejects(collectStream(openFileStream(key, pieces(Buffer.concat([sealed, Buffer.alloc(1)]), SEGMENT_BYTES), sealed.length, plaintext.length)), tampered)
  // the index saying fewer segments than there are: the last one the index names was not sealed as the last
  await assert.rejects(collectStream(openFileStream(key, pieces(sealed.subarray(0, STREAM_PREFIX_BYTES + 2 * segment), SEGMENT_BYTES), STREAM_PREFIX_BYTES + 2 * segment, 2 * SEGMENT_BYTES)), tampered)
  await assert.rejects(collectStream(openFileStream(randomBytes(32), pieces(sealed, SEGMENT_BYTES), sealed.length, plaintext.length)), tampered)
})
