/**
 * Asking a peer for a site's record, `/weft/sites/record/1.0.0`: a push reaches only the
 * followers a live stream leads to when it is sent, so a follower that was cut off (its
 * path blocked, its laptop closed) asks a peer of the site that comes back for the newest
 * record it holds, instead of waiting for the next DHT poll. It runs over relayed
 * (limited) connections too: the DHT does not (kad-dht opens no stream on them), and a
 * follower whose only path to the publisher is a relay would otherwise learn nothing
 * until its DHT neighbours have the record.
 *
 * Frames are an unsigned varint length and that many bytes. The requester sends one
 * frame, the site's name (`k51…`); the responder answers with one frame, the record it
 * holds for that site (at most MAX_RECORD_BYTES), or closes without one when it holds
 * none. What comes back goes through the requester's record gate like any push, so a
 * peer that lies pays for it there.
 */
import { lpStream } from '@libp2p/utils'
import type { PeerId, Stream } from '@libp2p/interface'
import { MAX_RECORD_BYTES } from './records.ts'

export const RECORD_ASK_PROTOCOL = '/weft/sites/record/1.0.0'
/** A site name is 62 characters; anything much longer is not one. */
const MAX_REQUEST_BYTES = 128

export async function serveRecordAsk (stream: Stream, record: (name: string) => Uint8Array | undefined): Promise<void> {
  const lp = lpStream(stream, { maxDataLength: MAX_REQUEST_BYTES })
  try {
    const name = new TextDecoder().decode((await lp.read()).subarray())
    const bytes = record(name)
    if (bytes !== undefined) await lp.write(bytes)
    await stream.close()
  } catch (err) {
    stream.abort(err as Error)
  }
}

/** The record `peer` holds for the site `name`, or undefined when it holds none. */
export async function askForRecord (open: (peer: PeerId, signal: AbortSignal) => Promise<Stream>, peer: PeerId, name: string, signal: AbortSignal): Promise<Uint8Array | undefined> {
  const stream = await open(peer, signal)
  const lp = lpStream(stream, { maxDataLength: MAX_RECORD_BYTES })
  try {
    await lp.write(new TextEncoder().encode(name), { signal })
    let bytes: Uint8Array | undefined
    try {
      bytes = (await lp.read({ signal })).subarray()
    } catch (err) {
      if ((err as Error).name !== 'UnexpectedEOFError') throw err
    }
    await stream.close().catch(() => {})
    return bytes
  } catch (err) {
    stream.abort(err as Error)
    throw err
  }
}
