/**
 * EIP-1577 contenthash: `<varint protoCode><CID bytes>`. weft reads two namespaces:
 * - `0xe3` ipfs-ns: the CID of the content → `/ipfs/<cid, base32 CIDv1>`
 * - `0xe5` ipns-ns: a CIDv1 with codec libp2p-key (0x72) → `/ipns/<k51…>` (base36);
 *   the older form, an identity multihash holding a DNS name, → `/ipns/<dns name>`.
 * Anything else (swarm, onion, trailing bytes, a bad CID) is ERR_CONTENTHASH_INVALID.
 */
import { CID } from 'multiformats/cid'
import { base36 } from 'multiformats/bases/base36'
import * as varint from 'uint8-varint'
import { WeftError } from '../errors.ts'

export const IPFS_NS = 0xe3
export const IPNS_NS = 0xe5
const LIBP2P_KEY = 0x72
const IDENTITY = 0x00
const DNS_NAME = /^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)+$/

/** The content path a contenthash points to; ERR_CONTENTHASH_INVALID when weft cannot read it. */
export function decodeContenthash (bytes: Uint8Array, name: string): string {
  const invalid = (why: string): WeftError =>
    new WeftError('ERR_CONTENTHASH_INVALID', `${name}: contenthash 0x${Buffer.from(bytes.subarray(0, 48)).toString('hex')}${bytes.length > 48 ? '…' : ''} ${why}`)
  let proto: number
  let cid: CID
  try {
    proto = varint.decode(bytes)
    cid = CID.decode(bytes.subarray(varint.encodingLength(proto)))
  } catch {
    throw invalid('is not a namespace code followed by a CID')
  }
  if (proto === IPFS_NS) return `/ipfs/${cid.toV1().toString()}`
  if (proto !== IPNS_NS) throw invalid(`has namespace 0x${proto.toString(16)}, not ipfs-ns (0xe3) or ipns-ns (0xe5)`)
  if (cid.version === 1 && cid.code === LIBP2P_KEY) return `/ipns/${cid.toString(base36)}`
  if (cid.version === 1 && cid.multihash.code === IDENTITY) {
    const dnsName = new TextDecoder('utf-8', { fatal: false }).decode(cid.multihash.digest)
    if (DNS_NAME.test(dnsName) && dnsName.length <= 253) return `/ipns/${dnsName}`
  }
  throw invalid('is ipns-ns but holds neither a libp2p-key CID nor a DNS name')
}

/** The contenthash bytes for `/ipfs/<cid>` or `/ipns/<k51…>` (what an owner sets on ENS). */
export function encodeContenthash (path: string): Uint8Array {
  const m = /^\/(ipfs|ipns)\/([^/]+)$/.exec(path)
  if (m === null) throw new WeftError('ERR_CONTENTHASH_INVALID', `"${path.slice(0, 120)}" is not /ipfs/<cid> or /ipns/<key>`)
  let cid: CID
  try {
    cid = m[1] === 'ipns' ? CID.parse(m[2], m[2].startsWith('k') ? base36 : undefined) : CID.parse(m[2])
  } catch {
    throw new WeftError('ERR_CONTENTHASH_INVALID', `"${m[2].slice(0, 80)}" is not a CID`)
  }
  if (m[1] === 'ipns' && cid.code !== LIBP2P_KEY) throw new WeftError('ERR_CONTENTHASH_INVALID', `"${m[2].slice(0, 80)}" is not a libp2p-key CID`)
  const proto = varint.encode(m[1] === 'ipfs' ? IPFS_NS : IPNS_NS)
  const body = cid.toV1().bytes
  const out = new Uint8Array(proto.length + body.length)
  out.set(proto, 0)
  out.set(body, proto.length)
  return out
}
