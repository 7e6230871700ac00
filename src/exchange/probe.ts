/**
 * One block asked of one peer on the exchange protocol (wire.ts), checked against its CID
 * and not stored: how hardened routing (src/routing/hardened.ts) tells a provider that
 * serves a block from one that only says it does. Unlike a fetch it asks no other peer
 * and believes nothing the store already holds, so a true answer means this peer served it.
 */
import { lpStream } from '@libp2p/utils'
import type { AbortOptions, PeerId, Stream } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'
import { verifyBlock } from '../blocks/index.ts'
import { isWeftError } from '../errors.ts'
import { openStream, type WeftLibp2p } from '../net/index.ts'
import type { PeerScores } from './peer-score.ts'
import { BLOCK, DONT_HAVE, MAX_FRAME_BYTES, PROTOCOL, ProtocolViolation, WANT, decodeMessage, encodeCidMessage } from './wire.ts'

/** The longest a provider may take to serve the block (ms): a fetch's want timeout (session.ts). */
export const PROBE_TIMEOUT = 5_000

export interface ProbeComponents {
  libp2p: Pick<WeftLibp2p, 'dialProtocol' | 'getConnections'>
  /** A peer that sends a block that does not hash right pays for it, as in a fetch. */
  scores: Pick<PeerScores, 'penalise' | 'isBanned'>
}

/** Whether `peer` sends `cid`'s block, hashing right, when asked for it alone. */
export async function servesBlock (components: ProbeComponents, peer: PeerId, cid: CID, options: AbortOptions = {}): Promise<boolean> {
  const id = peer.toString()
  if (components.scores.isBanned(id)) return false
  const signal = AbortSignal.any([AbortSignal.timeout(PROBE_TIMEOUT), ...(options.signal === undefined ? [] : [options.signal])])
  let stream: Stream | undefined
  try {
    // a connection already open first, relayed or not (openStream: a blocked direct address is not dialled again)
    stream = await openStream(components.libp2p, peer, PROTOCOL, { signal })
    const lp = lpStream(stream, { maxDataLength: MAX_FRAME_BYTES })
    await lp.write(encodeCidMessage(WANT, cid), { signal })
    for (;;) {
      const msg = decodeMessage((await lp.read({ signal })).subarray())
      if (!msg.cid.equals(cid)) throw new ProtocolViolation(`sent ${msg.cid} unasked`, 'unsolicited')
      if (msg.type === DONT_HAVE) return false
      if (msg.type !== BLOCK) continue
      verifyBlock(cid, msg.data)
      return true
    }
  } catch (err) {
    if (err instanceof ProtocolViolation) components.scores.penalise(id, err.offence, err.message)
    else if (isWeftError(err, 'ERR_BLOCK_HASH_MISMATCH')) components.scores.penalise(id, 'bad-block', `sent a block that does not match ${cid}`)
    return false
  } finally {
    await stream?.close({ signal: AbortSignal.timeout(1_000) }).catch(() => { stream?.abort(new Error('probe done')) })
  }
}
