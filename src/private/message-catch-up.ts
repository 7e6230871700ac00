/**
 * Catching up on messages, `/weft/messages/1.0.0`: pushes reach only the nodes online when a
 * message is sent, so a node that was offline asks a peer on the site's messages topic for
 * the envelopes it carries (as src/users/catch-up.ts does for user records).
 *
 * Frames are an unsigned varint length and that many bytes. The requester sends one frame:
 * `since` (8 bytes, u64 big-endian, ms by the responder's clock; 0 for everything) and then
 * the site's name (`k51…`). The responder answers one frame with its own clock now
 * (8 bytes, u64 big-endian: the requester's `since` next time), then one frame per envelope
 * it received after `since` (each at most MAX_ENVELOPE_BYTES, newest first, at most
 * MAX_CATCH_UP_ENVELOPES and MAX_CATCH_UP_BYTES of envelopes), then closes. Asking again
 * from that clock reading costs a peer only what arrived since.
 * Every envelope is checked by the requester as a push would be; a responder that breaks
 * the framing, sends what is no envelope or more than those bounds is penalised. A responder
 * answers one peer at most so many asks a minute, and waits a bounded time for the ask.
 */
import { lpStream } from '@libp2p/utils'
import type { PeerId, Stream } from '@libp2p/interface'
import { MAX_ENVELOPE_BYTES } from './messages.ts'

export const MESSAGES_CATCH_UP_PROTOCOL = '/weft/messages/1.0.0'
/** A site's whole per-site cap (message-service.ts) fits; past it the oldest are dropped anyway. */
export const MAX_CATCH_UP_ENVELOPES = 10_000
/** A site's whole per-site byte cap (64 MiB by default) fits; an answer past it is a flood. */
export const MAX_CATCH_UP_BYTES = 64 * 1024 * 1024

/** A responder that broke the protocol's bounds (the requester penalises it). */
export class CatchUpViolation extends Error {}
/** 8 bytes of `since` and a 62-character site name; anything much longer is not a request. */
const MAX_REQUEST_BYTES = 128
/** Envelopes read from the store and written per step: a page, not the whole site, is in memory at once. */
const PAGE = 64

/** Answers one ask; `readTimeout` (ms) bounds the wait for it, so a peer that opens a stream and says nothing does not hold it. */
export async function serveMessagesCatchUp (stream: Stream, envelopes: (site: string, since: number, offset: number, limit: number) => Uint8Array[], readTimeout: number): Promise<void> {
  const lp = lpStream(stream, { maxDataLength: MAX_REQUEST_BYTES })
  try {
    const request = (await lp.read({ signal: AbortSignal.timeout(readTimeout) })).subarray()
    if (request.byteLength < 9) throw new Error('a catch-up request is 8 bytes of time and a site name')
    const since = Number(new DataView(request.buffer, request.byteOffset, 8).getBigUint64(0))
    const site = new TextDecoder().decode(request.subarray(8))
    const now = new Uint8Array(8)
    new DataView(now.buffer).setBigUint64(0, BigInt(Date.now()))
    await lp.write(now)
    let bytes = 0
    for (let offset = 0; offset < MAX_CATCH_UP_ENVELOPES; offset += PAGE) {
      const page = envelopes(site, since, offset, Math.min(PAGE, MAX_CATCH_UP_ENVELOPES - offset))
      const out: Uint8Array[] = []
      let full = false
      for (const envelope of page) {
        // the byte bound is the requester's too: an answer stops short of it, never past it
        if (bytes + envelope.byteLength > MAX_CATCH_UP_BYTES) { full = true; break }
        bytes += envelope.byteLength
        out.push(envelope)
      }
      if (out.length > 0) await lp.writeV(out)
      if (full || page.length < PAGE) break
    }
    await stream.close()
  } catch (err) {
    stream.abort(err as Error)
  }
}

/**
 * Asks one peer for a site's envelopes received after `since` (its clock); `onEnvelope` gets
 * each as it arrives (and may throw to cut the answer off). Returns the peer's clock reading
 * for the next ask and the count. CatchUpViolation when the answer passes the protocol's bounds.
 */
export async function requestMessagesCatchUp (open: (peer: PeerId, signal: AbortSignal) => Promise<Stream>, peer: PeerId, site: string, since: number,
  onEnvelope: (bytes: Uint8Array) => Promise<void>, signal: AbortSignal): Promise<{ clock: number, count: number }> {
  const stream = await open(peer, signal)
  const lp = lpStream(stream, { maxDataLength: MAX_ENVELOPE_BYTES })
  let count = 0
  try {
    const request = new Uint8Array(8)
    new DataView(request.buffer).setBigUint64(0, BigInt(Math.max(0, Math.floor(since))))
    await lp.write(Buffer.concat([request, new TextEncoder().encode(site)]), { signal })
    const clockFrame = (await lp.read({ signal })).subarray()
    if (clockFrame.byteLength !== 8) throw new Error(`the peer's clock frame is ${clockFrame.byteLength} bytes, not 8`)
    const clock = Number(new DataView(clockFrame.buffer, clockFrame.byteOffset, 8).getBigUint64(0))
    let bytes = 0
    while (true) {
      let frame
      try {
        frame = await lp.read({ signal })
      } catch (err) {
        if ((err as Error).name === 'UnexpectedEOFError') break
        throw err
      }
      count++
      bytes += frame.byteLength
      if (count > MAX_CATCH_UP_ENVELOPES || bytes > MAX_CATCH_UP_BYTES) throw new CatchUpViolation(`answered more than ${MAX_CATCH_UP_ENVELOPES} envelopes or ${MAX_CATCH_UP_BYTES} bytes`)
      await onEnvelope(frame.subarray())
    }
    await stream.close().catch(() => {})
    return { clock, count }
  } catch (err) {
    stream.abort(err as Error)
    throw err
  }
}
