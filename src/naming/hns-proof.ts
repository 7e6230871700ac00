/**
 * Handshake's consensus encodings that the hns resolver checks, ported from hsd 8:
 *
 * - name key: `sha3-256(name)` (hsd `rules.hashName`); the name tree is an urkel trie of
 *   256-bit keys hashed with blake2b-256 (hsd `chaindb.js`: `new Tree({ hash: blake2b, bits: 256 })`).
 * - proof: urkel's own `Proof` (the package hsd uses), verified as hsd's SPV pool does:
 *   `proof.verify(root, key, blake2b, 256)` gives the leaf's value, or none for a proof of absence.
 * - block header (236 bytes, hsd `abstractblock.js`): nonce u32le, time u64le, prevBlock,
 *   treeRoot, extraNonce (24), reservedRoot, witnessRoot, merkleRoot, version u32le, bits u32le,
 *   mask (32). Its hash is the PoW hash below, which must be at most the target in `bits`.
 * - NameState (hsd `namestate.js`): u8 len + name, u16le len + data (the resource), u32le height,
 *   u32le renewal, u16le field flags, then optional owner/value/highest/transfer/revoked/claimed/renewals.
 * - Resource (hsd `dns/resource.js`): u8 version 0, then records, each a u8 type and its body;
 *   decoding stops at an unknown type, as hsd's does.
 */
import { createHash } from 'node:crypto'
import { createRequire } from 'node:module'
import { blake2b } from '@noble/hashes/blake2.js'

/** The hash object urkel's proof code expects (bcrypto's BLAKE2b shape). */
interface UrkelHash {
  size: number
  zero: Buffer
  digest(data: Buffer): Buffer
  multi(a: Buffer, b: Buffer, c?: Buffer): Buffer
  readonly ctx: { init(): unknown, update(data: Buffer): unknown, final(): Buffer }
}

interface UrkelProof {
  value: Buffer | null
  verify(root: Buffer, key: Buffer, hash: UrkelHash, bits: number): [number, Buffer | null]
}

interface UrkelProofClass {
  fromJSON(json: unknown, hash: UrkelHash, bits: number): UrkelProof
  code(value: number): string
}

// urkel is CommonJS without types; this is its public Proof class.
const { Proof } = createRequire(import.meta.url)('urkel') as { Proof: UrkelProofClass }

function blake2b256 (...parts: Uint8Array[]): Buffer {
  const h = blake2b.create({ dkLen: 32 })
  for (const p of parts) h.update(p)
  return Buffer.from(h.digest())
}

const BLAKE2B_256: UrkelHash = {
  size: 32,
  zero: Buffer.alloc(32),
  digest: (data) => blake2b256(data),
  multi: (a, b, c) => c === undefined ? blake2b256(a, b) : blake2b256(a, b, c),
  get ctx () {
    let h = blake2b.create({ dkLen: 32 })
    const ctx = {
      init: () => { h = blake2b.create({ dkLen: 32 }); return ctx },
      update: (data: Buffer) => { h.update(data); return ctx },
      final: () => Buffer.from(h.digest())
    }
    return ctx
  }
}

const TREE_BITS = 256
/** hsd NameState.MAX_SIZE: a leaf larger than this is refused before decoding. */
const NAMESTATE_MAX_SIZE = 668

/** The urkel key of a Handshake name (hsd `rules.hashName`). */
export function hashName (name: string): Buffer {
  return createHash('sha3-256').update(Buffer.from(name, 'ascii')).digest()
}

export type ProofCheck =
  | { ok: true, value: Buffer | null }
  | { ok: false, reason: string }

/** Verifies hsd's JSON urkel proof for `key` against `root`; `value` null is a proof of absence. */
export function verifyNameProof (proofJson: unknown, root: Buffer, key: Buffer): ProofCheck {
  let proof: UrkelProof
  try {
    proof = Proof.fromJSON(proofJson, BLAKE2B_256, TREE_BITS)
  } catch (err) {
    return { ok: false, reason: `the proof is malformed (${(err as Error).message})` }
  }
  if (proof.value !== null && proof.value.length > NAMESTATE_MAX_SIZE) return { ok: false, reason: 'the proven value is larger than a name state can be' }
  let code: number
  let value: Buffer | null
  try {
    [code, value] = proof.verify(root, key, BLAKE2B_256, TREE_BITS)
  } catch (err) {
    return { ok: false, reason: `the proof is malformed (${(err as Error).message})` }
  }
  if (code !== 0) return { ok: false, reason: `the proof does not verify against the tree root (${Proof.code(code)})` }
  return { ok: true, value }
}

/** A block header as hsd's `getblockheader <hash> true` gives it. */
export interface HeaderJson {
  hash: string
  height: number
  confirmations: number
  version: number
  merkleroot: string
  witnessroot: string
  treeroot: string
  reservedroot: string
  mask: string
  time: number
  nonce: number
  extranonce: string
  bits: string
  previousblockhash: string | null
}

function hex (text: unknown, bytes: number, field: string): Buffer {
  if (typeof text !== 'string' || !/^[0-9a-f]*$/i.test(text) || text.length !== bytes * 2) throw new Error(`header field ${field} is not ${bytes} bytes of hex`)
  return Buffer.from(text, 'hex')
}

/**
 * Recomputes the header's hash from its fields (hsd `AbstractBlock.powHash`) and checks the
 * proof of work against the target in `bits` and the network's limit. Returns the reason it
 * fails, or undefined. The tree root the resolver trusts is the one inside this hash.
 */
export function checkHeader (header: HeaderJson, powLimit: bigint): string | undefined {
  let prevBlock: Buffer, treeRoot: Buffer, sub: Buffer, mask: Buffer, claimed: Buffer, bits: number
  try {
    claimed = hex(header.hash, 32, 'hash')
    prevBlock = header.previousblockhash === null ? Buffer.alloc(32) : hex(header.previousblockhash, 32, 'previousblockhash')
    treeRoot = hex(header.treeroot, 32, 'treeroot')
    mask = hex(header.mask, 32, 'mask')
    bits = Number.parseInt(header.bits, 16)
    if (!/^[0-9a-f]{8}$/i.test(header.bits)) throw new Error('header field bits is not 4 bytes of hex')
    if (!Number.isSafeInteger(header.time) || header.time < 0) throw new Error('header field time is not a time')
    sub = Buffer.alloc(128)
    let at = hex(header.extranonce, 24, 'extranonce').copy(sub, 0)
    at += hex(header.reservedroot, 32, 'reservedroot').copy(sub, at)
    at += hex(header.witnessroot, 32, 'witnessroot').copy(sub, at)
    at += hex(header.merkleroot, 32, 'merkleroot').copy(sub, at)
    at = sub.writeUInt32LE(header.version >>> 0, at)
    sub.writeUInt32LE(bits >>> 0, at)
  } catch (err) {
    return (err as Error).message
  }
  const padding = (size: number): Buffer => {
    const pad = Buffer.alloc(size)
    for (let i = 0; i < size; i++) pad[i] = prevBlock[i % 32] ^ treeRoot[i % 32]
    return pad
  }
  const commit = blake2b256(blake2b256(sub), blake2b256(prevBlock, mask))
  const pre = Buffer.alloc(128)
  let at = pre.writeUInt32LE(header.nonce >>> 0, 0)
  at = pre.writeBigUInt64LE(BigInt(header.time), at)
  at += padding(20).copy(pre, at)
  at += prevBlock.copy(pre, at)
  at += treeRoot.copy(pre, at)
  commit.copy(pre, at)
  const left = Buffer.from(blake2b(pre, { dkLen: 64 }))
  const right = createHash('sha3-256').update(pre).update(padding(8)).digest()
  const pow = blake2b256(left, padding(32), right)
  for (let i = 0; i < 32; i++) pow[i] ^= mask[i]
  if (!pow.equals(claimed)) return 'the header does not hash to the block hash it claims'
  const target = fromCompact(bits)
  if (target <= 0n || target > powLimit) return 'the header\'s target is not one this network allows'
  if (BigInt('0x' + pow.toString('hex')) > target) return 'the header\'s proof of work does not meet its target'
  return undefined
}

/** Bitcoin-style compact target (hsd `consensus.fromCompact`); negative targets become -1. */
function fromCompact (compact: number): bigint {
  if (compact === 0) return 0n
  const exponent = compact >>> 24
  if (((compact >>> 23) & 1) === 1) return -1n
  const mantissa = BigInt(compact & 0x7fffff)
  return exponent <= 3 ? mantissa >> BigInt(8 * (3 - exponent)) : mantissa << BigInt(8 * (exponent - 3))
}

export interface NameState {
  name: string
  /** The encoded resource (empty until the name is registered). */
  data: Buffer
  height: number
  renewal: number
  revoked: number
}

/** Decodes the fields of hsd's NameState that resolution needs; throws on truncation. */
export function decodeNameState (raw: Buffer): NameState {
  let at = 0
  const need = (n: number): number => {
    if (at + n > raw.length) throw new Error('the name state is truncated')
    const start = at
    at += n
    return start
  }
  const nameLen = raw[need(1)]
  const name = raw.subarray(need(nameLen), at).toString('latin1')
  const dataLen = raw.readUInt16LE(need(2))
  const data = raw.subarray(need(dataLen), at)
  const height = raw.readUInt32LE(need(4))
  const renewal = raw.readUInt32LE(need(4))
  const field = raw.readUInt16LE(need(2))
  let revoked = 0
  if ((field & 1) !== 0) { need(32); readVarint() }
  if ((field & 2) !== 0) readVarint()
  if ((field & 4) !== 0) readVarint()
  if ((field & 8) !== 0) need(4)
  if ((field & 16) !== 0) revoked = raw.readUInt32LE(need(4))
  return { name, data, height, renewal, revoked }

  // Bitcoin varint: only skipped here, so its value is not needed.
  function readVarint (): void {
    const first = raw[need(1)]
    if (first === 0xfd) need(2)
    else if (first === 0xfe) need(4)
    else if (first === 0xff) need(8)
  }
}

const RECORD_TYPES = { DS: 0, NS: 1, GLUE4: 2, GLUE6: 3, SYNTH4: 4, SYNTH6: 5, TXT: 6 } as const

/** The TXT strings of an hsd resource, each record's strings joined (as DNS TXT is read). */
export function resourceTxt (data: Buffer): string[] {
  if (data.length === 0) return []
  if (data[0] !== 0) throw new Error(`unknown resource version ${data[0]}`)
  const txt: string[] = []
  let at = 1
  const need = (n: number): number => {
    if (at + n > data.length) throw new Error('the resource is truncated')
    const start = at
    at += n
    return start
  }
  // A DNS name in wire form, possibly ending in a compression pointer: skipped.
  const skipName = (): void => {
    for (let labels = 0; labels < 128; labels++) {
      const c = data[need(1)]
      if (c === 0) return
      if ((c & 0xc0) === 0xc0) { need(1); return }
      if ((c & 0xc0) !== 0) throw new Error('invalid name in resource')
      need(c)
    }
    throw new Error('name in resource too long')
  }
  while (at < data.length) {
    const type = data[need(1)]
    switch (type) {
      case RECORD_TYPES.DS: need(4); need(data[need(1)]); break
      case RECORD_TYPES.NS: skipName(); break
      case RECORD_TYPES.GLUE4: skipName(); need(4); break
      case RECORD_TYPES.GLUE6: skipName(); need(16); break
      case RECORD_TYPES.SYNTH4: need(4); break
      case RECORD_TYPES.SYNTH6: need(16); break
      case RECORD_TYPES.TXT: {
        const count = data[need(1)]
        const parts: string[] = []
        for (let i = 0; i < count; i++) {
          const len = data[need(1)]
          parts.push(data.subarray(need(len), at).toString('latin1'))
        }
        txt.push(parts.join(''))
        break
      }
      default: return txt // hsd stops at an unknown record type
    }
  }
  return txt
}
