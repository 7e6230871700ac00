/**
 * XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha-03), and the STREAM construction that seals
 * a private file in segments. The subkey comes from noble's audited HChaCha20; the bulk is
 * OpenSSL's ChaCha20-Poly1305 through node:crypto (several times noble's pure-JS speed on
 * large files); a test checks the result equals noble's `xchacha20poly1305` byte for byte.
 *
 *   XChaCha20-Poly1305(key, nonce24, m) = ChaCha20-Poly1305(HChaCha20(key, nonce24[0:16]),
 *                                                          0x00000000 ‖ nonce24[16:24], m)
 *   output: ciphertext ‖ tag (16 bytes), as noble writes it
 *
 * A sealed file (STREAM, Hoang–Reyhanitabar–Rogaway–Vizár 2015, with an XChaCha subkey):
 *
 *   prefix (16 random bytes) ‖ seg0 ‖ seg1 ‖ …
 *   subkey = HChaCha20(fileKey, prefix)
 *   seg i  = ChaCha20-Poly1305(subkey, nonce = 0x00000000 ‖ u64be(i | LAST), plaintext[i MiB, (i+1) MiB)) ‖ tag
 *   LAST   = 2^63 on the final segment only
 *
 * so a truncated, extended or reordered file fails to open. Plaintext is padded with zeros
 * to a bucket (`paddedSize`) before sealing: the real size lives only in the encrypted index.
 */
import { createCipheriv, createDecipheriv, randomBytes, type DecipherChaCha20Poly1305 } from 'node:crypto'
import { hchacha } from '@noble/ciphers/chacha.js'
import { WeftError } from '../errors.ts'

export const KEY_BYTES = 32
/** XChaCha20's extended nonce: 192 bits, so random nonces never repeat in practice. */
export const XNONCE_BYTES = 24
export const TAG_BYTES = 16
/** The STREAM nonce prefix: HChaCha20 takes 16 bytes of nonce. */
export const STREAM_PREFIX_BYTES = 16
/** Plaintext per segment: the importer's 1 MiB chunk, so a segment costs one cipher call and memory stays bounded per call. */
export const SEGMENT_BYTES = 1024 * 1024
/** Sizes up to 64 KiB round up to 4 KiB (a page; small notes all look alike) ... */
const SMALL_BUCKET = 4 * 1024
const SMALL_LIMIT = 64 * 1024

/** "expand 32-byte k" as little-endian words: ChaCha's constants (RFC 8439 §2.3). */
const SIGMA = new Uint32Array([0x61707865, 0x3320646e, 0x79622d32, 0x6b206574])

function words (bytes: Uint8Array): Uint32Array {
  // a copy: aligned, and little-endian words on any host
  const out = new Uint32Array(bytes.byteLength / 4)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  for (let i = 0; i < out.length; i++) out[i] = view.getUint32(i * 4, true)
  return out
}

/** HChaCha20(key, nonce16): the 32-byte XChaCha subkey. */
export function hchachaSubkey (key: Uint8Array, nonce16: Uint8Array): Buffer {
  if (key.byteLength !== KEY_BYTES) throw new WeftError('ERR_INTERNAL', `an XChaCha key is ${KEY_BYTES} bytes, not ${key.byteLength}`)
  if (nonce16.byteLength !== 16) throw new WeftError('ERR_INTERNAL', 'HChaCha20 takes a 16-byte nonce')
  const out = new Uint32Array(8)
  hchacha(SIGMA, words(key), words(nonce16), out)
  const bytes = Buffer.alloc(32)
  for (let i = 0; i < 8; i++) bytes.writeUInt32LE(out[i], i * 4)
  return bytes
}

function tampered (what: string): WeftError {
  return new WeftError('ERR_PRIVATE_TAMPERED', `${what} does not open: it was altered, truncated, or sealed under another key`)
}

/** XChaCha20-Poly1305 seal: ciphertext ‖ tag. */
export function xchachaSeal (key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad?: Uint8Array): Buffer {
  if (nonce.byteLength !== XNONCE_BYTES) throw new WeftError('ERR_INTERNAL', `an XChaCha nonce is ${XNONCE_BYTES} bytes`)
  const iv = Buffer.alloc(12)
  iv.set(nonce.subarray(16), 4)
  const cipher = createCipheriv('chacha20-poly1305', hchachaSubkey(key, nonce.subarray(0, 16)), iv, { authTagLength: TAG_BYTES })
  if (aad !== undefined) cipher.setAAD(aad, { plaintextLength: plaintext.byteLength })
  return Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()])
}

/** XChaCha20-Poly1305 open; ERR_PRIVATE_TAMPERED (naming `what`) when the tag does not match. */
export function xchachaOpen (key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad?: Uint8Array, what = 'the ciphertext'): Buffer {
  if (nonce.byteLength !== XNONCE_BYTES) throw new WeftError('ERR_INTERNAL', `an XChaCha nonce is ${XNONCE_BYTES} bytes`)
  if (sealed.byteLength < TAG_BYTES) throw tampered(what)
  const iv = Buffer.alloc(12)
  iv.set(nonce.subarray(16), 4)
  const decipher = createDecipheriv('chacha20-poly1305', hchachaSubkey(key, nonce.subarray(0, 16)), iv, { authTagLength: TAG_BYTES })
  const body = sealed.subarray(0, sealed.byteLength - TAG_BYTES)
  if (aad !== undefined) decipher.setAAD(aad, { plaintextLength: body.byteLength })
  decipher.setAuthTag(sealed.subarray(sealed.byteLength - TAG_BYTES))
  try {
    return Buffer.concat([decipher.update(body), decipher.final()])
  } catch {
    throw tampered(what)
  }
}

/** `nonce24 ‖ XChaCha20-Poly1305(key, nonce24, m)` with a fresh random nonce: how keys and the index are sealed. */
export function sealWithNonce (key: Uint8Array, plaintext: Uint8Array): Buffer {
  const nonce = randomBytes(XNONCE_BYTES)
  return Buffer.concat([nonce, xchachaSeal(key, nonce, plaintext)])
}

export function openWithNonce (key: Uint8Array, sealed: Uint8Array, what: string): Buffer {
  if (sealed.byteLength < XNONCE_BYTES + TAG_BYTES) throw tampered(what)
  return xchachaOpen(key, sealed.subarray(0, XNONCE_BYTES), sealed.subarray(XNONCE_BYTES), undefined, what)
}

/** The bucket `size` bytes are padded to: multiples of 4 KiB up to 64 KiB, then powers of two (at most 2x, so sizes tell only their order of magnitude). */
export function paddedSize (size: number): number {
  if (size <= SMALL_LIMIT) return Math.max(SMALL_BUCKET, Math.ceil(size / SMALL_BUCKET) * SMALL_BUCKET)
  return 2 ** Math.ceil(Math.log2(size))
}

function segmentCount (plaintextBytes: number): number {
  return Math.max(1, Math.ceil(plaintextBytes / SEGMENT_BYTES))
}

/** The sealed length of `plaintextBytes` (already padded): prefix, and a tag per segment. */
export function sealedSize (plaintextBytes: number): number {
  return STREAM_PREFIX_BYTES + plaintextBytes + segmentCount(plaintextBytes) * TAG_BYTES
}

function segmentNonce (i: number, last: boolean): Buffer {
  const nonce = Buffer.alloc(12)
  nonce.writeBigUInt64BE(BigInt(i) | (last ? 1n << 63n : 0n), 4)
  return nonce
}

/**
 * Seals `plaintext` padded with zeros to `padTo` bytes (≥ its length) under `fileKey`
 * (STREAM, above). The zeros are fed to the cipher, never copied into a padded buffer.
 */
export function sealFile (fileKey: Uint8Array, plaintext: Uint8Array, padTo = plaintext.byteLength): Buffer {
  if (padTo < plaintext.byteLength) throw new WeftError('ERR_INTERNAL', 'a file cannot be padded to less than its size')
  const prefix = randomBytes(STREAM_PREFIX_BYTES)
  const subkey = hchachaSubkey(fileKey, prefix)
  const out = Buffer.allocUnsafe(sealedSize(padTo))
  prefix.copy(out, 0)
  let at = STREAM_PREFIX_BYTES
  const segments = segmentCount(padTo)
  let zeros: Buffer | undefined
  for (let i = 0; i < segments; i++) {
    const start = i * SEGMENT_BYTES
    const end = Math.min(padTo, start + SEGMENT_BYTES)
    const cipher = createCipheriv('chacha20-poly1305', subkey, segmentNonce(i, i === segments - 1), { authTagLength: TAG_BYTES })
    const real = plaintext.subarray(Math.min(start, plaintext.byteLength), Math.min(end, plaintext.byteLength))
    at += cipher.update(real).copy(out, at)
    const pad = end - start - real.byteLength
    if (pad > 0) {
      zeros ??= Buffer.alloc(Math.min(SEGMENT_BYTES, padTo))
      at += cipher.update(zeros.subarray(0, pad)).copy(out, at)
    }
    cipher.final()
    at += cipher.getAuthTag().copy(out, at)
  }
  return out
}

/** Opens a sealed file (padding included); ERR_PRIVATE_TAMPERED for any altered, truncated, extended or reordered segment. */
export function openFile (fileKey: Uint8Array, sealed: Uint8Array, what = 'the private file'): Buffer {
  if (sealed.byteLength < STREAM_PREFIX_BYTES + TAG_BYTES) throw tampered(what)
  const subkey = hchachaSubkey(fileKey, sealed.subarray(0, STREAM_PREFIX_BYTES))
  const body = sealed.byteLength - STREAM_PREFIX_BYTES
  const segments = Math.max(1, Math.ceil(body / (SEGMENT_BYTES + TAG_BYTES)))
  const plainBytes = body - segments * TAG_BYTES
  if (plainBytes < 0) throw tampered(what)
  const out = Buffer.allocUnsafe(plainBytes)
  let read = STREAM_PREFIX_BYTES
  let written = 0
  for (let i = 0; i < segments; i++) {
    const length = Math.min(SEGMENT_BYTES + TAG_BYTES, sealed.byteLength - read)
    if (length < TAG_BYTES) throw tampered(what)
    const segment = sealed.subarray(read, read + length)
    read += length
    const decipher = createDecipheriv('chacha20-poly1305', subkey, segmentNonce(i, i === segments - 1), { authTagLength: TAG_BYTES })
    decipher.setAuthTag(segment.subarray(length - TAG_BYTES))
    written += decipher.update(segment.subarray(0, length - TAG_BYTES)).copy(out, written)
    try {
      decipher.final()
    } catch {
      throw tampered(what)
    }
  }
  return out
}

/**
 * Opens a sealed file as its blocks arrive, `sealedLength` bytes in all (the index says
 * how many), yielding each segment's plaintext only once its tag checks, and only the
 * first `plainLength` bytes (the rest is padding). Nothing unauthenticated is released;
 * a stream longer or shorter than `sealedLength` is ERR_PRIVATE_TAMPERED.
 */
export async function * openFileStream (fileKey: Uint8Array, source: AsyncIterable<Uint8Array>, sealedLength: number, plainLength: number, what = 'the private file'): AsyncGenerator<Uint8Array> {
  const segments = Math.max(1, Math.ceil((sealedLength - STREAM_PREFIX_BYTES) / (SEGMENT_BYTES + TAG_BYTES)))
  if (sealedLength < STREAM_PREFIX_BYTES + TAG_BYTES || sealedLength - STREAM_PREFIX_BYTES - segments * TAG_BYTES < plainLength) throw tampered(what)
  const prefix = Buffer.alloc(STREAM_PREFIX_BYTES)
  const tag = Buffer.alloc(TAG_BYTES)
  let subkey: Buffer | undefined
  /** Bytes of the sealed file taken so far. */
  let position = 0
  let segment = 0
  let bodyLeft = 0
  let tagFilled = 0
  let decipher: DecipherChaCha20Poly1305 | undefined
  let pieces: Buffer[] = []
  let released = 0
  const startSegment = (): DecipherChaCha20Poly1305 => {
    bodyLeft = Math.min(SEGMENT_BYTES + TAG_BYTES, sealedLength - position) - TAG_BYTES
    tagFilled = 0
    pieces = []
    return createDecipheriv('chacha20-poly1305', subkey as Buffer, segmentNonce(segment, segment === segments - 1), { authTagLength: TAG_BYTES })
  }
  for await (const chunk of source) {
    if (position + chunk.byteLength > sealedLength) throw tampered(what)
    let at = 0
    while (at < chunk.byteLength) {
      let n: number
      if (decipher === undefined) {
        // the prefix (it may span blocks, though a raw leaf holds it whole)
        n = Math.min(STREAM_PREFIX_BYTES - position, chunk.byteLength - at)
        prefix.set(chunk.subarray(at, at + n), position)
        position += n
        at += n
        if (position === STREAM_PREFIX_BYTES) {
          subkey = hchachaSubkey(fileKey, prefix)
          decipher = startSegment()
        }
        continue
      }
      if (bodyLeft > 0) {
        n = Math.min(bodyLeft, chunk.byteLength - at)
        pieces.push(decipher.update(chunk.subarray(at, at + n)))
        bodyLeft -= n
      } else {
        n = Math.min(TAG_BYTES - tagFilled, chunk.byteLength - at)
        tag.set(chunk.subarray(at, at + n), tagFilled)
        tagFilled += n
      }
      position += n
      at += n
      if (bodyLeft > 0 || tagFilled < TAG_BYTES) continue
      decipher.setAuthTag(tag)
      try {
        decipher.final()
      } catch {
        throw tampered(what)
      }
      for (const piece of pieces) {
        const keep = Math.min(piece.byteLength, plainLength - released)
        if (keep > 0) yield keep === piece.byteLength ? piece : piece.subarray(0, keep)
        released += keep
      }
      segment++
      if (segment === segments) {
        if (position !== sealedLength) throw tampered(what)
      } else {
        decipher = startSegment()
      }
    }
  }
  if (position !== sealedLength || segment !== segments) throw tampered(what)
}
