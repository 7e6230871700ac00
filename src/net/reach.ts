/**
 * Reaching peers behind NAT: a circuit relay v2 server lets reachable nodes carry
 * connections for unreachable ones, the relay transport reserves slots and dials
 * `/p2p-circuit` addresses, DCUtR tries to turn a relayed connection into a direct one,
 * QUIC (@chainsafe/libp2p-quic) runs beside TCP, and AutoNAT v2 tells a node which of its
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
import type { Connection, Libp2p, PeerId, PeerInfo, PeerRouting, Stream, Transport } from '@libp2p/interface'
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

export function reachTransports (): Array<(components: any) => Transport> {
  return [
    // QUIC over UDP beside TCP: a node dials /quic-v1 addresses even when it listens on none.
    quic(),
    // The relay transport also dials /p2p-circuit addresses: a node that does not reserve
    // still reaches others through their relays.
    circuitRelayTransport({ reservationCompletionTimeout: RESERVATION_TIMEOUT })
  ]
}

export function reachListen (init: ReachInit): string[] {
  // A relay is reachable by definition: it needs no relay of its own.
  return init.use && !init.serve ? [RELAY_SEARCH] : []
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

/** Whether a connection goes through a relay (limited, `/p2p-circuit`) rather than straight to the peer. */
export function isRelayed (connection: Pick<Connection, 'remoteAddr' | 'limits'>): boolean {
  return connection.limits !== undefined || connection.remoteAddr.getComponents().some(c => c.name === 'p2p-circuit')
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
