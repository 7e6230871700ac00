/**
 * Addresses a DHT answer named, kept in the peer store so the peer can be dialled by id,
 * without writing the same ones again and again. A walk hears of each peer from many of
 * the peers it asks (k closer peers per answer, each path of a hardened walk on its own),
 * and every `peerStore.merge` takes the peer's write lock, reads and decodes its entry,
 * encodes it and writes it back whether anything changed or not: in `bench users` that
 * was a fifth of the followers' CPU. A peer whose same addresses went in within
 * REMEMBERED_MS is not merged again.
 */
import type { Multiaddr } from '@multiformats/multiaddr'
import type { PeerId, PeerStore } from '@libp2p/interface'

/** How long a merge of a peer's addresses counts as fresh; the peer store forgets peers after hours, not minutes. */
export const REMEMBERED_MS = 60_000
/** Peers remembered at most (the oldest go first): a bound however many a busy DHT names. */
export const REMEMBERED_MAX = 4_096

const memos = new WeakMap<PeerStore, Map<string, { addrs: string, at: number, merging: Promise<void> }>>()

/**
 * Merges `multiaddrs` into the peer store for `peer`, unless those same addresses went in
 * less than REMEMBERED_MS ago (or are going in now: then this waits for that merge, so a
 * caller may dial the peer by id once it returns); never throws.
 */
export async function rememberAddresses (peerStore: PeerStore, peer: PeerId, multiaddrs: Multiaddr[]): Promise<void> {
  if (multiaddrs.length === 0) return
  let memo = memos.get(peerStore)
  if (memo === undefined) {
    memo = new Map()
    memos.set(peerStore, memo)
  }
  const id = peer.toString()
  const addrs = multiaddrs.map(a => a.toString()).sort().join(' ')
  const now = Date.now()
  const last = memo.get(id)
  if (last !== undefined && last.addrs === addrs && now - last.at < REMEMBERED_MS) {
    await last.merging
    return
  }
  const merging = peerStore.merge(peer, { multiaddrs }).then(() => {}, () => {
    // not kept: the next answer naming it tries again
    if (memo.get(id)?.merging === merging) memo.delete(id)
  })
  // re-inserted: the map's order is the order to forget in
  memo.delete(id)
  memo.set(id, { addrs, at: now, merging })
  if (memo.size > REMEMBERED_MAX) memo.delete(memo.keys().next().value as string)
  await merging
}
