/**
 * Which site a request is for, from its Host header, and the subdomain URL of a content
 * path (the IPFS subdomain gateway spec): every site is its own browser origin,
 * `<cidv1b32>.ipfs.localhost:<port>` or `<name>.ipns.localhost:<port>`, so no site's script
 * can read another's cookies or storage, or the web UI's, which alone has 127.0.0.1.
 */
import { CID } from 'multiformats/cid'
import { base32 } from 'multiformats/bases/base32'
import { peerIdFromString } from '@libp2p/peer-id'
import { base36 } from 'multiformats/bases/base36'
import { WeftError } from '../errors.ts'
import { normalizeName } from '../naming/index.ts'

export type Namespace = 'ipfs' | 'ipns'

export type GatewayHost =
  /** 127.0.0.1 or [::1]: the web UI's origin; trustless answers on paths, the rest redirected. */
  | { kind: 'ui', port: string }
  /** localhost: a path gateway whose paths redirect to their subdomains. */
  | { kind: 'path', port: string }
  /** `<id>.<ns>.localhost`: one site. */
  | { kind: 'subdomain', namespace: Namespace, id: string, port: string }

const DNS_LABEL_MAX = 63

/** Host header → what the gateway serves there; anything else is refused (DNS rebinding, stray vhosts). */
export function parseHost (host: string | null): GatewayHost {
  if (host === null || host === '') throw new WeftError('ERR_GATEWAY_HOST', 'the request has no Host header')
  const m = /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::(\d{1,5}))?$/.exec(host.toLowerCase())
  if (m === null) throw new WeftError('ERR_GATEWAY_HOST', `the gateway does not serve the host "${host.slice(0, 100)}"`)
  const [, name, port = ''] = m
  if (name === '127.0.0.1' || name === '[::1]') return { kind: 'ui', port }
  if (name === 'localhost') return { kind: 'path', port }
  const sub = /^([a-z0-9-]+)\.(ipfs|ipns)\.localhost$/.exec(name)
  if (sub !== null) return { kind: 'subdomain', namespace: sub[2] as Namespace, id: sub[1], port }
  throw new WeftError('ERR_GATEWAY_HOST', `the gateway does not serve the host "${host.slice(0, 100)}"`)
}

/** DNS names inside one DNS label, as the spec inlines them: `-` becomes `--`, then `.` becomes `-`. */
export function inlineDnsName (name: string): string {
  return name.replaceAll('-', '--').replaceAll('.', '-')
}

/** The reverse of inlineDnsName. */
export function uninlineDnsName (label: string): string {
  return label.replaceAll('--', '\0').replaceAll('-', '.').replaceAll('\0', '-')
}

/** The DNS-safe form of a CID: CIDv1 in base32 (a CIDv0 becomes dag-pb CIDv1). */
export function subdomainCid (text: string): string {
  let cid: CID
  try {
    cid = CID.parse(text)
  } catch {
    try {
      cid = CID.parse(text, base36)
    } catch {
      throw new WeftError('ERR_INVALID_CID', `invalid path "/ipfs/${text.slice(0, 120)}": not a valid CID`)
    }
  }
  const label = cid.toV1().toString(base32)
  if (label.length > DNS_LABEL_MAX) throw new WeftError('ERR_INVALID_CID', `${label.slice(0, 120)}: CID incompatible with DNS label length limit of ${DNS_LABEL_MAX}; use the path gateway with ?format=car`)
  return label
}

/** An IPNS name's label: a key becomes `k51…` (base36, case-insensitive), a name is checked and inlined. */
export function subdomainName (text: string): string {
  try {
    return peerIdFromString(text).toCID().toString(base36)
  } catch { /* not a key: a name */ }
  const label = inlineDnsName(normalizeName(text))
  if (label.length > DNS_LABEL_MAX) throw new WeftError('ERR_NAME_INVALID', `"${text.slice(0, 120)}" is too long for one DNS label; use the path form /ipns/${text.slice(0, 120)}`)
  return label
}

/** What a subdomain label names: a key stays as it is, a key spelled as a CID of another codec becomes its libp2p-key CID, an inlined DNS name is spelled out again. */
export function nameOfLabel (label: string): string {
  try {
    peerIdFromString(label)
    return label
  } catch { /* not a libp2p-key */ }
  try {
    const cid = CID.parse(label, base36)
    const key = CID.createV1(LIBP2P_KEY, cid.multihash).toString(base36)
    peerIdFromString(key)
    return key
  } catch {
    return label.includes('-') || label.includes('.') ? uninlineDnsName(label) : label
  }
}

const LIBP2P_KEY = 0x72

/** `http://<id>.<ns>.localhost:<port><rest>`; ERR_INVALID_CID or ERR_INVALID_NAME when `id` is not valid in its namespace. */
export function subdomainUrl (namespace: Namespace, id: string, rest: string, port: string): string {
  const label = namespace === 'ipfs' ? subdomainCid(id) : subdomainName(id)
  return `http://${label}.${namespace}.localhost${port === '' ? '' : `:${port}`}${rest}`
}
