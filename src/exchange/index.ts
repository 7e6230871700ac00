import { setTimeout } from 'node:timers/promises'
import type { PeerId, Startable } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'
import { assertHashSupported, blockKey } from '../blocks/index.ts'
import { openStream, type WeftLibp2p } from '../net/index.ts'
import { PeerScores, type Offence, type PeerRecord } from './peer-score.ts'
import { serveStream, type ServerStats } from './server.ts'
import { FetchSession, type FetchProgress, type FetchResult, type SessionStore } from './session.ts'
import { PROTOCOL } from './wire.ts'
import { InFlight, swarmKey } from './swarm.ts'
import { fetchDagViaBitswap, type BitswapExchange } from './bitswap.ts'
import { servesBlock } from './probe.ts'
import { WeftError, isWeftError } from '../errors.ts'

const BITSWAP_PROTOCOL = '/ipfs/bitswap/1.2.0'

export { PROTOCOL } from './wire.ts'
export { createBitswapExchange, type BitswapExchange } from './bitswap.ts'
export type { FetchProgress, FetchResult } from './session.ts'
export type { Offence, PeerRecord } from './peer-score.ts'

export interface ExchangeComponents {
  /** exchange needs libp2p to serve its protocol, open streams and hang up on banned peers. */
  libp2p: Pick<WeftLibp2p, 'peerId' | 'handle' | 'unhandle' | 'dialProtocol' | 'hangUp' | 'getConnections' | 'getPeers' | 'peerStore'>
  /** Blocks are served from the store and verified into it. */
  blocks: SessionStore
  /** Where to look for providers beyond connected peers (the DHT); optional. */
  findProviders?: (cid: CID, options: { signal: AbortSignal, verified: boolean }) => AsyncIterable<PeerId>
  /** Bitswap, for what no weft peer can supply (IPFS nodes); optional. */
  bitswap?: Pick<BitswapExchange, 'want'>
}

/** ms the connected peers have before the DHT is asked for providers too. */
const PROVIDER_SEARCH_DELAY = 1_000

export interface ExchangeInit {
  /** ms before the DHT is asked for providers, unless the connected peers lack a block sooner. */
  providerSearchDelay?: number
  requestTimeout?: number
  window?: number
  banMs?: number
  banThreshold?: number
  /**
   * Answer a peer's want for a block this node is fetching itself when it arrives, instead
   * of DONT_HAVE (swarm.ts). Off by default: in bench sites (30 followers) the update's
   * fetches took p95 9.2 s with it on, against 1.6 s before (issue 16; not understood yet).
   */
  swarm?: boolean
}

export interface FetchOptions {
  recursive?: boolean
  /** Peers likely to hold the DAG: asked before the connected ones and those routing finds. */
  providers?: PeerId[]
  /**
   * Peers likely to be fetching the same DAG now (a site's followers after an update): each
   * block is asked of those closer to it than this node, which serve it as soon as they
   * have it (swarm.ts), so the first holder is not asked by all of them.
   */
  swarm?: PeerId[]
  onProgress?: (event: FetchProgress) => void
  signal?: AbortSignal
}

export interface Exchange extends Startable {
  /** Brings the block (and by default the whole DAG under it) into the store, verified. */
  fetch(cid: CID, options?: FetchOptions): Promise<FetchResult>
  /** Whether `peer` serves `cid`'s block, hashing right, asked alone (probe.ts): hardened routing believes a provider only then. Nothing is stored. */
  servesBlock(peer: PeerId, cid: CID, options?: { signal?: AbortSignal }): Promise<boolean>
  /** A peer's standing, for `weft peers` and tests. */
  peerRecord(peer: PeerId | string): PeerRecord | undefined
  /** Whether a peer is serving a ban (the connection gater asks). */
  isBanned(peer: string): boolean
  /** Charges a peer for misbehaviour seen outside the exchange (a forged site record); enough of it bans. */
  penalise(peer: string, offence: Offence, detail: string): void
  readonly stats: ExchangeStats
}

/** Blocks and bytes served to peers, and fetched from them (verified and stored), since start. */
export interface ExchangeStats extends ServerStats {
  blocksReceived: number
  bytesReceived: number
}

export function createExchange (components: ExchangeComponents, init: ExchangeInit = {}): Exchange {
  const { libp2p } = components
  const stats: ExchangeStats = { blocksSent: 0, bytesSent: 0, blocksReceived: 0, bytesReceived: 0 }
  // What this node's sessions are fetching: the server answers peers' wants for it on arrival.
  const inFlight = new InFlight()
  const selfKey = swarmKey(libp2p.peerId.toString())
  // Sessions store through this, so a block counts as received once it verified and is stored.
  const receivingStore: SessionStore = {
    has: cid => components.blocks.has(cid),
    get: async cid => await components.blocks.get(cid),
    async put (cid, bytes) {
      await components.blocks.put(cid, bytes)
      stats.blocksReceived++
      stats.bytesReceived += bytes.byteLength
      inFlight.arrived(blockKey(cid))
    }
  }
  // Serving peers reads without repair: a block found damaged is quarantined and answered
  // DONT_HAVE (never sent, so no honest peer bans us), and the requester asks elsewhere.
  const servingStore = {
    has: (cid: CID) => components.blocks.has(cid),
    get: async (cid: CID) => await components.blocks.get(cid, { repair: false })
  }
  const scores = new PeerScores({
    banThreshold: init.banThreshold,
    banMs: init.banMs,
    onBan: (peer) => {
      const target = libp2p.getPeers().find(p => p.toString() === peer)
      if (target !== undefined) void libp2p.hangUp(target).catch(() => {})
    }
  })
  let started = false
  /** Whether a connected peer that is not a weft peer speaks Bitswap: asked directly, since identify may still be under way. */
  const bitswapPeersConnected = async (): Promise<boolean> => {
    const probes = libp2p.getPeers().map(async peer => {
      // Every weft node runs Bitswap too; asking a weft peer again over Bitswap would only
      // wait out the caller's deadline for what it already said it lacks.
      const known = await libp2p.peerStore.get(peer).catch(() => undefined)
      if (known?.protocols.includes(PROTOCOL) === true) throw new Error('a weft peer')
      const stream = await libp2p.dialProtocol(peer, BITSWAP_PROTOCOL, { signal: AbortSignal.timeout(2_000) })
      await stream.close().catch(() => {})
      return true
    })
    return probes.length > 0 && await Promise.any(probes).catch(() => false)
  }

  return {
    stats,
    async start () {
      // relayed (limited) connections carry blocks too: a peer behind NAT has no other path
      await libp2p.handle(PROTOCOL, (stream, connection) => {
        serveStream(stream, connection, servingStore, scores, stats, init.swarm === true ? inFlight : undefined).catch(() => { /* the stream is already aborted */ })
      }, { maxInboundStreams: 64, maxOutboundStreams: 64, runOnLimitedConnection: true })
      started = true
    },
    async stop () {
      if (started) await libp2p.unhandle(PROTOCOL)
      started = false
    },
    servesBlock: async (peer, cid, options) => await servesBlock({ libp2p, scores }, peer, cid, options),
    peerRecord: peer => scores.get(peer.toString()),
    isBanned: peer => scores.isBanned(peer),
    penalise: (peer, offence, detail) => { scores.penalise(peer, offence, detail) },
    async fetch (cid, options = {}) {
      assertHashSupported(cid)
      const starved = Promise.withResolvers<void>()
      const session = new FetchSession({
        store: receivingStore,
        scores,
        openStream: async (peer, signal) => await openStream(libp2p, peer, PROTOCOL, { signal }),
        onStarved: () => { starved.resolve() },
        inFlight,
        selfKey
      }, cid, { ...init, ...options })
      for (const peer of options.providers ?? []) session.addProvider(peer, true)
      session.addSwarm(options.swarm ?? [])
      session.addReserve(libp2p.getPeers())
      const lookup = new AbortController()
      const signals = options.signal !== undefined ? AbortSignal.any([options.signal, lookup.signal]) : lookup.signal
      const finding = (async () => {
        if (components.findProviders === undefined || components.blocks.has(cid)) return
        // As Bitswap does (provSearchDelay): the connected peers are asked first, and the DHT
        // only once they lack a block or have not delivered within the delay. A follower of
        // an updated site is connected to peers holding it; a walk per fetch costs more.
        const delay = setTimeout(init.providerSearchDelay ?? PROVIDER_SEARCH_DELAY, undefined, { signal: signals }).catch(() => {})
        await Promise.race([starved.promise, delay])
        if (signals.aborted) return
        for await (const peer of components.findProviders(cid, { signal: signals, verified: true })) session.addProvider(peer)
      })().catch(() => {}).finally(() => { session.noMoreProviders() })
      try {
        return await session.run()
      } catch (err) {
        if (components.bitswap === undefined || !isWeftError(err, 'ERR_BLOCK_NOT_FOUND') || !(await bitswapPeersConnected())) throw err
        // No weft peer had it: ask the connected IPFS peers over Bitswap.
        let bytes = 0
        try {
          const result = await fetchDagViaBitswap(components.bitswap, components.blocks, cid, {
            recursive: options.recursive,
            signal: options.signal,
            onBlock: n => {
              bytes += n
              stats.blocksReceived++
              stats.bytesReceived += n
              options.onProgress?.({ type: 'exchange:fetch:progress', blocks: 0, bytes, peers: 0 })
            }
          })
          return { ...result, fromPeers: { bitswap: result.blocks } }
        } catch (bitswapErr) {
          if (options.signal?.aborted === true) throw new WeftError('ERR_FETCH_TIMEOUT', `fetching ${cid} over Bitswap was stopped: ${String(options.signal.reason?.message ?? options.signal.reason)}`)
          throw bitswapErr
        }
      } finally {
        lookup.abort()
        await finding
      }
    }
  }
}
