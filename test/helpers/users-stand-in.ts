/**
 * A STAND-IN for src/users/ (createUsers), for the gateway's site API unit tests only, while
 * the real service is built beside it: one user id for every site (no per-site keys), no
 * records, no rules, no network. What it does for real: each contribution is a UnixFS folder
 * imported into the given block store (so `/users/<id>/<file>` is served and verified like any
 * content), events are dispatched as the real service's, and `query` runs SQL read-only on an
 * in-memory node:sqlite `posts` table built from every contribution's `posts.json`, as the
 * forum's weft.json maps it. End-to-end tests use the real createUsers.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { importPath, type ContentBlockstore } from '../../src/content/index.ts'
import { WeftError } from '../../src/errors.ts'
import type { SiteApiUsers } from '../../src/gateway/index.ts'
import type { Contribution } from '../../src/users/index.ts'

export interface StandInUsersOptions {
  blocks: ContentBlockstore
  /** Where contribution folders are written before import (a test's tmpDir). */
  dir: string
  /** This node's user id, the same on every site (the real one differs per site). */
  me: string
}

export class StandInUsers extends EventTarget implements SiteApiUsers {
  private readonly options: StandInUsersOptions
  /** site → user → path → bytes */
  private readonly files = new Map<string, Map<string, Map<string, Uint8Array>>>()
  private readonly accepted = new Map<string, Map<string, Contribution>>()
  private readonly allowedSites = new Set<string>()
  /** Every write this node signed, in order: what a test checks was (not) written. */
  readonly writes: Array<{ site: string, path: string, removed: boolean }> = []

  constructor (options: StandInUsersOptions) {
    super()
    this.options = options
  }

  id (_site: string): string {
    return this.options.me
  }

  allowed (site: string): boolean {
    return this.allowedSites.has(site)
  }

  allow (site: string, allowed: boolean): void {
    if (allowed) this.allowedSites.add(site)
    else this.allowedSites.delete(site)
  }

  async write (site: string, path: string, bytes: Uint8Array | undefined, options: { signal?: AbortSignal } = {}): Promise<Contribution> {
    options.signal?.throwIfAborted()
    if (!this.allowed(site)) throw new WeftError('ERR_SITE_NOT_ALLOWED', 'the stand-in refuses: the site is not allowed')
    this.writes.push({ site, path, removed: bytes === undefined })
    return await this.put(site, this.options.me, path, bytes)
  }

  /** Another user's file arriving on the site (what a follower would accept from the network). */
  async put (site: string, user: string, path: string, bytes: Uint8Array | undefined): Promise<Contribution> {
    const bySite = this.files.get(site) ?? new Map<string, Map<string, Uint8Array>>()
    this.files.set(site, bySite)
    const mine = bySite.get(user) ?? new Map<string, Uint8Array>()
    bySite.set(user, mine)
    if (bytes === undefined) mine.delete(path)
    else mine.set(path, bytes)
    const folder = join(this.options.dir, `${site}-${user}-${Date.now()}-${Math.random().toString(36).slice(2)}`)
    await mkdir(folder, { recursive: true })
    for (const [p, b] of mine) {
      await mkdir(dirname(join(folder, p)), { recursive: true })
      await writeFile(join(folder, p), b)
    }
    const imported = await importPath(this.options.blocks, folder, {})
    await rm(folder, { recursive: true, force: true })
    const previous = this.accepted.get(site)?.get(user)
    const contribution: Contribution = {
      site,
      user,
      sequence: previous === undefined ? 0n : previous.sequence + 1n,
      root: imported.root.cid.toString(),
      files: [...mine].map(([p, b]) => ({ path: p, size: b.byteLength, cid: '' })),
      updated: Date.now()
    }
    const bySiteAccepted = this.accepted.get(site) ?? new Map<string, Contribution>()
    this.accepted.set(site, bySiteAccepted)
    bySiteAccepted.set(user, contribution)
    this.dispatchEvent(new CustomEvent('contribution', { detail: { site, user, sequence: contribution.sequence, root: contribution.root } }))
    return contribution
  }

  /** A user's contribution leaving the site (a ban, in the real service). */
  drop (site: string, user: string, reason: string): void {
    this.accepted.get(site)?.delete(user)
    this.files.get(site)?.delete(user)
    this.dispatchEvent(new CustomEvent('removed', { detail: { site, user, reason } }))
  }

  contributions (site: string): Contribution[] {
    return [...(this.accepted.get(site)?.values() ?? [])].sort((a, b) => b.updated - a.updated)
  }

  contribution (site: string, user: string): Contribution | undefined {
    return this.accepted.get(site)?.get(user)
  }

  async query (site: string, sql: string, params: unknown[] | Record<string, unknown> = [], options: { signal?: AbortSignal } = {}): Promise<Array<Record<string, unknown>>> {
    options.signal?.throwIfAborted()
    const db = new DatabaseSync(':memory:')
    try {
      db.exec('CREATE TABLE posts (id TEXT, title TEXT, body TEXT, date INTEGER, reply_to TEXT, user TEXT NOT NULL, file TEXT NOT NULL)')
      const insert = db.prepare('INSERT INTO posts VALUES (?, ?, ?, ?, ?, ?, ?)')
      for (const [user, files] of this.files.get(site) ?? []) {
        if (this.contribution(site, user) === undefined) continue
        const bytes = files.get('posts.json')
        if (bytes === undefined) continue
        let posts: unknown
        try {
          posts = (JSON.parse(Buffer.from(bytes).toString('utf8')) as { posts?: unknown }).posts
        } catch {
          continue
        }
        if (!Array.isArray(posts)) continue
        for (const p of posts as Array<Record<string, unknown>>) {
          const v = (k: string): string | number | null => typeof p[k] === 'string' || typeof p[k] === 'number' ? p[k] : null
          insert.run(v('id'), v('title'), v('body'), v('date'), v('reply_to'), user, 'posts.json')
        }
      }
      const statement = db.prepare(sql)
      if (!statement.sourceSQL.trim().toLowerCase().startsWith('select')) throw new WeftError('ERR_USAGE', 'the stand-in runs SELECT only')
      return (Array.isArray(params) ? statement.all(...params as Array<string | number | null>) : statement.all(params as Record<string, string | number | null>)) as Array<Record<string, unknown>>
    } finally {
      db.close()
    }
  }
}
