/**
 * A process that hosts several weft test nodes, driven over Node's IPC channel by
 * test/helpers/node-host.ts: one message in ({ id, op, ...args }), one answer out ({ id, ok,
 * value } or { id, ok: false, error }). Several nodes share a process so a drill can kill
 * nodes with SIGKILL without asking a small machine to run one Node process per node.
 *
 * It has no goodbye: when the parent goes (its test ended or died), the IPC channel closes and
 * this process exits at once, nodes and all, so a failed test never leaves orphans.
 */
import { flushCompileCache } from 'node:module'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { multiaddr } from '@multiformats/multiaddr'
import { CID } from 'multiformats/cid'
import { createNode } from '../../src/node/index.ts'
import type { Config } from '../../src/repo/index.ts'
import { joinNetwork } from '../../src/routing/index.ts'
import { keepSlowConnections } from './node-host.ts'
import { testNodeOptions, type OnlineNode } from './testnet.ts'

process.on('disconnect', () => { process.exit(0) })

const nodes: OnlineNode[] = []
const delay = monitorEventLoopDelay({ resolution: 20 })
delay.enable()

const node = (i: number): OnlineNode => {
  const n = nodes[i]
  if (n === undefined) throw new Error(`no node ${i} in this process`)
  return n
}

const ops: Record<string, (args: any) => Promise<unknown>> = {
  /** Creates one node per home, the storage settings over each home's config (and the exchange's request timeout, if given); the homes in `offerless` offer no storage. */
  async start ({ homes, storage, requestTimeout, offerless = [] }: { homes: string[], storage: Partial<Config['storage']>, requestTimeout?: number, offerless?: string[] }) {
    for (const home of homes) {
      const config = (c: Config): Config => ({ ...c, storage: { ...c.storage, ...storage, ...(offerless.includes(home) ? { offer: 0 } : {}) } })
      const n = await createNode(testNodeOptions(home, { config, requestTimeout })) as OnlineNode
      keepSlowConnections(n.libp2p)
      nodes.push(n)
    }
    // written now, with the network modules loaded: a SIGKILLed process never writes it at exit
    flushCompileCache()
    return nodes.map(n => ({ peerId: n.libp2p.peerId.toString(), addr: n.libp2p.getMultiaddrs()[0].toString() }))
  },
  /** A Kademlia join of every node here through the bootstrap peers (each skips itself), as createTestnet's 'dht' topology does. */
  async join ({ bootstrap, timeout }: { bootstrap: Array<{ peerId: string, addr: string }>, timeout: number }) {
    await Promise.all(nodes.map(async n => {
      const through = bootstrap.filter(b => b.peerId !== n.libp2p.peerId.toString()).map(b => multiaddr(b.addr))
      await joinNetwork(n.libp2p, through, { signal: AbortSignal.timeout(timeout) })
    }))
    return null
  },
  /** How late this process's event loop ran since the last ask (ms), and the CPU it used: how starved its nodes were. */
  async load () {
    const answer = { p50: delay.percentile(50) / 1e6, p99: delay.percentile(99) / 1e6, max: delay.max / 1e6, cpu: process.cpuUsage() }
    delay.reset()
    return answer
  },
  /** Whether each node holds `target` for another peer (fetched whole). */
  async held ({ target }: { target: string }) {
    return nodes.map(n => n.storage.held().some(h => h.target === target && h.state === 'held'))
  },
  /** Node `i` resolves a site and fetches its root whole: the root it resolved, how long each took, the blocks, and who served them. */
  async visit ({ i, name, resolveTimeout, fetchTimeout }: { i: number, name: string, resolveTimeout: number, fetchTimeout: number }) {
    const n = node(i)
    const started = performance.now()
    const resolved = await n.sites.resolve(name, { signal: AbortSignal.timeout(resolveTimeout) })
    const resolveMs = performance.now() - started
    const fetched = await n.exchange.fetch(CID.parse(resolved.root), { signal: AbortSignal.timeout(fetchTimeout) })
    return { root: resolved.root, resolveMs, fetchMs: performance.now() - started - resolveMs, blocks: fetched.blocks, fromPeers: Object.keys(fetched.fromPeers) }
  }
}

process.on('message', (message: { id: number, op: string }) => {
  const op = ops[message.op]
  void (async () => {
    try {
      if (op === undefined) throw new Error(`no such op: ${message.op}`)
      const value = await op(message)
      process.send?.({ id: message.id, ok: true, value })
    } catch (err) {
      process.send?.({ id: message.id, ok: false, error: String((err as Error)?.stack ?? err) })
    }
  })()
})
process.send?.({ ready: true })
