/**
 * What this node knows of each site that takes contributions: the rules and schema of the
 * version it holds (site-config.ts), the site's open database, and the moderators' bans
 * read from their accepted contributions.
 */
import { join } from 'node:path'
import { bannedUsers } from './rules.ts'
import { openSiteDb, type SiteDb } from './site-db.ts'
import type { SiteConfig } from './site-config.ts'

export class SiteStates {
  private readonly dir: string
  private readonly limits: { queryTimeout: number, maxRows: number }
  private readonly configs = new Map<string, SiteConfig>()
  private readonly dbs = new Map<string, Promise<SiteDb>>()
  /** The schema (as JSON) each open database was opened with. */
  private readonly dbSchemas = new Map<string, string>()
  /** Per site, each moderator's parsed bans.json. */
  private readonly moderatorBans = new Map<string, Map<string, unknown>>()

  constructor (dir: string, limits: { queryTimeout: number, maxRows: number }) {
    this.dir = dir
    this.limits = limits
  }

  config (site: string): SiteConfig | undefined {
    return this.configs.get(site)
  }

  setConfig (site: string, config: SiteConfig): void {
    this.configs.set(site, config)
  }

  /** The site's database for the schema its held version declares (reopened, and so rebuilt, when the schema changed); undefined without one. */
  async db (site: string): Promise<SiteDb | undefined> {
    const schema = this.config(site)?.schema
    if (schema === undefined) return undefined
    let opening = this.dbs.get(site)
    const wanted = JSON.stringify(schema)
    if (opening !== undefined) {
      const db = await opening
      if (this.dbSchemas.get(site) === wanted) return db
      this.dbs.delete(site)
      await db.close()
    }
    opening = openSiteDb({ path: join(this.dir, `${site}.db`) }, { schema, ...this.limits })
    this.dbs.set(site, opening)
    this.dbSchemas.set(site, wanted)
    return await opening
  }

  /** Keeps the site's query process started until the release is called (SiteDb.keepWarm), once its database is open. */
  listen (site: string): () => void {
    let release: (() => void) | undefined
    let released = false
    this.db(site).then(db => { if (db !== undefined && !released) release = db.keepWarm() }).catch(() => {})
    return () => {
      released = true
      release?.()
    }
  }

  async closeAll (): Promise<void> {
    const dbs = [...this.dbs.values()]
    this.dbs.clear()
    for (const db of dbs) await (await db.catch(() => undefined))?.close()
  }

  isModerator (site: string, user: string): boolean {
    return this.config(site)?.rules?.moderators.includes(user) === true
  }

  /** A moderator's bans.json as parsed (undefined: none, or unreadable). */
  setModeratorBans (site: string, moderator: string, bans: unknown): void {
    const map = this.moderatorBans.get(site) ?? new Map<string, unknown>()
    if (bans === undefined) map.delete(moderator)
    else map.set(moderator, bans)
    this.moderatorBans.set(site, map)
  }

  /** The owner's bans and those in the current moderators' bans.json files. */
  bans (site: string): Set<string> {
    const rules = this.config(site)?.rules
    if (rules === undefined) return new Set()
    const held = this.moderatorBans.get(site) ?? new Map<string, unknown>()
    return bannedUsers(rules, new Map(rules.moderators.filter(m => held.has(m)).map(m => [m, held.get(m)])))
  }
}
