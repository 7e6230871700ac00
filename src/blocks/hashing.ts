import { createHash } from 'node:crypto'
import type { CID } from 'multiformats/cid'
import { WeftError } from '../errors.ts'

/** Multihash codes weft can check, and node:crypto's name for each. */
const HASHES = new Map<number, string>([
  [0x12, 'sha256'],
  [0x13, 'sha512'],
  [0x16, 'sha3-256'],
  [0x14, 'sha3-512']
])

export const IDENTITY_HASH = 0x00

/** The most bytes one block may have (kubo and Bitswap refuse larger ones too). */
export const MAX_BLOCK_SIZE = 2 * 1024 * 1024

export function isHashSupported (code: number): boolean {
  return code === IDENTITY_HASH || HASHES.has(code)
}

export function assertHashSupported (cid: CID): void {
  const code = cid.multihash.code
  if (!isHashSupported(code)) {
    throw new WeftError('ERR_UNSUPPORTED_HASH', `${cid} uses multihash 0x${code.toString(16)}, which weft cannot verify`)
  }
}

/** Whether `bytes` are what `cid` names. */
export function hashMatches (code: number, digest: Uint8Array, bytes: Uint8Array): boolean {
  if (code === IDENTITY_HASH) return Buffer.from(digest).equals(bytes)
  const algorithm = HASHES.get(code)
  if (algorithm === undefined) return false
  const actual = createHash(algorithm).update(bytes).digest()
  return actual.equals(digest)
}

/** Throws unless `bytes` hash to `cid`. */
export function verifyBlock (cid: CID, bytes: Uint8Array): void {
  assertHashSupported(cid)
  if (bytes.byteLength > MAX_BLOCK_SIZE) {
    throw new WeftError('ERR_BLOCK_TOO_LARGE', `block ${cid} is ${bytes.byteLength} bytes; the limit is ${MAX_BLOCK_SIZE}`)
  }
  if (!hashMatches(cid.multihash.code, cid.multihash.digest, bytes)) {
    throw new WeftError('ERR_BLOCK_HASH_MISMATCH', `block ${cid} does not match its hash`)
  }
}
