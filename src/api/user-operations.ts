/**
 * What weft can be asked to do as a person on sites: their user identity, contributions,
 * private files, shares and messages. The base of Operations (operations.ts), which adds
 * everything else; split off so neither file carries every job.
 */
import { WeftError } from '../errors.ts'
import type { WeftNode } from '../node/index.ts'
import { parseSiteName } from '../sites/index.ts'
import { isKeyName } from '../naming/index.ts'
import { MAX_BYTES_CEILING, usersTopic, type ImportResult, type UserIdentity, type UsersInfo } from '../users/index.ts'
import { MAX_BODY_BYTES, paddedSize, sealedSize, inboxMessageJson, type OwnShare, type ReceivedShare, type ShareRefusal, type InboxMessageJson, type MessagesInfo, type SentMessage } from '../private/index.ts'

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

export function withStringSequences<T> (value: T): Wire<T> {
  return JSON.parse(JSON.stringify(value, (_k, v) => typeof v === 'bigint' ? v.toString() : v))
}

export class UserOperations {
  readonly node: WeftNode

  constructor (node: WeftNode) {
    this.node = node
  }

  // ---- users ----

  /** The home's user identity (the node's own, so an import reaches the users service at once); its master key is read (or made) at the first use. */
  protected get userIdentity (): UserIdentity {
    return this.node.userIdentity
  }

  /**
   * The `k51…` name of the site `text` leads to: one's own site's label, a site name
   * (`k51…`, `/ipns/k51…`), or a name the naming resolvers turn into `/ipns/k51…`.
   */
  protected async siteNameOf (text: string, options: { signal?: AbortSignal } = {}): Promise<string> {
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
  protected async contributedSite (site: string): Promise<string> {
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
