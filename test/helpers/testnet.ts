import type { TestContext } from 'node:test'
import { createNode, type CreateNodeOptions, type WeftNode } from '../../src/node/index.ts'
import { tmpHome } from './home.ts'
import { joinNetwork } from '../../src/routing/index.ts'
import type { SitesInit } from '../../src/sites/index.ts'
import type { Config } from '../../src/repo/index.ts'
import type { UserLinkInit, UsersInit } from '../../src/users/index.ts'
import type { MessagesInit } from '../../src/private/index.ts'

export interface OnlineNode extends WeftNode {
  readonly libp2p: NonNullable<WeftNode['libp2p']>
  readonly exchange: NonNullable<WeftNode['exchange']>
  readonly routing: NonNullable<WeftNode['routing']>
}

export interface TestnetOptions {
  /**
   * How to link the nodes: each to every other (small nets), each to the first few, or
   * a Kademlia join through the first three (as real nodes join through bootstrap peers).
   */
  topology?: 'mesh' | 'star' | 'dht'
  requestTimeout?: number
  banMs?: number
  /** Sites' timers for every node (default: no republish or poll schedule; tests drive them). */
  sites?: Partial<SitesInit>
  /** Users' timers and limits for every node (default: USERS_DEFAULTS). */
  users?: Partial<UsersInit>
  /** The device link's timers and clock for every node. */
  userLink?: UserLinkInit
  /** Messages' timers and limits for every node (default: MESSAGES_DEFAULTS). */
  messages?: Partial<MessagesInit>
  /** Settings for each new home, over the defaults. */
  config?: (config: Config) => Config
  /** Peers this node refuses to dial or accept (a test's network partition); by default the exchange's bans. */
  isBanned?: (peer: string) => boolean
  /** The exchange's swarming (answering wants for blocks a node is fetching itself when they arrive). */
  swarm?: boolean
}

/**
 * What createNode gets for a node of the test network (also used by the processes that host
 * test nodes outside the test's own, test/helpers/node-host-process.ts).
 */
export function testNodeOptions (home: string, options: TestnetOptions = {}): CreateNodeOptions {
  return {
    home,
    configOverrides: options.config,
    online: true,
    net: { listen: ['/ip4/127.0.0.1/tcp/0'], network: { name: 'testnet' }, bootstrap: [], mdns: false, isBanned: options.isBanned, reach: { serve: false, use: false, holePunch: false } },
    exchange: { requestTimeout: options.requestTimeout ?? 2_000, banMs: options.banMs, swarm: options.swarm },
    reprovideInterval: 0,
    sites: { republishInterval: 0, pollInterval: 0, ...options.sites },
    users: options.users,
    userLink: options.userLink,
    messages: options.messages
  }
}

/** Starts one more online node on the test network, without linking it to anyone. */
export async function createTestNode (t: TestContext, options: TestnetOptions & { home?: string } = {}): Promise<OnlineNode> {
  const node = await createNode(testNodeOptions(options.home ?? await tmpHome(t), options))
  t.after(async () => { await node.stop() })
  return node as OnlineNode
}

/**
 * N online nodes in this process, each with its own home, on a private network on
 * 127.0.0.1 with ephemeral ports, connected to each other and torn down with the test.
 */
export async function createTestnet (t: TestContext, n: number, options: TestnetOptions = {}): Promise<OnlineNode[]> {
  const nodes: OnlineNode[] = []
  for (let i = 0; i < n; i++) nodes.push(await createTestNode(t, options))
  const topology = options.topology ?? (n <= 8 ? 'mesh' : 'star')
  if (topology === 'dht') {
    await Promise.all(nodes.map(async (node, i) => {
      const bootstrap = [0, 1, 2].filter(j => j !== i && j < n).map(j => nodes[j].libp2p.getMultiaddrs()[0])
      await joinNetwork(node.libp2p, bootstrap, { signal: AbortSignal.timeout(120_000) })
    }))
    return nodes
  }
  for (let i = 0; i < n; i++) {
    const targets = topology === 'mesh' ? nodes.slice(i + 1) : nodes.slice(0, Math.min(i, 3))
    for (const target of targets) {
      if (target === nodes[i]) continue
      await nodes[i].libp2p.dial(target.libp2p.getMultiaddrs()[0])
    }
  }
  return nodes
}
