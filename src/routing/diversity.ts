/**
 * Routing-table diversity: at most a few peers per address prefix (/24 and /16 of IPv4,
 * /48 and /32 of IPv6), as go-libp2p-kad-dht's peerdiversity filter does. Ids are free
 * but addresses are not: an attacker who fills a victim's table (an eclipse) or a key's
 * neighbourhood (a Sybil cluster) from a few hosts holds only a few places in it.
 *
 * A loopback testnet or a LAN puts every peer on one prefix, so the limit is off for
 * private networks by default (weft's private networks are tests, demos and closed
 * groups) and on for the public one; `DiversityInit` sets it either way.
 */
import type { PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { logger } from '@libp2p/logger'

const log = logger('weft:routing:diversity')

export interface DiversityInit {
  /** Peers per /24 (IPv4) or /48 (IPv6) in the whole table; 0 turns the limit off. */
  perNarrowPrefix: number
  /** Peers per /16 (IPv4) or /32 (IPv6) in the whole table; 0 turns the limit off. */
  perWidePrefix: number
  /** Count loopback and private addresses too (tests of the limit itself). */
  includePrivate: boolean
}

/** go-libp2p-kad-dht's table filter allows 3 peers per /16 group; weft adds 2 per /24 so one host's range cannot take all 3. */
export const DIVERSITY_DEFAULTS: DiversityInit = { perNarrowPrefix: 2, perWidePrefix: 3, includePrivate: false }
export const DIVERSITY_OFF: DiversityInit = { perNarrowPrefix: 0, perWidePrefix: 0, includePrivate: false }

/** The /24 and /16 (or /48 and /32) groups of an address, or none for one the limit ignores. */
export function prefixGroups (ip: string, includePrivate: boolean): [string, string] | undefined {
  if (ip.includes(':')) {
    const lower = ip.toLowerCase()
    if (!includePrivate && (lower === '::1' || lower.startsWith('fc') || lower.startsWith('fd') || lower.startsWith('fe80'))) return undefined
    const parts = lower.split(':')
    return [`6/${parts.slice(0, 3).join(':')}`, `6/${parts.slice(0, 2).join(':')}`]
  }
  const octets = ip.split('.').map(Number)
  if (octets.length !== 4 || octets.some(o => !Number.isInteger(o))) return undefined
  const [a, b] = octets
  const isPrivate = a === 127 || a === 10 || (a === 172 && b >= 16 && b < 32) || (a === 192 && b === 168) || (a === 169 && b === 254)
  if (!includePrivate && isPrivate) return undefined
  return [`4/${octets.slice(0, 3).join('.')}`, `4/${a}.${b}`]
}

/** Counts peers per prefix; a peer is admitted only while both its groups have room. */
export class PrefixLimit {
  private readonly init: DiversityInit
  private readonly counts = new Map<string, number>()
  private readonly held = new Map<string, [string, string]>()

  constructor (init: DiversityInit) { this.init = init }

  get enabled (): boolean { return this.init.perNarrowPrefix > 0 || this.init.perWidePrefix > 0 }

  /** Takes a place for `peer` at `ip` and says true, or says false when its prefix is full. */
  admit (peer: string, ip: string | undefined): boolean {
    if (!this.enabled || this.held.has(peer) || ip === undefined) return true
    const groups = prefixGroups(ip, this.init.includePrivate)
    if (groups === undefined) return true
    const [narrow, wide] = groups
    if (this.init.perNarrowPrefix > 0 && (this.counts.get(narrow) ?? 0) >= this.init.perNarrowPrefix) return false
    if (this.init.perWidePrefix > 0 && (this.counts.get(wide) ?? 0) >= this.init.perWidePrefix) return false
    for (const g of groups) this.counts.set(g, (this.counts.get(g) ?? 0) + 1)
    this.held.set(peer, groups)
    return true
  }

  release (peer: string): void {
    const groups = this.held.get(peer)
    if (groups === undefined) return
    this.held.delete(peer)
    for (const g of groups) this.counts.set(g, (this.counts.get(g) ?? 1) - 1)
  }
}

/** The first IP address among `addrs` (what the limit groups a peer by). */
export function firstIp (addrs: Multiaddr[]): string | undefined {
  for (const addr of addrs) {
    const ip = addr.getComponents().find(c => c.name === 'ip4' || c.name === 'ip6')?.value
    if (ip !== undefined) return ip
  }
  return undefined
}

interface GuardedTable {
  addEventListener(type: 'peer:add' | 'peer:remove', listener: (evt: CustomEvent<PeerId>) => void): void
  remove(peer: PeerId): Promise<void>
}

export interface DiversityGuardComponents {
  /** kad-dht's routing table (its class has one; its exported interface does not say so). */
  routingTable: GuardedTable
  /** Where a new peer's addresses are found. */
  addresses: (peer: PeerId) => Promise<Multiaddr[]>
}

/**
 * Holds kad-dht's routing table to the limit: kad-dht has no admission hook, so a peer past
 * its prefix's limit is removed right after it is added. Returns the limit (for tests).
 */
export function guardRoutingTable (components: DiversityGuardComponents, init: DiversityInit): PrefixLimit {
  const limit = new PrefixLimit(init)
  if (!limit.enabled) return limit
  components.routingTable.addEventListener('peer:add', evt => {
    const peer = evt.detail
    void components.addresses(peer).then(async addrs => {
      if (limit.admit(peer.toString(), firstIp(addrs))) return
      log('%p is past its prefix limit: out of the routing table', peer)
      await components.routingTable.remove(peer)
    }).catch(() => {})
  })
  components.routingTable.addEventListener('peer:remove', evt => { limit.release(evt.detail.toString()) })
  return limit
}
