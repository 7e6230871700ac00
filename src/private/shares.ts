/**
 * Sharing private folders between users of a site (format: share-format.ts).
 *
 * The sharer's side: `share` seals the folder key (generation g) to the recipient's X25519
 * key and writes the share file into the sharer's contribution, where followers carry it;
 * every later change to the folder (a 'published' from the private store) writes the
 * listing again. `unshare` moves the folder to generation g+1 (the store wraps the file
 * keys again; the ciphertext stays) and re-shares with everyone left, so files written
 * afterwards are out of the revoked recipient's reach; what they fetched before stays theirs.
 *
 * The recipient's side: `received` trial-opens every box in every other user's share files
 * on the site (one X25519 each, remembered per file CID), and reads a shared folder through
 * the listing its grant opens.
 *
 * All of one site's changes run one at a time, the store's republishing included, so a
 * revoke's rotation is never published with the old recipients in it.
 */
import type { Startable } from '@libp2p/interface'
import { ed25519 } from '@noble/curves/ed25519.js'
import { CID } from 'multiformats/cid'
import type { KeyObject } from 'node:crypto'
import { WeftError } from '../errors.ts'
import type { Blocks } from '../blocks/index.ts'
import { fetchingBlockstore, readFile, type ContentBlockstore } from '../content/index.ts'
import { parseSiteName } from '../sites/index.ts'
import type { UserIdentity } from '../users/identity.ts'
import type { Users } from '../users/index.ts'
import { isShareFile, isUserId } from '../users/rules.ts'
import { openFileStream, paddedSize, sealedSize } from './aead.ts'
import { x25519PrivateKey, x25519SecretOf } from './messages.ts'
import {
  decodeShareFile, encodeShareFile, listingDigest, openGrant, openListing, openOwn, sealGrant, sealListing, sealOwn, sharePath, shareTag,
  MAX_RECIPIENTS, MAX_SHARE_FILE_BYTES, type Grant, type ListedFile, type Listing
} from './share-format.ts'
import type { PrivateEntryInfo, PrivateStore } from './store.ts'
import { Serial } from './serial.ts'

/** A folder this person shares, and with whom. */
export interface OwnShare { site: string, folder: string, generation: number, recipients: string[] }
/** A folder shared with this person. */
export interface ReceivedShare { from: string, folder: string, generation: number, files: number }
/** Why share files on a site were refused, counted once per file version. */
export type ShareRefusal = 'malformed' | 'bad-signature' | 're-addressed' | 'moved' | 'tampered'

export interface Shares extends Startable {
  /** Shares `folder` (a top-level folder of this person's private store on `site`) with the user `recipient`. */
  share(site: string, folder: string, recipient: string, options?: { signal?: AbortSignal }): Promise<OwnShare>
  /** Stops sharing with `recipient`: rotates the folder key and re-shares with the others. */
  unshare(site: string, folder: string, recipient: string, options?: { signal?: AbortSignal }): Promise<OwnShare>
  /** The folders this person shares on `site`. */
  mine(site: string, options?: { signal?: AbortSignal }): Promise<OwnShare[]>
  /** The folders shared with this person on `site`. */
  received(site: string, options?: { signal?: AbortSignal }): Promise<ReceivedShare[]>
  /** The files of a shared folder; ERR_SHARE_NOT_FOUND when `from` shares no such folder with this person. */
  list(site: string, from: string, folder: string, options?: { signal?: AbortSignal }): Promise<PrivateEntryInfo[]>
  /** A shared file's bytes as they open (ERR_PRIVATE_NOT_FOUND when the folder has no such file). */
  read(site: string, from: string, folder: string, path: string, options?: { signal?: AbortSignal }): AsyncGenerator<Uint8Array>
  get(site: string, from: string, folder: string, path: string, options?: { signal?: AbortSignal }): Promise<Uint8Array>
  /** Share files refused on `site`, by reason. */
  refused(site: string): Partial<Record<ShareRefusal, number>>
}

export interface SharesComponents {
  /** The folder's files and keys, its rotation, the sites with private data, and word of every change ('published'). */
  store: Pick<PrivateStore, 'folderFiles' | 'rotateFolder' | 'sites' | 'addEventListener' | 'removeEventListener'>
  /** This person's key on each site (signs grants, opens boxes) and the keys of their private store. */
  identity: Pick<UserIdentity, 'key' | 'id' | 'privateKeys' | 'hasKey'>
  /** Share files travel in contributions: written into this person's, read from others' (accepted, so held whole). */
  users: Pick<Users, 'write' | 'contribution' | 'contributions'>
  /** Share files and shared ciphertext are read from the store, verified. */
  blocks: Pick<Blocks, 'get' | 'has'>
  /** Online: brings a shared file's blocks from peers (the sharer's node holds them). */
  fetchBlock?: (cid: CID, options: { signal?: AbortSignal }) => Promise<void>
}

/** What one share file (by CID) gave this person: a grant and its listing, a refusal, or nothing addressed here. */
type Opened = { grant: Grant, listing?: Listing, problem?: WeftError } | { refused: ShareRefusal } | undefined

/** Remembered share files, per node: each costs an X25519 per box to open again. */
const MAX_REMEMBERED = 10_000

function checkFolder (folder: string): string {
  if (typeof folder !== 'string' || folder === '' || folder.includes('/') || folder === '.' || folder === '..' || folder === '__proto__' || Buffer.byteLength(folder) > 255) {
    throw new WeftError('ERR_USAGE', `a shared folder is one top-level folder of the private store (no "/"), not ${JSON.stringify(String(folder).slice(0, 100))}`)
  }
  return folder
}

function shareNotFound (from: string, folder: string): WeftError {
  return new WeftError('ERR_SHARE_NOT_FOUND', `${from} shares no folder ${JSON.stringify(folder.slice(0, 100))} with you on this site (or revoked it)`)
}

async function readAll (store: ContentBlockstore, cid: CID, limit: number): Promise<Buffer> {
  const chunks: Uint8Array[] = []
  let size = 0
  for await (const chunk of readFile(store, cid)) {
    size += chunk.byteLength
    if (size > limit) throw new WeftError('ERR_PRIVATE_TAMPERED', `a share file is over ${limit} bytes`)
    chunks.push(chunk)
  }
  return Buffer.concat(chunks)
}

class FolderShares implements Shares {
  private readonly c: SharesComponents
  private readonly serialised = new Serial()
  private readonly opened = new Map<string, Opened>()
  private readonly refusals = new Map<string, Map<ShareRefusal, number>>()
  private readonly onPublished = (event: Event): void => {
    const { site } = (event as CustomEvent<{ site: string }>).detail
    void this.serial(site, async () => { await this.refresh(site) }).catch(() => {})
  }

  private started = false

  constructor (components: SharesComponents) {
    this.c = components
  }

  async start (): Promise<void> {
    if (this.started) return
    this.started = true
    this.c.store.addEventListener('published', this.onPublished)
    // a write made while no node ran sharing (another device's, merged by sync before this started) is listed now
    for (const site of this.c.store.sites()) void this.serial(site, async () => { await this.refresh(site) }).catch(() => {})
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    this.c.store.removeEventListener('published', this.onPublished)
    await this.serialised.drained()
  }

  private async serial<T> (site: string, fn: () => Promise<T>): Promise<T> {
    return await this.serialised.run(site, fn)
  }

  private get store (): ContentBlockstore {
    return this.c.blocks as ContentBlockstore
  }

  private fetchingStore (signal?: AbortSignal): ContentBlockstore {
    const fetchBlock = this.c.fetchBlock
    if (fetchBlock === undefined) return this.store
    return fetchingBlockstore(this.store, async cid => { await fetchBlock(cid, { signal }) })
  }

  // ---- the sharer's side ----

  /** This person's share file for `folder` on `site`: its note (whom, which generation), if there is one. */
  private async own (site: string, folder: string): Promise<{ path: string, recipients: string[], generation: number, digest: string } | undefined> {
    const keys = this.c.identity.privateKeys(site)
    const path = sharePath(shareTag(keys.indexKey, folder))
    const file = this.c.users.contribution(site, this.c.identity.id(site))?.files.find(f => f.path === path)
    if (file === undefined) return undefined
    const decoded = decodeShareFile(await readAll(this.store, CID.parse(file.cid), MAX_SHARE_FILE_BYTES))
    const note = decoded === undefined ? undefined : openOwn(keys.indexKey, path, decoded.own)
    // a share file here that does not open is one the old master key wrote: it is replaced as if new
    return { path, recipients: note?.recipients ?? [], generation: note?.generation ?? -1, digest: note?.digest ?? '' }
  }

  /** The folder's generation and its files as a listing holds them (paths within the folder). */
  private listed (site: string, folder: string): { generation: number, files: Map<string, ListedFile> } {
    const current = this.c.store.folderFiles(site, folder)
    const prefix = `${folder}/`
    return { generation: current.generation, files: new Map(current.files.map(f => [f.path.slice(prefix.length), { cid: f.cid, size: f.size, mtime: f.mtime, key: f.key }])) }
  }

  /** Writes the share file of `folder` for `recipients` at the folder's current generation. */
  private async publish (site: string, folder: string, recipients: string[], options: { signal?: AbortSignal }): Promise<OwnShare> {
    const keys = this.c.identity.privateKeys(site)
    const sharerKey = this.c.identity.key(site)
    const sharer = this.c.identity.id(site)
    const tag = shareTag(keys.indexKey, folder)
    const current = this.listed(site, folder)
    const files = current.files
    const folderKey = keys.folderKey(folder, current.generation)
    const listing = sealListing(folderKey, { site, sharer, tag }, { folder, generation: current.generation, files })
    const boxes: Uint8Array[] = []
    for (const recipient of recipients) {
      boxes.push(await sealGrant({ site, sharer, recipient, folder, generation: current.generation, tag, key: folderKey }, sharerKey))
    }
    const own = sealOwn(keys.indexKey, { folder, generation: current.generation, recipients, digest: listingDigest(files) })
    await this.c.users.write(site, sharePath(tag), encodeShareFile({ listing, boxes, own }), options)
    return { site, folder, generation: current.generation, recipients }
  }

  /** After a change to the store: writes the listing again for each shared folder whose files or generation changed. */
  private async refresh (site: string): Promise<void> {
    if (!this.c.identity.hasKey()) return
    const mine = this.c.users.contribution(site, this.c.identity.id(site))
    if (mine?.files.some(f => isShareFile(f.path)) !== true) return
    for (const share of await this.mineNow(site)) {
      const current = this.listed(site, share.folder)
      if (share.generation === current.generation && share.digest === listingDigest(current.files)) continue
      await this.publish(site, share.folder, share.recipients, {})
    }
  }

  async share (site: string, folder: string, recipient: string, options: { signal?: AbortSignal } = {}): Promise<OwnShare> {
    const name = parseSiteName(site).name
    checkFolder(folder)
    if (!isUserId(recipient)) throw new WeftError('ERR_USAGE', `"${String(recipient).slice(0, 100)}" is not a user id (k51…; they see theirs with \`weft user id --site <site>\`)`)
    if (recipient === this.c.identity.id(name)) throw new WeftError('ERR_USAGE', 'that is your own id on this site: your folder is yours already')
    return await this.serial(name, async () => {
      const note = await this.own(name, folder)
      // a first share of a folder with nothing in it is most likely a mistyped name
      if (note === undefined && this.c.store.folderFiles(name, folder).files.length === 0) throw new WeftError('ERR_PRIVATE_NOT_FOUND', `no private files in folder ${JSON.stringify(folder.slice(0, 100))} for site ${name}`)
      const recipients = [...new Set([...(note?.recipients ?? []), recipient])].sort()
      if (recipients.length > MAX_RECIPIENTS) throw new WeftError('ERR_USAGE', `a folder is shared with at most ${MAX_RECIPIENTS} users`)
      return await this.publish(name, folder, recipients, options)
    })
  }

  async unshare (site: string, folder: string, recipient: string, options: { signal?: AbortSignal } = {}): Promise<OwnShare> {
    const name = parseSiteName(site).name
    checkFolder(folder)
    return await this.serial(name, async () => {
      const note = await this.own(name, folder)
      if (note?.recipients.includes(recipient) !== true) throw new WeftError('ERR_SHARE_NOT_FOUND', `folder ${JSON.stringify(folder.slice(0, 100))} is not shared with ${String(recipient).slice(0, 100)} on this site`)
      const recipients = note.recipients.filter(r => r !== recipient)
      // the new generation first: whatever is written from here on is under a key the revoked user never had
      const generation = await this.c.store.rotateFolder(name, folder, options)
      if (recipients.length === 0) {
        await this.c.users.write(name, note.path, undefined, options)
        return { site: name, folder, generation, recipients }
      }
      return await this.publish(name, folder, recipients, options)
    })
  }

  private async mineNow (site: string): Promise<Array<OwnShare & { digest: string }>> {
    const keys = this.c.identity.privateKeys(site)
    const mine = this.c.users.contribution(site, this.c.identity.id(site))
    const out: Array<OwnShare & { digest: string }> = []
    for (const file of mine?.files ?? []) {
      if (!isShareFile(file.path)) continue
      const decoded = decodeShareFile(await readAll(this.store, CID.parse(file.cid), MAX_SHARE_FILE_BYTES))
      const note = decoded === undefined ? undefined : openOwn(keys.indexKey, file.path, decoded.own)
      if (note !== undefined) out.push({ site, folder: note.folder, generation: note.generation, recipients: note.recipients, digest: note.digest })
    }
    return out
  }

  async mine (site: string): Promise<OwnShare[]> {
    const name = parseSiteName(site).name
    return (await this.serial(name, async () => await this.mineNow(name))).map(({ digest: _digest, ...share }) => share)
  }

  // ---- the recipient's side ----

  private refuse (site: string, reason: ShareRefusal): void {
    let counts = this.refusals.get(site)
    if (counts === undefined) this.refusals.set(site, counts = new Map())
    counts.set(reason, (counts.get(reason) ?? 0) + 1)
  }

  refused (site: string): Partial<Record<ShareRefusal, number>> {
    return Object.fromEntries(this.refusals.get(parseSiteName(site).name) ?? [])
  }

  /** Opens one share file addressed (perhaps) to this person; remembered by its CID. */
  private async openFile (site: string, user: string, path: string, cid: string, me: { id: string, secret: KeyObject, publicX: Uint8Array }): Promise<Opened> {
    const memo = `${site}/${me.id}/${user}/${path}/${cid}`
    if (this.opened.has(memo)) return this.opened.get(memo)
    let result: Opened
    try {
      result = await this.openFileNow(site, user, path, CID.parse(cid), me)
    } catch {
      result = { refused: 'malformed' }
    }
    if (result !== undefined && 'refused' in result) this.refuse(site, result.refused)
    if (this.opened.size >= MAX_REMEMBERED) this.opened.delete(this.opened.keys().next().value as string)
    this.opened.set(memo, result)
    return result
  }

  private async openFileNow (site: string, user: string, path: string, cid: CID, me: { id: string, secret: KeyObject, publicX: Uint8Array }): Promise<Opened> {
    const decoded = decodeShareFile(await readAll(this.store, cid, MAX_SHARE_FILE_BYTES))
    if (decoded === undefined) return { refused: 'malformed' }
    for (const box of decoded.boxes) {
      const grant = await openGrant(box, me.secret, me.publicX)
      if (grant === undefined) continue
      if (grant === 'bad-signature') return { refused: 'bad-signature' }
      if (grant.recipient !== me.id || grant.site !== site) return { refused: 're-addressed' }
      // a box copied into another user's contribution, or under another file name
      if (grant.sharer !== user || path !== sharePath(grant.tag)) return { refused: 'moved' }
      try {
        return { grant, listing: openListing(grant, decoded.listing) }
      } catch (err) {
        this.refuse(site, 'tampered')
        return { grant, problem: err as WeftError }
      }
    }
    return undefined
  }

  private me (site: string): { id: string, secret: KeyObject, publicX: Uint8Array } {
    const key = this.c.identity.key(site)
    return { id: this.c.identity.id(site), secret: x25519PrivateKey(x25519SecretOf(key)), publicX: ed25519.utils.toMontgomery(key.publicKey.raw) }
  }

  private async grants (site: string, from?: string): Promise<Array<{ grant: Grant, listing?: Listing, problem?: WeftError }>> {
    if (!this.c.identity.hasKey()) return []
    const me = this.me(site)
    const out: Array<{ grant: Grant, listing?: Listing, problem?: WeftError }> = []
    for (const contribution of this.c.users.contributions(site)) {
      if (contribution.user === me.id || (from !== undefined && contribution.user !== from)) continue
      for (const file of contribution.files) {
        if (!isShareFile(file.path)) continue
        const opened = await this.openFile(site, contribution.user, file.path, file.cid, me)
        if (opened !== undefined && 'grant' in opened) out.push(opened)
      }
    }
    return out
  }

  async received (site: string): Promise<ReceivedShare[]> {
    const name = parseSiteName(site).name
    return (await this.grants(name)).map(g => ({ from: g.grant.sharer, folder: g.grant.folder, generation: g.grant.generation, files: g.listing?.files.size ?? 0 }))
      .sort((a, b) => a.from < b.from ? -1 : a.from > b.from ? 1 : a.folder < b.folder ? -1 : 1)
  }

  private async listing (site: string, from: string, folder: string): Promise<Listing> {
    const found = (await this.grants(site, from)).find(g => g.grant.folder === folder)
    if (found === undefined) throw shareNotFound(from, folder)
    if (found.listing === undefined) throw found.problem ?? new WeftError('ERR_PRIVATE_TAMPERED', 'the shared folder\'s listing does not open')
    return found.listing
  }

  async list (site: string, from: string, folder: string): Promise<PrivateEntryInfo[]> {
    const listing = await this.listing(parseSiteName(site).name, from, folder)
    return [...listing.files].map(([path, f]) => ({ path, size: f.size, mtime: f.mtime })).sort((a, b) => a.path < b.path ? -1 : 1)
  }

  async * read (site: string, from: string, folder: string, path: string, options: { signal?: AbortSignal } = {}): AsyncGenerator<Uint8Array> {
    const listing = await this.listing(parseSiteName(site).name, from, folder)
    const file = listing.files.get(path)
    if (file === undefined) throw new WeftError('ERR_PRIVATE_NOT_FOUND', `no file ${JSON.stringify(path.slice(0, 200))} in ${from}'s shared folder ${JSON.stringify(folder.slice(0, 100))}`)
    const what = `the shared file ${JSON.stringify(`${folder}/${path}`.slice(0, 200))}`
    let cid: CID
    try {
      cid = CID.parse(file.cid)
    } catch {
      throw new WeftError('ERR_PRIVATE_TAMPERED', `${what} names no valid CID`)
    }
    for await (const plain of openFileStream(file.key, readFile(this.fetchingStore(options.signal), cid), sealedSize(paddedSize(file.size)), file.size, what)) {
      options.signal?.throwIfAborted()
      yield plain
    }
  }

  async get (site: string, from: string, folder: string, path: string, options: { signal?: AbortSignal } = {}): Promise<Uint8Array> {
    const chunks: Uint8Array[] = []
    for await (const chunk of this.read(site, from, folder, path, options)) chunks.push(chunk)
    return Buffer.concat(chunks)
  }
}

export function createShares (components: SharesComponents): Shares {
  return new FolderShares(components)
}
