/**
 * Catching up, `/weft/users/1.0.0`: pushes reach only the followers online when they are
 * sent, so a follower that was offline (or new) asks a peer on the site's users topic for
 * every user record it holds for the site, and puts each through its own gate.
 *
 * Frames are an unsigned varint length and that many bytes. The requester sends one
 * frame, the site's name (`k51…`); the responder answers with one frame per user record
 * of a contribution it accepted (each at most MAX_RECORD_BYTES, newest first, at most
 * MAX_CATCH_UP_RECORDS), then closes.
 * A responder that breaks the framing or sends a record that fails the gate is penalised
 * by the requester, record by record.
 */
import { lpStream } from '@libp2p/utils'
import type { PeerId, Stream } from '@libp2p/interface'
import { anySignal } from 'any-signal'
import { WeftError } from '../errors.ts'
import { MAX_RECORD_BYTES } from '../sites/index.ts'

export const CATCH_UP_PROTOCOL = '/weft/users/1.0.0'
/** A site with the 10,000 contributions fits twice over; past this a follower relies on pushes and the DHT. */
export const MAX_CATCH_UP_RECORDS = 20_000
/** A site name is 62 characters; anything much longer is not one. */
const MAX_REQUEST_BYTES = 128

/** Records read from the store and written per step: a page, not the whole site, is in memory at once. */
const PAGE = 256

export async function serveCatchUp (stream: Stream, records: (site: string, offset: number, limit: number) => Uint8Array[]): Promise<void> {
  const lp = lpStream(stream, { maxDataLength: MAX_REQUEST_BYTES })
  try {
    const site = new TextDecoder().decode((await lp.read()).subarray())
    for (let offset = 0; offset < MAX_CATCH_UP_RECORDS; offset += PAGE) {
      const page = records(site, offset, PAGE)
      if (page.length > 0) await lp.writeV(page)
      if (page.length < PAGE) break
    }
    await stream.close()
  } catch (err) {
    stream.abort(err as Error)
  }
}

/**
 * Asks one peer for a site's user records; `onRecord` gets each as it arrives (and may throw
 * to stop). `idleMs` bounds the silence before the first record and between two, not the
 * whole answer: 10,000 records take longer than one fetch may.
 */
export async function requestCatchUp (open: (peer: PeerId, signal: AbortSignal) => Promise<Stream>, peer: PeerId, site: string, onRecord: (bytes: Uint8Array) => Promise<void>, signal: AbortSignal, idleMs: number): Promise<number> {
  const idle = new AbortController()
  const timer = setTimeout(() => { idle.abort(new WeftError('ERR_FETCH_TIMEOUT', `${peer} sent nothing for ${idleMs} ms`)) }, idleMs)
  const both = anySignal([signal, idle.signal])
  try {
    const stream = await open(peer, both)
    const lp = lpStream(stream, { maxDataLength: MAX_RECORD_BYTES })
    let count = 0
    try {
      await lp.write(new TextEncoder().encode(site), { signal: both })
      while (count < MAX_CATCH_UP_RECORDS) {
        let frame
        try {
          frame = await lp.read({ signal: both })
        } catch (err) {
          if ((err as Error).name === 'UnexpectedEOFError') break
          throw err
        }
        timer.refresh()
        count++
        await onRecord(frame.subarray())
      }
      await stream.close().catch(() => {})
    } catch (err) {
      stream.abort(err as Error)
      throw err
    }
    return count
  } finally {
    clearTimeout(timer)
    both.clear()
  }
}

/** A peer that answered a whole catch-up is not asked again on a new connection for this long (the schedule's rounds still ask it). */
const CATCH_UP_AGAIN_MS = 5 * 60_000

/** Which peers to ask: when each (site, peer) last answered a whole catch-up, since connections come and go and asking again at each re-reads every record. */
export class CatchUpPeers {
  private readonly answeredAt = new Map<string, number>()

  /** Up to `count` of `subscribers`, those asked longest ago first; with `again` false, none that answered within CATCH_UP_AGAIN_MS. */
  choose (site: string, subscribers: PeerId[], count: number, again: boolean): PeerId[] {
    const now = Date.now()
    const last = (peer: PeerId): number => this.answeredAt.get(`${site} ${peer.toString()}`) ?? 0
    return subscribers
      .filter(peer => again || now - last(peer) > CATCH_UP_AGAIN_MS)
      .sort((a, b) => last(a) - last(b))
      .slice(0, count)
  }

  answered (site: string, peer: PeerId): void {
    this.answeredAt.set(`${site} ${peer.toString()}`, Date.now())
  }
}
