/**
 * Reaching peers behind NAT: a circuit relay v2 server lets reachable nodes carry
 * connections for unreachable ones, the relay transport reserves slots and dials
 * `/p2p-circuit` addresses, and DCUtR tries to turn a relayed connection into a direct one.
 *
 * AutoNAT is not run. AutoNAT v1 (@libp2p/autonat 3.0.28, the only version installed)
 * answers a dial-back request by opening a connection to the asker without `force`: it gets
 * the connection it was asked over, reports OK and closes it, taking the asker's relay
 * reservation and DHT streams with it (measured in test/net/nat: with it on, the publisher
 * never kept the relay in its routing table; without it the test passes). AutoNAT v2
 * (@libp2p/autonat-v2) dials back on a fresh connection and is what this needs.
 *
 * What the node announces (libp2p 3's address manager, kept as it is):
 * - private addresses (10/8, 192.168/16, loopback, …) as they are: dialable on the LAN and
 *   loopback testnets; a peer elsewhere fails fast on them and goes on to the next address.
 *   On the public network the DHT drops them before they spread (kad-dht's default mapper).
 * - a public listen address or a NAT's observed address only once confirmed: libp2p leaves
 *   them unverified until AutoNAT says otherwise, and with AutoNAT off that means only the
 *   addresses config `addresses.announce` names. An unreachable node never claims its NAT's
 *   port, which peers elsewhere could not dial.
 * - `/p2p-circuit` addresses once a relay has granted a reservation.
 */
import { circuitRelayServer, circuitRelayTransport, type CircuitRelayService } from '@libp2p/circuit-relay-v2'
import { dcutr } from '@libp2p/dcutr'
import { autoNATv2 } from '@libp2p/autonat-v2'
import { quic } from '@chainsafe/libp2p-quic'
import type { Connection, PeerInfo, PeerRouting, Transport } from '@libp2p/interface'
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
    ...(init.autoNat ?? true ? { autoNat: autoNATv2({ maxInboundStreams: 8 }) } : {}),
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
