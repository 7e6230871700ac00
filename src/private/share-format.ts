/**
 * Sharing a private folder: the share file a sharer publishes in their contribution to the
 * site, at `.weft-shares/<tag>` (allowed whatever the owner's `files` says, counted in the
 * owner's limits: src/users/rules.ts). Followers carry it with the rest of the contribution;
 * only the recipients can open anything in it.
 *
 *   tag     = hex(HKDF-SHA256(indexKey, "weft/share/v1", "tag/<F>", 16 bytes)): stable per
 *             folder, and says nothing of the folder's name
 *   file    = JSON { v: 1, listing: b64, boxes: [b64, …], own: b64 }
 *
 *   listing = nonce24 ‖ XChaCha20-Poly1305(folderKey(F, g), nonce24, padded JSON,
 *                                          aad = "weft/share-listing/v1" ‖ 0 ‖ site ‖ 0 ‖ sharer ‖ 0 ‖ tag ‖ 0 ‖ g)
 *             JSON { v: 1, folder: F, generation: g, files: { [path in F]: { cid, size, mtime, key: b64 } } },
 *             padded with spaces to a bucket (aead.ts paddedSize); `key` is each file's own key.
 *   box     = one per recipient, in random order:
 *             0x01 ‖ ephemeral X25519 (32) ‖ nonce (24) ‖ XChaCha20-Poly1305(k, nonce, aad = those 57 bytes)(grant)
 *             k = HKDF-SHA256(X25519(ephemeral, recipient X25519), "weft/share/v1", ephemeral ‖ recipient X25519)
 *             (the recipient's X25519 key is the Montgomery form of their user key: messages.ts)
 *   grant   = JSON { v: 1, site, sharer, recipient, folder, generation, tag, key: b64, sig: b64 }
 *             sig = ed25519 by the sharer's user key over "weft/share/v1/sig" ‖ ephemeral ‖ canonical JSON without sig
 *   own     = nonce24 ‖ XChaCha20-Poly1305(HKDF(indexKey, "weft/share/v1", "own"), JSON { folder, generation, recipients, digest })
 *             the sharer's own note of whom it shares with (only the sharer's devices open it);
 *             digest: SHA-256 of the listing's files, so a write outside them re-publishes nothing.
 *
 * The signature covers the ephemeral key, the recipient, the site and the tag, so a box
 * cannot be re-sealed to someone else or moved to another file, site or contribution; the
 * recipient also checks the sharer is the user whose contribution holds the file.
 */
import { createHash, generateKeyPairSync, hkdfSync, randomBytes } from 'node:crypto'
import { publicKeyFromRaw } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { ed25519 } from '@noble/curves/ed25519.js'
import { z } from 'zod'
import type { KeyObject } from 'node:crypto'
import { WeftError } from '../errors.ts'
import { isUserId, SHARES_FOLDER } from '../users/rules.ts'
import { openWithNonce, paddedSize, sealWithNonce, xchachaOpen, xchachaSeal, KEY_BYTES, TAG_BYTES } from './aead.ts'
import { canonicalJson } from './index-doc.ts'
import { agree, userKeyOf } from './messages.ts'

const SALT = 'weft/share/v1'
const SIGNATURE_CONTEXT = new TextEncoder().encode('weft/share/v1/sig')
const LISTING_CONTEXT = 'weft/share-listing/v1'
const BOX_VERSION = 1
const NONCE_BYTES = 24
const HEADER_BYTES = 1 + KEY_BYTES + NONCE_BYTES
const TAG_HEX_BYTES = 16
/** A share names at most this many recipients: each box costs every recipient one X25519 to trial-open. */
export const MAX_RECIPIENTS = 64
/** A listing from a peer is refused past this many files (a forged one cannot make the node build an unbounded map). */
export const MAX_LISTING_FILES = 10_000
/** A share file is read whole: the largest one weft writes (10,000 files' keys) is well under this. */
export const MAX_SHARE_FILE_BYTES = 8 * 1024 * 1024
const SPKI_X25519_PREFIX = Buffer.from('302a300506032b656e032100', 'hex')

function derive (indexKey: Uint8Array, info: string, bytes = KEY_BYTES): Buffer {
  return Buffer.from(hkdfSync('sha256', indexKey, SALT, info, bytes))
}

/** The share file's name segment for `folder`: the same on every device of the sharer, meaningless to others. */
export function shareTag (indexKey: Uint8Array, folder: string): string {
  return derive(indexKey, `tag/${folder}`, TAG_HEX_BYTES).toString('hex')
}

export function sharePath (tag: string): string {
  return `${SHARES_FOLDER}/${tag}`
}

export interface ListedFile { cid: string, size: number, mtime: number, key: Uint8Array }
export interface Listing { folder: string, generation: number, files: Map<string, ListedFile> }
export interface OwnNote { folder: string, generation: number, recipients: string[], digest: string }
export interface Grant { site: string, sharer: string, recipient: string, folder: string, generation: number, tag: string, key: Uint8Array }
export interface ShareFile { listing: Uint8Array, boxes: Uint8Array[], own: Uint8Array }

const b64 = z.string().max(MAX_SHARE_FILE_BYTES * 2).regex(/^[A-Za-z0-9+/]*={0,2}$/)
const count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER)
const SHARE_FILE = z.object({ v: z.literal(1), listing: b64, boxes: z.array(b64).max(MAX_RECIPIENTS), own: b64 }).strict()
const LISTING = z.object({
  v: z.literal(1),
  folder: z.string().min(1).max(255),
  generation: count,
  files: z.record(z.string().min(1).max(1024), z.object({ cid: z.string().min(1).max(200), size: count, mtime: count, key: b64 }).strict())
}).strict()
const GRANT = z.object({
  v: z.literal(1),
  site: z.string().max(255),
  sharer: z.string().max(100),
  recipient: z.string().max(100),
  folder: z.string().min(1).max(255),
  generation: count,
  tag: z.string().regex(/^[0-9a-f]{32}$/),
  key: b64,
  sig: b64
}).strict()
const OWN = z.object({ folder: z.string(), generation: count, recipients: z.array(z.string()).max(MAX_RECIPIENTS), digest: z.string() }).strict()

function tampered (what: string): WeftError {
  return new WeftError('ERR_PRIVATE_TAMPERED', `${what} does not open: it was altered, or sealed under another key`)
}

function listingAad (site: string, sharer: string, tag: string, generation: number): Buffer {
  return Buffer.from(`${LISTING_CONTEXT}\0${site}\0${sharer}\0${tag}\0${generation}`)
}

/** SHA-256 of a folder's files as a listing holds them: equal digests, nothing to re-publish. */
export function listingDigest (files: Map<string, ListedFile>): string {
  const plain = Object.fromEntries([...files].map(([p, f]) => [p, { cid: f.cid, size: f.size, mtime: f.mtime, key: Buffer.from(f.key).toString('base64') }]))
  return createHash('sha256').update(canonicalJson(plain)).digest('hex')
}

export function sealListing (folderKey: Uint8Array, at: { site: string, sharer: string, tag: string }, listing: Listing): Buffer {
  const files = Object.fromEntries([...listing.files].map(([p, f]) => [p, { cid: f.cid, size: f.size, mtime: f.mtime, key: Buffer.from(f.key).toString('base64') }]))
  const json = Buffer.from(canonicalJson({ v: 1, folder: listing.folder, generation: listing.generation, files }))
  const padded = Buffer.alloc(paddedSize(json.byteLength), 0x20)
  json.copy(padded)
  const nonce = randomBytes(NONCE_BYTES)
  return Buffer.concat([nonce, xchachaSeal(folderKey, nonce, padded, listingAad(at.site, at.sharer, at.tag, listing.generation))])
}

/** Opens a listing under the key a grant gave; ERR_PRIVATE_TAMPERED when it does not open or is not a listing of that folder and generation. */
export function openListing (grant: Grant, sealed: Uint8Array): Listing {
  const what = `the listing of ${grant.sharer}'s shared folder "${grant.folder.slice(0, 100)}"`
  if (sealed.byteLength < NONCE_BYTES + TAG_BYTES) throw tampered(what)
  const text = xchachaOpen(grant.key, sealed.subarray(0, NONCE_BYTES), sealed.subarray(NONCE_BYTES), listingAad(grant.site, grant.sharer, grant.tag, grant.generation), what).toString('utf8')
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    throw new WeftError('ERR_PRIVATE_TAMPERED', `${what} opens but is not JSON`)
  }
  const files = (parsed as { files?: unknown } | null)?.files
  if (files !== null && typeof files === 'object' && Object.hasOwn(files, '__proto__')) throw new WeftError('ERR_PRIVATE_TAMPERED', `${what} names a path "__proto__"`)
  const result = LISTING.safeParse(parsed)
  if (!result.success) throw new WeftError('ERR_PRIVATE_TAMPERED', `${what} opens but is not valid: ${result.error.issues[0].message.slice(0, 200)}`)
  if (result.data.folder !== grant.folder || result.data.generation !== grant.generation) throw new WeftError('ERR_PRIVATE_TAMPERED', `${what} names another folder or generation than its grant`)
  if (Object.keys(result.data.files).length > MAX_LISTING_FILES) throw new WeftError('ERR_PRIVATE_TAMPERED', `${what} holds more than ${MAX_LISTING_FILES} files`)
  const out = new Map<string, ListedFile>()
  for (const [path, f] of Object.entries(result.data.files)) {
    const key = Buffer.from(f.key, 'base64')
    if (key.byteLength !== KEY_BYTES) throw new WeftError('ERR_PRIVATE_TAMPERED', `${what} holds a file key that is not ${KEY_BYTES} bytes`)
    out.set(path, { cid: f.cid, size: f.size, mtime: f.mtime, key })
  }
  return { folder: result.data.folder, generation: result.data.generation, files: out }
}

export function sealOwn (indexKey: Uint8Array, note: OwnNote): Buffer {
  return sealWithNonce(derive(indexKey, 'own'), Buffer.from(canonicalJson(note)))
}

/** The sharer's own note in the share file at `path`, or undefined when it does not open here (another user's file, or a replaced master key) or names another folder. */
export function openOwn (indexKey: Uint8Array, path: string, sealed: Uint8Array): OwnNote | undefined {
  try {
    const result = OWN.safeParse(JSON.parse(openWithNonce(derive(indexKey, 'own'), sealed, 'the share note').toString('utf8')))
    return result.success && sharePath(shareTag(indexKey, result.data.folder)) === path ? result.data : undefined
  } catch {
    return undefined
  }
}

function grantBytes (grant: Grant, ephemeral: Uint8Array): Buffer {
  const { key, ...rest } = grant
  return Buffer.concat([SIGNATURE_CONTEXT, ephemeral, Buffer.from(canonicalJson({ v: 1, ...rest, key: Buffer.from(key).toString('base64') }))])
}

/** Seals a grant to its recipient (their user id), signed by `sharerKey` (the sharer's user key on the site). */
export async function sealGrant (grant: Grant, sharerKey: PrivateKey): Promise<Buffer> {
  const recipientX = ed25519.utils.toMontgomery(userKeyOf(grant.recipient))
  const pair = generateKeyPairSync('x25519')
  const ephemeral = pair.publicKey.export({ format: 'der', type: 'spki' }).subarray(SPKI_X25519_PREFIX.byteLength)
  const k = Buffer.from(hkdfSync('sha256', agree(pair.privateKey, recipientX), SALT, Buffer.concat([ephemeral, recipientX]), KEY_BYTES))
  const sig = await sharerKey.sign(grantBytes(grant, ephemeral))
  const plain = Buffer.from(canonicalJson({ v: 1, ...grant, key: Buffer.from(grant.key).toString('base64'), sig: Buffer.from(sig).toString('base64') }))
  const nonce = randomBytes(NONCE_BYTES)
  const header = Buffer.concat([Uint8Array.of(BOX_VERSION), ephemeral, nonce])
  return Buffer.concat([header, xchachaSeal(k, nonce, plain, header)])
}

/**
 * Trial-opens a box with the recipient's X25519 secret: the grant inside when it is sealed
 * to this key and its signature holds, undefined when it is sealed to someone else (the
 * usual case), 'bad-signature' when it opens but its sharer did not sign it.
 */
export async function openGrant (box: Uint8Array, secret: KeyObject, publicX: Uint8Array): Promise<Grant | 'bad-signature' | undefined> {
  if (box.byteLength < HEADER_BYTES + TAG_BYTES || box[0] !== BOX_VERSION) return undefined
  const header = box.subarray(0, HEADER_BYTES)
  const ephemeral = box.subarray(1, 1 + KEY_BYTES)
  let parsed: unknown
  try {
    const k = Buffer.from(hkdfSync('sha256', agree(secret, ephemeral), SALT, Buffer.concat([ephemeral, publicX]), KEY_BYTES))
    parsed = JSON.parse(xchachaOpen(k, box.subarray(1 + KEY_BYTES, HEADER_BYTES), box.subarray(HEADER_BYTES), header, 'the share').toString('utf8'))
  } catch {
    // a low-order ephemeral key, sealed to someone else, or altered
    return undefined
  }
  const result = GRANT.safeParse(parsed)
  if (!result.success || !isUserId(result.data.sharer) || !isUserId(result.data.recipient)) return 'bad-signature'
  const { sig, v: _v, ...fields } = result.data
  const grant: Grant = { ...fields, key: Buffer.from(fields.key, 'base64') }
  if (grant.key.byteLength !== KEY_BYTES) return 'bad-signature'
  let ok = false
  try {
    ok = await publicKeyFromRaw(userKeyOf(grant.sharer)).verify(grantBytes(grant, ephemeral), Buffer.from(sig, 'base64'))
  } catch {
    ok = false
  }
  return ok ? grant : 'bad-signature'
}

export function encodeShareFile (file: ShareFile): Uint8Array {
  const boxes = file.boxes.map(b => Buffer.from(b).toString('base64'))
  // random order: the position of a box says nothing of when its recipient was added
  for (let i = boxes.length - 1; i > 0; i--) {
    const j = randomBytes(4).readUInt32BE(0) % (i + 1);
    [boxes[i], boxes[j]] = [boxes[j], boxes[i]]
  }
  return Buffer.from(JSON.stringify({ v: 1, listing: Buffer.from(file.listing).toString('base64'), boxes, own: Buffer.from(file.own).toString('base64') }))
}

/** A share file's parts, or undefined when the bytes are not one (counted as refused by the caller). */
export function decodeShareFile (bytes: Uint8Array): ShareFile | undefined {
  if (bytes.byteLength > MAX_SHARE_FILE_BYTES) return undefined
  try {
    const result = SHARE_FILE.safeParse(JSON.parse(Buffer.from(bytes).toString('utf8')))
    if (!result.success) return undefined
    return { listing: Buffer.from(result.data.listing, 'base64'), boxes: result.data.boxes.map(b => Buffer.from(b, 'base64')), own: Buffer.from(result.data.own, 'base64') }
  } catch {
    return undefined
  }
}

