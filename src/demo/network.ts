/**
 * The demo's network: N daemons in this process, each with a temporary home under one
 * `weft-demo-*` folder, on a private network of their own, listening and dialling on
 * 127.0.0.1 only (no bootstrap list, no mDNS), connected each to each.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { startDaemon, type Daemon } from '../daemon/index.ts'
import type { WeftNode } from '../node/index.ts'
import type { Config } from '../repo/index.ts'
import type { WeftLibp2p } from '../net/index.ts'
import { PROTOCOL as EXCHANGE_PROTOCOL } from '../exchange/index.ts'
import { WeftError, isWeftError } from '../errors.ts'

export const DEMO_NETWORK = 'weft-demo'
const LOOPBACK_ANY_PORT = '/ip4/127.0.0.1/tcp/0'
/** The gateway port a browser user expects (the daemon's default). */
const PREFERRED_GATEWAY_PORT = 8080

export interface DemoNode {
  /** 1-based, as the demo's output names it. */
  readonly number: number
  readonly home: string
  readonly daemon: Daemon
  readonly node: WeftNode
  readonly libp2p: WeftLibp2p
  running: boolean
}

export interface DemoNetwork {
  /** The folder holding every home (and the demo's scratch files). */
  readonly root: string
  readonly nodes: DemoNode[]
  /** Which node a peer id belongs to, for messages ("node 3"). */
  nodeOf(peer: string): DemoNode | undefined
  /** Stops node `number` (the others keep running). */
  stopNode(number: number): Promise<void>
  /** Stops every node still running, at most `ms` for all of them. */
  stop(ms: number): Promise<void>
}

export interface NetworkOptions {
  size: number
  /** The node (1-based) whose gateway the visitor uses; default the last. */
  gatewayNode?: number
  /** That node's gateway port: undefined tries 8080 and falls back to any free port. */
  gatewayPort?: number
  /** More config for node `number` (the demo's Handshake endpoint, storage offers). */
  nodeConfig?: (number: number) => ((config: Config) => Config) | undefined
  signal: AbortSignal
}

function demoConfig (gateway: string, more: (config: Config) => Config): (config: Config) => Config {
  return config => more({
    ...config,
    network: { name: DEMO_NETWORK },
    bootstrap: [],
    addresses: { listen: [LOOPBACK_ANY_PORT], api: LOOPBACK_ANY_PORT, gateway },
    discovery: { mdns: false }
  })
}

async function startDemoDaemon (home: string, gateway: string, more: (config: Config) => Config = c => c): Promise<Daemon> {
  return await startDaemon({
    home,
    configOverrides: demoConfig(gateway, more),
    apiAddress: LOOPBACK_ANY_PORT,
    gatewayAddress: gateway,
    net: { listen: [LOOPBACK_ANY_PORT], network: { name: DEMO_NETWORK }, bootstrap: [], mdns: false }
  })
}

/** The visitor's gateway: the port asked for, else 8080 when it is free, else any free port. */
async function startGatewayNode (home: string, port: number | undefined, more?: (config: Config) => Config): Promise<Daemon> {
  if (port !== undefined) {
    try {
      return await startDemoDaemon(home, `/ip4/127.0.0.1/tcp/${port}`, more)
    } catch (err) {
      if (!isWeftError(err, 'ERR_ADDRESS_IN_USE')) throw err
      throw new WeftError('ERR_ADDRESS_IN_USE', `demo: 127.0.0.1:${port} is in use by another program; pass another --port (0: any free port)`)
    }
  }
  try {
    return await startDemoDaemon(home, `/ip4/127.0.0.1/tcp/${PREFERRED_GATEWAY_PORT}`, more)
  } catch (err) {
    if (!isWeftError(err, 'ERR_ADDRESS_IN_USE')) throw err
    return await startDemoDaemon(home, LOOPBACK_ANY_PORT, more)
  }
}

/** Waits until `from` has identified `to` as a weft peer (its DHT has then taken it into its routing table). */
async function identified (from: WeftLibp2p, to: WeftLibp2p, signal: AbortSignal): Promise<void> {
  while (true) {
    const peer = await from.peerStore.get(to.peerId).catch(() => undefined)
    if (peer?.protocols.includes(EXCHANGE_PROTOCOL) === true) return
    await sleep(25, undefined, { signal })
  }
}

export async function startNetwork (options: NetworkOptions): Promise<DemoNetwork> {
  const root = await mkdtemp(join(tmpdir(), 'weft-demo-'))
  const nodes: DemoNode[] = []
  const stopNode = async (node: DemoNode): Promise<void> => {
    if (!node.running) return
    node.running = false
    await node.daemon.stop()
  }
  const network: DemoNetwork = {
    root,
    nodes,
    nodeOf: peer => nodes.find(n => n.libp2p.peerId.toString() === peer),
    stopNode: async number => { await stopNode(nodes[number - 1]) },
    async stop (ms) {
      const all = Promise.allSettled(nodes.map(stopNode))
      const late = sleep(ms, 'late' as const, { ref: false })
      if (await Promise.race([all.then(() => 'done' as const), late]) === 'late') {
        throw new WeftError('ERR_INTERNAL', `demo: the nodes did not stop within ${ms / 1000} s`)
      }
    }
  }
  try {
    const started = await Promise.allSettled(Array.from({ length: options.size }, async (_, i) => {
      const home = join(root, `node-${i + 1}`)
      const more = options.nodeConfig?.(i + 1)
      const daemon = i + 1 === (options.gatewayNode ?? options.size) ? await startGatewayNode(home, options.gatewayPort, more) : await startDemoDaemon(home, LOOPBACK_ANY_PORT, more)
      return { number: i + 1, home, daemon, node: daemon.node, libp2p: daemon.node.libp2p as WeftLibp2p, running: true }
    }))
    for (const s of started) if (s.status === 'fulfilled') nodes.push(s.value)
    const failed = started.find(s => s.status === 'rejected')
    if (failed !== undefined) throw failed.reason
    options.signal.throwIfAborted()
    // Each dials every later one: a full mesh, as a small group of friends would be.
    const signal = AbortSignal.any([options.signal, AbortSignal.timeout(20_000)])
    await Promise.all(nodes.flatMap((a, i) => nodes.slice(i + 1).map(async b => {
      await a.libp2p.dial(b.libp2p.getMultiaddrs()[0], { signal })
    })))
    await Promise.all(nodes.flatMap(a => nodes.filter(b => b !== a).map(async b => { await identified(a.libp2p, b.libp2p, signal) })))
    return network
  } catch (err) {
    await network.stop(15_000).catch(() => {})
    await rm(root, { recursive: true, force: true })
    if (options.signal.aborted) throw err
    if ((err as Error).name === 'TimeoutError' || (err as Error).name === 'AbortError') {
      throw new WeftError('ERR_DIAL_FAILED', 'demo: the nodes did not connect to each other on 127.0.0.1 within 20 s')
    }
    throw err
  }
}
