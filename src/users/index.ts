/**
 * Users: a person's identity on each site (a key derived from one master key, so sites
 * cannot link them), their contributions (small signed folders, checked against the
 * site owner's rules by every follower), and a database per site built from them.
 */
import type { DatabaseSync } from 'node:sqlite'
import type { PeerId, Startable, Stream } from '@libp2p/interface'
import type { GossipSub } from '@libp2p/gossipsub'
import type { CID } from 'multiformats/cid'
import type { Blocks } from '../blocks/index.ts'
import type { Routing } from '../routing/index.ts'
import type { Sites } from '../sites/index.ts'
import type { ContributionFile } from './store.ts'
import { ContributionService } from './contributions.ts'
import { DEFAULT_MAX_ROWS, DEFAULT_QUERY_TIMEOUT_MS } from './site-db.ts'
import type { UserIdentity } from './identity.ts'

export { checkUserRecord, signUserRecord, userIdOfPublicKey, type UserRecord } from './records.ts'
export { usersTopic } from './contributions.ts'
export {
  openSiteDb, parseDbSchema, DEFAULT_MAX_ROWS, DEFAULT_QUERY_TIMEOUT_MS, MAX_JSON_BYTES_PER_USER, MAX_ROWS_PER_FILE, MAX_ROWS_PER_USER,
  type SiteDb, type SiteDbComponents, type SiteDbInit, type SiteDbSchema, type ColumnType, type PutResult
} from './site-db.ts'
export {
  createUserIdentity, siteUserKey, userIdOf, readUserKey, ensureUserKey, exportUserKey, unsealUserKey,
  MASTER_KEY_BYTES, USER_KEY_HEADER, type UserIdentity, type UserIdentityComponents, type ImportResult
} from './identity.ts'
export {
  parseUserRules, checkContribution, bannedUsers, globMatch, pathProblem, isUserId,
  MAX_PATTERNS, MAX_PATTERN_CHARS, MAX_PATH_BYTES, MAX_FILES_CEILING, MAX_BYTES_CEILING, MAX_BANNED, MAX_MODERATORS, MAX_MODERATOR_BANS, BANS_FILE, SHARES_FOLDER, isShareFile,
  type UserRules, type ContributionCheck
} from './rules.ts'
export { CATCH_UP_PROTOCOL } from './catch-up.ts'
export {
  createUserLink, parseLinkCode, formatLinkCode, linkProof, LINK_PROTOCOL, LINK_CODE_TTL_MS, LINK_SECRET_BYTES, MAX_WRONG_PROOFS,
  type UserLink, type UserLinkComponents, type UserLinkInit, type LinkCode
} from './link.ts'
export { masterKeyOfPhrase, phraseOfMasterKey, RECOVERY_PHRASE_WORDS } from './recovery.ts'
export type { ContributionFile } from './store.ts'

export interface Contribution {
  site: string
  user: string
  sequence: bigint
  root: string
  files: ContributionFile[]
  /** When this version was first seen (ms epoch). */
  updated: number
}

export interface UsersInfo {
  site: string
  /** Whether the site's held version takes contributions, and why not when its weft.json is wrong. */
  takesContributions: boolean
  problem?: string
  contributions: Array<{ user: string, sequence: bigint, root: string, state: 'accepted' | 'refused' | 'pending', reason?: string, files: number, bytes: number }>
  rejections: Array<{ reason: string, count: number, lastPeer?: string }>
  equivocations: Array<{ user: string, sequence: bigint }>
}

export interface UserEvents {
  contribution: { site: string, user: string, sequence: bigint, root: string }
  removed: { site: string, user: string, reason: string }
  /** The person allowed a site, or withdrew their consent (private sync follows the sites allowed). */
  consent: { site: string, allowed: boolean }
}

export interface Users extends Startable, EventTarget {
  /** The user's id on a site (creates the master key on first use). */
  id(site: string): string
  /** Writes (or, with `bytes` undefined, removes) one file of this user's contribution, then signs and publishes it. */
  write(site: string, path: string, bytes: Uint8Array | undefined, options?: { signal?: AbortSignal }): Promise<Contribution>
  /** Accepted contributions on a site (in the rules, not banned, folder held), newest first. */
  contributions(site: string): Contribution[]
  contribution(site: string, user: string): Contribution | undefined
  /** Rows from the site's database: read-only SQL, capped in time and rows. */
  query(site: string, sql: string, params?: unknown[] | Record<string, unknown>, options?: { signal?: AbortSignal }): Promise<Array<Record<string, unknown>>>
  /**
   * Someone listens for the site's events (a page's `/.weft/events` stream) and will query
   * after them: the site's query process starts now and stays up until every listener
   * released it. Returns the release.
   */
  listen(site: string): () => void
  /** Whether this node's person allowed the site to sign as them. */
  allowed(site: string): boolean
  allow(site: string, allowed: boolean): void
  /** Sites the person allowed, oldest consent first. */
  allowedSites(): string[]
  /**
   * Reads the rules of the site's held version, checking every contribution again when they
   * changed. A started node does this as versions arrive; one that was not started (the
   * CLI's offline node) does it on a write, and here before `info`.
   */
  refresh(site: string): Promise<void>
  /** Every contribution known on a site with its state, and the records refused (`weft user list`), under the rules last read (`refresh`). */
  info(site: string): UsersInfo
  /** Asks peers on the site's users topic for the user records they hold; returns how many came. */
  catchUp(site: string, options?: { again?: boolean }): Promise<number>
  /** Folder roots of contributions held: gc keeps them, the reprovide schedule announces them. */
  heldRoots(): CID[]
  /** Resolves once no contribution is being checked. */
  settled(): Promise<void>
}

export interface UsersComponents {
  /** The users tables live in the home's database. */
  db: DatabaseSync
  /** The person's master key and the key it gives on each site (one instance per node: the API imports into it). */
  identity: UserIdentity
  /** Where each site's database file goes (`<dir>/<site>.db`). */
  siteDbDir: string
  /** Folders are built into and walked from the store. */
  blocks: Pick<Blocks, 'get' | 'put' | 'has' | 'flush'>
  /** Which sites are followed or owned, their held version, and word when it changes ('record', 'fetched'). */
  sites: Pick<Sites, 'resolve' | 'list' | 'followedNames' | 'addEventListener' | 'removeEventListener'>
  net?: UsersNet
}

export interface UsersNet {
  /** User records go to the DHT; contribution roots are provided. */
  routing: Pick<Routing, 'putRecord' | 'provideSoon'>
  /** Pushes on each site's users topic. */
  pubsub: Pick<GossipSub, 'topicValidators' | 'subscribe' | 'unsubscribe' | 'publish' | 'getSubscribers'>
  /** Brings one block into the store, verified. */
  /** Brings a block (or, recursive, a DAG) into the store, verified; `onProgress` sees the bytes so far (a walk stops a DAG past its budget). */
  fetch: (cid: CID, options: { signal: AbortSignal, recursive: boolean, providers?: PeerId[], onProgress?: (event: { bytes: number, blocks: number }) => void }) => Promise<unknown>
  penalise: (peer: string, detail: string) => void
  onPeerConnected: (fn: () => void) => () => void
  handle: (protocol: string, handler: (stream: Stream) => void) => Promise<void>
  unhandle: (protocol: string) => Promise<void>
  dialProtocol: (peer: PeerId, protocol: string, options: { signal: AbortSignal }) => Promise<Stream>
}

export interface UsersInit {
  /** ms a user record stays valid: long, since a contribution should outlive its author's absence. */
  validity: number
  /** ms a resolver may cache a user record. */
  ttl: number
  /** The longest one block's fetch may take (ms). */
  fetchTimeout: number
  /** ms between catch-up rounds (0: only at start and when peers connect). */
  catchUpInterval: number
  /** Peers asked per catch-up round. */
  catchUpPeers: number
  /** ms one database query may run. */
  queryTimeout: number
  /** Rows one query may return. */
  maxRows: number
  /** User records one peer may push at once, and a second after that. */
  peerBurst: number
  peerRate: number
  /** New versions one user may publish at once, and a second after that. */
  userBurst: number
  userRate: number
}

export const USERS_DEFAULTS: UsersInit = {
  validity: 365 * 24 * 3600_000,
  ttl: 5 * 60_000,
  fetchTimeout: 60_000,
  catchUpInterval: 10 * 60_000,
  catchUpPeers: 3,
  queryTimeout: DEFAULT_QUERY_TIMEOUT_MS,
  maxRows: DEFAULT_MAX_ROWS,
  // a forum thread being read and answered by a crowd; a flood is orders beyond
  peerBurst: 200,
  peerRate: 50,
  userBurst: 10,
  userRate: 2
}

export function createUsers (components: UsersComponents, init: Partial<UsersInit> = {}): Users {
  return new ContributionService(components, { ...USERS_DEFAULTS, ...init })
}
