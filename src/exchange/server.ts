import { lpStream } from '@libp2p/utils'
import type { Connection, Stream } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'
import { Uint8ArrayList } from 'uint8arraylist'
import { blockKey } from '../blocks/index.ts'
import type { PeerScores } from './peer-score.ts'
import type { InFlight } from './swarm.ts'
import {
  BLOCK, CANCEL, DONT_HAVE, MAX_OUTSTANDING_WANTS, MAX_REQUEST_FRAME_BYTES, ProtocolViolation, WANT, WANT_BURST, WANT_RATE,
  decodeMessage, encodeBlockMessage, encodeCidMessage
} from './wire.ts'

/** Blocks read from the store together and sent in one write. */
const READ_AHEAD = 8

/**
 * A parked want (a block this node is fetching itself) is answered DONT_HAVE once this
 * stream has sent nothing for this long (ms): the requester must never hear silence as
 * long as its request timeout (2 s in tests, 5 s by default) and charge us for a stall.
 */
const PARK_SILENCE = 1_000
/** ms a want may stay parked at all, however busy the stream. */
const PARK_MAX = 10_000
/** ms between checks of the parked wants' deadlines. */
const PARK_TICK = 100

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
export async function serveStream (stream: Stream, connection: Connection, store: ServerStore, scores: PeerScores, stats: ServerStats, inFlight?: InFlight): Promise<void> {
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
  // Wants for blocks this node is fetching too, answered when they arrive (swarm.ts).
  const parked = new Map<string, { cid: CID, since: number, stop: () => void }>()
  /** Parked wants given up on: answered DONT_HAVE, not parked again. */
  const released = new Set<string>()
  let lastSent = Date.now()
  let ticker: NodeJS.Timeout | undefined
  const stopTicker = (): void => {
    clearInterval(ticker)
    ticker = undefined
  }
  const unpark = (key: string, arrived: boolean): void => {
    const entry = parked.get(key)
    if (entry === undefined) return
    parked.delete(key)
    entry.stop()
    if (!arrived) released.add(key)
    queue.set(key, entry.cid)
    if (parked.size === 0) stopTicker()
    wake?.()
  }
  const checkParked = (): void => {
    const now = Date.now()
    for (const [key, entry] of parked) {
      if (now - Math.max(lastSent, entry.since) >= PARK_SILENCE || now - entry.since >= PARK_MAX) unpark(key, false)
    }
  }
  /** Whether to hold a want for a block this node lacks until its own fetch brings it. */
  const park = (key: string, cid: CID): boolean => {
    if (inFlight === undefined || released.delete(key) || !inFlight.isWanted(key)) return false
    // The peer our own fetch of it waits on must not wait on us in turn.
    if (inFlight.waitingOn(key, peer)) return false
    const stop = inFlight.wait(key, arrived => { unpark(key, arrived) })
    parked.set(key, { cid, since: Date.now(), stop })
    ticker ??= setInterval(checkParked, PARK_TICK).unref()
    return true
  }
  const unparkAll = (): void => {
    for (const entry of parked.values()) entry.stop()
    parked.clear()
    stopTicker()
  }

  const worker = (async () => {
    while (true) {
      if (queue.size === 0) {
        if (ended && parked.size === 0) return
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
      const answers = await Promise.all(batch.map(async ([key, cid]) => {
        if (!store.has(cid)) return park(key, cid) ? undefined : encodeCidMessage(DONT_HAVE, cid)
        released.delete(key)
        try {
          const data = await store.get(cid)
          stats.blocksSent++
          stats.bytesSent += data.byteLength
          return new Uint8ArrayList(...encodeBlockMessage(cid, data))
        } catch {
          return encodeCidMessage(DONT_HAVE, cid)
        }
      }))
      const frames = answers.filter(f => f !== undefined)
      if (frames.length === 0) continue
      await lp.writeV(frames)
      lastSent = Date.now()
    }
  })()
  // A write to a stream the peer reset fails here while the read below still waits: the
  // read ends on the same reset, and the failure is awaited there. Until then it must not
  // be an unhandled rejection (the daemon logs one as a stray; node:test fails the running test on it).
  worker.catch(() => {})

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
        if (queue.size + parked.size >= MAX_OUTSTANDING_WANTS) throw new ProtocolViolation(`more than ${MAX_OUTSTANDING_WANTS} open wants`, 'flood')
        queue.set(blockKey(msg.cid), msg.cid)
        wake?.()
      } else if (msg.type === CANCEL) {
        const key = blockKey(msg.cid)
        queue.delete(key)
        parked.get(key)?.stop()
        if (parked.delete(key) && parked.size === 0) stopTicker()
      } else {
        throw new ProtocolViolation(`a requester sent message type ${msg.type === BLOCK ? 'BLOCK' : 'DONT_HAVE'}`)
      }
    }
    ended = true
    wake?.()
    await worker
    await stream.close()
    unparkAll()
  } catch (err) {
    if (err instanceof ProtocolViolation) scores.penalise(peer, err.offence, err.message)
    ended = true
    queue.clear()
    unparkAll()
    wake?.()
    stream.abort(err as Error)
    await worker.catch(() => {})
  }
}
