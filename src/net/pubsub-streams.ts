/**
 * Gossipsub keeps one outbound stream per peer and opens one only when a connection to the
 * peer is identified (@libp2p/gossipsub 17.1.1). When the connection that stream ran on
 * dies while the peer stays connected another way (a censor drops the direct path without
 * a reset, and the peer is back through a relay or an onion service), the stream goes and
 * nothing opens another: every push to that peer is lost until it disconnects entirely.
 * Upstream knows (libp2p/js-libp2p#3531 restores the stream only on a reconnect and leaves
 * this case as a follow-up; ChainSafe/js-libp2p-gossipsub#456).
 *
 * So when a connection closes and its peer still has an open one, gossipsub is told of
 * that one as if it had just been identified: it re-adds the peer if a read error dropped
 * it, and opens an outbound stream there if it has none (sending its subscriptions, so the
 * peer learns what this node follows again). A peer whose stream is fine is left as it is.
 */
import type { Connection, Libp2p, PeerId } from '@libp2p/interface'
import { logger } from '@libp2p/logger'

const log = logger('weft:net:pubsub')

/**
 * ms after a connection closes before gossipsub is told of the peer's other connection:
 * its own reaction to the close (the stream's close event, a read error that drops the
 * peer) runs first, on later ticks of the event loop.
 */
const REPAIR_DELAY = 500

/** The part of gossipsub this uses: its handler for a newly identified connection (private in its types), and its protocols. */
interface PeerConnectedHandler {
  onPeerConnected: (peer: PeerId, connection: Connection) => void
  protocols: string[]
}

/**
 * Watches `libp2p`'s connections for gossipsub's sake, for as long as the node lives (a
 * stopped node has no connections to close, and the timers do not hold the process).
 */
export function keepPubsubStreams (libp2p: Pick<Libp2p, 'addEventListener' | 'getConnections' | 'peerStore'>, pubsub: unknown): void {
  const handler = pubsub as Partial<PeerConnectedHandler>
  if (typeof handler.onPeerConnected !== 'function') return
  const protocols = new Set(handler.protocols ?? [])
  const repair = async (peer: PeerId): Promise<void> => {
    const open = libp2p.getConnections(peer).filter(c => c.status === 'open')
    // a direct connection when there is one: relayed ones have limits
    const next = open.find(c => c.limits == null) ?? open[0]
    if (next === undefined) return
    // only a peer that speaks gossipsub (identify told the peer store): gossipsub would keep any other as a peer with no stream
    const known = await libp2p.peerStore.get(peer).catch(() => undefined)
    if (known?.protocols.some(p => protocols.has(p)) !== true) return
    log('a connection to %p closed; telling gossipsub of %a', peer, next.remoteAddr)
    handler.onPeerConnected?.call(pubsub, peer, next)
  }
  libp2p.addEventListener('connection:close', event => {
    const peer = event.detail.remotePeer
    setTimeout(() => {
      repair(peer).catch(err => { log.error('telling gossipsub of %p failed: %s', peer, (err as Error).message) })
    }, REPAIR_DELAY).unref()
  })
}
