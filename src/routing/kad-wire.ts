/**
 * The Kademlia DHT's wire message (libp2p kad-dht spec), for weft's own walks and for
 * tests' hostile peers. kad-dht does not export its codec, so this is the same protobuf
 * written out: each message on a stream is a varint length, then
 *
 *   Message { 1 type: varint (PUT_VALUE 0, GET_VALUE 1, ADD_PROVIDER 2, GET_PROVIDERS 3,
 *             FIND_NODE 4, PING 5); 10 clusterLevel: varint; 2 key: bytes;
 *             3 record: bytes (Record { 1 key, 2 value, 5 timeReceived: string });
 *             8 closer: Peer (repeated); 9 providers: Peer (repeated) }
 *   Peer    { 1 id: bytes (a multihash); 2 addrs: bytes (repeated multiaddrs); 3 connection: varint }
 */
import type { PeerId, Stream } from '@libp2p/interface'
import { peerIdFromMultihash } from '@libp2p/peer-id'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { pbStream } from '@libp2p/utils'
import * as Digest from 'multiformats/hashes/digest'
import * as varint from 'uint8-varint'
import type { Uint8ArrayList } from 'uint8arraylist'

export const MESSAGE_TYPE = { PUT_VALUE: 0, GET_VALUE: 1, ADD_PROVIDER: 2, GET_PROVIDERS: 3, FIND_NODE: 4, PING: 5 } as const

export interface WirePeer { id: PeerId, multiaddrs: Multiaddr[] }
export interface WireRecord { key: Uint8Array, value: Uint8Array, timeReceived?: string }
export interface KadMessage {
  type: number
  key?: Uint8Array
  record?: WireRecord
  closer: WirePeer[]
  providers: WirePeer[]
}

type Field = [number, number | Uint8Array]

function encodeFields (fields: Field[]): Uint8Array {
  const parts: Uint8Array[] = []
  for (const [no, value] of fields) {
    if (typeof value === 'number') {
      parts.push(varint.encode(no << 3), varint.encode(value))
    } else {
      parts.push(varint.encode((no << 3) | 2), varint.encode(value.length), value)
    }
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) { out.set(p, at); at += p.length }
  return out
}

function decodeFields (bytes: Uint8Array): Field[] {
  const fields: Field[] = []
  let at = 0
  while (at < bytes.length) {
    const tag = varint.decode(bytes, at); at += varint.encodingLength(tag)
    const no = tag >>> 3
    const wire = tag & 7
    if (wire === 0) {
      const value = varint.decode(bytes, at); at += varint.encodingLength(value)
      fields.push([no, value])
    } else if (wire === 2) {
      const length = varint.decode(bytes, at); at += varint.encodingLength(length)
      if (at + length > bytes.length) throw new RangeError('truncated field')
      fields.push([no, bytes.subarray(at, at + length)])
      at += length
    } else {
      throw new RangeError(`unexpected wire type ${wire}`)
    }
  }
  return fields
}

const bytesOf = (value: number | Uint8Array): Uint8Array => { if (typeof value === 'number') throw new RangeError('expected bytes'); return value }

function encodePeer (peer: WirePeer): Uint8Array {
  return encodeFields([[1, peer.id.toMultihash().bytes], ...peer.multiaddrs.map(a => [2, a.bytes] as Field)])
}

function decodePeer (bytes: Uint8Array): WirePeer | undefined {
  let id: PeerId | undefined
  const multiaddrs: Multiaddr[] = []
  for (const [no, value] of decodeFields(bytes)) {
    try {
      if (no === 1) id = peerIdFromMultihash(Digest.decode(bytesOf(value)))
      if (no === 2) multiaddrs.push(multiaddr(bytesOf(value)))
    } catch {
      // a peer entry we cannot read is skipped, not the message
    }
  }
  return id === undefined ? undefined : { id, multiaddrs }
}

export const kadMessage = {
  encode (msg: KadMessage): Uint8Array {
    const fields: Field[] = [[1, msg.type]]
    if (msg.key !== undefined) fields.push([2, msg.key])
    if (msg.record !== undefined) {
      const record: Field[] = [[1, msg.record.key], [2, msg.record.value]]
      if (msg.record.timeReceived !== undefined) record.push([5, new TextEncoder().encode(msg.record.timeReceived)])
      fields.push([3, encodeFields(record)])
    }
    for (const p of msg.closer) fields.push([8, encodePeer(p)])
    for (const p of msg.providers) fields.push([9, encodePeer(p)])
    return encodeFields(fields)
  },
  decode (data: Uint8Array | Uint8ArrayList): KadMessage {
    const bytes = data instanceof Uint8Array ? data : data.subarray()
    const msg: KadMessage = { type: -1, closer: [], providers: [] }
    for (const [no, value] of decodeFields(bytes)) {
      if (no === 1 && typeof value === 'number') msg.type = value
      else if (no === 2) msg.key = bytesOf(value)
      else if (no === 3) {
        const record: WireRecord = { key: new Uint8Array(), value: new Uint8Array() }
        for (const [rno, rvalue] of decodeFields(bytesOf(value))) {
          if (rno === 1) record.key = bytesOf(rvalue)
          if (rno === 2) record.value = bytesOf(rvalue)
        }
        msg.record = record
      } else if (no === 8 || no === 9) {
        const peer = decodePeer(bytesOf(value))
        if (peer !== undefined) (no === 8 ? msg.closer : msg.providers).push(peer)
      }
    }
    return msg
  }
}

/** One request and its answer on a fresh stream (kad-dht opens one per query too). */
export async function exchangeMessage (stream: Stream, msg: KadMessage, options: { signal?: AbortSignal } = {}): Promise<KadMessage> {
  const pb = pbStream(stream)
  await pb.write(msg, kadMessage, options)
  const answer = await pb.read(kadMessage, options)
  await stream.close(options).catch(() => { stream.abort(new Error('close failed')) })
  return answer
}

/** A message that has no answer (ADD_PROVIDER): written, then the stream closed. */
export async function sendMessage (stream: Stream, msg: KadMessage, options: { signal?: AbortSignal } = {}): Promise<void> {
  await pbStream(stream).write(msg, kadMessage, options)
  await stream.close(options)
}

/** Serves the protocol on `stream` with `answer` until the remote stops asking (hostile test peers use it). */
export async function serveMessages (stream: Stream, answer: (msg: KadMessage) => Promise<KadMessage | undefined>, options: { signal?: AbortSignal } = {}): Promise<void> {
  const pb = pbStream(stream).pb(kadMessage)
  try {
    while (stream.readStatus === 'readable') {
      const msg = await pb.read(options)
      const reply = await answer(msg)
      if (reply !== undefined) await pb.write(reply, options)
    }
    await stream.close(options)
  } catch {
    stream.abort(new Error('kad stream ended'))
  }
}
