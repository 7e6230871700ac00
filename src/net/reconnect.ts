/**
 * Finding the network again after a restart: the node remembers the peers it talked to
 * (known-peers.ts) and, at start and whenever its last connection closes, redials the
 * most recently seen few, each with exponential back-off and a bounded number of tries.
 *
 * Why not libp2p's own: its connection manager redials peers tagged `keep-alive` at
 * start, but every such peer at once, once each, with no back-off (its retries apply only
 * to a disconnect while running), and its peer store forgets a peer's addresses after an
 * hour and the peer after six, so a node that was off overnight has nobody to redial.
 * kad-dht refills its routing table from the (now persistent) peer store at start, which
 * this complements: the table needs live connections to be of use.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { DatabaseSync } from 'node:sqlite'
import { logger } from '@libp2p/logger'
import type { IdentifyResult, Libp2p, PeerId, Startable } from '@libp2p/interface'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { KnownPeers } from './known-peers.ts'

const log = logger('weft:net:reconnect')

const DAY = 24 * 60 * 60_000

export const RECONNECT_DEFAULTS = {
  // Two weeks: a laptop off for a holiday or a server down for repairs still finds its
  // peers; a peer gone longer than that has most likely changed address or left.
  rememberFor: 14 * DAY,
  // A few hundred rows (about 100 bytes each) keep a node's recent neighbourhood in a
  // network of any size; more would only be older peers never reached at start.
  maxPeers: 256,
  // A peer announces a handful of addresses (IPv4, IPv6, TCP, WebSockets); more is noise.
  maxAddrs: 8,
  // At start, the 16 most recently seen: one live peer is enough to rejoin the DHT, gossipsub
  // wants about 6 for its mesh, and 16 leave room for peers that have gone, without a node
  // that comes back dialling hundreds of strangers at once.
  redialPeers: 16,
  // First wait after a failed dial (ms); doubled each try up to maxRetryDelay. A peer
  // restarting at the same moment is usually back within a second or two.
  retryDelay: 1_000,
  maxRetryDelay: 60_000,
  // 8 tries over about two and a half minutes (1+2+4+8+16+32+60 s of waiting), then the
  // peer waits for the next round (the next start, or losing every connection).
  attempts: 8,
  // One dial to one remembered peer; a peer on a LAN or the internet answers well within it.
  dialTimeout: 10_000
}

export type ReconnectInit = typeof RECONNECT_DEFAULTS

export interface ReconnectComponents {
  /** reconnect needs libp2p to dial, see connections come and go, and read identify's answers. */
  libp2p: Pick<Libp2p, 'peerId' | 'dial' | 'getConnections' | 'addEventListener' | 'removeEventListener'>
  /** The home's db, where the known peers live. */
  db: DatabaseSync
  /** Banned peers are neither redialled nor remembered. */
  isBanned: (peer: string) => boolean
}

export interface RoundReport {
  /** Remembered peers this round tried. */
  tried: number
  /** Of those, connected when the round ended. */
  connected: number
}

export interface Reconnect extends Startable {
  readonly known: KnownPeers
  /** Resolves when the round in progress (if any) has ended; tests wait on it. */
  settled(): Promise<RoundReport | undefined>
  /** Whether a round is going on, and the dials it has made so far. */
  status(): { redialling: boolean, dials: number }
}

export function createReconnect (components: ReconnectComponents, init: Partial<ReconnectInit> = {}): Reconnect {
  return new PeerReconnect(components, { ...RECONNECT_DEFAULTS, ...init })
}

class PeerReconnect implements Reconnect {
  readonly known: KnownPeers
  private readonly components: ReconnectComponents
  private readonly init: ReconnectInit
  private controller = new AbortController()
  private round: Promise<RoundReport> | undefined
  private lastReport: RoundReport | undefined
  private dials = 0
  private started = false
  private readonly onIdentify: (evt: CustomEvent<IdentifyResult>) => void
  private readonly onDisconnect: (evt: CustomEvent<PeerId>) => void

  constructor (components: ReconnectComponents, init: ReconnectInit) {
    this.components = components
    this.init = init
    this.known = new KnownPeers(components.db, { maxAge: init.rememberFor, maxPeers: init.maxPeers, maxAddrs: init.maxAddrs })
    this.onIdentify = evt => {
      const { peerId, listenAddrs, connection } = evt.detail
      // the address we dialled worked; the ones it announces come next
      const addrs = connection.direction === 'outbound' ? [connection.remoteAddr, ...listenAddrs] : listenAddrs
      this.remember(peerId.toString(), addrs.map(a => withoutPeerId(a)))
    }
    this.onDisconnect = evt => {
      this.remember(evt.detail.toString(), [])
      // the last connection gone: look for the network again
      if (this.components.libp2p.getConnections().length === 0) this.startRound()
    }
  }

  async start (): Promise<void> {
    if (this.started) return
    this.started = true
    this.controller = new AbortController()
    this.known.prune()
    this.components.libp2p.addEventListener('peer:identify', this.onIdentify)
    this.components.libp2p.addEventListener('peer:disconnect', this.onDisconnect)
    this.startRound()
  }

  async stop (): Promise<void> {
    if (!this.started) return
    // the peers still connected were seen until now
    for (const c of this.components.libp2p.getConnections()) this.remember(c.remotePeer.toString(), [])
    this.started = false
    this.components.libp2p.removeEventListener('peer:identify', this.onIdentify)
    this.components.libp2p.removeEventListener('peer:disconnect', this.onDisconnect)
    this.controller.abort()
    await this.round?.catch(() => {})
  }

  status (): { redialling: boolean, dials: number } {
    return { redialling: this.round !== undefined, dials: this.dials }
  }

  async settled (): Promise<RoundReport | undefined> {
    return await (this.round ?? this.lastReport)
  }

  private remember (peer: string, addrs: string[]): void {
    if (!this.started) return
    try {
      if (this.components.isBanned(peer)) this.known.forget(peer)
      else this.known.seen(peer, addrs)
    } catch (err) {
      // the db closing under a late event must not take the node down
      log.error('could not remember %s: %s', peer, (err as Error).message)
    }
  }

  private startRound (): void {
    if (!this.started || this.round !== undefined) return
    this.dials = 0
    const round = this.redial(this.controller.signal)
    this.round = round
    round.then(report => {
      this.lastReport = report
      if (this.round === round) this.round = undefined
    }, () => { if (this.round === round) this.round = undefined })
  }

  /** Dials the most recently seen peers that are neither connected nor banned, each until it answers or its tries run out. */
  private async redial (signal: AbortSignal): Promise<RoundReport> {
    const self = this.components.libp2p.peerId.toString()
    const candidates = this.known.recent(this.init.redialPeers + 1)
      .filter(p => p.peer !== self && !this.components.isBanned(p.peer))
      .slice(0, this.init.redialPeers)
    const results = await Promise.all(candidates.map(async p => await this.redialOne(p.peer, p.addrs, signal)))
    const report = { tried: candidates.length, connected: results.filter(Boolean).length }
    log('redial round: %d of %d remembered peers connected', report.connected, report.tried)
    return report
  }

  private async redialOne (peer: string, addrs: string[], signal: AbortSignal): Promise<boolean> {
    const targets = addrs.flatMap(a => {
      try {
        return [multiaddr(`${a}/p2p/${peer}`)]
      } catch {
        return [] // a row written by hand or by an older weft; the others may do
      }
    })
    if (targets.length === 0) return false
    let delay = this.init.retryDelay
    for (let attempt = 1; attempt <= this.init.attempts && !signal.aborted; attempt++) {
      if (this.isConnected(peer)) return true
      // a ban that began during the round ends the tries (the gater would refuse anyway)
      if (this.components.isBanned(peer)) return false
      this.dials++
      try {
        await this.components.libp2p.dial(targets, { signal: AbortSignal.any([signal, AbortSignal.timeout(this.init.dialTimeout)]) })
        return true
      } catch (err) {
        log('redial %s, try %d of %d: %s', peer, attempt, this.init.attempts, (err as Error).message)
      }
      if (attempt === this.init.attempts) break
      try {
        await sleep(delay, undefined, { signal })
      } catch {
        break
      }
      delay = Math.min(delay * 2, this.init.maxRetryDelay)
    }
    return this.isConnected(peer)
  }

  private isConnected (peer: string): boolean {
    return this.components.libp2p.getConnections().some(c => c.remotePeer.toString() === peer)
  }
}

/** The address without a trailing /p2p/<id>, which the dial puts back. */
function withoutPeerId (address: Multiaddr): string {
  const text = address.toString()
  const at = text.lastIndexOf('/p2p/')
  // a relay address (…/p2p/<relay>/p2p-circuit/p2p/<id>) keeps its relay's id
  return at >= 0 && !text.slice(at + 5).includes('/') ? text.slice(0, at) : text
}
