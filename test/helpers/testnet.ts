import type { TestContext } from 'node:test'
import { createNode, type WeftNode } from '../../src/node/index.ts'
import { tmpHome } from './home.ts'

export interface OnlineNode extends WeftNode {
  readonly libp2p: NonNullable<WeftNode['libp2p']>
  readonly exchange: NonNullable<WeftNode['exchange']>
}

export interface TestnetOptions {
  /** How to link the nodes: each to every other (small nets), or each to the first few. */
  topology?: 'mesh' | 'star'
  requestTimeout?: number
  banMs?: number
}

/**
 * N online nodes in this process, each with its own home, on a private network on
 * 127.0.0.1 with ephemeral ports, connected to each other and torn down with the test.
 */
export async function createTestnet (t: TestContext, n: number, options: TestnetOptions = {}): Promise<OnlineNode[]> {
  const nodes: OnlineNode[] = []
  t.after(async () => { await Promise.all(nodes.map(async node => { await node.stop() })) })
  for (let i = 0; i < n; i++) {
    const node = await createNode({
      home: await tmpHome(t),
      online: true,
      net: { listen: ['/ip4/127.0.0.1/tcp/0'], network: { name: 'testnet' }, bootstrap: [], mdns: false },
      exchange: { requestTimeout: options.requestTimeout ?? 2_000, banMs: options.banMs },
      reprovideInterval: 0
    })
    nodes.push(node as OnlineNode)
  }
  const topology = options.topology ?? (n <= 8 ? 'mesh' : 'star')
  for (let i = 0; i < n; i++) {
    const targets = topology === 'mesh' ? nodes.slice(i + 1) : nodes.slice(0, Math.min(i, 3))
    for (const target of targets) {
      if (target === nodes[i]) continue
      await nodes[i].libp2p.dial(target.libp2p.getMultiaddrs()[0])
    }
  }
  return nodes
}
