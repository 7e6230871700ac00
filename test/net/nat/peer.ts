/**
 * One weft node in a network namespace, driven by the NAT tests over stdio: one JSON
 * request a line in ({ id, op, ...args }), one JSON answer a line out ({ id, ok, value }
 * or { id, ok: false, error }). It runs as `ip netns exec <ns> node peer.ts`, so the node
 * sees only the namespace's interfaces.
 */
import { createInterface } from 'node:readline'
import { createHash } from 'node:crypto'
import { CID } from 'multiformats/cid'
import { createNode, type WeftNode } from '../../../src/node/index.ts'
import { importPath, cat, parseContentPath } from '../../../src/content/index.ts'
import { isRelayed, type ReachInit } from '../../../src/net/index.ts'

export interface PeerStart {
  home: string
  listen: string[]
  announce?: string[]
  bootstrap: string[]
  reach: ReachInit
  /** Onion routing through a private Tor network (src/demo/tornet.ts): its torrc lines. */
  tor?: { onionOnly: boolean, torrc: string[] }
}

let node: WeftNode | undefined
const opened: Array<{ peer: string, remoteAddr: string, relayed: boolean, opened: number }> = []

function online (): WeftNode & { libp2p: NonNullable<WeftNode['libp2p']>, exchange: NonNullable<WeftNode['exchange']> } {
  if (node?.libp2p === undefined) throw new Error('the node is not started')
  return node as any
}

async function sha256Of (n: WeftNode, path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of cat(n.blocks, parseContentPath(path))) hash.update(chunk)
  return hash.digest('hex')
}

const ops: Record<string, (args: any) => Promise<unknown>> = {
  async start (args: PeerStart) {
    // JSON has no bigint: the relay's per-connection byte limit arrives as a string
    const limit = args.reach.relayedConnectionLimit
    if (limit !== undefined) args.reach.relayedConnectionLimit = { durationMs: limit.durationMs, bytes: BigInt(limit.bytes) }
    node = await createNode({
      home: args.home,
      online: true,
      net: { listen: args.listen, announce: args.announce, network: { name: 'nattest', ...(args.tor === undefined ? {} : { tor: { ...args.tor, port: 4101, binary: 'tor' } }) }, bootstrap: args.bootstrap, mdns: false, reach: args.reach },
      exchange: { requestTimeout: 5_000 },
      reprovideInterval: 0,
      sites: { republishInterval: 0, pollInterval: 0 }
    })
    // every connection opened from now on, in order (the NAT tests read how a peer was reached)
    node.libp2p!.addEventListener('connection:open', ({ detail: c }) => {
      opened.push({ peer: c.remotePeer.toString(), remoteAddr: c.remoteAddr.toString(), relayed: isRelayed(c), opened: Date.now() })
    })
    if (node.tor !== undefined) {
      await node.tor.bootstrapped({ signal: AbortSignal.timeout(80_000) })
      await node.tor.published({ signal: AbortSignal.timeout(80_000) })
    }
    return { peerId: online().libp2p.peerId.toString(), onion: node.tor?.listenAddr.toString() }
  },
  /** Dials a peer by id, over whichever of its known addresses gets through. */
  async dialPeer ({ peer }: { peer: string }) {
    const { peerIdFromString } = await import('@libp2p/peer-id')
    const conn = await online().libp2p.dial(peerIdFromString(peer), { signal: AbortSignal.timeout(80_000) })
    return { remoteAddr: conn.remoteAddr.toString(), relayed: isRelayed(conn) }
  },
  async addrs () {
    return online().libp2p.getMultiaddrs().map(String)
  },
  /** Dials `addr`; with `force`, a new connection even when one to the peer is open. */
  async dial ({ addr, force }: { addr: string, force?: boolean }) {
    const { multiaddr } = await import('@multiformats/multiaddr')
    const conn = await online().libp2p.dial(multiaddr(addr), { signal: AbortSignal.timeout(20_000), force })
    return { remoteAddr: conn.remoteAddr.toString(), relayed: isRelayed(conn), opened: conn.timeline.open }
  },
  /**
   * What AutoNAT v2 made of this node's addresses: each address the node has (verified or
   * not) and, for those a peer was asked to dial back, how many dials worked and failed.
   */
  async autoNat () {
    const n = online()
    // the address manager and AutoNAT's tallies are off libp2p's typed interface
    const components = (n.libp2p as any).components
    const addresses = components.addressManager.getAddressesWithMetadata()
      .map((a: any) => ({ addr: a.multiaddr.toString(), verified: a.verified as boolean, type: a.type as string }))
    const results = [...((n.libp2p.services as any).autoNat?.client.dialResults.values() ?? [])]
      .map((r: any) => ({ addr: r.multiaddr.toString(), success: r.success as number, failure: r.failure as number }))
    return { addresses, results }
  },
  async routingTableSize () {
    // kad-dht keeps its routing table off its typed interface
    return (online().libp2p.services.dht as any).routingTable.size as number
  },
  async hangUp ({ peer }: { peer: string }) {
    const n = online()
    await Promise.all(n.libp2p.getConnections().filter(c => c.remotePeer.toString() === peer).map(async c => { await c.close() }))
    // when every connection was closed (the clock tests compare connections' open times with)
    return { at: Date.now() }
  },
  /** Every connection to `peer` opened since the node started, open or closed since, oldest first. */
  async openedConnections ({ peer }: { peer: string }) {
    return opened.filter(c => c.peer === peer)
  },
  /** Every open connection to `peer`: where it goes and whether a relay carries it. */
  async connections ({ peer }: { peer: string }) {
    const n = online()
    return n.libp2p.getConnections().filter(c => c.remotePeer.toString() === peer)
      .map(c => ({ remoteAddr: c.remoteAddr.toString(), relayed: isRelayed(c), direction: c.direction, status: c.status, opened: c.timeline.open }))
  },
  /**
   * For each WebRTC connection to `peer`, the candidate pair ICE selected (node-datachannel's
   * RTCPeerConnection, off libp2p's typed interface): the addresses the bytes really take.
   */
  async webrtcPaths ({ peer }: { peer: string }) {
    const n = online()
    const describe = (c: any): string => `${c?.type as string} ${c?.address as string}:${c?.port as number}`
    return n.libp2p.getConnections().filter(c => c.remotePeer.toString() === peer)
      .map(c => (c as any).maConn?.peerConnection?.selectedCandidatePair?.())
      .filter(pair => pair != null)
      .map(pair => ({ local: describe(pair.local), remote: describe(pair.remote) }))
  },
  async publish ({ dir, label, files }: { dir: string, label: string, files: string[] }) {
    const n = online()
    const { root } = await importPath(n.blocks, dir, {})
    await n.blocks.pin(root.cid, 'recursive')
    // a second publish under the same label is the site's next version
    await n.sites.create(label).catch((err: { code?: string }) => { if (err.code !== 'ERR_SITE_EXISTS') throw err })
    const published = await n.sites.publish(label, root.cid)
    const hashes: Record<string, string> = {}
    for (const f of files) hashes[f] = await sha256Of(n, `${root.cid}/${f}`)
    return { name: published.name, root: published.root, announced: published.announced, hashes }
  },
  async follow ({ name }: { name: string }) {
    const info = await online().sites.follow(name)
    return { state: info.state }
  },
  async followState ({ name }: { name: string }) {
    const f = (await online().sites.following()).find(x => x.name === name)
    return { state: f?.state, root: f?.root, fetched: f?.fetched ?? false }
  },
  /** Fetches a root whole (no site record involved) and hashes its files. */
  async fetch ({ root, files }: { root: string, files: string[] }) {
    const n = online()
    await n.exchange.fetch(CID.parse(root), { recursive: true, signal: AbortSignal.timeout(60_000) })
    const hashes: Record<string, string> = {}
    for (const f of files) hashes[f] = await sha256Of(n, `${root}/${f}`)
    return { hashes }
  },
  async hashes ({ root, files }: { root: string, files: string[] }) {
    const n = online()
    const hashes: Record<string, string> = {}
    for (const f of files) hashes[f] = await sha256Of(n, `${root}/${f}`)
    return { hashes }
  },
  async stop () {
    await node?.stop()
    node = undefined
    setImmediate(() => process.exit(0))
    return null
  }
}

const lines = createInterface({ input: process.stdin })
lines.on('line', line => {
  let request: { id: number, op: string }
  try {
    request = JSON.parse(line)
  } catch {
    return
  }
  const op = ops[request.op]
  void (async () => {
    try {
      if (op === undefined) throw new Error(`no such op: ${request.op}`)
      const value = await op(request)
      process.stdout.write(JSON.stringify({ id: request.id, ok: true, value }) + '\n')
    } catch (err) {
      process.stdout.write(JSON.stringify({ id: request.id, ok: false, error: String((err as Error)?.stack ?? err) }) + '\n')
    }
  })()
})
// the test's end closes stdin: stop with it, so no node outlives its namespace
lines.on('close', () => { void (node?.stop() ?? Promise.resolve()).finally(() => process.exit(0)) })
