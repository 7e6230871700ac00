/**
 * Bitswap 1.2 on weft's libp2p node, through @helia/bitswap: weft serves the blocks in
 * its store and fetches the ones it lacks from connected peers and routing's providers.
 *
 * Wire format (https://specs.ipfs.tech/bitswap-protocol/): protocol `/ipfs/bitswap/1.2.0`;
 * a sender opens a stream and writes varint-length-prefixed protobuf messages (4 MiB max):
 *   Message { 1 wantlist: { 1 entries: [{ 1 cid, 2 priority, 3 cancel, 4 wantType (0 block,
 *             1 have), 5 sendDontHave }], 2 full }, 3 blocks: [{ 1 prefix, 2 data }],
 *             4 blockPresences: [{ 1 cid, 2 type (0 have, 1 dont-have) }], 5 pendingBytes }
 * where prefix is the CID's version, codec, hash code and digest length as varints.
 * The id is the public one on every network: a private network's prefix separates its
 * DHT, not its block exchange, so weft and any IPFS node can swap blocks once connected.
 */
import { createHash } from 'node:crypto'
import { withBitswap, type BitswapOptions } from '@helia/bitswap'
import type { AbortOptions, Libp2p, PeerInfo, Startable } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'
import { from as hasherFrom } from 'multiformats/hashes/hasher'
import type { MultihashHasher } from 'multiformats/hashes/interface'
import { WeftError, isWeftError } from '../errors.ts'
import { blockKey, blockLinks, type Blocks } from '../blocks/index.ts'
import * as raw from 'multiformats/codecs/raw'

/** @helia/bitswap 4 exports only this Helia mixin; these are the host parts it touches. */
type BitswapHost = Parameters<typeof withBitswap>[0]
type Mixin = Parameters<BitswapHost['addMixin']>[0]
type HeliaBroker = Exclude<Parameters<BitswapHost['addBlockBroker']>[0], (components: any) => unknown>
type Broker = Required<Pick<HeliaBroker, 'retrieve' | 'announce'>> & Startable

export interface ProviderRouting {
  findProviders(cid: CID, options?: AbortOptions): AsyncIterable<PeerInfo>
}

export interface BitswapComponents {
  libp2p: Libp2p
  blocks: Pick<Blocks, 'get' | 'has' | 'put'>
  /** Where to look for peers that have a block; default: libp2p's content routing (the DHT). */
  routing?: ProviderRouting
}

export interface BitswapExchange {
  start(): Promise<void>
  stop(): Promise<void>
  /** The block's bytes, from the store or else from peers; fetched blocks are verified and stored. */
  want(cid: CID, options?: AbortOptions): Promise<Uint8Array>
  /** Tells peers who asked for `cid` that weft has it now (call after adding blocks). */
  notify(cid: CID, options?: AbortOptions): Promise<void>
}

const SHA2_256 = 0x12
/** Hashes weft verifies besides sha2-256 (Bitswap hashes that one itself), by multihash code. */
const NODE_HASHES = new Map<number, string>([[0x13, 'sha512'], [0x16, 'sha3-256'], [0x14, 'sha3-512']])

/**
 * Bitswap rehashes every received block to learn its CID (sha2-256 built in). An unknown
 * code returns undefined, not a throw: Bitswap then skips that one block instead of
 * dropping the whole message it came in.
 */
function getHasher (code: number): MultihashHasher | undefined {
  const name = NODE_HASHES.get(code)
  if (name === undefined) return undefined
  return hasherFrom({ name, code, encode: bytes => new Uint8Array(createHash(name).update(bytes).digest()) })
}

/**
 * Bitswap's ledger reads blocks as chunk streams and tells "missing" by the error name. A
 * block found damaged as it is read (quarantined by the store) is missing too: a peer is
 * never sent bytes that do not match their CID, and is not kept waiting on a repair.
 */
function blockstoreFor (blocks: Pick<Blocks, 'get' | 'has'>): object {
  const notFound = (cid: CID): Error => Object.assign(new Error(`block ${cid} not found`), { name: 'NotFoundError' })
  return {
    has: async (cid: CID) => blocks.has(cid),
    async * get (cid: CID) {
      if (!blocks.has(cid)) throw notFound(cid)
      let bytes: Uint8Array
      try {
        bytes = await blocks.get(cid, { repair: false })
      } catch (err) {
        if (isWeftError(err, 'ERR_BLOCK_CORRUPT')) throw notFound(cid)
        throw err
      }
      yield bytes
    }
  }
}

export function createBitswapExchange (components: BitswapComponents, init: BitswapOptions = {}): BitswapExchange {
  const { libp2p, blocks } = components
  let mixin: Mixin | undefined
  let broker: Broker | undefined
  // Aborted by stop(), so wants still waiting on peers end with the exchange.
  let running: AbortController | undefined
  const host = {
    status: 'stopped',
    libp2p,
    logger: libp2p.logger,
    metrics: libp2p.metrics,
    blockstore: blockstoreFor(blocks),
    routing: components.routing ?? libp2p.contentRouting,
    getHasher,
    addMixin: (m: Mixin) => { mixin = m },
    hasBlockBroker: () => broker !== undefined,
    addBlockBroker: (b: Broker) => { broker = b }
  }
  withBitswap(host as unknown as BitswapHost, init)

  const started = (): { broker: Broker, signal: AbortSignal } => {
    if (broker === undefined || running === undefined) throw new WeftError('ERR_INTERNAL', 'the Bitswap exchange is not started')
    return { broker, signal: running.signal }
  }

  return {
    async start () {
      if (broker !== undefined) return
      host.status = 'starting'
      // The mixin builds a fresh Bitswap, starts it (registers the protocol) and hands it back.
      await mixin?.start?.(host as unknown as BitswapHost)
      host.status = 'started'
      running = new AbortController()
    },
    async stop () {
      const current = broker
      broker = undefined
      running?.abort(new WeftError('ERR_INTERNAL', 'the Bitswap exchange stopped'))
      running = undefined
      host.status = 'stopped'
      await current?.stop()
    },
    async want (cid, options = {}) {
      if (blocks.has(cid)) return await blocks.get(cid)
      const code = cid.multihash.code
      // Bitswap could not recognise such a block when it came, nor weft verify it: don't ask.
      if (code !== SHA2_256 && getHasher(code) === undefined) throw new WeftError('ERR_UNSUPPORTED_HASH', `${cid} uses multihash 0x${code.toString(16)}, which weft cannot verify`)
      const { broker, signal } = started()
      const bytes = await broker.retrieve(cid, { signal: AbortSignal.any([signal, ...(options.signal !== undefined ? [options.signal] : [])]) })
      // Bitswap matches blocks by digest only; put rehashes, so nothing unverified is stored.
      await blocks.put(cid, bytes)
      await broker.announce(cid, options)
      return bytes
    },
    async notify (cid, options = {}) {
      await started().broker.announce(cid, options)
    }
  }
}

/**
 * Brings the DAG under `root` into the store over Bitswap, for content only IPFS peers
 * have: children are wanted as soon as their parent arrives, up to `concurrency` at once.
 */
export async function fetchDagViaBitswap (bitswap: Pick<BitswapExchange, 'want'>, blocks: Pick<Blocks, 'has' | 'get'>, root: CID, options: AbortOptions & { recursive?: boolean, concurrency?: number, onBlock?: (bytes: number) => void } = {}): Promise<{ blocks: number, bytes: number }> {
  const seen = new Set<string>()
  const queue: CID[] = [root]
  let fetched = 0
  let bytes = 0
  const concurrency = options.concurrency ?? 32
  const worker = async (): Promise<void> => {
    for (let cid = queue.shift(); cid !== undefined; cid = queue.shift()) {
      const key = blockKey(cid)
      if (seen.has(key)) continue
      seen.add(key)
      const had = blocks.has(cid)
      const data = had ? (cid.code === raw.code && options.recursive !== false ? undefined : await blocks.get(cid)) : await bitswap.want(cid, options)
      if (!had && data !== undefined) {
        fetched++
        bytes += data.byteLength
        options.onBlock?.(data.byteLength)
      }
      if (options.recursive !== false && data !== undefined) queue.push(...blockLinks(cid, data))
    }
  }
  // Workers drain the queue; a worker that finds it empty while others still fetch ends early, so loop until settled.
  while (queue.length > 0) await Promise.all(Array.from({ length: Math.min(concurrency, queue.length) }, worker))
  return { blocks: fetched, bytes }
}
