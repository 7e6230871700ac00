/**
 * config.json: every key, its type and its default. `weft config get|set` goes through
 * this schema, so a bad key or value is refused before it reaches the file.
 * docs/config.md describes the same keys for people.
 */
import { readFileSync, writeFileSync, renameSync } from 'node:fs'
import { z } from 'zod'
import { WeftError } from '../errors.ts'
import { formatDuration, formatSize, parseDuration, parseSize } from './units.ts'

export { parseDuration, parseSize } from './units.ts'

/**
 * Read from text once, here: a size in config.json ("10GB", "512MiB") is a number of bytes
 * in a Config, a duration ("12h", "30m") a number of ms. Writing the file turns them back
 * into text in the largest unit that divides them (encodeConfig).
 */
function textCodec (parse: (text: string) => number | undefined, format: (n: number) => string, expected: string): z.ZodCodec<z.ZodString, z.ZodNumber> {
  return z.codec(z.string(), z.number().int().min(0), {
    decode: (text, ctx) => {
      const value = parse(text)
      if (value !== undefined) return value
      ctx.issues.push({ code: 'custom', message: expected, input: text })
      return z.NEVER
    },
    encode: format
  })
}

const size = textCodec(parseSize, formatSize, 'expected a size such as "10GB" or "512MiB"')

const duration = textCodec(parseDuration, formatDuration, 'expected a duration such as "12h" or "30m"')

const multiaddr = z.string().regex(/^\/(ip4|ip6|dns|dns4|dns6|dnsaddr|onion3)\//, { message: 'expected a multiaddr such as "/ip4/127.0.0.1/tcp/4001"' })

const hostPort = z.string().regex(/^[0-9a-zA-Z.:[\]-]+:\d{1,5}$/, { message: 'expected "host:port", e.g. "127.0.0.1:9051"' })

/** Onion routing (src/net/tor.ts): an onion service to listen on, /onion3 addresses dialled through tor. */
const torSchema = z.strictObject({
  /** Never open a direct connection and never announce an IP address: every peer is reached through tor. */
  onionOnly: z.boolean().default(false),
  /** An existing tor's control port (cookie or no authentication); unset: weft runs its own tor in <home>/tor. */
  control: hostPort.optional(),
  /** That tor's SOCKS port; unset: asked of tor. */
  socks: hostPort.optional(),
  /** The onion service's port, as peers dial it. */
  port: z.number().int().min(1).max(65535).default(4101),
  /** Lines added to the torrc of the tor weft runs (bridges; a private Tor network's DirAuthority lines). */
  torrc: z.array(z.string().regex(/^[^\n]*$/)).default([]),
  /** The tor program weft runs. */
  binary: z.string().default('tor')
})

/** The public IPFS network: the Amino DHT, Bitswap, and its bootstrap peers. */
export const IPFS_BOOTSTRAP = [
  '/dnsaddr/bootstrap.libp2p.io/p2p/QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN',
  '/dnsaddr/bootstrap.libp2p.io/p2p/QmQCU2EcMqAqQPR2i9bChDtGNJchTbq5TbXJJ16u19uLTa',
  '/dnsaddr/bootstrap.libp2p.io/p2p/QmbLHAnMoJPWSCR5Zhtx6BHJX9KiKNN6tpvbUcqanj75Nb',
  '/dnsaddr/bootstrap.libp2p.io/p2p/QmcZf59bWwK5XFi76CZX8cbJ4BhTzzA3gU1ZjYZcYW3dwt',
  '/ip4/104.131.131.82/tcp/4001/p2p/QmaCpDMGvV2BGHeYERUEnRQAwe3N8SzbUtfsmvsqQLuvuJ'
]

export const configSchema = z.strictObject({
  version: z.literal(1).default(1),
  /**
   * "ipfs" joins the public IPFS network. An object is a private network: its name
   * becomes the protocol prefix (/weft/<name>/...), so its DHT never mixes with another's.
   */
  network: z.union([
    z.literal('ipfs'),
    z.strictObject({
      name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, { message: 'a private network name is lowercase letters, digits and dashes' }),
      /** Onion routing through tor; absent: none. The public IPFS network has no onion peers to reach. */
      tor: torSchema.optional()
    })
  ]).default({ name: 'default' }),
  /** Peers dialled at start. Empty for a private network until the user adds some; "ipfs" uses the public list when this is empty. */
  bootstrap: z.array(multiaddr).default([]),
  addresses: z.strictObject({
    /** Where the node listens for peers. */
    listen: z.array(multiaddr).default(['/ip4/0.0.0.0/tcp/4101', '/ip4/0.0.0.0/udp/4101/quic-v1', '/ip4/0.0.0.0/tcp/4102/ws']),
    /** Public addresses this node is known to be reachable on (a relay's), announced beside what AutoNAT confirms. */
    announce: z.array(multiaddr).optional(),
    /** The control API: keep it on a loopback address; it is guarded by the token in api.token. */
    api: multiaddr.default('/ip4/127.0.0.1/tcp/5101'),
    /** The HTTP gateway browsers use (sites print their URL on it). */
    gateway: multiaddr.default('/ip4/127.0.0.1/tcp/8080')
  }).prefault({}),
  relay: z.strictObject({
    /** Serve as a circuit relay v2 for unreachable peers, within libp2p's reservation limits. */
    serve: z.boolean().default(false),
    /**
     * Reserve a slot on relays the node meets and advertise /p2p-circuit addresses through them.
     * Off by default: weft does not yet act on what AutoNAT learns to decide whether it needs a
     * relay, and the search for one walks the DHT every second until it finds one.
     */
    use: z.boolean().default(false)
  }).prefault({}),
  nat: z.strictObject({
    /** Try to turn relayed connections into direct ones (DCUtR). UPnP is not offered: it opens ports on the router unasked. */
    holePunch: z.boolean().default(true),
    /**
     * AutoNAT v2: peers dial the node's public addresses back on a fresh connection, and only
     * those they reach are announced. A node behind NAT learns that none is reachable.
     */
    autonat: z.boolean().default(true),
    /**
     * WebRTC through relays: two peers behind NAT swap ICE candidates over the relay and punch
     * a UDP path. Listens (announces `/p2p-circuit/webrtc`) only with relay.use and a STUN server.
     */
    webrtc: z.boolean().default(true),
    /** STUN servers for ICE (`stun:host:port`); none by default, so no public server is ever asked. */
    stun: z.array(z.string().regex(/^stuns?:[^\s]+$/)).default([])
  }).prefault({}),
  discovery: z.strictObject({
    /** mDNS finds peers on the LAN; it sends multicast beyond this machine, so it is off unless asked for. */
    mdns: z.boolean().default(false)
  }).prefault({}),
  routing: z.strictObject({
    /** What to announce to the DHT: the roots of pinned content, or every block. */
    strategy: z.enum(['roots', 'all']).default('roots'),
    /** How often to announce everything again. */
    reprovideInterval: duration.prefault('12h'),
    /**
     * Lookups that hold when peers lie (src/routing/hardened.ts, docs/byzantine.md): a
     * provider believed only once it served the block, the best record of every answer,
     * Sybil clusters widened past. Off leaves kad-dht's own lookups.
     */
    hardened: z.boolean().default(true)
  }).prefault({}),
  sites: z.strictObject({
    /** How long a published record stays valid; followers and the DHT drop it after that unless republished. */
    validity: duration.prefault('48h'),
    /** How long resolvers may cache a record before asking again. */
    ttl: duration.prefault('5m'),
    /** How often the daemon puts its own and followed sites' records to the DHT again (re-signing its own when half their validity is gone). */
    republishInterval: duration.prefault('4h'),
    /** How often a follower asks the DHT for a followed site, in case a pubsub push was missed. */
    pollInterval: duration.prefault('10m'),
    /** Versions of each followed site kept pinned: the current one and this many minus one before it. */
    keepVersions: z.number().int().min(1).max(1000).default(2)
  }).prefault({}),
  naming: z.strictObject({
    /** The longest one resolver may take for one name. */
    timeout: duration.prefault('10s'),
    /**
     * DNS servers for DNSLink (`_dnslink.<name>` TXT), as "ip" or "ip:port"; empty uses the
     * system's resolvers. An https URL uses DNS-over-HTTPS (RFC 8484) instead.
     */
    dns: z.array(z.string().regex(/^(https:\/\/\S+|[0-9a-fA-F.:[\]]+)$/, { message: 'expected "ip", "ip:port" or an https DNS-over-HTTPS URL' })).default([]),
    /** How long a "no such name" answer is remembered. */
    negativeTtl: duration.prefault('1m'),
    /** ENS (`*.eth`) through an Ethereum JSON-RPC endpoint; off until `rpc` is set. */
    ens: z.strictObject({
      rpc: z.string().regex(/^https?:\/\/\S+$/, { message: 'expected an http(s) JSON-RPC URL' }).optional(),
      /** A second, independent endpoint whose block headers the proofs are checked against. */
      headerRpc: z.string().regex(/^https?:\/\/\S+$/, { message: 'expected an http(s) JSON-RPC URL' }).optional(),
      /** Or a block the user trusts: its number and state root. */
      pinnedHeader: z.strictObject({ number: z.number().int().min(0), stateRoot: z.string().regex(/^0x[0-9a-fA-F]{64}$/) }).optional(),
      /** The ENS registry; mainnet's unless set. */
      registry: z.string().regex(/^0x[0-9a-fA-F]{40}$/).optional(),
      /** An endpoint on another chain is refused (1: Ethereum mainnet). */
      chainId: z.number().int().min(1).default(1),
      verify: z.enum(['proof', 'none']).default('proof'),
      /** With verify "proof", serve what cannot be proven (marked unproven) instead of refusing it (ERR_NAME_UNPROVEN). */
      acceptUnproven: z.boolean().default(false),
      tlds: z.array(z.string()).default([])
    }).prefault({}),
    /** Namecoin names (`*.bit`) through a Namecoin Core node's JSON-RPC; off until `rpc` is set. */
    namecoin: z.strictObject({
      rpc: z.string().regex(/^https?:\/\/\S+$/, { message: 'expected the Namecoin Core RPC URL, e.g. "http://127.0.0.1:8336"' }).optional(),
      user: z.string().optional(),
      password: z.string().optional(),
      /** Namecoin Core's .cookie ("user:password"), used when user/password are unset. */
      cookieFile: z.string().optional(),
      /** The chain the node must serve (its getblockchaininfo "chain"); another is ERR_NAME_WRONG_CHAIN. */
      network: z.enum(['main', 'test', 'regtest']).default('main'),
      /** "proof" checks each answer's transaction with a Merkle proof against its block header; "none" trusts the node. */
      verify: z.enum(['proof', 'none']).default('proof'),
      /** With verify "proof", serve what cannot be proven (marked unproven) instead of refusing it (ERR_NAME_UNPROVEN). */
      acceptUnproven: z.boolean().default(false)
    }).prefault({}),
    /** Handshake names through an hsd node (its HTTP RPC); off until `rpc` is set. */
    hns: z.strictObject({
      rpc: z.string().regex(/^https?:\/\/\S+$/, { message: 'expected the hsd node\'s http(s) RPC URL, e.g. "http://127.0.0.1:12037"' }).optional(),
      apiKey: z.string().optional(),
      network: z.enum(['main', 'testnet', 'regtest', 'simnet']).default('main'),
      /** "proof" checks every answer with an urkel proof against a block header; "none" trusts the node. */
      verify: z.enum(['proof', 'none']).default('proof'),
      /** With verify "proof", serve what cannot be proven (marked unproven) instead of refusing it (ERR_NAME_UNPROVEN). */
      acceptUnproven: z.boolean().default(false),
      /** TLDs that are surely Handshake's; other single-label names are asked of hsd beside the other resolvers. */
      tlds: z.array(z.string()).default([])
    }).prefault({})
  }).prefault({}),
  pinning: z.strictObject({
    /** Remote IPFS Pinning Services `weft remote` speaks to, by name; their tokens are files in keys/pinning-<name>.token (0600), never here. */
    remoteServices: z.record(
      z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}$/, { message: 'a service name is letters, digits, ".", "_" and "-"' }),
      z.strictObject({ endpoint: z.string().regex(/^https?:\/\/\S+$/, { message: 'expected the service\'s http(s) URL' }) })
    ).default({})
  }).prefault({}),
  datastore: z.strictObject({
    /** Most bytes of blocks the store may hold; adds past it fail with ERR_QUOTA_EXCEEDED. */
    storageMax: size.prefault('10GB'),
    /** fsync pack files before their blocks are indexed, so a power loss cannot lose an acknowledged block. */
    sync: z.boolean().default(true)
  }).prefault({}),
  storage: z.strictObject({
    /** What this node holds for other peers (replicas, src/storage/); unset offers nothing. */
    offer: size.optional(),
    /** The most one peer may place here (a peer that holds replicas for this node may place that much more). */
    perPeer: size.prefault('2GB'),
    /** Holders `weft replicate` asks for, and repair keeps. */
    copies: z.number().int().min(1).max(64).default(5),
    /** How often the requester challenges each holder of what it replicated (0: never). */
    auditInterval: duration.prefault('1h'),
    /** How long a holder has to answer a challenge: late is failed. */
    auditTimeout: duration.prefault('5s'),
    /** Blocks sampled per challenge. */
    auditSample: z.number().int().min(1).max(64).default(16),
    /** Failed audits in a row after which a holder is replaced. */
    auditFailures: z.number().int().min(1).max(100).default(2),
    /** Audit, on the same schedule, the holders of sites this node follows but did not replicate. */
    auditFollowed: z.boolean().default(false)
  }).prefault({})
})

/** The config as the node uses it: sizes in bytes, durations in ms. */
export type Config = z.output<typeof configSchema>

/** The config as config.json holds it and `weft config` shows it: sizes and durations as text. */
export type ConfigFile = z.input<typeof configSchema>

export function encodeConfig (config: Config): ConfigFile {
  return z.encode(configSchema, config)
}

export function defaultConfig (): Config {
  return configSchema.parse({})
}

function describeIssues (err: z.ZodError): string {
  return err.issues.map(i => `${i.path.length > 0 ? i.path.join('.') : '(root)'}: ${i.message}`).join('; ')
}

export function readConfig (path: string): Config {
  let raw: unknown
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'))
  } catch (err) {
    throw new WeftError('ERR_CONFIG_INVALID', `cannot read ${path}: ${(err as Error).message}`)
  }
  const parsed = configSchema.safeParse(raw)
  if (!parsed.success) throw new WeftError('ERR_CONFIG_INVALID', `${path} is invalid: ${describeIssues(parsed.error)}`)
  return parsed.data
}

export function writeConfig (path: string, config: Config): void {
  const tmp = `${path}.tmp-${process.pid}`
  writeFileSync(tmp, JSON.stringify(encodeConfig(config), null, 2) + '\n', { mode: 0o600 })
  renameSync(tmp, path)
}

function keyPath (key: string): string[] {
  const parts = key.split('.')
  if (key === '' || parts.some(p => p === '')) throw new WeftError('ERR_CONFIG_KEY', `"${key}" is not a config key`)
  return parts
}

/** The schema of one dotted key, through optional and defaulted wrappers; undefined when there is no such key. */
function schemaAt (parts: string[]): z.ZodType | undefined {
  let node: z.ZodType = configSchema
  for (const part of parts) {
    while ('innerType' in node.def) node = node.def.innerType as z.ZodType
    // a union (network: "ipfs" or a private network's object): the object option that has the key
    const options: z.ZodType[] = node instanceof z.ZodUnion ? [...node.options] as z.ZodType[] : [node]
    const object = options.find(o => o instanceof z.ZodObject && Object.hasOwn(o.shape, part)) as z.ZodObject | undefined
    if (object === undefined) return undefined
    node = object.shape[part] as z.ZodType
  }
  return node
}

/**
 * Refuses a key the schema does not have, with no config at hand: `weft config set` checks
 * this before it opens (and perhaps creates) a home. Keys that are unset by default, such
 * as naming.ens.rpc, are keys too.
 */
export function checkConfigKey (key: string): void {
  if (schemaAt(keyPath(key)) === undefined) throw new WeftError('ERR_CONFIG_KEY', `"${key}" is not a config key (see docs/config.md)`)
}

/** The value at `key` as config.json holds it; null for a key that is not set. */
export function getConfigValue (config: Config, key: string): unknown {
  checkConfigKey(key)
  let node: unknown = encodeConfig(config)
  for (const part of keyPath(key)) {
    if (node === null || typeof node !== 'object' || !Object.hasOwn(node, part)) return null
    node = (node as Record<string, unknown>)[part]
  }
  return node ?? null
}

/** Returns a new config with `key` set to the JSON `json`, validated against the schema. */
export function setConfigValue (config: Config, key: string, json: string): Config {
  checkConfigKey(key)
  let value: unknown
  try {
    value = JSON.parse(json)
  } catch {
    throw new WeftError('ERR_CONFIG_VALUE', `value for ${key} must be JSON, e.g. '"10GB"', 'true' or '5' (got ${json})`)
  }
  const next = encodeConfig(config) as Record<string, unknown>
  const parts = keyPath(key)
  let node = next
  for (const [i, part] of parts.slice(0, -1).entries()) {
    // An optional object that is not set yet (naming.ens.pinnedHeader) is made here; the schema judges it.
    if (node[part] === undefined || node[part] === null) node[part] = {}
    if (typeof node[part] !== 'object' || Array.isArray(node[part])) {
      // network.tor.* on a home whose network is "ipfs"
      throw new WeftError('ERR_CONFIG_VALUE', `${key} cannot be set: ${parts.slice(0, i + 1).join('.')} is ${JSON.stringify(node[part])}, not an object`)
    }
    node = node[part] as Record<string, unknown>
  }
  node[parts[parts.length - 1]] = value
  const parsed = configSchema.safeParse(next)
  if (!parsed.success) throw new WeftError('ERR_CONFIG_VALUE', `invalid value for ${key}: ${describeIssues(parsed.error)}`)
  return parsed.data
}

/** Refuses a bad key or value with no config at hand (the schema has no rule across keys, so the defaults stand in). */
export function checkConfigSetting (key: string, json: string): void {
  setConfigValue(defaultConfig(), key, json)
}
