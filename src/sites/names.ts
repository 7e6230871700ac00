/**
 * A site's address is an IPNS name: the CIDv1 (libp2p-key codec, base36, `k51…`) of its
 * ed25519 public key. Its record lives in the DHT under `/ipns/<multihash>` and is pushed
 * on the IPNS-over-PubSub topic `/record/<base64url("/ipns/" + multihash)>`.
 */
import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multihashToIPNSRoutingKey } from 'ipns'
import { base36 } from 'multiformats/bases/base36'
import { base64url } from 'multiformats/bases/base64'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import * as raw from 'multiformats/codecs/raw'
import { WeftError } from '../errors.ts'

export interface SiteName {
  /** The canonical form, `k51…`. */
  readonly name: string
  readonly peerId: PeerId
  /** The DHT key: `/ipns/` + the key's multihash, as bytes. */
  readonly routingKey: Uint8Array
  /** The IPNS-over-PubSub topic. */
  readonly topic: string
}

/** `k51…`, `12D3KooW…`, or either behind `/ipns/` (a trailing path is refused: that is a content path). */
export function parseSiteName (text: string): SiteName {
  const bare = text.trim().replace(/^\/ipns\//, '').replace(/\/$/, '')
  let peerId: PeerId
  try {
    if (bare === '' || bare.includes('/')) throw new Error('not a single name')
    peerId = peerIdFromString(bare)
  } catch {
    throw new WeftError('ERR_INVALID_NAME', `"${text}" is not an IPNS name (expected k51… or /ipns/k51…)`)
  }
  if (peerId.type !== 'Ed25519') {
    throw new WeftError('ERR_INVALID_NAME', `"${text}" is a ${peerId.type} key; weft sites use ed25519 names (k51…)`)
  }
  return siteNameOf(peerId)
}

/** `/ipns/<name>[/path]` (or `ipns://…`): the name and the rest of the path; undefined for anything else. */
export function splitIpnsPath (text: string): { name: string, rest: string } | undefined {
  const m = /^(?:\/ipns\/|ipns:\/\/)([^/]+)(\/.*)?$/.exec(text.trim())
  return m === null ? undefined : { name: m[1], rest: m[2] ?? '' }
}

export function siteNameOf (peerId: PeerId): SiteName {
  const routingKey = multihashToIPNSRoutingKey(peerId.toMultihash())
  return {
    name: peerId.toCID().toString(base36),
    peerId,
    routingKey,
    // the spec's unpadded base64url, without the multibase prefix
    topic: `/record/${base64url.baseEncode(routingKey)}`
  }
}

/**
 * Followers of a topic announce this CID in the DHT so they can find each other (kubo's
 * pubsub router does the same with "floodsub:" + topic): a lone follower is otherwise
 * never in the topic's mesh.
 */
export async function topicRendezvous (topic: string): Promise<CID> {
  return CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode(`floodsub:${topic}`)))
}
