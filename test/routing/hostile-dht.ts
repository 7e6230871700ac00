/**
 * A DHT of real libp2p nodes in one process over @libp2p/memory: honest nodes run
 * kad-dht 16.4.5 as weft configures it; hostile nodes are libp2p nodes that speak the
 * kad protocol (kad-wire.ts) with lies: they drop queries, point at each other, name
 * each other as providers, replay an old record, or sit in a Sybil cluster of ids mined
 * next to a target key. Honest nodes also serve one block on a tiny protocol, so a
 * provider can be checked the way weft's exchange checks it: the block must hash right.
 */
import { createHash } from 'node:crypto'
import { createLibp2p, type Libp2p } from 'libp2p'
import { memory } from '@libp2p/memory'
import { noise } from '@libp2p/noise'
import { yamux } from '@libp2p/yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { kadDHT, passthroughMapper, type KadDHT } from '@libp2p/kad-dht'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import { ipnsValidator } from 'ipns/validator'
import { ipnsSelector } from 'ipns/selector'
import { lpStream } from '@libp2p/utils'
import type { CID } from 'multiformats/cid'
import { MESSAGE_TYPE, serveMessages, type KadMessage, type WirePeer } from '../../src/routing/kad-wire.ts'
import { keyDistance } from '../../src/routing/density.ts'

export type Attack = 'drop' | 'wrong-closest' | 'fake-providers' | 'sybil'
export type HonestNode = Libp2p<{ dht: KadDHT }>

export const BLOCK_PROTOCOL = '/weft-test/block/1.0.0'
const sha256 = (bytes: Uint8Array): Uint8Array => createHash('sha256').update(bytes).digest()

export interface HostileNetInit {
  honest: number
  hostile: number
  attack: Attack
  /** kad-dht's k for every honest node. */
  k: number
  /** The DHT key the Sybil cluster sits next to (SHA-256 of it is the kad id). */
  target?: Uint8Array
  /** Peers each node dials to join (default 8). */
  degree?: number
  /** A stale record the liars replay for `target` (a marshalled IPNS record). */
  staleRecord?: Uint8Array
  protocol?: string
  /** Blocks honest nodes serve on BLOCK_PROTOCOL, by the hex of the CID's bytes. */
  blocks?: Map<string, Uint8Array>
}

export interface HostileNet {
  honest: HonestNode[]
  hostile: Libp2p[]
  protocol: string
  stop: () => Promise<void>
}

let netCounter = 0

/** `verify(peer)` for a provider: asks it for `cid` and checks the bytes hash to it. */
export function blockVerifier (node: Libp2p, cid: CID) {
  return async (peer: PeerId, options: { signal?: AbortSignal } = {}): Promise<boolean> => {
    const signal = AbortSignal.any([AbortSignal.timeout(5_000), ...(options.signal === undefined ? [] : [options.signal])])
    try {
      const stream = await node.dialProtocol(peer, BLOCK_PROTOCOL, { signal })
      const lp = lpStream(stream)
      await lp.write(cid.bytes, { signal })
      const block = (await lp.read({ signal })).subarray()
      await stream.close({ signal }).catch(() => {})
      return Buffer.from(sha256(block)).equals(Buffer.from(cid.multihash.digest))
    } catch {
      return false
    }
  }
}

/** Ed25519 keys whose kad ids lie closer to `target`'s than `radius` (a fraction of the key space). */
async function minedKeys (count: number, targetKadId: Uint8Array, radius: number): Promise<PrivateKey[]> {
  const out: PrivateKey[] = []
  while (out.length < count) {
    const key = await generateKeyPair('Ed25519')
    if (keyDistance(sha256(peerIdFromPrivateKey(key).toMultihash().bytes), targetKadId) < radius) out.push(key)
  }
  return out
}

export async function createHostileNet (init: HostileNetInit): Promise<HostileNet> {
  const net = ++netCounter
  const protocol = init.protocol ?? '/weft/byzantine/kad/1.0.0'
  const degree = init.degree ?? 8
  const blocks = init.blocks ?? new Map<string, Uint8Array>()
  const honest: HonestNode[] = []
  for (let i = 0; i < init.honest; i++) {
    const node = await createLibp2p({
      addresses: { listen: [`/memory/byz-${net}-h${i}`] },
      transports: [memory()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      connectionManager: { maxConnections: 10_000, inboundConnectionThreshold: 10_000, maxIncomingPendingConnections: 1_000 },
      services: {
        identify: identify(),
        ping: ping(),
        dht: kadDHT({
          protocol,
          clientMode: false,
          kBucketSize: init.k,
          alpha: 10,
          disjointPaths: 10,
          querySelfInterval: 3_600_000,
          initialQuerySelfInterval: 3_600_000,
          allowQueryWithZeroPeers: true,
          peerInfoMapper: passthroughMapper,
          validators: { ipns: ipnsValidator },
          selectors: { ipns: ipnsSelector }
        })
      }
    })
    await node.handle(BLOCK_PROTOCOL, async (stream) => {
      const lp = lpStream(stream)
      try {
        const wanted = (await lp.read()).subarray()
        const block = blocks.get(Buffer.from(wanted).toString('hex'))
        await lp.write(block ?? new Uint8Array())
        await stream.close()
      } catch { stream.abort(new Error('block protocol')) }
    })
    honest.push(node)
  }

  // the closest honest peer to the target: a cluster must sit inside its distance
  const targetKadId = init.target === undefined ? undefined : sha256(init.target)
  let radius = 1
  if (targetKadId !== undefined) for (const h of honest) radius = Math.min(radius, keyDistance(sha256(h.peerId.toMultihash().bytes), targetKadId))
  const keys = init.attack === 'sybil' && targetKadId !== undefined
    ? await minedKeys(init.hostile, targetKadId, radius)
    : await Promise.all(Array.from({ length: init.hostile }, async () => await generateKeyPair('Ed25519')))

  const hostile: Libp2p[] = []
  const liars: Array<{ peer: WirePeer, kadId: Uint8Array }> = []
  const nearest = (kadId: Uint8Array, except: PeerId, count: number): WirePeer[] =>
    liars.filter(l => !l.peer.id.equals(except)).sort((a, b) => keyDistance(a.kadId, kadId) - keyDistance(b.kadId, kadId)).slice(0, count).map(l => l.peer)
  for (let i = 0; i < init.hostile; i++) {
    const node = await createLibp2p({
      privateKey: keys[i],
      addresses: { listen: [`/memory/byz-${net}-x${i}`] },
      transports: [memory()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      connectionManager: { maxConnections: 10_000, inboundConnectionThreshold: 10_000, maxIncomingPendingConnections: 1_000 },
      services: { identify: identify(), ping: ping() }
    })
    const answer = async (msg: KadMessage): Promise<KadMessage | undefined> => {
      if (init.attack === 'drop') return await new Promise(() => {}) // never answers; the stream times out
      if (msg.type === MESSAGE_TYPE.ADD_PROVIDER) return undefined // swallowed
      const kadId = sha256(msg.key ?? new Uint8Array())
      const reply: KadMessage = { type: msg.type, key: msg.key, closer: nearest(kadId, node.peerId, init.k), providers: [] }
      if (msg.type === MESSAGE_TYPE.PUT_VALUE) return { ...msg } // acknowledged, then thrown away
      if (msg.type === MESSAGE_TYPE.GET_PROVIDERS && init.attack === 'fake-providers') reply.providers = nearest(kadId, node.peerId, 3)
      if (msg.type === MESSAGE_TYPE.GET_VALUE && init.attack !== 'wrong-closest' && init.staleRecord !== undefined && msg.key !== undefined) {
        reply.record = { key: msg.key, value: init.staleRecord, timeReceived: new Date().toISOString() }
      }
      return reply
    }
    await node.handle(protocol, async (stream) => { await serveMessages(stream, answer) }, { runOnLimitedConnection: true })
    liars.push({ peer: { id: node.peerId, multiaddrs: node.getMultiaddrs() }, kadId: sha256(node.peerId.toMultihash().bytes) })
    hostile.push(node)
  }

  // joining: every node dials `degree` random nodes, and a self walk fills the honest tables
  const everyone: Libp2p[] = [...honest, ...hostile]
  await Promise.all(everyone.map(async (node, i) => {
    for (let d = 0; d < degree; d++) {
      const peer = everyone[Math.floor(Math.random() * everyone.length)]
      if (peer === node) continue
      await node.dial(peer.getMultiaddrs()[0]).catch(() => {})
    }
  }))
  // hostile nodes introduce themselves to the honest nodes nearest the target, as an attacker would
  if (targetKadId !== undefined) {
    const near = [...honest].sort((a, b) => keyDistance(sha256(a.peerId.toMultihash().bytes), targetKadId) - keyDistance(sha256(b.peerId.toMultihash().bytes), targetKadId)).slice(0, 2 * init.k)
    await Promise.all(hostile.map(async node => { for (const h of near) await node.dial(h.getMultiaddrs()[0]).catch(() => {}) }))
  }
  await Promise.all(honest.map(async node => {
    try {
      for await (const _ of node.services.dht.getClosestPeers(node.peerId.toMultihash().bytes, { signal: AbortSignal.timeout(60_000) })) { /* fills the table */ }
    } catch {
      // past its time on a loaded machine: what the walk met is in the table already
    }
  }))
  return {
    honest,
    hostile,
    protocol,
    stop: async () => { await Promise.all(everyone.map(async n => { await n.stop() })) }
  }
}
