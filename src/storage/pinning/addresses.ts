/**
 * Provider hints (the spec's "Provider hints"): which `origins` a pinning node dials, and the
 * `delegates` it hands back. An origin is a stranger's word, so the node dials only what
 * its own network would dial anyway: an IP address (never a DNS name, which would make the
 * node look names up for a client), TCP or WebSockets, ending in the peer's /p2p/ id, not
 * this node itself; on the public IPFS network no loopback, private or link-local address
 * (a client could otherwise point the node at the machines on its LAN).
 */
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { isLinkLocal, isLoopback, isPrivate } from '@libp2p/utils'

/** The spec's Origins and Delegates hold at most 20 multiaddrs. */
export const MAX_HINTS = 20

export type NetworkKind = 'ipfs' | 'private'

/** The multiaddr to dial for an origin, or why it is skipped. */
export function dialableOrigin (text: string, network: NetworkKind, self: string): { address: Multiaddr, peer: string } | { skipped: string } {
  let address: Multiaddr
  try {
    address = multiaddr(text)
  } catch {
    return { skipped: 'not a multiaddr' }
  }
  const parts = address.getComponents()
  const names = parts.map(c => c.name)
  const peer = parts.at(-1)?.name === 'p2p' ? parts.at(-1)?.value : undefined
  if (peer === undefined) return { skipped: 'no /p2p/<peer id> at its end' }
  if (peer === self) return { skipped: 'this node itself' }
  const [host, transport, ...rest] = names
  if (host !== 'ip4' && host !== 'ip6') return { skipped: 'not an IP address' }
  if (transport !== 'tcp' || !(rest.length === 1 || (rest.length === 2 && rest[0] === 'ws'))) return { skipped: 'not TCP or WebSockets' }
  if (parts[0].value === '0.0.0.0' || parts[0].value === '::') return { skipped: 'an unspecified address' }
  if (network === 'ipfs' && (isLoopback(address) || isPrivate(address) || isLinkLocal(address))) return { skipped: 'a local address on the public network' }
  return { address, peer }
}

/** This node's listen addresses, each ending in /p2p/<id>, at most MAX_HINTS (the spec asks for at least one). */
export function delegatesOf (addresses: Multiaddr[], self: string): string[] {
  const out = new Set<string>()
  for (const address of addresses) {
    const text = address.toString()
    out.add(text.endsWith(`/p2p/${self}`) ? text : `${text}/p2p/${self}`)
  }
  if (out.size === 0) out.add(`/p2p/${self}`)
  return [...out].slice(0, MAX_HINTS)
}
