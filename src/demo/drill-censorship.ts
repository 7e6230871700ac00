/**
 * Drill 4, censorship (issue 15's drill at the demo's scale; only where Debian's tor is
 * installed, else one line says it was skipped and why): a private Tor network of 6 tor
 * processes on 127.0.0.1 (tornet.ts: local directory authorities only, never the public
 * Tor network), and four more nodes on a network of their own:
 *
 *   node 11  a relay (circuit relay v2)
 *   node 12  the publisher: a relay reservation on node 11 and an onion service
 *   node 13  follows the site directly; then a censor in front of it comes up that drops
 *            every address but node 11's, and its connection to node 12 is cut
 *   node 14  onion-only: it never opens a direct connection
 *
 * Node 12 publishes the site's next version: node 13 gets it over the relay, node 14 over
 * onion routing. On one machine every peer shares 127.0.0.1, so the censor is node 13's
 * own connection gater: it drops every dial whose address is not the relay's (a relayed
 * address starts with it), and, since inbound connections all come from 127.0.0.1,
 * refuses those from any peer but the relay that a relay does not carry.
 * test/net/tor/censorship.test.ts is the same drill with a real censor: nftables on a NAT
 * router in network namespaces.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import type { ConnectionGater } from '@libp2p/interface'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { Operations } from '../api/index.ts'
import { catBytes, parseContentPath } from '../content/index.ts'
import { WeftError } from '../errors.ts'
import { createNode, type WeftNode } from '../node/index.ts'
import { isOnion, isRelayed, tcpHostPort, type ReachInit } from '../net/index.ts'
import { startTorNet, torUnavailable, type TorNet } from './tornet.ts'
import { duration, holdsVersion, waitUntil, within } from './steps.ts'

const NETWORK = 'weft-demo-censor'
const LABEL = 'censored'
/** Consensus took 13-26 s here, each node's tor 5-18 s more. */
const TOR_MS = 120_000
/** A fetch over three hops and a rendezvous, or a relay. */
const FETCH_MS = 90_000

export interface CensorshipContext {
  /** The demo's folder of homes: the drill's nodes live under it. */
  root: string
  say: (text: string) => Promise<void>
  interrupted: AbortSignal
}

type Online = WeftNode & { libp2p: NonNullable<WeftNode['libp2p']> }

interface DrillNode {
  number: number
  node: Online
}

/** The censor in front of node 13: once up, only the relay's address gets through (see the header). */
interface Censor {
  up: boolean
  gater: Pick<ConnectionGater, 'denyDialMultiaddr' | 'denyInboundEncryptedConnection'>
}

function censor (relay: Multiaddr): Censor {
  const relayPort = tcpPort(relay)
  const relayPeer = relay.getComponents().find(c => c.name === 'p2p')?.value
  const c: Censor = {
    up: false,
    gater: {
      denyDialMultiaddr: ma => c.up && tcpPort(ma) !== relayPort,
      denyInboundEncryptedConnection: (peer, conn) => c.up && peer.toString() !== relayPeer && !conn.remoteAddr.toString().includes('/p2p-circuit')
    }
  }
  return c
}

function tcpPort (ma: Multiaddr): number | undefined {
  return tcpHostPort(ma.toString())?.port
}

/** Runs the drill; false when tor is missing and it was skipped (saying why). */
export async function drillCensorship (ctx: CensorshipContext): Promise<boolean> {
  const { say, interrupted } = ctx
  const why = await torUnavailable()
  if (why !== undefined) {
    await say(`4. Censorship: skipped, it needs a private Tor network: ${why}.`)
    return false
  }
  await say('4. Censorship. A follower a censor cuts off from a site\'s publisher, and one that uses only onion routing, still get the site\'s next version.')
  const tornet = await startTorNet({ timeoutMs: TOR_MS, signal: interrupted })
  const nodes: DrillNode[] = []
  try {
    await say(`   A private Tor network on 127.0.0.1 (3 directory authorities and 3 relays, tor processes of this machine, none of the public Tor network) agreed on a consensus in ${duration(tornet.consensusMs)}.`)
    await run(ctx, tornet, nodes)
    return true
  } finally {
    await Promise.allSettled(nodes.map(async n => { await n.node.stop() }))
    await tornet.stop()
  }
}

async function run (ctx: CensorshipContext, tornet: TorNet, nodes: DrillNode[]): Promise<void> {
  const { say, interrupted } = ctx
  const start = async (number: number, net: { reach: ReachInit, bootstrap?: string[], tor?: { onionOnly: boolean }, gater?: Censor['gater'] }): Promise<DrillNode> => {
    const tor = net.tor === undefined ? {} : { tor: { onionOnly: net.tor.onionOnly, port: 4101, torrc: tornet.clientTorrc(), binary: 'tor' } }
    const node = await createNode({
      home: join(ctx.root, `node-${number}`),
      online: true,
      net: { listen: net.tor?.onionOnly === true ? [] : ['/ip4/127.0.0.1/tcp/0'], network: { name: NETWORK, ...tor }, bootstrap: net.bootstrap ?? [], mdns: false, reach: net.reach, gater: net.gater },
      exchange: { requestTimeout: 30_000 }
    }) as Online
    const drillNode = { number, node }
    nodes.push(drillNode)
    if (node.tor !== undefined) {
      const signal = within(TOR_MS, interrupted)
      await node.tor.bootstrapped({ signal })
      await node.tor.published({ signal })
    }
    return drillNode
  }
  let t = performance.now()
  const relay = await start(11, { reach: { serve: true, use: false, holePunch: false } })
  const relayAddr = relay.node.libp2p.getMultiaddrs()[0]
  const publisher = await start(12, { reach: { serve: false, use: true, holePunch: false }, bootstrap: [relayAddr.toString()], tor: { onionOnly: false } })
  const publisherOnion = multiaddr(`${publisher.node.tor?.listenAddr.toString() ?? ''}/p2p/${publisher.node.libp2p.peerId.toString()}`)
  await waitUntil('node 12 did not get a relay reservation on node 11', 60_000, interrupted, () => publisher.node.libp2p.getMultiaddrs().some(a => a.toString().includes('/p2p-circuit')) ? true : undefined, 200)
  const wall = censor(relayAddr)
  const [viaRelay, viaOnion] = await Promise.all([
    start(13, { reach: { serve: false, use: false, holePunch: false }, bootstrap: [relayAddr.toString()], gater: wall.gater }),
    start(14, { reach: { serve: false, use: false, holePunch: false }, bootstrap: [publisherOnion.toString()], tor: { onionOnly: true } })
  ])
  await say(`   Node 11 relays; node 12 publishes, holds a reservation on node 11 and runs an onion service (${publisher.node.tor?.listenAddr.toString() ?? ''}); node 14 is onion-only: it never opens a direct connection. Started, tors bootstrapped, in ${duration(performance.now() - t)}.`)

  const first = await publish(ctx, publisher.node, 'one')
  t = performance.now()
  const followed = await Promise.all([viaRelay, viaOnion].map(async f => {
    await connect(ctx, f, f === viaRelay ? publisher.node.libp2p.peerId : publisherOnion)
    await f.node.sites.follow(first.name, { signal: within(FETCH_MS, interrupted) })
    await holds(ctx, f, first)
    return performance.now() - t
  }))
  await say(`   Node 12 published a site: node 13 follows it directly and held it in ${duration(followed[0])}, node 14 over onion routing in ${duration(followed[1])}.`)

  // The censor goes up: node 13's open connections to node 12 are cut, and its address can no longer be reached.
  wall.up = true
  await Promise.all(viaRelay.node.libp2p.getConnections(publisher.node.libp2p.peerId).map(async c => { await c.close() }))
  const direct = publisher.node.libp2p.getMultiaddrs().find(a => !a.toString().includes('/p2p-circuit') && tcpPort(a) !== undefined)?.decapsulateCode(421)
  if (direct === undefined) throw new WeftError('ERR_INTERNAL', 'demo: node 12 has no TCP address')
  const blocked = await viaRelay.node.libp2p.dial(direct, { signal: within(10_000, interrupted) }).then(() => false, () => true)
  if (!blocked) throw new WeftError('ERR_INTERNAL', `demo: node 13 reached node 12 at ${direct.toString()} through the censor`)
  await say(`   A censor in front of node 13 now drops every address but node 11's: its connection to node 12 is cut and a dial of ${direct.toString()} fails.`)

  t = performance.now()
  const second = await publish(ctx, publisher.node, 'two')
  const published = performance.now() - t
  const times = await Promise.all([viaRelay, viaOnion].map(async f => {
    // node 13 dials node 12 again (its follow would at its next DHT poll); node 14's onion connection stayed up
    if (f === viaRelay) await connect(ctx, f, publisher.node.libp2p.peerId)
    await holds(ctx, f, second)
    return performance.now() - t
  }))
  for (const f of [viaRelay, viaOnion]) {
    const got = await text(f.node, `/ipfs/${second.root}/index.html`)
    if (got !== second.page) throw new WeftError('ERR_INTERNAL', `demo: node ${f.number}'s copy of version two differs from what node 12 published`)
  }
  const relayed = viaRelay.node.libp2p.getConnections(publisher.node.libp2p.peerId)
  if (relayed.length === 0 || !relayed.every(c => isRelayed(c))) throw new WeftError('ERR_INTERNAL', `demo: node 13 has a connection to node 12 that no relay carries: ${relayed.map(c => c.remoteAddr.toString()).join(', ')}`)
  const onion = viaOnion.node.libp2p.getConnections(publisher.node.libp2p.peerId)
  if (onion.length === 0 || !onion.every(c => isOnion(c.remoteAddr) || (c.direction === 'inbound' && c.remoteAddr.toString().startsWith('/ip4/127.0.0.1/')))) {
    throw new WeftError('ERR_INTERNAL', `demo: node 14 has a connection to node 12 outside Tor: ${onion.map(c => c.remoteAddr.toString()).join(', ')}`)
  }
  await say(`   Node 12 published version 2 (${duration(published)}, its DHT put included): node 13 held it ${duration(times[0])} after the publish began, over node 11's relay, node 14 after ${duration(times[1])}, over onion routing; both byte-identical, and neither has a connection to node 12 outside the relay or Tor.`)
}

/** Node 12 publishes a one-page version of the drill's site (created on the first call). */
async function publish (ctx: CensorshipContext, node: Online, version: string): Promise<{ name: string, root: string, sequence: bigint, page: string }> {
  const site = node.sites.list().find(s => s.label === LABEL) ?? await node.sites.create(LABEL)
  const dir = join(ctx.root, `censored-${version}`)
  const page = `<h1>Censored site, version ${version}</h1>\n`
  await mkdir(dir, { recursive: true })
  await writeFile(join(dir, 'index.html'), page)
  const report = await new Operations(node).publish(dir, { site: LABEL })
  return { name: site.name, root: report.root, sequence: BigInt(report.sequence), page }
}

/** Dials until a connection opens: a first dial over Tor can fail while its tor fetches the service's descriptor. */
async function connect (ctx: CensorshipContext, from: DrillNode, to: Parameters<Online['libp2p']['dial']>[0]): Promise<void> {
  await waitUntil(`node ${from.number} found no path to node 12 (dialling ${to.toString()})`, FETCH_MS, ctx.interrupted, async signal => {
    await from.node.libp2p.dial(to, { signal: AbortSignal.any([signal, AbortSignal.timeout(30_000)]) })
    return true
  }, 1_000)
}

async function holds (ctx: CensorshipContext, f: DrillNode, version: { name: string, sequence: bigint }): Promise<void> {
  await waitUntil(`node ${f.number} did not hold sequence ${version.sequence} of the site`, FETCH_MS, ctx.interrupted, async () => await holdsVersion(f, version.name, version.sequence) ? true : undefined, 100)
}

async function text (node: Online, path: string): Promise<string> {
  return (await catBytes(node.blocks, parseContentPath(path))).toString()
}
