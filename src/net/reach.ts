/**
 * Reaching peers behind NAT: a circuit relay v2 server lets reachable nodes carry
 * connections for unreachable ones, the relay transport reserves slots and dials
 * `/p2p-circuit` addresses, DCUtR tries to turn a relayed connection into a direct one,
 * QUIC (@chainsafe/libp2p-quic) runs beside TCP, WebRTC punches between NATs, and AutoNAT v2 tells a node which of its
 * public addresses peers can dial.
 *
 * AutoNAT v2 (@libp2p/autonat-v2 2.0.15, config `nat.autonat`): the server dials back on a
 * fresh connection (`force`) and closes only that one, so the v1 fault (@libp2p/autonat
 * 3.0.28 answered over the asker's own connection and closed it, taking the relay
 * reservation and DHT streams with it) does not recur: test/net/nat checks the asker's
 * connection and routing table survive. Measured there: a public node's TCP listen
 * address is confirmed within a second of meeting one AutoNAT server and then announced;
 * a NATed node's QUIC address (its NAT's port) is tried, fails and is never announced.
 * Not yet: its QUIC listen address is not confirmed with one server (the dial-back is
 * refused for a nonce whose ask died on an earlier dial-back connection; the test keeps
 * this as a todo). On loopback and LANs every address is private, counts as verified, and
 * AutoNAT asks nothing. A node with an unverified public address walks the DHT for peers
 * to ask for 10 s a minute (RANDOM_WALK_PAUSE keeps that from spinning).
 *
 * Hole punching between two NATed nodes does not work, over TCP or QUIC: both transports
 * dial from a socket other than the listening one (@chainsafe/libp2p-quic 2.1.1 dials
 * from a client endpoint on an ephemeral UDP port; ChainSafe/js-libp2p-quic#68), so the
 * NAT never maps a punch to the port the other side was told, and the only public address
 * a NATed node learns (its NAT's port for that client endpoint) is never confirmed, so
 * DCUtR has none to offer. Measured at e5392f9 (`npm run bench -- reach`): 0 of 20
 * through cone NATs; QUIC moved 3.9 MB/s relayed and 10.3 MB/s direct where TCP moved 10
 * and 15 in the same run.
 * DCUtR does work when the dialler is reachable: the NATed node dials it straight back.
 *
 * Between two NATed nodes WebRTC does punch (@libp2p/webrtc, config `nat.webrtc`, on by
 * default): a node with `relay.use` and a STUN server (`nat.stun`) listens on `/webrtc` and
 * so announces `<relay>/p2p-circuit/webrtc`; when a relayed connection opens, DCUtR swaps addresses
 * (these among them) and dials them, the WebRTC transport sends SDP and ICE candidates over
 * the relayed connection (/webrtc-signaling/0.0.1), ICE punches a UDP path between the two
 * NATs' public ports, and DCUtR closes the relayed connection. ICE learns a NAT's public
 * port from the STUN servers in config `nat.stun` only (none by default: @libp2p/webrtc's
 * own default is a list of public servers, which weft never asks). Measured in test/net/nat
 * (coturn as the STUN server beside the relay): cone to cone, a direct WebRTC connection
 * within a second or two of the relayed one; behind a symmetric NAT ICE fails (no TURN) and
 * the relay carries the site. Two fixes around @libp2p/webrtc 6.0.33 and @libp2p/dcutr live
 * here: the answering side waits for ICE before upgrading (webRTCWaitingForIce) and the
 * gater refuses the relay-through-itself addresses DCUtR makes up (isRelayLoop).
 *
 * What the node announces (libp2p 3's address manager, kept as it is):
 * - private addresses (10/8, 192.168/16, loopback, …) as they are: dialable on the LAN and
 *   loopback testnets; a peer elsewhere fails fast on them and goes on to the next address.
 *   On the public network the DHT drops them before they spread (kad-dht's default mapper).
 * - a public listen address or a NAT's observed address only once AutoNAT confirms it,
 *   and the addresses config `addresses.announce` names. An unreachable node never claims
 *   its NAT's port, which peers elsewhere could not dial.
 * - `/p2p-circuit` addresses once a relay has granted a reservation (config `relay.use`;
 *   weft does not yet turn it on by itself when AutoNAT confirms nothing).
 */
import { circuitRelayServer, circuitRelayTransport, type CircuitRelayService } from '@libp2p/circuit-relay-v2'
import { dcutr } from '@libp2p/dcutr'
import { autoNATv2 } from '@libp2p/autonat-v2'
import { quic } from '@chainsafe/libp2p-quic'
import type { webRTC } from '@libp2p/webrtc'
import type { Connection, Libp2p, PeerId, PeerInfo, PeerRouting, Stream, Transport } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { setTimeout as sleep } from 'node:timers/promises'

export interface ReachInit {
  /** Serve as a circuit relay v2 (config `relay.serve`). */
  serve: boolean
  /** Reserve slots on relays and advertise `/p2p-circuit` addresses (config `relay.use`). */
  use: boolean
  /** DCUtR hole punching (config `nat.holePunch`). */
  holePunch: boolean
  /** AutoNAT v2: ask peers to dial public addresses back, and announce those they reach (config `nat.autonat`; default on). */
  autoNat?: boolean
  /**
   * What one relayed connection may carry before the relay resets it. Unset: libp2p's
   * defaults (2 minutes, 128 KiB a connection), enough for records and small sites.
   * Benchmarks and the operator of a relay for large sites raise them.
   */
  relayedConnectionLimit?: { durationMs: number, bytes: bigint }
  /**
   * WebRTC between peers behind NAT (config `nat.webrtc`; default on): dial `/webrtc` relay
   * addresses, and with `use` and `stun` listen on them, so two NATed peers punch a UDP path with ICE.
   */
  webrtc?: boolean
  /**
   * STUN servers ICE asks for the node's public address (config `nat.stun`, `stun:host:port`).
   * Empty by default: weft never sends to a server nobody configured (libp2p's default list is public ones).
   */
  stun?: string[]
}

export const REACH_DEFAULTS: ReachInit = { serve: false, use: false, holePunch: true }

/** How long a reservation request may take before the relay is given up (ms; libp2p's default is 10 s). */
const RESERVATION_TIMEOUT = 10_000
/** DCUtR's tries and per-try deadline: libp2p's defaults (3 × 5 s). */
const HOLE_PUNCH = { retries: 3, timeout: 5_000 }

/**
 * The shortest a round of libp2p's random walk may take (ms). The walk (relay discovery,
 * AutoNAT looking for peers to verify an address) asks peer routing for the closest peers
 * in a loop; with an empty routing table the DHT answers at once, and the loop ran on
 * microtasks alone: a node with a public address and no peers yet, or one searching for a
 * relay before its bootstrap dial finished, froze its event loop (measured: createNode never
 * returned). One second a round costs a walk that finds peers nothing that matters.
 */
export const RANDOM_WALK_PAUSE = 1_000

/**
 * A peer router that finds nobody, after RANDOM_WALK_PAUSE: libp2p merges every router's
 * answer, so each getClosestPeers round lasts at least that long. weft's own lookups ask
 * the DHT directly and never wait for it.
 */
export function randomWalkPause (): () => PeerRouting {
  return () => ({
    async findPeer (): Promise<PeerInfo> { throw new Error('this router finds no peers') },
    async * getClosestPeers (_key, options): AsyncGenerator<PeerInfo> {
      await sleep(RANDOM_WALK_PAUSE, undefined, { signal: options?.signal }).catch(() => {})
    }
  })
}

/** The listen address that asks the relay transport to find relays and reserve a slot. */
export const RELAY_SEARCH = '/p2p-circuit'

/** The listen address that asks the WebRTC transport to announce `<relay address>/p2p-circuit/webrtc`. */
export const WEBRTC_LISTEN = '/webrtc'

/**
 * The WebRTC transport's ICE configuration: only the STUN servers given, never libp2p's
 * default public ones (an empty list is kept as it is; only an absent one is replaced).
 * A fresh object each time: @libp2p/webrtc writes into the one it gets.
 */
export function iceServers (stun: string[]): () => RTCConfiguration {
  return () => ({ iceServers: stun.map(url => ({ urls: [url] })) })
}

/** The peer connection a WebRTC MultiaddrConnection wraps (@libp2p/webrtc keeps it as a public field). */
interface IceState { peerConnection?: { connectionState: string, addEventListener: (type: 'connectionstatechange', fn: () => void) => void, removeEventListener: (type: 'connectionstatechange', fn: () => void) => void } }

/** Resolves once ICE and DTLS have connected, rejects when they fail or `signal` aborts. */
async function iceConnected (maConn: IceState, signal?: AbortSignal): Promise<void> {
  const pc = maConn.peerConnection
  if (pc === undefined || pc.connectionState === 'connected') return
  await new Promise<void>((resolve, reject) => {
    const done = (err?: Error): void => {
      pc.removeEventListener('connectionstatechange', onChange)
      signal?.removeEventListener('abort', onAbort)
      if (err === undefined) resolve()
      else reject(err)
    }
    const onChange = (): void => {
      if (pc.connectionState === 'connected') done()
      else if (pc.connectionState === 'failed' || pc.connectionState === 'closed') done(new Error(`ICE ${pc.connectionState}: no direct path to the peer`))
    }
    const onAbort = (): void => { done(signal?.reason ?? new Error('aborted')) }
    pc.addEventListener('connectionstatechange', onChange)
    signal?.addEventListener('abort', onAbort)
    if (signal?.aborted === true) onAbort()
  })
}

/**
 * @libp2p/webrtc's transport, with an answering side that waits for ICE. @libp2p/webrtc
 * 6.0.33 upgrades an inbound WebRTC connection as soon as its signalling stream ends, even
 * when ICE never connected (behind a symmetric NAT it never does): the node then held an
 * "open", direct-looking connection that carried nothing, and libp2p prefers a direct
 * connection to the relayed one that works. Here the inbound upgrade waits until the peer
 * connection is connected and fails (closing it) when ICE fails or the upgrade times out.
 */
function webRTCWaitingForIce (webRTCFactory: typeof webRTC, init: Parameters<typeof webRTC>[0]): (components: any) => Transport {
  const factory = webRTCFactory(init)
  return components => factory(new Proxy(components, {
    get (target, prop) {
      if (prop !== 'upgrader') return target[prop]
      const upgrader = target.upgrader
      return new Proxy(upgrader, {
        get (u, p) {
          if (p === 'upgradeInbound') {
            return async (maConn: IceState, options: { signal?: AbortSignal }) => {
              await iceConnected(maConn, options?.signal)
              return await u.upgradeInbound(maConn, options)
            }
          }
          const value = u[p]
          return typeof value === 'function' ? value.bind(u) : value
        }
      })
    }
  }))
}

/**
 * The WebRTC transport for `init`, or undefined when it is off. Loaded only here, when a node
 * goes online: @libp2p/webrtc and its certificate libraries took 1.5-2.4 s to import on this
 * machine, which every command that opens the node offline would otherwise pay.
 */
export async function loadWebRTC (init: ReachInit): Promise<((components: any) => Transport) | undefined> {
  if (!(init.webrtc ?? true)) return undefined
  const { webRTC } = await import('@libp2p/webrtc')
  return webRTCWaitingForIce(webRTC, { rtcConfiguration: iceServers(init.stun ?? []) })
}

/** QUIC and the relay transport, and WebRTC when loadWebRTC gave it. */
export function reachTransports (webrtc?: (components: any) => Transport): Array<(components: any) => Transport> {
  return [
    ...(webrtc === undefined ? [] : [webrtc]),
    // QUIC over UDP beside TCP: a node dials /quic-v1 addresses even when it listens on none.
    quic(),
    // The relay transport also dials /p2p-circuit addresses: a node that does not reserve
    // still reaches others through their relays.
    circuitRelayTransport({ reservationCompletionTimeout: RESERVATION_TIMEOUT })
  ]
}

export function reachListen (init: ReachInit): string[] {
  // A relay is reachable by definition: it needs no relay of its own. A node that reserves
  // also takes WebRTC connections through its relays, where peers behind NAT punch to it,
  // once it has a STUN server to learn its NAT's port from: without one ICE offers only
  // LAN addresses, and every peer that dialled its /webrtc address (libp2p tries those
  // before plain relay addresses) would wait for ICE to fail (about 6 s here) first.
  if (!init.use || init.serve) return []
  return (init.webrtc ?? true) && (init.stun ?? []).length > 0 ? [RELAY_SEARCH, WEBRTC_LISTEN] : [RELAY_SEARCH]
}

// A type alias, not an interface: libp2p's ServiceMap needs an index signature.
export type ReachServices = {
  dcutr?: unknown
  relay?: CircuitRelayService
  autoNat?: unknown
}

export function reachServices (init: ReachInit) {
  return {
    ...(init.autoNat ?? true ? { autoNat: autoNATv2() } : {}),
    ...(init.holePunch ? { dcutr: dcutr(HOLE_PUNCH) } : {}),
    ...(init.serve
      ? {
          relay: circuitRelayServer(init.relayedConnectionLimit === undefined
            ? {}
            : { reservations: { defaultDurationLimit: init.relayedConnectionLimit.durationMs, defaultDataLimit: init.relayedConnectionLimit.bytes } })
        }
      : {})
  }
}

/**
 * Whether `ma` reaches a relay through itself (`/p2p/<relay>/p2p-circuit/webrtc/p2p/<relay>`):
 * never a real peer's address, but DCUtR (@libp2p/dcutr 3) dials one. Identify stores a
 * peer's `/p2p-circuit/webrtc` address without the peer's own id, DCUtR's "unilateral
 * upgrade" then takes the relay's id for the peer's, finds the address "public and
 * dialable" (its Circuit matcher misses `/webrtc`), and force-dials it: the relay answers,
 * DCUtR counts the WebRTC connection to the relay as the direct one it wanted and closes the
 * relayed connection to the real peer (seen in test/net/nat: a WebRTC dial between two NATed
 * peers lost its signalling stream mid-way, the relayed connection under it closed). The
 * connection gater refuses such a dial (net/index.ts).
 */
export function isRelayLoop (ma: Multiaddr): boolean {
  const components = ma.getComponents()
  const circuit = components.findIndex(c => c.name === 'p2p-circuit')
  if (circuit < 0) return false
  const relay = components.slice(0, circuit).findLast(c => c.name === 'p2p')?.value
  const target = components.slice(circuit).findLast(c => c.name === 'p2p')?.value
  return relay !== undefined && relay === target
}

/**
 * Whether a connection goes through a relay (limited, `/p2p-circuit`) rather than straight to
 * the peer. A WebRTC connection the node dialled keeps the relay address it signalled over
 * (`…/p2p-circuit/webrtc/p2p/<peer>`) but its bytes take the path ICE punched: not relayed
 * (the side that answered sees `/webrtc/p2p/<peer>`). ICE here has STUN servers only, no TURN.
 */
export function isRelayed (connection: Pick<Connection, 'remoteAddr' | 'limits'>): boolean {
  if (connection.limits !== undefined) return true
  const names = connection.remoteAddr.getComponents().map(c => c.name)
  const circuit = names.lastIndexOf('p2p-circuit')
  return circuit >= 0 && names[circuit + 1] !== 'webrtc'
}

/**
 * A stream to `peer` for a protocol that runs on relayed connections too, over a
 * connection already open (a direct one first), else over a new one. libp2p's
 * dialProtocol never reuses a relayed (limited) connection: it dials again, hoping for a
 * direct one, so where the direct path is dropped without a reset (a censor's rule) every
 * stream waited out the direct address's dial timeout and then opened yet another relayed
 * connection (measured in the censorship drill: the first fetch of a new version failed,
 * its 5 s request timeout spent dialling). DCUtR, not each stream, is what turns a relayed
 * connection into a direct one.
 */
export async function openStream (libp2p: Pick<Libp2p, 'getConnections' | 'dialProtocol'>, peer: PeerId, protocol: string, options: { signal?: AbortSignal } = {}): Promise<Stream> {
  const open = libp2p.getConnections(peer).filter(c => c.status === 'open')
  const connection = open.find(c => c.limits == null) ?? open[0]
  if (connection !== undefined) {
    try {
      return await connection.newStream(protocol, { ...options, runOnLimitedConnection: true })
    } catch (err) {
      // a relay that reset the connection at its limit, a connection closing: dial anew
      if (options.signal?.aborted === true) throw err
    }
  }
  return await libp2p.dialProtocol(peer, protocol, { ...options, runOnLimitedConnection: true })
}
