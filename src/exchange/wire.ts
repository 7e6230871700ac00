/**
 * The weft exchange protocol, `/weft/exchange/1.0.0`.
 *
 * A requester opens one stream to a peer and keeps it for the session. Both directions
 * carry frames: an unsigned varint length, then that many bytes, whose first byte is the
 * message type:
 *
 *   0x01 WANT       cid                       please send the block `cid`
 *   0x02 CANCEL     cid                       no longer needed (another peer sent it)
 *   0x03 BLOCK      varint(len(cid)) cid data the block; `data` must hash to `cid`
 *   0x04 DONT_HAVE  cid                       the responder does not hold `cid`
 *
 * `cid` is the binary CID (v0 or v1). Requests are pipelined: a requester may have up to
 * MAX_OUTSTANDING_WANTS wants open on one stream, and send at most WANT_RATE wants a
 * second after a burst of WANT_BURST; answers come in any order. A frame
 * may be at most MAX_FRAME_BYTES (a 2 MiB block plus its header); requester frames are
 * at most MAX_REQUEST_FRAME_BYTES. Anything else — a bigger frame, an unknown type, a
 * CID that does not parse, too many open wants, a BLOCK nobody asked for or one that
 * does not match its CID — is a protocol violation that costs the sender score (see
 * peer-score.ts).
 */
import { CID } from 'multiformats/cid'
import * as varint from 'uint8-varint'
import { MAX_BLOCK_SIZE } from '../blocks/index.ts'
import type { Offence } from './peer-score.ts'

export const PROTOCOL = '/weft/exchange/1.0.0'

export const MAX_FRAME_BYTES = MAX_BLOCK_SIZE + 1024
export const MAX_REQUEST_FRAME_BYTES = 256
export const MAX_OUTSTANDING_WANTS = 512
export const WANT_BURST = 1024
export const WANT_RATE = 10_000

export const WANT = 0x01
export const CANCEL = 0x02
export const BLOCK = 0x03
export const DONT_HAVE = 0x04

export type Message =
  | { type: typeof WANT | typeof CANCEL | typeof DONT_HAVE, cid: CID }
  | { type: typeof BLOCK, cid: CID, data: Uint8Array }

export class ProtocolViolation extends Error {
  readonly offence: Offence

  constructor (message: string, offence: Offence = 'malformed') {
    super(message)
    this.name = 'ProtocolViolation'
    this.offence = offence
  }
}

function parseCid (bytes: Uint8Array): CID {
  try {
    return CID.decode(bytes)
  } catch (err) {
    throw new ProtocolViolation(`unparseable CID: ${(err as Error).message}`)
  }
}

export function encodeCidMessage (type: typeof WANT | typeof CANCEL | typeof DONT_HAVE, cid: CID): Uint8Array {
  const out = new Uint8Array(1 + cid.bytes.byteLength)
  out[0] = type
  out.set(cid.bytes, 1)
  return out
}

/** A BLOCK frame as two parts, so the block's bytes are never copied. */
export function encodeBlockMessage (cid: CID, data: Uint8Array): [Uint8Array, Uint8Array] {
  const lenBytes = varint.encodingLength(cid.bytes.byteLength)
  const head = new Uint8Array(1 + lenBytes + cid.bytes.byteLength)
  head[0] = BLOCK
  varint.encode(cid.bytes.byteLength, head, 1)
  head.set(cid.bytes, 1 + lenBytes)
  return [head, data]
}

export function decodeMessage (frame: Uint8Array): Message {
  if (frame.byteLength < 2) throw new ProtocolViolation('empty frame')
  const type = frame[0]
  switch (type) {
    case WANT:
    case CANCEL:
    case DONT_HAVE:
      return { type, cid: parseCid(frame.subarray(1)) }
    case BLOCK: {
      let cidLen: number
      try {
        cidLen = varint.decode(frame, 1)
      } catch {
        throw new ProtocolViolation('bad CID length')
      }
      // checked before encodingLength, which throws a RangeError past 2^53 (a hostile length must cost a penalty, not escape it)
      if (cidLen <= 0 || cidLen >= frame.byteLength) throw new ProtocolViolation('CID length past the frame')
      const lenBytes = varint.encodingLength(cidLen)
      // a longer encoding of the same length (0x81 0x00 for 1) would shift the CID: only the shortest is accepted
      if ((frame[lenBytes] & 0x80) !== 0) throw new ProtocolViolation('CID length is not a minimal varint')
      const start = 1 + lenBytes
      if (start + cidLen > frame.byteLength) throw new ProtocolViolation('CID length past the frame')
      return { type, cid: parseCid(frame.subarray(start, start + cidLen)), data: frame.subarray(start + cidLen) }
    }
    default:
      throw new ProtocolViolation(`unknown message type 0x${type.toString(16)}`)
  }
}
