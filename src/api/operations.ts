/**
 * What weft can be asked to do, once: the CLI calls these on a node it opened itself,
 * and the daemon's control API calls the same functions on its own node.
 */
import { multiaddr } from '@multiformats/multiaddr'
import type { CID } from 'multiformats/cid'
import type { NameResolution, Petname } from '../naming/index.ts'
import { WeftError, isWeftError } from '../errors.ts'
import {
  importPath, parseContentPath, resolveEntry, cat, ls, get, exportCar, importCar, fetchingBlockstore, withDagTotal,
  type ContentBlockstore, type ContentPath, type ListedEntry
} from '../content/index.ts'
import type { PinType } from '../blocks/index.ts'
import type { FetchProgress } from '../exchange/index.ts'
import type { WeftNode } from '../node/index.ts'
import { getConfigValue, setConfigValue, parseSize } from '../repo/index.ts'
import { tcpHostPort } from '../net/index.ts'
import { assertNoReservedEntries, parseSiteName, splitIpnsPath, type FollowInfo, type SiteInfo } from '../sites/index.ts'
import { isKeyName } from '../naming/index.ts'
import { MAX_BYTES_CEILING, isUserId, usersTopic, type ImportResult, type UserIdentity, type UsersInfo } from '../users/index.ts'
import { MAX_BODY_BYTES, paddedSize, sealedSize, inboxMessageJson, type OwnShare, type ReceivedShare, type ShareRefusal, type InboxMessageJson, type MessagesInfo, type SentMessage } from '../private/index.ts'

export interface AddOptions { hidden?: boolean, preserveMode?: boolean, preserveMtime?: boolean, pin?: boolean }
export interface AddReport {
  roots: Array<{ path: string, cid: string, size: number, files: number }>
  entries: Array<{ path: string, cid: string, size: number }>
  skippedSymlinks: string[]
}
export interface NetworkOptions {
  /** Never ask the network: a missing block is an error. */
  offline?: boolean
  /** Give up on the network after this many ms. */
  timeout?: number
}
export type Progress =
  | { type: 'content:import:bytes', bytes: number, totalBytes: number, files: number, totalFiles: number }
  | { type: 'content:export:bytes', bytes: number, totalBytes: number }
  /** totalBytes: the DAG's size once its root block says it (dag-pb Tsize sum, or a raw block's length). */
  | (FetchProgress & { totalBytes?: number })

export interface PeerInfo { id: string, address: string, latencyMs?: number }
export interface PublishOptions extends AddOptions {
  site: string
  /** ms the record stays valid (default: sites.validity). */
  validity?: number
  /** ms resolvers may cache it (default: sites.ttl). */
  ttl?: number
}
export interface PublishReport { address: string, name: string, root: string, sequence: string, changed: boolean, announced: boolean, url: string }
export interface ResolveOptions { offline?: boolean, timeout?: number, fresh?: boolean }

/** ms `user id` may spend turning a name into a site: naming's own timeout (config naming.timeout) stops each resolver sooner. */
const USER_SITE_TIMEOUT = 30_000
/** ms a written contribution's DHT put may take; past it the record has still gone out on the site's topic and followers catch up. */
const USER_ANNOUNCE_TIMEOUT = 30_000
/** The most bytes one `user write` takes: no site's rules may allow a larger contribution (rules.ts), so more is refused before it is read. */
export const MAX_USER_FILE_BYTES = MAX_BYTES_CEILING

/**
 * The most bytes one private file may hold: the store seals a file whole in memory (the
 * plaintext, its ciphertext and, on read, both again), so this bounds a write's memory to
 * about a GiB; larger data belongs in several files.
 */
export const MAX_PRIVATE_FILE_BYTES = 256 * 1024 * 1024

export interface PrivateListReport { site: string, files: Array<{ path: string, size: number, mtime: number }>, usage: { files: number, bytes: number, stored: number } }

/** `announced`: the record was pushed to at least one peer on the site's users topic (else it waits in the home, and followers catch up on it when they connect). */
export interface UserWriteReport { site: string, user: string, sequence: string, root: string, files: Array<{ path: string, size: number }>, announced: boolean }
/** The most bytes one `message send` takes: what fits in a sealed envelope (64 KiB) addressed on a site. */
export const MAX_MESSAGE_BYTES = MAX_BODY_BYTES
/** `weft message ls`: what this person opened on the site, and what the node carries for its users. */
export interface SharedReport { site: string, me: string, shared: ReceivedShare[], mine: OwnShare[], refused: Partial<Record<ShareRefusal, number>> }
export interface MessageListReport extends Omit<MessagesInfo, 'inbox'> { me: string, messages: InboxMessageJson[] }
export type UserListReport = Wire<Omit<UsersInfo, 'contributions'> & { me: string, contributions: Array<UsersInfo['contributions'][number] & { mine: boolean }> }>

/** `T` as it looks after JSON: JSON has no bigint, so sequences travel as decimal strings. */
export type Wire<T> = T extends bigint ? string : T extends Array<infer U> ? Array<Wire<U>> : T extends object ? { [K in keyof T]: Wire<T[K]> } : T

function withStringSequences<T> (value: T): Wire<T> {
  return JSON.parse(JSON.stringify(value, (_k, v) => typeof v === 'bigint' ? v.toString() : v))
}

function jsonEntries (entries: ListedEntry[]) {
  return entries.map(e => ({ name: e.name, cid: e.cid.toString(), size: e.size, type: e.type }))
}

export class Operations {
  readonly node: WeftNode

  constructor (node: WeftNode) {
    this.node = node
  }

  async id (): Promise<{ id: string, addresses: string[] }> {
    return { id: this.node.repo.peerId, addresses: (this.node.libp2p?.getMultiaddrs() ?? []).map(String) }
  }

  private get libp2p () {
    if (this.node.libp2p === undefined) throw new WeftError('ERR_OFFLINE', 'this needs the network: start `weft daemon` first')
    return this.node.libp2p
  }

  async peers (): Promise<PeerInfo[]> {
    const libp2p = this.libp2p
    return await Promise.all(libp2p.getConnections().map(async c => {
      let latencyMs: number | undefined
      try {
        latencyMs = await libp2p.services.ping.ping(c.remotePeer, { signal: AbortSignal.timeout(2_000) })
      } catch { /* unanswered: shown without latency */ }
      return { id: c.remotePeer.toString(), address: c.remoteAddr.toString(), latencyMs }
    }))
  }

  async connect (address: string): Promise<{ id: string }> {
    let ma
    try {
      ma = multiaddr(address)
    } catch {
      throw new WeftError('ERR_USAGE', `"${address}" is not a multiaddr`)
    }
    const libp2p = this.libp2p
    const peer = ma.getComponents().findLast(c => c.name === 'p2p')?.value
    if (peer !== undefined && this.node.exchange?.isBanned(peer) === true) throw this.banned(peer)
    try {
      const connection = await libp2p.dial(ma, { signal: AbortSignal.timeout(10_000) })
      return { id: connection.remotePeer.toString() }
    } catch (err) {
      // libp2p's connection gater refused it: the exchange banned the peer (perhaps mid-dial).
      if ((err as Error).name === 'DialDeniedError' && peer !== undefined) throw this.banned(peer)
      throw new WeftError('ERR_DIAL_FAILED', `could not connect to ${address}: ${(err as Error).message}`)
    }
  }

  private banned (peer: string): WeftError {
    const record = this.node.exchange?.peerRecord(peer)
    const until = record?.bannedUntil === undefined ? '' : ` until ${new Date(record.bannedUntil).toISOString()}`
    const why = record?.lastReason ?? 'it broke the protocol'
    return new WeftError('ERR_PEER_BANNED', `peer ${peer} is banned${until} (${why}); weft connects to it again once the ban ends`)
  }

  async add (paths: string[], options: AddOptions, onProgress?: (e: Progress) => void): Promise<AddReport> {
    const report: AddReport = { roots: [], entries: [], skippedSymlinks: [] }
    for (const path of paths) {
      const result = await importPath(this.node.blocks, path, { ...options, onProgress })
      if (options.pin !== false) {
        await this.node.blocks.pin(result.root.cid, 'recursive')
        this.node.routing?.provideSoon(result.root.cid)
      }
      report.roots.push({ path: result.root.path, cid: result.root.cid.toString(), size: result.bytes, files: result.files })
      report.entries.push(...result.entries.map(e => ({ path: e.path, cid: e.cid.toString(), size: e.size })))
      report.skippedSymlinks.push(...result.symlinks)
    }
    return report
  }

  /**
   * A block store that fetches what it lacks from the network (when online and allowed),
   * for resolving paths; whole DAGs are brought in by `ensureLocal`.
   */
  private store (options: NetworkOptions, onProgress?: (e: Progress) => void): ContentBlockstore {
    const { blocks, exchange } = this.node
    if (options.offline === true || exchange === undefined) return blocks
    const signal = options.timeout !== undefined ? AbortSignal.timeout(options.timeout) : undefined
    return fetchingBlockstore(blocks, async cid => await exchange.fetch(cid, { recursive: false, signal, onProgress }))
  }

  /** `/ipns/<name>[/path]` becomes the `/ipfs/<root>[/path]` of the site's newest valid record; anything else is a content path. */
  private async contentPath (arg: string, options: NetworkOptions): Promise<ContentPath> {
    const ipns = splitIpnsPath(arg)
    if (ipns === undefined) return parseContentPath(arg)
    const resolved = await this.node.resolvePath(ipns.name, { offline: options.offline, signal: options.timeout !== undefined ? AbortSignal.timeout(options.timeout) : undefined })
    return parseContentPath(`${resolved.value}${ipns.rest}`)
  }

  /** Resolves `path` and makes the DAG under it local, fetching what is missing. */
  private async ensureLocal (path: ContentPath, options: NetworkOptions, onProgress?: (e: Progress) => void): Promise<ContentPath> {
    const store = this.store(options, onProgress)
    const entry = path.segments.length === 0 ? undefined : await resolveEntry(store, path)
    const target = entry?.cid ?? path.cid
    const exchange = this.node.exchange
    if (exchange !== undefined && options.offline !== true) {
      const signal = options.timeout !== undefined ? AbortSignal.timeout(options.timeout) : undefined
      if (onProgress !== undefined) onProgress = withDagTotal(this.node.blocks, target, onProgress)
      try {
        await exchange.fetch(target, { signal, onProgress })
      } catch (err) {
        if (!isWeftError(err, 'ERR_QUOTA_EXCEEDED')) throw err
        // Visited content is a cache: when the store is full, drop what no pin or follow
        // holds and try once more (a DAG larger than the quota still fails).
        await this.node.blocks.gc()
        await exchange.fetch(target, { signal, onProgress })
      }
    }
    return parseContentPath(target.toString())
  }

  /** Makes the DAG under `arg` local (fetching what is missing), for a progress bar before `cat`. */
  async fetch (arg: string, options: NetworkOptions, onProgress?: (e: Progress) => void): Promise<{ cid: string }> {
    const path = await this.ensureLocal(await this.contentPath(arg, options), options, onProgress)
    return { cid: path.cid.toString() }
  }

  async * cat (arg: string, options: NetworkOptions & { offset?: number, length?: number }, onProgress?: (e: Progress) => void): AsyncGenerator<Uint8Array> {
    const path = await this.ensureLocal(await this.contentPath(arg, options), options, onProgress)
    yield * cat(this.node.blocks, path, options)
  }

  async get (arg: string, out: string, options: NetworkOptions, onProgress?: (e: Progress) => void): Promise<{ bytes: number }> {
    const path = await this.ensureLocal(await this.contentPath(arg, options), options, onProgress)
    return await get(this.node.blocks, path, out, { onProgress })
  }

  async ls (arg: string, options: NetworkOptions) {
    return jsonEntries(await ls(this.store(options), await this.contentPath(arg, options)))
  }

  /** The CID a content path names: its root, or the entry its segments lead to in `store`. */
  private async entryCid (store: ContentBlockstore, path: ContentPath): Promise<CID> {
    return path.segments.length === 0 ? path.cid : (await resolveEntry(store, path)).cid
  }

  /**
   * Pins what the args name. What the home lacks is fetched first, verified, as `cat`
   * does (the whole DAG for a recursive pin, the one block for a direct pin); offline it
   * must already be here.
   */
  async pinAdd (args: string[], direct: boolean, options: NetworkOptions = {}): Promise<Array<{ cid: string, type: PinType }>> {
    const type: PinType = direct ? 'direct' : 'recursive'
    const out = []
    for (const arg of args) {
      let cid: CID
      try {
        if (direct) {
          const store = this.store(options)
          cid = await this.entryCid(store, await this.contentPath(arg, options))
          await store.get(cid)
        } else {
          cid = (await this.ensureLocal(await this.contentPath(arg, options), options)).cid
        }
        await this.node.blocks.pin(cid, type)
      } catch (err) {
        if (isWeftError(err, 'ERR_BLOCK_NOT_FOUND') && this.node.exchange === undefined) {
          throw new WeftError('ERR_BLOCK_NOT_FOUND', `${err.message}; start \`weft daemon\` (with a peer that has it) and pin again to fetch it`)
        }
        throw err
      }
      this.node.routing?.provideSoon(cid)
      out.push({ cid: cid.toString(), type })
    }
    return out
  }

  async pinRm (args: string[]): Promise<Array<{ cid: string }>> {
    const out = []
    for (const arg of args) {
      const cid = await this.entryCid(this.node.blocks, parseContentPath(arg))
      await this.node.blocks.unpin(cid)
      out.push({ cid: cid.toString() })
    }
    return out
  }

  async pinLs (type?: PinType) {
    return this.node.blocks.pins(type).map(p => ({ cid: p.cid.toString(), type: p.type, created: p.created.toISOString() }))
  }

  async gc () {
    return await this.node.blocks.gc()
  }

  async repoStat () {
    const s = this.node.blocks.stat()
    return { home: this.node.repo.paths.home, peerId: this.node.repo.peerId, blocks: s.blocks, bytes: s.bytes, diskBytes: s.packBytes, packs: s.packs, storageMax: s.storageMax, pins: this.node.blocks.pins().length }
  }

  /** Bytes and blocks the block exchange sent to peers and received from them since the node started (zeros offline). */
  async stats (): Promise<{ bytesSent: number, blocksSent: number, bytesReceived: number, blocksReceived: number }> {
    const s = this.node.exchange?.stats
    return { bytesSent: s?.bytesSent ?? 0, blocksSent: s?.blocksSent ?? 0, bytesReceived: s?.bytesReceived ?? 0, blocksReceived: s?.blocksReceived ?? 0 }
  }

  /** With `repair`, damaged blocks are quarantined and fetched again from peers (only a running daemon can). */
  async repoVerify (options: { repair?: boolean } = {}) {
    if (options.repair === true && this.node.exchange === undefined) {
      throw new WeftError('ERR_OFFLINE', 'repairing fetches good copies from peers: start `weft daemon`, then run `weft repo verify --repair` again')
    }
    const report = await this.node.blocks.verify({ repair: options.repair })
    return { ok: report.ok, problems: report.problems.map(p => ({ cid: p.cid.toString(), problem: p.problem, ...(p.repaired !== undefined ? { repaired: p.repaired } : {}), ...(p.repairError !== undefined ? { repairError: p.repairError } : {}) })) }
  }

  async configGet (key?: string): Promise<unknown> {
    return key === undefined ? this.node.repo.config : getConfigValue(this.node.repo.config, key)
  }

  /** Returns the new value, and a warning when the change needs a restart or frees nothing. */
  async configSet (key: string, json: string): Promise<{ value: unknown, note?: string }> {
    const next = setConfigValue(this.node.repo.config, key, json)
    let note: string | undefined
    if (key.startsWith('datastore.storageMax') && (parseSize(next.datastore.storageMax) as number) < this.node.blocks.stat().bytes) {
      note = 'the store already holds more than the new storageMax; adds will fail until gc frees space'
    } else if (this.node.libp2p !== undefined && !key.startsWith('datastore')) {
      note = 'saved; the running daemon uses it after a restart'
    }
    this.node.repo.saveConfig(next)
    return { value: getConfigValue(next, key), note }
  }

  async * carExport (arg: string, options: NetworkOptions): AsyncGenerator<Uint8Array> {
    const path = await this.ensureLocal(await this.contentPath(arg, options), options)
    yield * exportCar(this.node.blocks, path.cid)
  }

  async carImport (source: AsyncIterable<Uint8Array>, pin: boolean): Promise<{ roots: string[], blocks: number, bytes: number }> {
    const result = await importCar(this.node.blocks, source)
    if (pin) {
      for (const root of result.roots) {
        await this.node.blocks.pin(root, 'recursive')
        this.node.routing?.provideSoon(root)
      }
    }
    return { roots: result.roots.map(String), blocks: result.blocks, bytes: result.bytes }
  }

  // ---- sites ----

  async siteCreate (label: string) {
    const site = await this.node.sites.create(label)
    return { label: site.label, name: site.name, address: `/ipns/${site.name}` }
  }

  /** Own sites, with the sequence and root of the record held for each (none before the first publish). */
  async siteList () {
    return await Promise.all(this.node.sites.list().map(async s => {
      const held = await this.node.sites.resolve(s.name, { offline: true }).catch(() => undefined)
      return { label: s.label, name: s.name, address: `/ipns/${s.name}`, created: new Date(s.created).toISOString(), published: s.published, sequence: held?.sequence.toString(), root: held?.root }
    }))
  }

  async siteExportKey (label: string, passphrase: string): Promise<{ key: string }> {
    return { key: await this.node.sites.exportKey(label, passphrase) }
  }

  async siteImportKey (key: string, passphrase: string, label?: string) {
    const site = await this.node.sites.importKey(key, passphrase, label)
    return { label: site.label, name: site.name, address: `/ipns/${site.name}` }
  }

  async siteInfo (name: string): Promise<Wire<SiteInfo>> {
    return withStringSequences(await this.node.sites.info(name))
  }

  /** The port the daemon's gateway listens on, once it does (config's until then). */
  gatewayPort?: number


  /** One's own and followed sites, with this user's id on each and whether the site may write as them. */
  async userSites (): Promise<Array<{ name: string, label?: string, id: string, allowed: boolean }>> {
    const users = this.node.users
    const own = this.node.sites.list()
    const names = new Map<string, string | undefined>(own.map(s => [s.name, s.label]))
    for (const f of await this.node.sites.following()) if (!names.has(f.name)) names.set(f.name, undefined)
    // a site keeps private data without being followed: its consent is the person's to withdraw too
    for (const name of this.node.private.sites()) if (!names.has(name)) names.set(name, undefined)
    return [...names].map(([name, label]) => ({ name, label, id: users.id(name), allowed: users.allowed(name) }))
  }

  /** Allows a site to write as this user (sign contributions), or revokes it. */
  async userAllow (name: string, allowed: boolean): Promise<{ name: string, allowed: boolean }> {
    const users = this.node.users
    const site = parseSiteName(name).name
    users.allow(site, allowed)
    return { name: site, allowed: users.allowed(site) }
  }

  /** The gateway URL of a site: its own origin, `<name>.ipns.localhost:<port>`. */
  private gatewayUrl (name: string): string {
    const port = this.gatewayPort ?? tcpHostPort(this.node.repo.config.addresses.gateway)?.port ?? 8080
    return `http://${name}.ipns.localhost:${port}/`
  }

  /** Adds the folder (pinned), then signs and announces it as the site's next version. */
  async publish (dir: string, options: PublishOptions, onProgress?: (e: Progress) => void): Promise<PublishReport> {
    // Fail on a wrong label before importing anything.
    if (!this.node.sites.list().some(s => s.label === options.site)) throw new WeftError('ERR_SITE_NOT_FOUND', `no site "${options.site}" in this home (weft site create ${options.site})`)
    // the node serves /users/ and /.weft/ on every site: a folder may not hold them
    await assertNoReservedEntries(dir, { hidden: options.hidden })
    const added = await this.add([dir], { ...options, pin: true }, onProgress)
    const root = parseContentPath(added.roots[0].cid).cid
    const result = await this.node.sites.publish(options.site, root, { validity: options.validity, ttl: options.ttl })
    return { address: `/ipns/${result.name}`, name: result.name, root: result.root, sequence: result.sequence.toString(), changed: result.changed, announced: result.announced, url: this.gatewayUrl(result.name) }
  }

  async resolve (name: string, options: ResolveOptions) {
    const signal = options.timeout !== undefined ? AbortSignal.timeout(options.timeout) : undefined
    return withStringSequences(await this.node.sites.resolve(name, { offline: options.offline, fresh: options.fresh, signal }))
  }

  async follow (name: string, keep?: number): Promise<Wire<FollowInfo>> {
    return withStringSequences(await this.node.sites.follow(name, { keep, signal: AbortSignal.timeout(30_000) }))
  }

  async unfollow (name: string): Promise<{ name: string }> {
    await this.node.sites.unfollow(name)
    return { name: parseSiteName(name).name }
  }

  async nameSet (name: string, value: string): Promise<Petname> {
    const set = this.node.petnames.set(name, value)
    this.node.naming.forget(set.name)
    return set
  }

  async nameRm (name: string): Promise<void> {
    this.node.petnames.remove(name)
    this.node.naming.forget(name)
  }

  async nameLs (): Promise<Petname[]> {
    return this.node.petnames.list()
  }

  /** What a name points at, which resolver said so, whether it was proven, and for how long it holds. */
  async nameResolve (name: string, options: { timeout?: number, fresh?: boolean } = {}): Promise<NameResolution> {
    return await this.node.naming.resolve(name, { fresh: options.fresh, signal: options.timeout !== undefined ? AbortSignal.timeout(options.timeout) : undefined })
  }

  async following (): Promise<Array<Wire<FollowInfo>>> {
    return withStringSequences(await this.node.sites.following())
  }

  // ---- users ----

  /** The home's user identity (the node's own, so an import reaches the users service at once); its master key is read (or made) at the first use. */
  private get userIdentity (): UserIdentity {
    return this.node.userIdentity
  }

  /**
   * The `k51…` name of the site `text` leads to: one's own site's label, a site name
   * (`k51…`, `/ipns/k51…`), or a name the naming resolvers turn into `/ipns/k51…`.
   */
  private async siteNameOf (text: string, options: { signal?: AbortSignal } = {}): Promise<string> {
    const own = this.node.sites.list().find(s => s.label === text)
    if (own !== undefined) return own.name
    const bare = text.trim().replace(/^\/ipns\//, '').replace(/\/$/, '')
    if (isKeyName(bare)) return parseSiteName(bare).name
    if (text.trim().startsWith('/ipns/')) throw new WeftError('ERR_INVALID_NAME', `"${text}" is not a site name (expected /ipns/k51…)`)
    const named = await this.node.naming.resolve(text, { signal: options.signal })
    const site = /^\/ipns\/([^/]+)/.exec(named.value)?.[1]
    if (site === undefined) throw new WeftError('ERR_USAGE', `${text} points at ${named.value}, which is content, not a site: a user id belongs to a site (k51…)`)
    return parseSiteName(site).name
  }

  /** This home's user id on a site (the master key is made on first use). */
  async userId (site: string): Promise<{ site: string, id: string }> {
    const name = await this.siteNameOf(site, { signal: AbortSignal.timeout(USER_SITE_TIMEOUT) })
    return { site: name, id: this.userIdentity.id(name) }
  }

  /** The k51 name of a site this home owns or follows (a user's contribution lives only there). */
  private async contributedSite (site: string): Promise<string> {
    const name = await this.siteNameOf(site, { signal: AbortSignal.timeout(USER_SITE_TIMEOUT) })
    const { sites } = this.node
    if (!sites.list().some(s => s.name === name) && !sites.followedNames().includes(name)) {
      throw new WeftError('ERR_NOT_FOLLOWING', `${name} is neither followed nor owned here: follow it first (weft follow ${name})`)
    }
    return name
  }

  /**
   * Writes one file of this person's contribution to a site (with `bytes` undefined, removes
   * it), signed as their user on that site. Offline the record waits in the home: the
   * users service announces its own record when the daemon starts, and followers that
   * connect later catch up on it.
   */
  async userWrite (site: string, file: string, bytes: Uint8Array | undefined): Promise<UserWriteReport> {
    const name = await this.contributedSite(site)
    if (bytes !== undefined && bytes.byteLength > MAX_USER_FILE_BYTES) {
      throw new WeftError('ERR_CONTRIBUTION_REFUSED', `${file} is ${bytes.byteLength} bytes; no site takes a file over ${MAX_USER_FILE_BYTES} (the ceiling of every site's maxBytes)`)
    }
    const c = await this.node.users.write(name, file, bytes, { signal: AbortSignal.timeout(USER_ANNOUNCE_TIMEOUT) })
    return {
      site: name,
      user: c.user,
      sequence: c.sequence.toString(),
      root: c.root,
      files: c.files.map(f => ({ path: f.path, size: f.size })),
      // pushed on the site's users topic to at least one peer; others catch up when they connect
      announced: this.node.libp2p !== undefined && this.node.libp2p.services.pubsub.getSubscribers(usersTopic(name)).length > 0
    }
  }

  async userRm (site: string, file: string): Promise<UserWriteReport> {
    return await this.userWrite(site, file, undefined)
  }

  /** Every contribution known on a site (this person's marked), the records refused by reason, and the equivocations. */
  async userList (site: string): Promise<UserListReport> {
    const name = await this.contributedSite(site)
    const users = this.node.users
    await users.refresh(name)
    // offline nothing arrives meanwhile: wait for the checks the rules' reading started, so states are settled
    if (this.node.libp2p === undefined) await users.settled()
    const info = users.info(name)
    const me = users.id(name)
    return withStringSequences({ ...info, me, contributions: info.contributions.map(c => ({ ...c, mine: c.user === me })) })
  }

  /** One file of a user's accepted contribution, read verified from the store (an accepted folder is held whole). */
  async * userCat (site: string, user: string, file: string): AsyncGenerator<Uint8Array> {
    const name = await this.contributedSite(site)
    if (!isUserId(user)) throw new WeftError('ERR_INVALID_NAME', `"${String(user).slice(0, 100)}" is not a user id (k51…; \`weft user list --site ${site}\` shows them)`)
    const users = this.node.users
    await users.refresh(name)
    const contribution = users.contribution(name, user)
    if (contribution === undefined) {
      const known = users.info(name).contributions.find(c => c.user === user)
      if (known === undefined) throw new WeftError('ERR_RECORD_NOT_FOUND', `no contribution from ${user} to ${name} is known here`)
      if (known.state === 'refused') throw new WeftError('ERR_CONTRIBUTION_REFUSED', `the contribution of ${user} to ${name} is refused here (${known.reason ?? 'refused'})`)
      throw new WeftError('ERR_BLOCK_NOT_FOUND', `the contribution of ${user} to ${name} is not held yet (its folder is still being fetched)`)
    }
    if (!contribution.files.some(f => f.path === file)) throw new WeftError('ERR_DAG_PATH_NOT_FOUND', `${file} is not in the contribution of ${user} to ${name}`)
    // encoded, since content paths decode their segments (a file may be named "100%.json")
    yield * this.cat(`/ipfs/${contribution.root}/${file.split('/').map(encodeURIComponent).join('/')}`, { offline: true })
  }

  // ---- private files ----

  /** The `k51…` name of a site for the private store (no follow needed: the data is this person's own). */
  private async privateSite (site: string): Promise<string> {
    return await this.siteNameOf(site, { signal: AbortSignal.timeout(USER_SITE_TIMEOUT) })
  }

  /** Seals and stores one private file for a site (replacing one at the same path). */
  async privatePut (site: string, path: string, bytes: Uint8Array): Promise<{ site: string, path: string, size: number, mtime: number }> {
    const name = await this.privateSite(site)
    if (bytes.byteLength > MAX_PRIVATE_FILE_BYTES) throw new WeftError('ERR_USAGE', `${path} is ${bytes.byteLength} bytes; a private file holds at most ${MAX_PRIVATE_FILE_BYTES}`)
    const entry = await this.node.private.put(name, path, bytes)
    return { site: name, ...entry }
  }

  /** One private file's bytes, opened here from the store (verified, then authenticated a segment at a time). */
  async * privateGet (site: string, path: string): AsyncGenerator<Uint8Array> {
    const name = await this.privateSite(site)
    yield * this.node.private.read(name, path)
  }

  async privateLs (site: string): Promise<PrivateListReport> {
    const name = await this.privateSite(site)
    return { site: name, files: this.node.private.list(name), usage: this.node.private.usage(name) }
  }

  /** Every site with private data here and what it holds (the web UI's storage list). */
  async privateSites (): Promise<Array<{ site: string, files: number, bytes: number, stored: number }>> {
    const store = this.node.private
    return store.sites().map(site => ({ site, ...store.usage(site) }))
  }

  async privateRm (site: string, path: string): Promise<{ site: string, path: string }> {
    const name = await this.privateSite(site)
    await this.node.private.rm(name, path)
    return { site: name, path }
  }

  /**
   * Shares a top-level folder of this person's private store on a site with the user `to`
   * there; the share travels in their contribution, so the site must be followed or owned.
   */
  async privateShare (site: string, folder: string, to: string): Promise<OwnShare> {
    const name = await this.contributedSite(site)
    return await this.node.shares.share(name, folder, to, { signal: AbortSignal.timeout(USER_ANNOUNCE_TIMEOUT) })
  }

  /** Stops sharing a folder with `to`: a new folder key, shared again with everyone else. */
  async privateUnshare (site: string, folder: string, to: string): Promise<OwnShare> {
    const name = await this.contributedSite(site)
    return await this.node.shares.unshare(name, folder, to, { signal: AbortSignal.timeout(USER_ANNOUNCE_TIMEOUT) })
  }

  /** The folders shared with this person on a site, and those they share. */
  async privateShared (site: string): Promise<SharedReport> {
    const name = await this.siteNameOf(site, { signal: AbortSignal.timeout(USER_SITE_TIMEOUT) })
    const shares = this.node.shares
    return { site: name, me: this.userIdentity.id(name), shared: await shares.received(name), mine: await shares.mine(name), refused: shares.refused(name) }
  }

  /** The files of a folder `from` shares with this person. */
  async privateSharedLs (site: string, from: string, folder: string): Promise<PrivateListReport & { from: string, folder: string }> {
    const name = await this.siteNameOf(site, { signal: AbortSignal.timeout(USER_SITE_TIMEOUT) })
    const files = await this.node.shares.list(name, from, folder)
    return { site: name, from, folder, files, usage: { files: files.length, bytes: files.reduce((n, f) => n + f.size, 0), stored: files.reduce((n, f) => n + sealedSize(paddedSize(f.size)), 0) } }
  }

  /** One file of a folder `from` shares with this person, fetched from peers as needed and opened here. */
  async * privateSharedGet (site: string, from: string, folder: string, path: string): AsyncGenerator<Uint8Array> {
    const name = await this.siteNameOf(site, { signal: AbortSignal.timeout(USER_SITE_TIMEOUT) })
    yield * this.node.shares.read(name, from, folder, path)
  }

  // ---- messages ----

  /**
   * Seals a message to the user `to` on a site this home follows or owns, signed as this
   * person's user there. Offline it waits in the home: peers on the site's messages topic
   * ask for it once the daemon runs.
   */
  async messageSend (site: string, to: string, body: Uint8Array): Promise<SentMessage> {
    const name = await this.contributedSite(site)
    return await this.node.messages.send(name, to, body, { signal: AbortSignal.timeout(USER_ANNOUNCE_TIMEOUT) })
  }

  /** What this person opened on a site, newest first (bodies as UTF-8 text, else base64). */
  async messageList (site: string): Promise<MessageListReport> {
    const name = await this.siteNameOf(site, { signal: AbortSignal.timeout(USER_SITE_TIMEOUT) })
    const { inbox: _inbox, ...info } = this.node.messages.info(name)
    return { ...info, me: this.userIdentity.id(name), messages: this.node.messages.list(name).map(inboxMessageJson) }
  }

  async userExportKey (passphrase: string): Promise<{ key: string }> {
    return { key: await this.userIdentity.exportKey(passphrase) }
  }

  async userImportKey (key: string, passphrase: string, force: boolean): Promise<ImportResult> {
    return await this.userIdentity.importKey(key, passphrase, { force })
  }

  private get userLink () {
    if (this.node.userLink === undefined) throw new WeftError('ERR_OFFLINE', 'linking a device needs the daemon on both nodes: start `weft daemon` first')
    return this.node.userLink
  }

  /** A one-time code that hands this home's master key to another node running a daemon (src/users/link.ts). */
  async userLinkIssue (addresses: boolean): Promise<{ code: string, expires: number }> {
    return this.userLink.issue({ addresses })
  }

  /** Receives the master key from the node that issued `code`, under import-key's --force rule. */
  async userLinkAccept (code: string, force: boolean): Promise<ImportResult> {
    return await this.userLink.accept(code, { force })
  }

  /** The master key as 24 BIP-39 words (made on first use, as export-key does). */
  async userRecoveryPhrase (): Promise<{ phrase: string }> {
    return { phrase: this.userIdentity.recoveryPhrase() }
  }

  async userRecover (phrase: string, force: boolean): Promise<ImportResult> {
    return await this.userIdentity.recover(phrase, { force })
  }
}
