/**
 * Sites: a site is a folder signed by its owner's key. Its address is an IPNS name, its
 * versions are IPNS records (value `/ipfs/<root>`, rising sequence numbers), found in the
 * DHT and pushed to followers over IPNS-over-PubSub. Followers verify, fetch, pin and
 * provide each new version, so the site lives on while its owner is offline.
 */
import type { DatabaseSync } from 'node:sqlite'
import type { PeerId, Startable, Stream } from '@libp2p/interface'
import type { GossipSub } from '@libp2p/gossipsub'
import type { CID } from 'multiformats/cid'
import type { Blocks } from '../blocks/index.ts'
import type { Routing } from '../routing/index.ts'
import type { OwnSite, Equivocation, Rejection } from './store.ts'
import type { RejectReason } from './records.ts'
import { SiteService } from './sites.ts'

export { parseSiteName, siteNameOf, splitIpnsPath, topicRendezvous, type SiteName } from './names.ts'
export { signRecord, checkRecord, decode, RecordRejected, rejectionError, MAX_RECORD_BYTES, type SiteRecord, type RejectReason } from './records.ts'
/** The gate every signed record passes; a second record kind (user contributions) builds its own over its own RecordBook. */
export { RecordGate, isHostile, type RecordBook, type RecordSource, type RecordGateComponents, type RecordGateInit, type RecordGateEvents, type GateOutcome } from './gate.ts'
export type { OwnSite } from './store.ts'
export { assertNoReservedEntries, RESERVED_SITE_ENTRIES } from './reserved.ts'

export interface SitesComponents {
  /** Sites keep their records, versions and follows in the home's database. */
  db: DatabaseSync
  /** Where a site's key file lives (keys/site-<label>.key). */
  keyPath: (label: string) => string
  /** info reads weft.json from the store (followed versions are held by sites, not pinned: see heldRoots). */
  blocks: Pick<Blocks, 'get' | 'put' | 'has' | 'flush'>
  /** Present when online: what sites need from the network. */
  net?: SitesNet
}

export interface SitesNet {
  /** Records go to the DHT; roots and topic rendezvous are provided there. */
  routing: Pick<Routing, 'putRecord' | 'getRecord' | 'provide' | 'provideSoon' | 'findProviders'>
  /** Pushes and receives records on each site's topic. */
  pubsub: Pick<GossipSub, 'topicValidators' | 'subscribe' | 'unsubscribe' | 'publish'>
  /** Brings a version's DAG (or one block) into the store, verified; says which peers sent blocks. */
  fetch: (cid: CID, options: { signal: AbortSignal, recursive?: boolean, providers?: PeerId[] }) => Promise<{ fromPeers?: Record<string, number> } | undefined>
  /** A peer that sent a forged or malformed record pays for it (the exchange's peer scores). */
  penalise: (peer: string, detail: string) => void
  isConnected: (peer: PeerId) => boolean
  /** Calls back when a peer connects (records waiting for a peer go out then, and a followed site's peer coming back sets off a catch-up); returns an unsubscribe. */
  onPeerConnected: (fn: (peer: PeerId) => void) => () => void
  dial: (peer: PeerId, options: { signal: AbortSignal }) => Promise<unknown>
  /** Serves the record ask (ask.ts); over relayed (limited) connections too. */
  handle: (protocol: string, handler: (stream: Stream) => void) => Promise<void>
  unhandle: (protocol: string) => Promise<void>
  /** Opens a stream for the record ask; over relayed (limited) connections too. */
  dialProtocol: (peer: PeerId, protocol: string, options: { signal: AbortSignal }) => Promise<Stream>
}

export interface SitesInit {
  /** ms a new record stays valid. */
  validity: number
  /** ms resolvers may cache a record. */
  ttl: number
  /** ms between republishes (0: off). */
  republishInterval: number
  /** ms between DHT polls for followed sites (0: off). */
  pollInterval: number
  /** Versions kept pinned per followed site. */
  keepVersions: number
  /** The longest one version's fetch may take (ms). */
  fetchTimeout: number
  /** DHT answers gathered before picking the best record. */
  quorum: number
  /** ms between tries to announce records no peer has taken yet. */
  pendingInterval: number
  /** The clock own records are signed and re-signed by (ms since the epoch; Date.now when absent): a test moves it on instead of waiting out a validity. */
  now?: () => number
}

export interface PublishResult {
  name: string
  root: string
  sequence: bigint
  /** False when the content was already the current version (no new record). */
  changed: boolean
  /** False when offline or no peer took the record: it goes out when the daemon has peers. */
  announced: boolean
}

export interface ResolveResult {
  name: string
  value: string
  root: string
  sequence: bigint
  validity: string
  /** ms */
  ttl: number
  /** cache (within TTL), local (held, confirmed or offline), dht; held: an older version, see `newest` */
  source: string
  /**
   * Only with `resolve(…, { held: true })`, and only when the answer is an older version: the
   * newest sequence known, whose blocks are not all in the store yet (a followed site still
   * fetching it, or waiting for a peer that has it).
   */
  newest?: bigint
}

/**
 * A followed site's newest version, as the store holds it: `held` (every block of it);
 * `updating` (not yet, but an older version is held whole and served meanwhile: see `held`);
 * with no version held, `fetching` (a fetch is running) or `waiting` (the last fetch found
 * no peer with it; it is tried again when a peer connects or a record arrives); `no-record`
 * (no record of the site was found yet).
 */
export type FollowState = 'held' | 'updating' | 'fetching' | 'waiting' | 'no-record'

export interface FollowInfo {
  name: string
  following: boolean
  keep: number
  sequence?: bigint
  root?: string
  /** When the current version was first seen (ms epoch). */
  updated?: number
  /** Whether the current version's every block is in the store (walked, not remembered). */
  fetched: boolean
  state: FollowState
  /** The newest version whose every block is in the store: what the gateway serves meanwhile when it is not the current one. */
  held?: bigint
}

export interface SiteInfo {
  name: string
  address: string
  label?: string
  following: boolean
  /** `fetched`: when the current version's fetch finished, shown only while `held` (every block in the store). */
  current?: { sequence: bigint, value: string, root: string, validity: string, expired: boolean, firstSeen?: number, fetched?: number, held: boolean }
  versions: Array<{ sequence: bigint, value: string, firstSeen: number, fetched?: number, pinned: boolean }>
  /** Peers seen pushing its records or providing its root. */
  peers: Array<{ peer: string, lastSeen: number }>
  /** Cumulative DAG size of the current root, when its root block could be read. */
  size?: number
  /** The site's weft.json, when its root has one. */
  site?: { title?: string, description?: string, author?: string, entry?: string }
  equivocations: Equivocation[]
  rejections: Rejection[]
}

export interface SiteEvents {
  record: { name: string, sequence: bigint, value: string, source: string }
  fetched: { name: string, sequence: bigint, root: string }
  rejected: { name: string, reason: RejectReason, peer?: string }
}

export interface Sites extends Startable, EventTarget {
  create(label: string): Promise<OwnSite>
  list(): OwnSite[]
  exportKey(label: string, passphrase: string): Promise<string>
  importKey(text: string, passphrase: string, label?: string): Promise<OwnSite>
  /** Signs `/ipfs/<root>` as the site's next version and announces it when online. */
  publish(label: string, root: CID, options?: { validity?: number, ttl?: number, signal?: AbortSignal }): Promise<PublishResult>
  /**
   * The newest valid record's version. With `held`, a followed site whose newest version is
   * not yet wholly in the store answers the newest version that is (and says `newest`), so a
   * gateway serves what the node holds instead of waiting on a fetch no peer may answer.
   */
  resolve(name: string, options?: { offline?: boolean, fresh?: boolean, held?: boolean, signal?: AbortSignal }): Promise<ResolveResult>
  receive(name: string, bytes: Uint8Array, peer?: string): Promise<'new' | 'refresh' | 'same'>
  /** The signed record held for a name, exactly as its owner signed it (for a gateway's ipns-record answers, or to pass on). */
  record(name: string): Uint8Array | undefined
  follow(name: string, options?: { keep?: number, signal?: AbortSignal }): Promise<FollowInfo>
  unfollow(name: string): Promise<void>
  /** Each followed site's state, read from the store (a walk of each current version's DAG). */
  following(): Promise<FollowInfo[]>
  republish(): Promise<{ own: number, followed: number }>
  info(name: string, options?: { signal?: AbortSignal }): Promise<SiteInfo>
  /** Roots of the followed versions kept: gc keeps them and the reprovide schedule announces them. */
  heldRoots(): CID[]
  /** The followed sites' names (no walk of their versions, unlike `following`). */
  followedNames(): string[]
}

export const SITES_DEFAULTS = { fetchTimeout: 10 * 60_000, quorum: 4, pendingInterval: 15_000 }

export function createSites (components: SitesComponents, init: SitesInit): Sites {
  return new SiteService(components, init)
}
