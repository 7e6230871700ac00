import { createBlocks, type Blocks } from '../blocks/index.ts'
import { createExchange, createBitswapExchange, type Exchange, type BitswapExchange } from '../exchange/index.ts'
import { createNet, type NetInit, type WeftLibp2p } from '../net/index.ts'
import { createRouting, type Routing } from '../routing/index.ts'
import { multiaddr } from '@multiformats/multiaddr'
import { openRepo, parseSize, parseDuration, type Repo, type OpenRepoOptions } from '../repo/index.ts'

export interface WeftNode {
  readonly repo: Repo
  readonly blocks: Blocks
  /** Present when the node was created online. */
  readonly libp2p?: WeftLibp2p
  readonly exchange?: Exchange
  readonly bitswap?: BitswapExchange
  readonly routing?: Routing
  stop(): Promise<void>
}

export interface CreateNodeOptions extends OpenRepoOptions {
  home: string
  /** Start the network too (the daemon, tests); otherwise the node is its home alone. */
  online?: boolean
  /** Settings that override config.json for this run (tests: loopback, port 0, fast timers). */
  net?: Partial<Omit<NetInit, 'privateKey'>>
  exchange?: { requestTimeout?: number, banMs?: number }
  /** Override the reprovide schedule (ms; 0 = off). */
  reprovideInterval?: number
}


/**
 * The composition root: each module is built here, in order, from what the ones before
 * it provide, and stopped in the reverse order.
 */
export async function createNode (options: CreateNodeOptions): Promise<WeftNode> {
  const repo = await openRepo(options.home, options)
  const stops: Array<() => Promise<void> | void> = [() => { repo.close() }]
  const stop = async (): Promise<void> => {
    for (const fn of stops.splice(0).reverse()) {
      try {
        await fn()
      } catch { /* keep stopping the rest */ }
    }
  }
  try {
    // blocks needs the metadata db (index and pins share it) and the quota from config.
    const blocks = createBlocks({ db: repo.db, dir: repo.paths.blocks }, {
      storageMax: parseSize(repo.config.datastore.storageMax) as number,
      sync: repo.config.datastore.sync
    })
    stops.push(async () => { await blocks.close() })
    if (options.online !== true) return { repo, blocks, stop }

    // net needs the identity key and the network settings, and asks the exchange (built
    // later, so looked up late) which peers are banned.
    let exchangeForGater: Exchange | undefined
    const libp2p = await createNet({
      isBanned: peer => exchangeForGater?.isBanned(peer) ?? false,
      privateKey: repo.identity,
      network: repo.config.network,
      bootstrap: repo.config.bootstrap,
      listen: repo.config.addresses.listen,
      mdns: repo.config.discovery.mdns,
      ...options.net
    })
    stops.push(async () => { await libp2p.stop() })
    // routing needs libp2p's DHT, and the pins and blocks it announces.
    const routing = createRouting({
      libp2p,
      roots: () => blocks.pins().map(p => p.cid),
      allBlocks: () => blocks.cids()
    }, {
      strategy: repo.config.routing.strategy,
      reprovideInterval: options.reprovideInterval ?? parseDuration(repo.config.routing.reprovideInterval) as number,
      bootstrap: (options.net?.bootstrap ?? repo.config.bootstrap).map(a => multiaddr(a))
    })
    await routing.start()
    stops.push(async () => { await routing.stop() })
    // bitswap needs libp2p and the store: it serves IPFS peers and fetches from them.
    const bitswap = createBitswapExchange({ libp2p, blocks })
    await bitswap.start()
    stops.push(async () => { await bitswap.stop() })
    // exchange needs libp2p to talk, the store to serve from and verify into, routing to
    // find providers, and bitswap for what no weft peer has.
    const exchange = createExchange({
      libp2p,
      blocks,
      bitswap,
      findProviders: (cid, o) => routing.findProviders(cid, o)
    }, options.exchange)
    exchangeForGater = exchange
    await exchange.start()
    stops.push(async () => { await exchange.stop() })
    return { repo, blocks, libp2p, exchange, bitswap, routing, stop }
  } catch (err) {
    await stop()
    throw err
  }
}
