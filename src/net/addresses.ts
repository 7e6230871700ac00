import { multiaddr } from '@multiformats/multiaddr'

/** The host and TCP port of a multiaddr such as /ip4/127.0.0.1/tcp/5101, or undefined if it has none. */
export function tcpHostPort (address: string): { host: string, port: number } | undefined {
  let host: string | undefined
  let port: number | undefined
  for (const c of multiaddr(address).getComponents()) {
    if (['ip4', 'ip6', 'dns', 'dns4', 'dns6'].includes(c.name)) host = c.value
    if (c.name === 'tcp') port = Number(c.value)
  }
  return host !== undefined && port !== undefined ? { host, port } : undefined
}
