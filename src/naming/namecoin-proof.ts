/**
 * Bitcoin-style proofs as Namecoin Core serves them, checked with double SHA-256.
 *
 * `gettxoutproof` (a merkleblock):
 *   block header   80 bytes: version u32le, prev hash, merkle root, time, bits, nonce
 *   auxpow         only when version & 0x100 (merge-mined): the parent coinbase tx, its block
 *                  hash (32), coinbase branch (varint n, n×32, index u32), chain branch (same),
 *                  the parent's 80-byte header
 *   tx count       u32le, transactions in the block
 *   hashes         varint n, n×32 (internal byte order)
 *   flag bits      varint n, n bytes, least significant bit first
 * A block's hash is the double SHA-256 of its 80-byte header alone, auxpow or not.
 *
 * Transactions (`getrawtransaction` hex): version u32le, [0x00 0x01 when segwit], inputs
 * (varint n; prev hash 32, index u32, script, sequence u32), outputs (varint n; value u64,
 * script), [witnesses], locktime u32. The txid hashes everything but the marker and witnesses.
 * A name output's script starts OP_NAME_FIRSTUPDATE (0x52) <name> <rand> <value> OP_2DROP OP_2DROP
 * or OP_NAME_UPDATE (0x53) <name> <value> OP_2DROP OP_DROP, then the address script.
 */
import { createHash } from 'node:crypto'

export function dsha256 (data: Uint8Array): Buffer {
  return createHash('sha256').update(createHash('sha256').update(data).digest()).digest()
}

/** Hex as RPC prints hashes (reversed) from internal byte order, and back. */
export function hashHex (internal: Uint8Array): string {
  return Buffer.from(internal).reverse().toString('hex')
}

export class ProofError extends Error {}

class Reader {
  pos = 0
  readonly buf: Buffer
  constructor (buf: Buffer) { this.buf = buf }
  take (n: number): Buffer {
    if (n < 0 || this.pos + n > this.buf.length) throw new ProofError(`truncated at byte ${this.pos} (wanted ${n} more)`)
    const out = this.buf.subarray(this.pos, this.pos + n)
    this.pos += n
    return out
  }

  u32 (): number { return this.take(4).readUInt32LE(0) }
  varint (): number {
    const first = this.take(1)[0]
    if (first < 0xfd) return first
    if (first === 0xfd) return this.take(2).readUInt16LE(0)
    if (first === 0xfe) return this.u32()
    const n = this.take(8).readBigUInt64LE(0)
    if (n > BigInt(this.buf.length)) throw new ProofError(`a count of ${n} is longer than the data`)
    return Number(n)
  }

  script (): Buffer { return this.take(this.varint()) }
}

export interface MerkleBlock {
  /** The 80-byte block header. */
  header: Buffer
  /** Header and auxpow as `getblockheader <hash> false` gives them. */
  fullHeader: Buffer
  /** The block's hash, as RPC prints it. */
  blockHash: string
  /** Merkle root from the header, internal byte order. */
  merkleRoot: Buffer
  txCount: number
  hashes: Buffer[]
  flags: Buffer
}

function skipTx (r: Reader): void {
  r.take(4)
  let nIn = r.varint()
  const segwit = nIn === 0
  if (segwit) { if (r.take(1)[0] !== 1) throw new ProofError('bad segwit flag'); nIn = r.varint() }
  for (let i = 0; i < nIn; i++) { r.take(36); r.script(); r.take(4) }
  const nOut = r.varint()
  for (let i = 0; i < nOut; i++) { r.take(8); r.script() }
  if (segwit) for (let i = 0; i < nIn; i++) { const items = r.varint(); for (let j = 0; j < items; j++) r.script() }
  r.take(4)
}

export function parseMerkleBlock (hex: string): MerkleBlock {
  if (!/^([0-9a-f]{2})+$/i.test(hex)) throw new ProofError('the merkleblock is not hex')
  const r = new Reader(Buffer.from(hex, 'hex'))
  const header = r.take(80)
  if ((header.readUInt32LE(0) & 0x100) !== 0) {
    skipTx(r)
    r.take(32)
    for (let b = 0; b < 2; b++) { r.take(32 * r.varint()); r.take(4) }
    r.take(80)
  }
  const fullHeader = r.buf.subarray(0, r.pos)
  const txCount = r.u32()
  const n = r.varint()
  const hashes: Buffer[] = []
  for (let i = 0; i < n; i++) hashes.push(r.take(32))
  const flags = r.take(r.varint())
  if (r.pos !== r.buf.length) throw new ProofError(`${r.buf.length - r.pos} bytes after the merkleblock`)
  return { header, fullHeader, blockHash: hashHex(dsha256(header)), merkleRoot: header.subarray(36, 68), txCount, hashes, flags }
}

/**
 * Bitcoin Core's CPartialMerkleTree::ExtractMatches: the root the proof computes and the txids
 * (RPC order) it marks as matched. Throws on any malformed tree, including CVE-2012-2459's
 * duplicated pair and unused hashes or flag bits.
 */
export function extractMatches (block: MerkleBlock): { root: Buffer, matched: string[] } {
  const { txCount, hashes, flags } = block
  if (txCount === 0) throw new ProofError('a block with no transactions')
  if (txCount > 1_000_000) throw new ProofError(`${txCount} transactions is too many for a block`)
  if (hashes.length > txCount) throw new ProofError('more hashes than transactions')
  if (flags.length * 8 < hashes.length) throw new ProofError('fewer flag bits than hashes')
  let height = 0
  const width = (h: number): number => (txCount + (1 << h) - 1) >> h
  while (width(height) > 1) height++
  let bitsUsed = 0
  let hashesUsed = 0
  const matched: string[] = []
  const walk = (h: number, pos: number): Buffer => {
    if (bitsUsed >= flags.length * 8) throw new ProofError('ran out of flag bits')
    const flag = ((flags[bitsUsed >> 3] >> (bitsUsed & 7)) & 1) === 1
    bitsUsed++
    if (h === 0 || !flag) {
      if (hashesUsed >= hashes.length) throw new ProofError('ran out of hashes')
      const hash = hashes[hashesUsed++]
      if (h === 0 && flag) matched.push(hashHex(hash))
      return hash
    }
    const left = walk(h - 1, pos * 2)
    let right = left
    if (pos * 2 + 1 < width(h - 1)) {
      right = walk(h - 1, pos * 2 + 1)
      if (right.equals(left)) throw new ProofError('a duplicated pair of hashes (CVE-2012-2459)')
    }
    return dsha256(Buffer.concat([left, right]))
  }
  const root = walk(height, 0)
  if (hashesUsed !== hashes.length) throw new ProofError('hashes left unused')
  if (((bitsUsed + 7) >> 3) !== flags.length) throw new ProofError('flag bytes left unused')
  return { root, matched }
}

export interface NameOutput { op: 'name_firstupdate' | 'name_update', name: Buffer, value: Buffer }

function readPush (script: Buffer, at: number): { data: Buffer, next: number } {
  const op = script[at]
  let len: number
  let start: number
  if (op === undefined) throw new ProofError('the name script ends early')
  // OP_PUSHDATA1/2/4 carry a 1-, 2- or 4-byte length, which must itself be in the script
  const lengthBytes = op === 0x4c ? 1 : op === 0x4d ? 2 : op === 0x4e ? 4 : 0
  if (at + 1 + lengthBytes > script.length) throw new ProofError('a push length runs past the script')
  if (op <= 0x4b) { len = op; start = at + 1 } else if (op === 0x4c) { len = script[at + 1]; start = at + 2 } else if (op === 0x4d) { len = script.readUInt16LE(at + 1); start = at + 3 } else if (op === 0x4e) { len = script.readUInt32LE(at + 1); start = at + 5 } else throw new ProofError(`opcode 0x${op.toString(16)} where a push was expected`)
  if (start + len > script.length) throw new ProofError('a push runs past the script')
  return { data: script.subarray(start, start + len), next: start + len }
}

/** The txid (RPC order) of a raw transaction and its outputs' scripts. */
export function parseTx (hex: string): { txid: string, outputs: Buffer[] } {
  if (!/^([0-9a-f]{2})+$/i.test(hex)) throw new ProofError('the transaction is not hex')
  const buf = Buffer.from(hex, 'hex')
  const r = new Reader(buf)
  const version = r.take(4)
  let nIn = r.varint()
  const segwit = nIn === 0
  if (segwit) { if (r.take(1)[0] !== 1) throw new ProofError('bad segwit flag'); nIn = r.varint() }
  const bodyStart = segwit ? 6 : 4
  for (let i = 0; i < nIn; i++) { r.take(36); r.script(); r.take(4) }
  const outputs: Buffer[] = []
  const nOut = r.varint()
  for (let i = 0; i < nOut; i++) { r.take(8); outputs.push(r.script()) }
  const bodyEnd = r.pos
  if (segwit) for (let i = 0; i < nIn; i++) { const items = r.varint(); for (let j = 0; j < items; j++) r.script() }
  const locktime = r.take(4)
  if (r.pos !== buf.length) throw new ProofError('bytes after the transaction')
  const stripped = Buffer.concat([version, buf.subarray(bodyStart, bodyEnd), locktime])
  return { txid: hashHex(dsha256(stripped)), outputs }
}

/** The name operation an output script carries, or undefined when it carries none. */
export function parseNameScript (script: Buffer): NameOutput | undefined {
  const op = script[0]
  if (op === 0x52) {
    const name = readPush(script, 1)
    const rand = readPush(script, name.next)
    const value = readPush(script, rand.next)
    if (script[value.next] !== 0x6d || script[value.next + 1] !== 0x6d) throw new ProofError('name_firstupdate without OP_2DROP OP_2DROP')
    return { op: 'name_firstupdate', name: name.data, value: value.data }
  }
  if (op === 0x53) {
    const name = readPush(script, 1)
    const value = readPush(script, name.next)
    if (script[value.next] !== 0x6d || script[value.next + 1] !== 0x75) throw new ProofError('name_update without OP_2DROP OP_DROP')
    return { op: 'name_update', name: name.data, value: value.data }
  }
  return undefined
}
