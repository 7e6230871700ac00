/**
 * Keeping what the DHT stores on disk bounded. kad-dht's records and provider records now
 * live in the home's db (net/datastore.ts) and outlive restarts, but kad-dht drops them
 * only lazily: a record when someone asks for it after it expired, others' provider
 * records an hour into each run, and its own provider records never ("provide intent"
 * that it re-announces for ever). Before, a restart emptied them all; now this does the
 * same job at start, by the same rules, and drops this node's own provider records for
 * content it no longer holds (routing's reprovide announces what it holds, by strategy).
 */
import type { PeerId } from '@libp2p/interface'
import { Record as DHTRecord } from '@libp2p/kad-dht'
import type { Datastore } from 'interface-datastore'
import { CID } from 'multiformats/cid'
import { base32 } from 'multiformats/bases/base32'
import * as raw from 'multiformats/codecs/raw'
import * as Digest from 'multiformats/hashes/digest'
import { varint } from 'multiformats'
import { Key } from 'interface-datastore'

const HOUR = 60 * 60_000

export const DHT_STORE = {
  // kad-dht's PROVIDERS_VALIDITY: it serves neither a record nor a provider record
  // received longer ago than this, so keeping one longer only takes space.
  validity: 48 * HOUR,
  // kad-dht's default datastorePrefix (weft does not change it).
  prefix: '/dht'
}

export interface DhtStoreComponents {
  datastore: Datastore
  /** This node: its provider records follow what it holds, not the clock. */
  self: PeerId
  /** Whether this node still holds (and so announces) the content of `cid`. */
  holds: (cid: CID) => boolean
}

export interface PruneReport {
  /** Records held for others, dropped as expired (or unreadable). */
  records: number
  /** Others' provider records, dropped as expired. */
  providers: number
  /** This node's provider records for content it no longer holds. */
  own: number
  /** What stays: records and provider records. */
  kept: number
}

export async function pruneDhtStore (components: DhtStoreComponents, options: { now?: number, signal?: AbortSignal } = {}): Promise<PruneReport> {
  const { datastore, self, holds } = components
  const oldest = (options.now ?? Date.now()) - DHT_STORE.validity
  const report: PruneReport = { records: 0, providers: 0, own: 0, kept: 0 }
  const doomed: Array<{ key: Parameters<Datastore['delete']>[0], kind: 'records' | 'providers' | 'own' }> = []
  for await (const { key, value } of datastore.query({ prefix: `${DHT_STORE.prefix}/record/` }, options)) {
    let received: number | undefined
    try {
      received = DHTRecord.deserialize(value).timeReceived?.getTime()
    } catch { /* unreadable: dropped */ }
    if (received === undefined || received < oldest) doomed.push({ key, kind: 'records' })
    else report.kept++
  }
  for await (const { key, value } of datastore.query({ prefix: `${DHT_STORE.prefix}/provider/` }, options)) {
    // /dht/provider/<multihash in base32>/<peer id>, the value the time it was received (a varint)
    const parts = key.toString().split('/')
    const peer = parts.at(-1)
    let cid: CID | undefined
    let received: number | undefined
    try {
      cid = CID.createV1(raw.code, Digest.decode(base32.baseDecode(parts.at(-2) ?? '')))
      received = varint.decode(value)[0]
    } catch { /* unreadable: dropped */ }
    if (cid === undefined || received === undefined) doomed.push({ key, kind: 'providers' })
    else if (peer === self.toString()) {
      if (holds(cid)) report.kept++
      else doomed.push({ key, kind: 'own' })
    } else if (received < oldest) doomed.push({ key, kind: 'providers' })
    else report.kept++
  }
  // deleted after the walk, not during it
  for (const { key, kind } of doomed) {
    await datastore.delete(key, options)
    report[kind]++
  }
  return report
}

/**
 * Whether `datastore` holds a provider record for `target` (a CID) or a record under it
 * (a record key): kad-dht answers a lookup for it from there before asking anyone.
 */
export async function heldInDhtStore (datastore: Datastore, target: CID | Uint8Array, options: { signal?: AbortSignal } = {}): Promise<boolean> {
  if (target instanceof Uint8Array) {
    return await datastore.has(new Key(`${DHT_STORE.prefix}/record/${base32.baseEncode(target)}`, false), options)
  }
  for await (const _ of datastore.query({ prefix: `${DHT_STORE.prefix}/provider/${base32.baseEncode(target.multihash.bytes)}/`, limit: 1 }, options)) return true
  return false
}
