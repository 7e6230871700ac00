import { createLibp2p, type Libp2p } from 'libp2p'
import { multiaddr } from '@multiformats/multiaddr'
import { tcp } from '@libp2p/tcp'
import { webSockets } from '@libp2p/websockets'
import { noise } from '@libp2p/noise'
import { corkedTls } from './corked-tls.ts'
import { yamux } from '@libp2p/yamux'
import { identify, type Identify } from '@libp2p/identify'
import { ping, type Ping } from '@libp2p/ping'
import { bootstrap } from '@libp2p/bootstrap'
import { mdns } from '@libp2p/mdns'
import { kadDHT, passthroughMapper, type KadDHT } from '@libp2p/kad-dht'
import { gossipsub, type GossipSub } from '@libp2p/gossipsub'
import type { ConnectionGater, PeerDiscovery, PrivateKey } from '@libp2p/interface'
import { MemoryDatastore } from 'datastore-core'
import type { Datastore } from 'interface-datastore'
import { IPFS_BOOTSTRAP, type Config } from '../repo/config.ts'
import { CachedPeerStore, peerStoreCache } from './peer-store-cache.ts'
import { DHT_TUNING, CONNECTION_TUNING } from '../routing/dht-tuning.ts'
import { ipnsValidator } from 'ipns/validator'
import { ipnsSelector } from 'ipns/selector'
import { withTor, type TorClient } from './tor.ts'
import { keepPubsubStreams } from './pubsub-streams.ts'
import { isRelayLoop, loadWebRTC, randomWalkPause, reachListen, reachServices, reachTransports, REACH_DEFAULTS, type ReachInit, type ReachServices } from './reach.ts'

export { SqliteDatastore } from './datastore.ts'
export { tcpHostPort } from './addresses.ts'
export { CachedPeerStore } from './peer-store-cache.ts'
export { Verdict } from './verdicts.ts'
export { createReconnect, RECONNECT_DEFAULTS, type Reconnect, type ReconnectInit, type RoundReport } from './reconnect.ts'
export type { KnownPeer } from './known-peers.ts'
export { isRelayed, openStream, REACH_DEFAULTS, type ReachInit } from './reach.ts'
export { TorClient, isOnion, type TorInit } from './tor.ts'

// A type alias, not an interface: libp2p's ServiceMap needs an index signature.
export type NetServices = {
  identify: Identify
  ping: Ping
  dht: KadDHT
  pubsub: GossipSub
} & ReachServices

export type WeftLibp2p = Libp2p<NetServices>

/** `/ipfs` on the public network; `/weft/<name>` on a private one, so the two never mix. */
export function protocolPrefix (network: Config['network']): string {
  return network === 'ipfs' ? '/ipfs' : `/weft/${network.name}`
}

export interface NetTimers {
  /** kad-dht's self-query interval (ms); tests shorten it. */
  querySelfInterval?: number
}

export interface NetInit {
  privateKey: PrivateKey
  network: Config['network']
  bootstrap: string[]
  listen: string[]
  /** Addresses announced as dialable without AutoNAT's confirmation (config `addresses.announce`). */
  announce?: string[]
  mdns: boolean
  datastore?: Datastore
  timers?: NetTimers
  /** Start listening and dialling now (default true). */
  start?: boolean
  /** Peers to refuse connections with (those the exchange has banned). */
  isBanned?: (peer: string) => boolean
  /** Relays and hole punching (config `relay.*`, `nat.holePunch`); REACH_DEFAULTS when absent. */
  reach?: ReachInit
  /** Onion routing (tor.ts): started by the caller, which stops it after libp2p. */
  tor?: TorClient
  /** More reasons to refuse a connection, asked after weft's own (`weft demo`'s censor). */
  gater?: Pick<ConnectionGater, 'denyDialMultiaddr' | 'denyInboundEncryptedConnection'>
}

/**
 * libp2p pings every connection and, by default, cuts it when the answer is late: every
 * 10 s, late after 5 s at first (an adaptive timeout), and a ping still out when the next
 * is due fails as "too many streams" and cuts it too. A node whose event loop stalls for
 * seconds (a loaded machine, a laptop waking) then loses every connection at once; its
 * peers redial, and the TLS handshakes (a new certificate each) load it more. Measured in
 * `bench -- users` (31 processes on 2 cores): 1,250 connections cut on late pings and
 * 3,400 opened in 140 s, about 110 per node for 30 peers. go-libp2p and rust-libp2p do
 * not cut on a late ping at all. weft keeps the check for dead connections but gives it
 * room: a ping every 30 s (yamux's keep-alive interval), late only past 20-25 s, so the
 * monitor's own pings do not overlap; ping takes two outbound streams per connection, so
 * one the peer has not closed yet, or `weft peers`' own, does not fail the next.
 */
export const CONNECTION_MONITOR = {
  pingInterval: 30_000,
  pingTimeout: { minTimeout: 20_000, maxTimeout: 25_000 }
}

/**
 * Gossipsub's id of a message before any check: its publisher and sequence number, the
 * fields its message id is made of (StrictSign). Without it every copy a node receives
 * (one from each mesh peer, six or more) has its signature checked before gossipsub sees
 * it is a copy: in `bench users` 7% of the followers' CPU while contributions
 * arrived. Gossipsub remembers this id only once a message under it passed the signature
 * check: a forgery sent ahead of the real message is still checked, and rejected; one sent
 * after it is dropped as a copy.
 */
let unsignedMessages = 0
function fastMsgIdFn (msg: { from?: Uint8Array, seqno?: Uint8Array }): string {
  // without both (StrictSign refuses it anyway): an id no other message has, so nothing counts as its copy
  if (msg.from === undefined || msg.seqno === undefined) return `unsigned/${unsignedMessages++}`
  return `${Buffer.from(msg.from.buffer, msg.from.byteOffset, msg.from.byteLength).toString('base64')}/${Buffer.from(msg.seqno.buffer, msg.seqno.byteOffset, msg.seqno.byteLength).toString('base64')}`
}

/**
 * The libp2p node: TCP and WebSockets, Noise, Yamux, identify, ping, a server-mode
 * Kademlia DHT under the network's protocol prefix, and gossipsub; circuit relay v2 and
 * DCUtR, and WebRTC through relays, for peers behind NAT (reach.ts). Discovery is the
 * configured bootstrap list, plus mDNS only when asked for.
 */
export async function createNet (init: NetInit): Promise<WeftLibp2p> {
  const prefix = protocolPrefix(init.network)
  const bootstrapList = init.bootstrap.length > 0 ? init.bootstrap : (init.network === 'ipfs' ? IPFS_BOOTSTRAP : [])
  const peerDiscovery: Array<(components: any) => PeerDiscovery> = []
  if (bootstrapList.length > 0) peerDiscovery.push(bootstrap({ list: bootstrapList }))
  if (init.mdns && init.tor?.init.onionOnly !== true) peerDiscovery.push(mdns())
  const reach = init.reach ?? REACH_DEFAULTS
  let cache: CachedPeerStore | undefined
  const libp2p = await createLibp2p(withTor({
    privateKey: init.privateKey,
    start: init.start ?? true,
    datastore: init.datastore ?? new MemoryDatastore(),
    addresses: { listen: [...init.listen, ...reachListen(reach)], appendAnnounce: init.announce ?? [] },
    transports: [tcp(), webSockets(), ...reachTransports(await loadWebRTC(reach))],
    // TLS first between weft peers (its streams ran 1.3-1.5x Noise's on loopback: 240-300 vs
    // 150-200 MB/s); IPFS peers get Noise first, as they expect. Multistream picks one both speak.
    connectionEncrypters: init.network === 'ipfs' ? [noise(), corkedTls()] : [corkedTls(), noise()],
    streamMuxers: [yamux()],
    peerDiscovery,
    peerRouters: [randomWalkPause()],
    // A banned peer is neither dialled nor let back in until its ban ends.
    connectionGater: {
      denyDialPeer: peer => init.isBanned?.(peer.toString()) ?? false,
      // a relay reached through itself: DCUtR's misreading of a WebRTC relay address (reach.ts)
      denyDialMultiaddr: async ma => isRelayLoop(ma) || (await init.gater?.denyDialMultiaddr?.(ma) ?? false),
      denyInboundEncryptedConnection: async (peer, conn) => (init.isBanned?.(peer.toString()) ?? false) || (await init.gater?.denyInboundEncryptedConnection?.(peer, conn) ?? false)
    },
    // A private network's peers often share one IP (a LAN behind NAT, a loopback testnet).
    connectionManager: init.network === 'ipfs' ? {} : CONNECTION_TUNING,
    connectionMonitor: CONNECTION_MONITOR,
    services: {
      // first: everything built after it reads the peer store through the cache
      peerStoreCache: peerStoreCache(created => { cache = created }),
      identify: identify(),
      ping: ping({ maxOutboundStreams: 2 }),
      dht: kadDHT({
        protocol: `${prefix}/kad/1.0.0`,
        clientMode: false,
        ...DHT_TUNING,
        // Private networks live on LANs and loopback: keep every address.
        ...(init.network === 'ipfs' ? {} : { peerInfoMapper: passthroughMapper }),
        // Site records are IPNS records: signed, with a sequence number to pick the newest.
        validators: { ipns: ipnsValidator },
        selectors: { ipns: ipnsSelector },
        ...(init.timers?.querySelfInterval !== undefined ? { querySelfInterval: init.timers.querySelfInterval, initialQuerySelfInterval: 100 } : {})
      }),
      pubsub: gossipsub({
        allowPublishToZeroTopicPeers: true,
        // Pushes go over relayed (limited) connections too: a follower whose only path to a
        // site's publisher is a relay (NAT on both sides, or a censor dropping the direct
        // one) learns of new versions in seconds instead of at its next DHT poll. Records
        // are a few hundred bytes, well inside a relayed connection's default 128 KiB.
        runOnLimitedConnection: true,
        // Gossipsub's default score graylists more than a few peers on one IP (all of a
        // loopback testnet, or a LAN behind one NAT); weft judges peers by behaviour instead.
        scoreParams: { IPColocationFactorWeight: 0 },
        fastMsgIdFn
      }),
      ...reachServices(reach)
    }
  }, init.tor))
  // weft's own reads and writes go through the same cache as libp2p's components
  if (cache !== undefined) libp2p.peerStore = cache
  keepPubsubStreams(libp2p, libp2p.services.pubsub)
  return libp2p
}

