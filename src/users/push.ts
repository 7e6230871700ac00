/**
 * What goes on a site's users topic: a user record, and with it the contribution's blocks
 * when they are small (a forum post's folder is two or three blocks, a few KiB). Readers
 * then hold the folder the moment the push arrives, instead of asking the network for it:
 * the author may be several hops away and the forwarders do not hold the folder until they
 * have checked it themselves, which made every reader wait seconds (bench users).
 *
 *   "WUP" 0x01 | u32 record length | record | ( u16 cid length | cid | u32 block length | block )*
 *
 * Big-endian. A bare record (no magic) is read as a push without blocks. Each block is
 * checked against its CID before anything stores it (the walk reads them through
 * verifyBlock); blocks the folder does not reach are never stored.
 */
import { CID } from 'multiformats/cid'
import { MAX_RECORD_BYTES } from '../sites/index.ts'

const MAGIC = Uint8Array.of(0x57, 0x55, 0x50, 0x01)
/** The most block bytes a push carries: a post's folder with room to spare; bigger folders are fetched as before. */
export const INLINE_BYTES = 64 * 1024
/** Blocks one push carries at most (each costs a map entry at every reader). */
export const INLINE_BLOCKS = 64
/** A CID of any hash weft takes is under 100 bytes. */
const MAX_CID_BYTES = 128
/** The largest push a reader decodes: a record, the inline bytes, and each block's framing. */
export const MAX_PUSH_BYTES = MAGIC.byteLength + 4 + MAX_RECORD_BYTES + INLINE_BYTES + INLINE_BLOCKS * (2 + MAX_CID_BYTES + 4)

export interface Push {
  record: Uint8Array
  /** CID text → bytes, not yet verified. */
  blocks: Map<string, Uint8Array>
}

export class PushMalformed extends Error {}

/** The push for `record`, carrying `blocks` (in order) while they fit in INLINE_BYTES and INLINE_BLOCKS. */
export function encodePush (record: Uint8Array, blocks: Array<{ cid: CID, bytes: Uint8Array }>): Uint8Array {
  const parts: Uint8Array[] = [MAGIC, u32(record.byteLength), record]
  let bytes = 0
  let count = 0
  for (const block of blocks) {
    if (count === INLINE_BLOCKS || bytes + block.bytes.byteLength > INLINE_BYTES) break
    const cid = block.cid.bytes
    parts.push(u16(cid.byteLength), cid, u32(block.bytes.byteLength), block.bytes)
    bytes += block.bytes.byteLength
    count++
  }
  return Buffer.concat(parts)
}

/** Reads a push (or a bare record); PushMalformed for anything a correct sender does not make. */
export function decodePush (data: Uint8Array): Push {
  if (data.byteLength > MAX_PUSH_BYTES) throw new PushMalformed(`the push is ${data.byteLength} bytes; the limit is ${MAX_PUSH_BYTES}`)
  if (data.byteLength < MAGIC.byteLength || !MAGIC.every((b, i) => data[i] === b)) return { record: data, blocks: new Map() }
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength)
  let at = MAGIC.byteLength
  const take = (n: number, what: string): Uint8Array => {
    if (at + n > data.byteLength) throw new PushMalformed(`the push ends inside ${what}`)
    const out = data.subarray(at, at + n)
    at += n
    return out
  }
  const length = (size: 2 | 4, what: string): number => {
    if (at + size > data.byteLength) throw new PushMalformed(`the push ends inside ${what}'s length`)
    const n = size === 2 ? view.getUint16(at) : view.getUint32(at)
    at += size
    return n
  }
  const recordLength = length(4, 'the record')
  if (recordLength > MAX_RECORD_BYTES) throw new PushMalformed(`the record is ${recordLength} bytes; the limit is ${MAX_RECORD_BYTES}`)
  const record = take(recordLength, 'the record')
  const blocks = new Map<string, Uint8Array>()
  let bytes = 0
  while (at < data.byteLength) {
    if (blocks.size === INLINE_BLOCKS) throw new PushMalformed(`the push carries more than ${INLINE_BLOCKS} blocks`)
    const cidLength = length(2, 'a CID')
    if (cidLength > MAX_CID_BYTES) throw new PushMalformed(`a CID of ${cidLength} bytes`)
    let cid: CID
    try {
      cid = CID.decode(take(cidLength, 'a CID'))
    } catch (err) {
      if (err instanceof PushMalformed) throw err
      throw new PushMalformed(`a block's CID does not parse: ${(err as Error).message}`)
    }
    const block = take(length(4, 'a block'), 'a block')
    bytes += block.byteLength
    if (bytes > INLINE_BYTES) throw new PushMalformed(`the push carries more than ${INLINE_BYTES} bytes of blocks`)
    blocks.set(cid.toString(), block)
  }
  return { record, blocks }
}

function u16 (n: number): Uint8Array {
  const out = Buffer.alloc(2)
  out.writeUInt16BE(n)
  return out
}

function u32 (n: number): Uint8Array {
  const out = Buffer.alloc(4)
  out.writeUInt32BE(n)
  return out
}
