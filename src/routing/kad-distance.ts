/**
 * Kademlia's distance, as kad-dht computes it: a peer's key is the SHA-256 of its id's
 * multihash, a CID's the SHA-256 of its multihash (provider records), a record key's the
 * SHA-256 of the key's bytes; the distance is their XOR, compared as a big-endian number.
 * A record lives on the k peers closest to its key, so "is this peer among them" says
 * whether a lookup from it is answered from its own store or walks the network.
 */
import { createHash } from 'node:crypto'
import type { PeerId } from '@libp2p/interface'
import { CID } from 'multiformats/cid'

const sha256 = (bytes: Uint8Array): Buffer => createHash('sha256').update(bytes).digest()

/** The DHT key of a CID (its provider records) or of a record key. */
export function kadKey (target: CID | Uint8Array): Buffer {
  return sha256(target instanceof Uint8Array ? target : target.multihash.bytes)
}

/** `peers` sorted from the closest to `target` to the farthest. */
export function byKadDistance<P extends PeerId> (target: CID | Uint8Array, peers: P[]): P[] {
  const key = kadKey(target)
  const distance = new Map(peers.map(p => {
    const own = sha256(p.toMultihash().bytes)
    return [p, Buffer.from(own.map((b, i) => b ^ key[i]))] as const
  }))
  return [...peers].sort((a, b) => Buffer.compare(distance.get(a) as Buffer, distance.get(b) as Buffer))
}
