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
import { encodeConfig, getConfigValue, setConfigValue } from '../repo/index.ts'
import { tcpHostPort } from '../net/addresses.ts'
import { assertNoReservedEntries, parseSiteName, splitIpnsPath, type FollowInfo, type SiteInfo } from '../sites/index.ts'
import { isUserId } from '../users/index.ts'
import { UserOperations, withStringSequences, type Wire } from './user-operations.ts'
import type { Held, LedgerEntry, ReplicasReport, ReplicateResult } from '../storage/index.ts'

export {
  MAX_USER_FILE_BYTES, MAX_PRIVATE_FILE_BYTES, MAX_MESSAGE_BYTES,
  type Wire, type PrivateListReport, type UserWriteReport, type SharedReport, type MessageListReport, type UserListReport
} from './user-operations.ts'

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

function jsonEntries (entries: ListedEntry[]) {
  return entries.map(e => ({ name: e.name, cid: e.cid.toString(), size: e.size, type: e.type }))
}

export class Operations extends UserOperations {

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
    return key === undefined ? encodeConfig(this.node.repo.config) : getConfigValue(this.node.repo.config, key)
  }

  /** Returns the new value, and a warning when the change needs a restart or frees nothing. */
  async configSet (key: string, json: string): Promise<{ value: unknown, note?: string }> {
    const next = setConfigValue(this.node.repo.config, key, json)
    let note: string | undefined
    if (key.startsWith('datastore.storageMax') && next.datastore.storageMax < this.node.blocks.stat().bytes) {
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

  /** Asks the closest peers offering storage to hold a site or CID (storage/). */
  async replicate (target: string, options: { copies?: number, keep?: number } = {}): Promise<ReplicateResult> {
    if (this.node.libp2p === undefined) throw new WeftError('ERR_OFFLINE', 'replicating asks peers: start `weft daemon` first')
    return await this.node.storage.replicate(target, { ...options, signal: AbortSignal.timeout(120_000) })
  }

  /** Holders of one thing replicated (or of each), their audits, bytes each side; and what this node holds for others. */
  async replicas (target?: string): Promise<{ replicas: ReplicasReport[], held: Held[], ledger: LedgerEntry[] }> {
    const storage = this.node.storage
    const replicas = target !== undefined ? [storage.replicas(target)] : storage.wanted().map(w => storage.replicas(w.target))
    return { replicas, held: target === undefined ? storage.held() : [], ledger: storage.ledger() }
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

}
