import { lpStream } from '@libp2p/utils'
import type { Connection, Stream } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'
import { Uint8ArrayList } from 'uint8arraylist'
import { blockKey } from '../blocks/index.ts'
import type { PeerScores } from './peer-score.ts'
import {
  BLOCK, CANCEL, DONT_HAVE, MAX_OUTSTANDING_WANTS, MAX_REQUEST_FRAME_BYTES, ProtocolViolation, WANT, WANT_BURST, WANT_RATE,
  decodeMessage, encodeBlockMessage, encodeCidMessage
} from './wire.ts'

/** Blocks read from the store together and sent in one write. */
const READ_AHEAD = 8

/** Read errors that only bad bytes from the peer cause: a length prefix past the limit, or a broken one. */
const BAD_FRAME = new Set(['InvalidDataLengthError', 'InvalidDataLengthLengthError'])

export interface ServerStore {
  has(cid: CID): boolean
  get(cid: CID): Promise<Uint8Array>
}

export interface ServerStats {
  blocksSent: number
  bytesSent: number
}

/**
 * Answers one requester's stream: wants are read as they come and served in order by a
 * single worker, so one peer holds at most MAX_OUTSTANDING_WANTS CIDs and READ_AHEAD
 * blocks in memory here, and a slow reader slows only its own stream (send waits for drain).
 */
export async function serveStream (stream: Stream, connection: Connection, store: ServerStore, scores: PeerScores, stats: ServerStats): Promise<void> {
  const peer = connection.remotePeer.toString()
  if (scores.isBanned(peer)) {
    stream.abort(new Error('banned'))
    return
  }
  const lp = lpStream(stream, { maxDataLength: MAX_REQUEST_FRAME_BYTES })
  const queue = new Map<string, CID>()
  // A token bucket: an honest requester keeps a small window open; a flood runs it dry.
  let tokens = WANT_BURST
  let refilled = Date.now()
  let wake: (() => void) | undefined
  let ended = false

  const worker = (async () => {
    while (true) {
      if (queue.size === 0) {
        if (ended) return
        await new Promise<void>(resolve => { wake = resolve })
        wake = undefined
        continue
      }
      // Up to READ_AHEAD blocks are read from the store at once and sent in one write.
      const batch: Array<[string, CID]> = []
      for (const entry of queue) {
        batch.push(entry)
        if (batch.length === READ_AHEAD) break
      }
      for (const [key] of batch) queue.delete(key)
      const frames = await Promise.all(batch.map(async ([, cid]) => {
        if (!store.has(cid)) return encodeCidMessage(DONT_HAVE, cid)
        try {
          const data = await store.get(cid)
          stats.blocksSent++
          stats.bytesSent += data.byteLength
          return new Uint8ArrayList(...encodeBlockMessage(cid, data))
        } catch {
          return encodeCidMessage(DONT_HAVE, cid)
        }
      }))
      await lp.writeV(frames)
    }
  })()

  try {
    while (true) {
      let frame: Uint8ArrayList
      try {
        frame = await lp.read()
      } catch (err) {
        const name = (err as Error).name
        // More unread bytes than a stream may buffer: wants sent far faster than served.
        if (name === 'StreamBufferError') throw new ProtocolViolation((err as Error).message, 'flood')
        if (BAD_FRAME.has(name)) throw new ProtocolViolation((err as Error).message)
        // The requester closed its side: answer what it asked for, then close ours.
        if (name === 'UnexpectedEOFError') break
        // Anything else (a reset, aborted or timed-out stream or connection, which a busy
        // honest peer causes too) drops the stream without blame.
        throw err
      }
      const msg = decodeMessage(frame.subarray())
      if (msg.type === WANT) {
        const now = Date.now()
        tokens = Math.min(WANT_BURST, tokens + (now - refilled) * WANT_RATE / 1000)
        refilled = now
        if (tokens < 1) throw new ProtocolViolation(`more than ${WANT_RATE} wants a second`, 'flood')
        tokens--
        if (queue.size >= MAX_OUTSTANDING_WANTS) throw new ProtocolViolation(`more than ${MAX_OUTSTANDING_WANTS} open wants`, 'flood')
        queue.set(blockKey(msg.cid), msg.cid)
        wake?.()
      } else if (msg.type === CANCEL) {
        queue.delete(blockKey(msg.cid))
      } else {
        throw new ProtocolViolation(`a requester sent message type ${msg.type === BLOCK ? 'BLOCK' : 'DONT_HAVE'}`)
      }
    }
    ended = true
    wake?.()
    await worker
    await stream.close()
  } catch (err) {
    if (err instanceof ProtocolViolation) scores.penalise(peer, err.offence, err.message)
    ended = true
    queue.clear()
    wake?.()
    stream.abort(err as Error)
    await worker.catch(() => {})
  }
}
