/**
 * Sealed messages between users of a site: the envelope. Only the recipient can open one,
 * and what opens proves who sent it, to whom, on which site and when.
 *
 * Keys: a user's id on a site (`k51…`) names their ed25519 site key (src/users/identity.ts);
 * its Montgomery form (`ed25519.utils.toMontgomery`, RFC 7748's birational map) is their
 * X25519 public key, and `toMontgomerySecret` of their seed the matching secret. So an id
 * is enough to address a message, and no key is published for it.
 *
 * Envelope (at most MAX_ENVELOPE_BYTES, 64 KiB):
 *
 *   version     1 byte, 0x01
 *   ephemeral   32 bytes, a fresh X25519 public key per message
 *   nonce       24 bytes, random
 *   ciphertext  XChaCha20-Poly1305(key, nonce, aad = the 57 bytes above)(letter), tag last (16 bytes)
 *
 *   key = HKDF-SHA256(ikm = X25519(ephemeral secret, recipient X25519 public),
 *                     salt = "weft/message/v1", info = ephemeral ‖ recipient X25519 public, 32 bytes)
 *
 * Letter (the plaintext):
 *
 *   sender      32 bytes, the sender's ed25519 site key (their user id is its IPNS name)
 *   recipient   32 bytes, the recipient's ed25519 site key
 *   sent        8 bytes, u64 big-endian, ms since the epoch (the sender's clock)
 *   site length 1 byte, then the site's name (`k51…`, UTF-8)
 *   signature   64 bytes, ed25519 by the sender's site key over
 *               "weft/message/v1/sig" ‖ ephemeral ‖ sender ‖ recipient ‖ sent ‖ site length ‖ site ‖ body
 *   body        the rest: the message's bytes
 *
 * The signature covers the ephemeral key, so a recipient cannot re-seal a letter it opened
 * to someone else (the new envelope has a new ephemeral key and the signature fails), and
 * it covers the recipient and the site, so a letter cannot be re-addressed either. Carriers
 * see only the version, a random key and nonce, and the length.
 */
import { createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, randomBytes, type KeyObject } from 'node:crypto'
import { ed25519 } from '@noble/curves/ed25519.js'
import { xchachaOpen, xchachaSeal } from './aead.ts'
import { publicKeyFromRaw } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { WeftError } from '../errors.ts'
import { parseSiteName } from '../sites/index.ts'
import { userIdOfPublicKey } from '../users/index.ts'

export const ENVELOPE_VERSION = 1
/** The bound: a message is text or a small attachment, and a carrier holds thousands. */
export const MAX_ENVELOPE_BYTES = 64 * 1024
const KEY_BYTES = 32
const NONCE_BYTES = 24
const TAG_BYTES = 16
const SIGNATURE_BYTES = 64
const HEADER_BYTES = 1 + KEY_BYTES + NONCE_BYTES
/** A site name is 62 characters of base36; one length byte bounds it at 255. */
const MAX_SITE_BYTES = 255
/** The letter's fixed part: two keys, the time, the site's length byte and the signature. */
const LETTER_FIXED_BYTES = KEY_BYTES * 2 + 8 + 1 + SIGNATURE_BYTES
/** The smallest envelope that can hold a letter (empty body, one-character site). */
export const MIN_ENVELOPE_BYTES = HEADER_BYTES + LETTER_FIXED_BYTES + 1 + TAG_BYTES
/** The most body bytes a message to a site named by a canonical `k51…` (62 characters) can carry. */
export const MAX_BODY_BYTES = MAX_ENVELOPE_BYTES - HEADER_BYTES - LETTER_FIXED_BYTES - 62 - TAG_BYTES
/** Versioned, so a later format's keys and signatures never collide with these. */
const HKDF_SALT = 'weft/message/v1'
const SIGNATURE_CONTEXT = new TextEncoder().encode('weft/message/v1/sig')
/** PKCS#8 and SPKI DER for X25519 keys are these prefixes and then the 32 raw bytes (RFC 8410). */
const PKCS8_X25519_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex')
const SPKI_X25519_PREFIX = Buffer.from('302a300506032b656e032100', 'hex')

/** What a letter says, in keys. */
export interface Letter {
  /** The sender's ed25519 site key (32 bytes). */
  sender: Uint8Array
  /** The recipient's ed25519 site key (32 bytes). */
  recipient: Uint8Array
  /** ms since the epoch, by the sender's clock. */
  sent: number
  /** The site's name, `k51…`. */
  site: string
  body: Uint8Array
}

export interface OpenedLetter extends Letter {
  signature: Uint8Array
  /** The envelope's ephemeral key (what the signature binds). */
  ephemeral: Uint8Array
}

/** An ed25519 user key (32 bytes) from a user id; ERR_MESSAGE_REFUSED when it is none (or its 32 bytes are no point on the curve). */
export function userKeyOf (id: string): Uint8Array {
  let raw: Uint8Array | undefined
  try {
    raw = parseSiteName(id).peerId.publicKey?.raw
    // an id's bytes are not checked when it is parsed; sealing to a non-point would fail deep in the curve code
    if (raw !== undefined) ed25519.Point.fromBytes(raw)
  } catch {
    raw = undefined
  }
  if (raw?.byteLength !== KEY_BYTES) throw new WeftError('ERR_MESSAGE_REFUSED', `"${String(id).slice(0, 100)}" is not a user id (k51…)`)
  return raw
}

/** The user id (`k51…`) of an ed25519 user key. */
export function userIdOfKey (key: Uint8Array): string {
  return userIdOfPublicKey(publicKeyFromRaw(key))
}

/** The X25519 secret of a user's site key (its seed is the first 32 bytes of libp2p's raw form). */
export function x25519SecretOf (key: PrivateKey): Uint8Array {
  return ed25519.utils.toMontgomerySecret(key.raw.subarray(0, KEY_BYTES))
}

/** An X25519 secret as node:crypto takes it: agreement in OpenSSL is about 25 times faster than in JavaScript (0.06 ms against 1.5 ms here), and a carrier does one per envelope. */
export function x25519PrivateKey (secret: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.concat([PKCS8_X25519_PREFIX, secret]), format: 'der', type: 'pkcs8' })
}

/** X25519 agreement; throws on a low-order public key (OpenSSL refuses an all-zero result). */
export function agree (privateKey: KeyObject, publicRaw: Uint8Array): Uint8Array {
  const publicKey = createPublicKey({ key: Buffer.concat([SPKI_X25519_PREFIX, publicRaw]), format: 'der', type: 'spki' })
  return diffieHellman({ privateKey, publicKey })
}

function u64 (n: number): Uint8Array {
  const bytes = new Uint8Array(8)
  new DataView(bytes.buffer).setBigUint64(0, BigInt(n))
  return bytes
}

/** The bytes the sender signs (format above). */
function signedBytes (letter: Letter, ephemeral: Uint8Array): Uint8Array {
  const site = new TextEncoder().encode(letter.site)
  return Buffer.concat([SIGNATURE_CONTEXT, ephemeral, letter.sender, letter.recipient, u64(letter.sent), Uint8Array.of(site.byteLength), site, letter.body])
}

function envelopeKey (shared: Uint8Array, ephemeral: Uint8Array, recipientX: Uint8Array): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', shared, HKDF_SALT, Buffer.concat([ephemeral, recipientX]), KEY_BYTES))
}

/**
 * Seals a letter to its recipient; `sign` signs the bytes the format names (the sender's site
 * key; tests hand in another to forge, and `sealTo` to aim a letter at another key than the
 * one it names). ERR_MESSAGE_TOO_LARGE past 64 KiB.
 */
export async function sealEnvelope (letter: Letter, sign: (bytes: Uint8Array) => Uint8Array | Promise<Uint8Array>, sealTo: Uint8Array = letter.recipient): Promise<Uint8Array> {
  const site = new TextEncoder().encode(letter.site)
  if (site.byteLength === 0 || site.byteLength > MAX_SITE_BYTES) throw new WeftError('ERR_MESSAGE_REFUSED', 'a message names its site (k51…)')
  const size = HEADER_BYTES + LETTER_FIXED_BYTES + site.byteLength + letter.body.byteLength + TAG_BYTES
  if (size > MAX_ENVELOPE_BYTES) throw new WeftError('ERR_MESSAGE_TOO_LARGE', `the message is ${letter.body.byteLength} bytes; sealed it would be ${size}, over the ${MAX_ENVELOPE_BYTES} a message may be (at most ${MAX_BODY_BYTES} bytes of body)`)
  const pair = generateKeyPairSync('x25519')
  const ephemeral = pair.publicKey.export({ format: 'der', type: 'spki' }).subarray(SPKI_X25519_PREFIX.byteLength)
  const recipientX = ed25519.utils.toMontgomery(sealTo)
  const key = envelopeKey(agree(pair.privateKey, recipientX), ephemeral, recipientX)
  const signature = await sign(signedBytes(letter, ephemeral))
  if (signature.byteLength !== SIGNATURE_BYTES) throw new WeftError('ERR_INTERNAL', `an ed25519 signature is ${SIGNATURE_BYTES} bytes, not ${signature.byteLength}`)
  const plain = Buffer.concat([letter.sender, letter.recipient, u64(letter.sent), Uint8Array.of(site.byteLength), site, signature, letter.body])
  const nonce = randomBytes(NONCE_BYTES)
  const header = Buffer.concat([Uint8Array.of(ENVELOPE_VERSION), ephemeral, nonce])
  const sealed = xchachaSeal(key, nonce, plain, header)
  const envelope = Buffer.concat([header, sealed])
  // a plain Uint8Array: a Buffer's slice() shares its memory, which a caller copying an envelope would not expect
  return new Uint8Array(envelope.buffer, envelope.byteOffset, envelope.byteLength)
}

/** Seals `body` from the holder of `from` (their site key on `site`) to the user `to`. */
export async function sealMessage (from: PrivateKey, site: string, to: string, body: Uint8Array, sent = Date.now()): Promise<Uint8Array> {
  const letter: Letter = { sender: from.publicKey.raw, recipient: userKeyOf(to), sent, site: parseSiteName(site).name, body }
  return await sealEnvelope(letter, async bytes => await from.sign(bytes))
}

/** Why the bytes cannot be an envelope (what any carrier checks), or undefined when they can. */
export function envelopeProblem (bytes: Uint8Array): 'too-large' | 'malformed' | undefined {
  if (bytes.byteLength > MAX_ENVELOPE_BYTES) return 'too-large'
  if (bytes.byteLength < MIN_ENVELOPE_BYTES || bytes[0] !== ENVELOPE_VERSION) return 'malformed'
  return undefined
}

/**
 * Opens an envelope with the recipient's X25519 secret (one X25519 and one AEAD check).
 * Undefined when it is not sealed to this key (the usual case: the envelope is someone
 * else's). The letter's signature is not checked here: letterProblem does.
 */
export function openEnvelope (bytes: Uint8Array, secret: Uint8Array | KeyObject, publicX: Uint8Array): OpenedLetter | undefined {
  if (envelopeProblem(bytes) !== undefined) return undefined
  const header = bytes.subarray(0, HEADER_BYTES)
  const ephemeral = bytes.subarray(1, 1 + KEY_BYTES)
  const nonce = bytes.subarray(1 + KEY_BYTES, HEADER_BYTES)
  let plain: Uint8Array
  try {
    const key = envelopeKey(agree(secret instanceof Uint8Array ? x25519PrivateKey(secret) : secret, ephemeral), ephemeral, publicX)
    const opened = xchachaOpen(key, nonce, bytes.subarray(HEADER_BYTES), header, 'the message')
    // a plain view: a Buffer's slice() below would share memory instead of copying
    plain = new Uint8Array(opened.buffer, opened.byteOffset, opened.byteLength)
  } catch {
    // a low-order ephemeral key, or sealed to someone else
    return undefined
  }
  const siteLength = plain[KEY_BYTES * 2 + 8]
  const siteStart = KEY_BYTES * 2 + 9
  if (plain.byteLength < siteStart + siteLength + SIGNATURE_BYTES) return undefined
  const view = new DataView(plain.buffer, plain.byteOffset, plain.byteLength)
  const sent = view.getBigUint64(KEY_BYTES * 2)
  return {
    sender: plain.slice(0, KEY_BYTES),
    recipient: plain.slice(KEY_BYTES, KEY_BYTES * 2),
    sent: sent > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(sent),
    site: new TextDecoder().decode(plain.subarray(siteStart, siteStart + siteLength)),
    signature: plain.slice(siteStart + siteLength, siteStart + siteLength + SIGNATURE_BYTES),
    body: plain.slice(siteStart + siteLength + SIGNATURE_BYTES),
    ephemeral: ephemeral.slice()
  }
}

/** Why an opened letter is refused: it names another recipient or site, or its signature fails. */
export async function letterProblem (letter: OpenedLetter, expect: { recipient: Uint8Array, site: string }): Promise<'re-addressed' | 'wrong-site' | 'bad-signature' | undefined> {
  if (Buffer.compare(letter.recipient, expect.recipient) !== 0) return 're-addressed'
  if (letter.site !== expect.site) return 'wrong-site'
  let ok = false
  try {
    ok = await publicKeyFromRaw(letter.sender).verify(signedBytes(letter, letter.ephemeral), letter.signature)
  } catch {
    ok = false
  }
  return ok ? undefined : 'bad-signature'
}
