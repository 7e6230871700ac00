import { createBlocks, type Blocks } from '../blocks/index.ts'
// The network's modules load only when the node goes online (loadNetwork): an offline node
// (`weft add` and every command without a daemon) spares their time and memory.
import type { Exchange, BitswapExchange } from '../exchange/index.ts'
import type { NetInit, Reconnect, ReconnectInit, TorClient, WeftLibp2p } from '../net/index.ts'
import type { Routing } from '../routing/index.ts'
import type { PeerId } from '@libp2p/interface'
import { createSites, SITES_DEFAULTS, type Sites, type SitesInit } from '../sites/index.ts'
import { createUserIdentity, createUserLink, createUsers, type UserIdentity, type UserLink, type UserLinkInit, type Users, type UsersInit } from '../users/index.ts'
import { createMessages, createPrivateStore, createPrivateSync, createShares, type Shares, type Messages, type MessagesInit, type PrivateStore, type PrivateStoreInit, type PrivateSync, type PrivateSyncInit } from '../private/index.ts'
import { createStorage, requestOver, STORAGE_DEFAULTS, STORAGE_PROTOCOL, type Storage, type StorageInit } from '../storage/index.ts'
import { WeftError } from '../errors.ts'
import { openRepo, type Repo, type OpenRepoOptions } from '../repo/index.ts'
import { createDnslinkResolver, createNaming, isKeyName, Petnames, type Naming, type NameResolver } from '../naming/index.ts'
import { PinRequests } from '../storage/pinning/requests.ts'
import type { PinningService, PinningInit } from '../storage/pinning/service.ts'

export interface WeftNode {
  readonly repo: Repo
  readonly blocks: Blocks
  /** Present when the node was created online. */
  readonly libp2p?: WeftLibp2p
  /** Present when network.tor is set: the onion service peers reach this node on. */
  readonly tor?: TorClient
  readonly exchange?: Exchange
  readonly bitswap?: BitswapExchange
  readonly routing?: Routing
  /** Remembers the peers met and redials them after a restart. */
  readonly reconnect?: Reconnect
  /** Own sites, resolving, following; online parts only when the node is. */
  readonly sites: Sites
  /** The person's identity on each site, their contributions and everyone's, and each site's database. */
  readonly users: Users
  /** The master key behind the per-site user keys (one instance: the API imports into it). */
  readonly userIdentity: UserIdentity
  /** The person's private files per site, sealed here before they become blocks. */
  readonly private: PrivateStore
  /** Hands the master key to the person's other node over `/weft/user-link/1.0.0` (online only). */
  readonly userLink?: UserLink
  /** Moves the private index between the person's devices (online only). */
  readonly privateSync?: PrivateSync
  /** Sealed messages between users of a site: carried for the sites followed or owned, opened into this person's inbox. */
  readonly messages: Messages
  /** Private folders shared with other users of a site, and those shared with this person. */
  readonly shares: Shares
  /** Replicas: what this node holds for others, and what it placed on others (online: audits, repair). */
  readonly storage: Storage
  /** Human-readable names: petnames, DNSLink (and the chains configured). */
  readonly naming: Naming
  readonly petnames: Petnames
  /** The IPFS Pinning Service API's requests, fetched in the background (online only). */
  readonly pinning?: PinningService
  /**
   * Any name a visitor types, to `/ipfs/<root>[/path]`: a key through sites (the newest
   * valid record), anything else through naming first. `ttl` is the shortest on the way.
   * With `held`, a followed site still fetching its newest version answers the newest one
   * held whole (sites.resolve); `sequence` is the version answered, `newest` the newest known.
   */
  resolvePath(name: string, options?: { signal?: AbortSignal, offline?: boolean, held?: boolean }): Promise<ResolvedPath>
  stop(): Promise<void>
}

export interface ResolvedPath {
  value: string
  ttl: number
  /** The site version answered, when a site record decided. */
  sequence?: bigint
  /** The newest sequence known, when an older version held whole is answered instead. */
  newest?: bigint
  /** When a human-readable name led here: which resolver answered, and whether its answer was proven. */
  named?: { resolver: string, proven: boolean }
}

export interface CreateNodeOptions extends OpenRepoOptions {
  home: string
  /** Start the network too (the daemon, tests); otherwise the node is its home alone. */
  online?: boolean
  /** Settings that override config.json for this run (tests: loopback, port 0, fast timers). */
  net?: Partial<Omit<NetInit, 'privateKey'>>
  exchange?: { requestTimeout?: number, banMs?: number, swarm?: boolean }
  /** Override the reprovide schedule (ms; 0 = off). */
  reprovideInterval?: number
  /** Override config's routing.hardened (tests, benchmarks). */
  hardened?: boolean
  /** Override sites' timers and limits (tests, benchmarks). */
  sites?: Partial<SitesInit>
  /** Override users' timers and limits (tests, benchmarks). */
  users?: Partial<UsersInit>
  /** Override the private store's record validity and TTL (tests). */
  private?: Partial<PrivateStoreInit>
  /** Override the device link's timers and clock (tests). */
  userLink?: UserLinkInit
  /** Override private sync's timeouts (tests). */
  privateSync?: PrivateSyncInit
  /** Override messages' timers and limits (tests). */
  messages?: Partial<MessagesInit>
  /** Override how remembered peers are redialled at start (tests). */
  reconnect?: Partial<ReconnectInit>
  /** Override storage's offer, audit schedule and limits (tests, benchmarks). */
  storage?: Partial<StorageInit>
  /** Benchmarks only: hash blocks read from the store (default true). */
  verifyReads?: boolean
  /** Override the pinning service's timeouts and concurrency (tests). */
  pinning?: PinningInit
}


/** The modules only an online node needs, loaded at its first start. */
async function loadNetwork () {
  const [net, routing, exchange, { multiaddr }] = await Promise.all([
    import('../net/index.ts'), import('../routing/index.ts'), import('../exchange/index.ts'), import('@multiformats/multiaddr')
  ])
  return { ...net, ...routing, ...exchange, multiaddr }
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
    // (sites and the exchange are built later, so the roots sites holds and the exchange
    // that refetches a damaged block are looked up late; offline there is no repair.)
    let sitesForGc: Sites | undefined
    let usersForGc: Users | undefined
    let privateForGc: PrivateStore | undefined
    let storageForGc: Storage | undefined
    let exchangeForRepair: Exchange | undefined
    // the pinning service's requests hold their DAGs apart from the user's own pins
    const pinRequests = new PinRequests(repo.db)
    const blocks = createBlocks({
      db: repo.db,
      dir: repo.paths.blocks,
      heldRoots: () => [...(sitesForGc?.heldRoots() ?? []), ...(usersForGc?.heldRoots() ?? []), ...(privateForGc?.heldRoots() ?? []), ...pinRequests.heldRoots(), ...(storageForGc?.heldRoots() ?? [])],
      repair: options.online === true
        ? async (cid, o) => {
          if (exchangeForRepair === undefined) throw new WeftError('ERR_OFFLINE', 'the exchange is not running')
          await exchangeForRepair.fetch(cid, { recursive: false, signal: o.signal })
        }
        : undefined
    }, {
      storageMax: repo.config.datastore.storageMax,
      sync: repo.config.datastore.sync,
      verifyReads: options.verifyReads
    })
    stops.push(async () => { await blocks.close() })
    const sitesConfig = repo.config.sites
    const sitesInit: SitesInit = {
      validity: sitesConfig.validity,
      ttl: sitesConfig.ttl,
      republishInterval: sitesConfig.republishInterval,
      pollInterval: sitesConfig.pollInterval,
      keepVersions: sitesConfig.keepVersions,
      ...SITES_DEFAULTS,
      ...options.sites
    }
    // naming needs the db for petnames and the DNS servers from config (the chains come with their endpoints).
    const petnames = new Petnames(repo.db)
    const namingConfig = repo.config.naming
    const resolvers: NameResolver[] = [petnames]
    // each chain's resolver loads only when the chain is configured
    if (namingConfig.ens.rpc !== undefined) {
      const { createEnsResolver } = await import('../naming/ens.ts')
      resolvers.push(createEnsResolver({ ...namingConfig.ens, rpc: namingConfig.ens.rpc }))
    }
    if (namingConfig.namecoin.rpc !== undefined) {
      const { createNamecoinResolver } = await import('../naming/namecoin.ts')
      resolvers.push(createNamecoinResolver({ ...namingConfig.namecoin, rpc: namingConfig.namecoin.rpc }))
    }
    if (namingConfig.hns.rpc !== undefined) {
      const { createHnsResolver } = await import('../naming/hns.ts')
      resolvers.push(createHnsResolver({ ...namingConfig.hns, rpc: namingConfig.hns.rpc }))
    }
    resolvers.push(createDnslinkResolver({ servers: namingConfig.dns }))
    const naming = createNaming(resolvers, {
      timeout: repo.config.naming.timeout,
      negativeTtl: repo.config.naming.negativeTtl
    })
    const resolvePathWith = (sites: Sites) => async (name: string, o: { signal?: AbortSignal, offline?: boolean, held?: boolean } = {}): Promise<ResolvedPath> => {
      if (isKeyName(name)) return await sites.resolve(name, o)
      const named = await naming.resolve(name, o)
      const how = { resolver: named.resolver, proven: named.proven }
      const m = /^\/ipns\/([^/]+)(.*)$/.exec(named.value)
      if (m === null) return { value: named.value, ttl: named.ttl, named: how }
      const record = await sites.resolve(m[1], o)
      return { value: record.value + m[2], ttl: Math.min(named.ttl, record.ttl), sequence: record.sequence, newest: record.newest, named: how }
    }
    // sites needs the db for its records and the key files; offline it signs and resolves from the home.
    const keyPath = (label: string): string => repo.paths.siteKey(label)
    // users needs the master key, the db for its tables, a folder for each site's database,
    // the store for folders, and sites for which sites are followed and their rules.
    // private sync (built later, so told late) follows the index names a newly imported master key gives
    const keyImported = new EventTarget()
    const userIdentity = createUserIdentity({ path: repo.paths.userKey, onImported: () => { keyImported.dispatchEvent(new Event('imported')) } })
    const usersBase = { db: repo.db, identity: userIdentity, siteDbDir: repo.paths.siteDbs, blocks }
    // the private store needs the db for its indexes, the master key's derived keys, the
    // store for ciphertext and, online, the exchange (built later, so looked up late) for
    // blocks written on another device.
    let exchangeForPrivate: Exchange | undefined
    const privateStore = createPrivateStore({
      db: repo.db,
      identity: userIdentity,
      blocks,
      fetchBlock: options.online === true
        ? async (cid, o) => {
          if (exchangeForPrivate === undefined) throw new WeftError('ERR_OFFLINE', 'the exchange is not running')
          await exchangeForPrivate.fetch(cid, { recursive: false, signal: o.signal })
        }
        : undefined
    }, options.private)
    privateForGc = privateStore
    const storageConfig = repo.config.storage
    const storageInit: StorageInit = {
      offer: storageConfig.offer ?? 0,
      perPeer: storageConfig.perPeer,
      copies: storageConfig.copies,
      auditInterval: storageConfig.auditInterval,
      auditTimeout: storageConfig.auditTimeout,
      auditSample: storageConfig.auditSample,
      auditFailures: storageConfig.auditFailures,
      auditFollowed: storageConfig.auditFollowed,
      ...STORAGE_DEFAULTS,
      ...options.storage
    }
    if (options.online !== true) {
      const sites = createSites({ db: repo.db, keyPath, blocks }, sitesInit)
      sitesForGc = sites
      const users = createUsers({ ...usersBase, sites }, options.users)
      usersForGc = users
      stops.push(async () => { await users.stop() })
      // offline, messages seal into the home (peers ask for them when the daemon runs) and the inbox is read
      const messages = createMessages({ db: repo.db, identity: userIdentity, sites }, options.messages)
      // shares travel in the person's contribution (users) and read the store's folders and keys
      const shares = createShares({ store: privateStore, identity: userIdentity, users, blocks })
      await shares.start()
      stops.push(async () => { await shares.stop() })
      // offline, storage reads its tables (and gc keeps what it holds for others)
      const storage = createStorage({ db: repo.db, blocks, sites }, storageInit)
      storageForGc = storage
      return { repo, blocks, sites, users, userIdentity, private: privateStore, messages, shares, storage, naming, petnames, resolvePath: resolvePathWith(sites), stop }
    }

    // net needs the identity key, the network settings and the db (its peer store and DHT
    // records outlive a restart), and asks the exchange (built later, so looked up late)
    // which peers are banned.
    let exchangeForGater: Exchange | undefined
    const isBanned = (peer: string): boolean => options.net?.isBanned?.(peer) ?? exchangeForGater?.isBanned(peer) ?? false
    const { createNet, createReconnect, SqliteDatastore, createRouting, createExchange, createBitswapExchange, multiaddr, TorClient, openStream, DIVERSITY_DEFAULTS } = await loadNetwork()
    const datastore = new SqliteDatastore(repo.db)
    // tor (network.tor) needs the home for its state and onion key; libp2p listens and
    // dials through it, so it starts first and stops after.
    const network = options.net?.network ?? repo.config.network
    const torConfig = network === 'ipfs' ? undefined : network.tor
    let tor: TorClient | undefined
    if (torConfig !== undefined) {
      const hostPort = (text: string): { host: string, port: number } => ({ host: text.slice(0, text.lastIndexOf(':')), port: Number(text.slice(text.lastIndexOf(':') + 1)) })
      const client = new TorClient({
        onionOnly: torConfig.onionOnly,
        control: torConfig.control === undefined ? undefined : hostPort(torConfig.control),
        socks: torConfig.socks === undefined ? undefined : hostPort(torConfig.socks),
        port: torConfig.port,
        torrc: torConfig.torrc,
        binary: torConfig.binary,
        dataDir: repo.paths.tor
      })
      await client.start()
      stops.push(async () => { await client.stop() })
      tor = client
    }
    const libp2p = await createNet({
      datastore,
      privateKey: repo.identity,
      network: repo.config.network,
      bootstrap: repo.config.bootstrap,
      listen: repo.config.addresses.listen,
      announce: repo.config.addresses.announce ?? [],
      mdns: repo.config.discovery.mdns,
      reach: { serve: repo.config.relay.serve, use: repo.config.relay.use, holePunch: repo.config.nat.holePunch, autoNat: repo.config.nat.autonat, webrtc: repo.config.nat.webrtc, stun: repo.config.nat.stun },
      ...options.net,
      tor,
      // after the spread: a caller's isBanned (even an absent one) is already inside this one
      isBanned
    })
    // what libp2p wrote last reaches the db before it closes
    stops.push(() => { datastore.flush() })
    stops.push(async () => { await libp2p.stop() })
    // reconnect needs libp2p to redial, the db where the peers it met are kept, and the bans.
    const reconnect = createReconnect({ libp2p, db: repo.db, isBanned }, options.reconnect)
    await reconnect.start()
    stops.push(async () => { await reconnect.stop() })
    // routing needs libp2p's DHT, the pins and blocks it announces, the datastore where
    // the DHT's records are kept (it drops the stale ones at start), and, hardened, the
    // exchange (built later, so looked up late) to ask a provider for the block.
    let exchangeForRouting: Exchange | undefined
    const hardened = options.hardened ?? repo.config.routing.hardened
    const routing = createRouting({
      libp2p,
      verify: async (peer, cid, o) => await exchangeForRouting?.servesBlock(peer, cid, o) ?? false,
      roots: () => [...blocks.pins().map(p => p.cid), ...(sitesForGc?.heldRoots() ?? []), ...(usersForGc?.heldRoots() ?? []), ...(privateForGc?.heldRoots() ?? []), ...pinRequests.pinnedRoots(), ...(storageForGc?.heldRoots() ?? [])],
      allBlocks: () => blocks.cids(),
      has: cid => blocks.has(cid),
      datastore
    }, {
      strategy: repo.config.routing.strategy,
      reprovideInterval: options.reprovideInterval ?? repo.config.routing.reprovideInterval,
      hardened,
      // prefixes are shared on a LAN or a loopback testnet: the limit is for the public network
      diversity: hardened && network === 'ipfs' ? DIVERSITY_DEFAULTS : undefined,
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
    exchangeForRouting = exchange
    exchangeForRepair = exchange
    exchangeForPrivate = exchange
    await exchange.start()
    stops.push(async () => { await exchange.stop() })
    // sites needs routing for records and providers, pubsub for pushes, the exchange to
    // fetch followed versions and to charge peers that send forged records.
    const sites = createSites({
      db: repo.db,
      keyPath,
      blocks,
      net: {
        routing,
        pubsub: libp2p.services.pubsub,
        fetch: async (cid, o) => await exchange.fetch(cid, o),
        penalise: (peer, detail) => { exchange.penalise(peer, 'bad-record', detail) },
        isConnected: peer => libp2p.getConnections(peer).length > 0,
        onPeerConnected: fn => {
          const listener = (event: CustomEvent<PeerId>): void => { fn(event.detail) }
          libp2p.addEventListener('peer:connect', listener)
          return () => { libp2p.removeEventListener('peer:connect', listener) }
        },
        dial: async (peer, o) => await libp2p.dial(peer, o),
        // the record ask is one small frame each way: relayed connections carry it too
        handle: async (protocol, handler) => { await libp2p.handle(protocol, stream => { handler(stream) }, { maxInboundStreams: 8, runOnLimitedConnection: true }) },
        unhandle: async protocol => { await libp2p.unhandle(protocol) },
        dialProtocol: async (peer, protocol, o) => await openStream(libp2p, peer, protocol, o)
      }
    }, sitesInit)
    sitesForGc = sites
    await sites.start()
    stops.push(async () => { await sites.stop() })
    // users needs what sites does, plus a protocol of its own for catching up and one-block fetches.
    const users = createUsers({
      ...usersBase,
      sites,
      net: {
        routing,
        pubsub: libp2p.services.pubsub,
        fetch: async (cid, o) => await exchange.fetch(cid, o),
        penalise: (peer, detail) => { exchange.penalise(peer, 'bad-record', detail) },
        onPeerConnected: fn => {
          libp2p.addEventListener('peer:connect', fn)
          return () => { libp2p.removeEventListener('peer:connect', fn) }
        },
        handle: async (protocol, handler) => { await libp2p.handle(protocol, stream => { handler(stream) }, { maxInboundStreams: 8 }) },
        unhandle: async protocol => { await libp2p.unhandle(protocol) },
        dialProtocol: async (peer, protocol, o) => await libp2p.dialProtocol(peer, protocol, o)
      }
    }, options.users)
    usersForGc = users
    await users.start()
    stops.push(async () => { await users.stop() })
    // the device link needs the master key, a protocol of its own, and libp2p to find the
    // issuer by peer id (connections, the peer store, then peer routing).
    const userLink = createUserLink({
      identity: userIdentity,
      peerId: libp2p.peerId,
      addresses: () => libp2p.getMultiaddrs(),
      handle: async (protocol, handler) => { await libp2p.handle(protocol, handler, { maxInboundStreams: 2 }) },
      unhandle: async protocol => { await libp2p.unhandle(protocol) },
      dialProtocol: async (peer, protocol, o) => await libp2p.dialProtocol(peer, protocol, o),
      addAddresses: async (peer, multiaddrs) => { await libp2p.peerStore.merge(peer, { multiaddrs }) }
    }, options.userLink)
    await userLink.start()
    stops.push(async () => { await userLink.stop() })
    // private sync moves this person's sealed private index between their devices: a topic
    // per index name, the DHT, and a one-frame ask of a device met there. Only sites owned,
    // followed or allowed, and only once a master key exists (indexName would make one).
    const privateSync = createPrivateSync({
      store: privateStore,
      sites: () => userIdentity.hasKey() ? [...new Set([...sites.list().map(s => s.name), ...sites.followedNames(), ...users.allowedSites()])] : [],
      pubsub: libp2p.services.pubsub,
      routing,
      fetch: async (cid, o) => { await exchange.fetch(cid, o) },
      penalise: (peer, detail) => { exchange.penalise(peer, 'bad-record', detail) },
      onPeerConnected: fn => {
        libp2p.addEventListener('peer:connect', fn)
        return () => { libp2p.removeEventListener('peer:connect', fn) }
      },
      // a follow or a new version (sites), a consent (users), a linked or imported key (identity)
      onSitesChanged: fn => {
        const targets: Array<[EventTarget, string]> = [[sites, 'record'], [sites, 'fetched'], [users, 'consent'], [keyImported, 'imported']]
        for (const [target, type] of targets) target.addEventListener(type, fn)
        return () => { for (const [target, type] of targets) target.removeEventListener(type, fn) }
      },
      handle: async (protocol, handler) => { await libp2p.handle(protocol, handler, { maxInboundStreams: 8 }) },
      unhandle: async protocol => { await libp2p.unhandle(protocol) },
      dialProtocol: async (peer, protocol, o) => await libp2p.dialProtocol(peer, protocol, o)
    }, options.privateSync)
    await privateSync.start()
    stops.push(async () => { await privateSync.stop() })
    // messages needs the person's key on each site (to sign and to open), the db to carry
    // envelopes, sites for which sites to carry, and pubsub and a protocol of its own to catch
    // up; a peer that floods is charged as users charges one.
    const messages = createMessages({
      db: repo.db,
      identity: userIdentity,
      sites,
      onKeyImported: fn => {
        keyImported.addEventListener('imported', fn)
        return () => { keyImported.removeEventListener('imported', fn) }
      },
      net: {
        pubsub: libp2p.services.pubsub,
        penalise: (peer, detail) => { exchange.penalise(peer, 'bad-record', detail) },
        handle: async (protocol, handler) => { await libp2p.handle(protocol, (stream, connection) => { handler(stream, connection.remotePeer.toString()) }, { maxInboundStreams: 8 }) },
        unhandle: async protocol => { await libp2p.unhandle(protocol) },
        dialProtocol: async (peer, protocol, o) => await libp2p.dialProtocol(peer, protocol, o)
      }
    }, options.messages)
    await messages.start()
    stops.push(async () => { await messages.stop() })
    // shares travel in the person's contribution (users carries them to followers), read the
    // store's folders and keys, and fetch a shared file's ciphertext from the sharer's node.
    const shares = createShares({
      store: privateStore,
      identity: userIdentity,
      users,
      blocks,
      fetchBlock: async (cid, o) => { await exchange.fetch(cid, { recursive: false, signal: o.signal }) }
    })
    await shares.start()
    stops.push(async () => { await shares.stop() })
    // the pinning service fetches requested DAGs through the exchange, dials the origins a
    // client names through libp2p (its gater refuses banned peers), hands out libp2p's
    // addresses as delegates, announces what it pinned, and gc's a full store once.
    const { PinningService } = await import('../storage/pinning/service.ts')
    const pinning = new PinningService({
      requests: pinRequests,
      fetch: async (cid, o) => await exchange.fetch(cid, o),
      dial: async (address, o) => { await libp2p.dial(address, o) },
      addresses: () => libp2p.getMultiaddrs(),
      peerId: libp2p.peerId.toString(),
      network: (options.net?.network ?? repo.config.network) === 'ipfs' ? 'ipfs' : 'private',
      provide: cid => { routing.provideSoon(cid) },
      gc: async () => await blocks.gc()
    }, options.pinning)
    await pinning.start()
    stops.push(async () => { await pinning.stop() })
    // storage needs the db for its tables, the store to hash audited blocks, sites to resolve
    // and follow replicated sites, the exchange to fetch verified and to charge floods,
    // routing for closest peers, providers and announcements, and a protocol of its own.
    const storage = createStorage({
      db: repo.db,
      blocks,
      sites,
      net: {
        peerId: libp2p.peerId,
        handle: async (protocol, handler) => { await libp2p.handle(protocol, (stream, connection) => { handler(stream, connection.remotePeer.toString()) }, { maxInboundStreams: 8 }) },
        unhandle: async protocol => { await libp2p.unhandle(protocol) },
        request: async (peer, request, o) => await requestOver(async (p, signal) => await libp2p.dialProtocol(p, STORAGE_PROTOCOL, { signal }), peer, request, o),
        closestPeers: async (key, o) => await routing.closestPeers(key, o),
        connectedPeers: () => libp2p.getPeers(),
        protocols: async peer => (await libp2p.peerStore.get(peer).catch(() => undefined))?.protocols ?? [],
        fetch: async (cid, o) => await exchange.fetch(cid, o),
        provide: async (cid, o) => { await routing.provide(cid, o) },
        findProviders: (cid, o) => routing.findProviders(cid, o),
        penalise: (peer, offence, detail) => { exchange.penalise(peer, offence, detail) }
      }
    }, storageInit)
    storageForGc = storage
    await storage.start()
    stops.push(async () => { await storage.stop() })
    return { repo, blocks, libp2p, tor, exchange, bitswap, routing, reconnect, sites, users, userIdentity, userLink, private: privateStore, privateSync, messages, shares, storage, naming, petnames, pinning, resolvePath: resolvePathWith(sites), stop }
  } catch (err) {
    await stop()
    throw err
  }
}
