/**
 * The sites this home owns: their keys, and their versions signed, announced (DHT record,
 * provided root, pubsub push) and re-signed before they expire. A record no peer has
 * taken yet stays pending and goes out when peers appear.
 */
import type { PrivateKey } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import type { CID } from 'multiformats/cid'
import { WeftError } from '../errors.ts'
import type { PublishResult, SitesComponents, SitesInit, SitesNet } from './index.ts'
import type { RecordGate } from './gate.ts'
import { checkLabel, exportSiteKey, importSiteKey, nameOfKey, newSiteKey, readSiteKey, removeSiteKey, writeSiteKey } from './keys.ts'
import type { Running } from './lifecycle.ts'
import { parseSiteName, type SiteName } from './names.ts'
import { signRecord, type SiteRecord } from './records.ts'
import type { Resolver } from './resolver.ts'
import type { OwnSite, SiteStore } from './store.ts'
import type { Topics } from './topics.ts'

const log = logger('weft:sites')

/** ms a moved site's first publish asks the network for a later version than its export knew. */
const MOVED_SITE_LOOKUP = 10_000

export interface OwnSitesComponents {
  /** Absent offline: records are signed and wait for the daemon. */
  net?: SitesNet
  keyPath: SitesComponents['keyPath']
  store: SiteStore
  /** Own records pass the same gate as anyone's, so the store has one rule. */
  gate: Pick<RecordGate, 'accept'>
  /** A new or imported site's topic is joined at once when online. */
  topics: Pick<Topics, 'subscribe'>
  /** An imported site asks the network for versions signed since its export. */
  resolver: Pick<Resolver, 'fromNetwork'>
  lifecycle: Running
}

export type OwnSitesInit = Pick<SitesInit, 'validity' | 'ttl' | 'now'>

export class OwnSites {
  private readonly components: OwnSitesComponents
  private readonly init: OwnSitesInit

  constructor (components: OwnSitesComponents, init: OwnSitesInit) {
    this.components = components
    this.init = init
  }

  list (): OwnSite[] {
    return this.components.store.ownSites()
  }

  private now (): number {
    return this.init.now?.() ?? Date.now()
  }

  /** Whether every own site's record has been taken by a peer. */
  allPublished (): boolean {
    return this.components.store.ownSites().every(s => s.published)
  }

  async create (label: string): Promise<OwnSite> {
    checkLabel(label)
    if (this.components.store.ownSite(label) !== undefined) throw new WeftError('ERR_SITE_EXISTS', `a site labelled "${label}" already exists`)
    const key = await newSiteKey()
    return this.addKey(label, key)
  }

  async exportKey (label: string, passphrase: string): Promise<string> {
    const site = this.ownSite(label)
    const sequence = this.components.store.record(site.name)?.record.sequence ?? site.floor
    return await exportSiteKey(site.label, this.key(site), sequence > site.floor ? sequence : site.floor, passphrase)
  }

  async importKey (text: string, passphrase: string, label?: string): Promise<OwnSite> {
    const { store } = this.components
    const exported = await importSiteKey(text, passphrase)
    const chosen = label ?? exported.label
    checkLabel(chosen)
    const existing = store.ownSite(exported.name)
    if (existing !== undefined) throw new WeftError('ERR_SITE_EXISTS', `this key is already in the home as "${existing.label}"`)
    if (store.ownSite(chosen) !== undefined) throw new WeftError('ERR_SITE_EXISTS', `a site labelled "${chosen}" already exists; pass another label`)
    return this.addKey(chosen, exported.key, { floor: BigInt(exported.sequence) })
  }

  async publish (label: string, root: CID, options: { validity?: number, ttl?: number, signal?: AbortSignal } = {}): Promise<PublishResult> {
    const { store, gate, lifecycle } = this.components
    const site = this.ownSite(label)
    const key = this.key(site)
    const name = parseSiteName(site.name)
    const value = `/ipfs/${root.toString()}`
    let current = store.record(site.name)?.record
    if (current === undefined && site.imported && lifecycle.online) {
      // A moved site: the network may know a later version than the export did.
      current = await this.components.resolver.fromNetwork(name, { signal: AbortSignal.any([AbortSignal.timeout(MOVED_SITE_LOOKUP), ...(options.signal !== undefined ? [options.signal] : [])]) }).catch(() => undefined)
    }
    let record: SiteRecord
    let changed = true
    if (current !== undefined && current.value === value && current.validity > this.now()) {
      // The same content again is not a new version; it is announced again.
      record = current
      changed = false
    } else {
      let sequence = current === undefined ? 0n : current.sequence + 1n
      if (sequence < site.floor + (site.imported ? 1n : 0n)) sequence = site.floor + 1n
      record = await signRecord(key, value, sequence, { validity: options.validity ?? this.init.validity, ttl: options.ttl ?? this.init.ttl, now: this.now() })
      await gate.accept(site.name, record.bytes, { kind: 'self' })
      store.setPublished(site.name, false)
    }
    let announced = false
    if (lifecycle.online) announced = await this.announce(name, record, options) > 0
    return { name: site.name, root: record.root.toString(), sequence: record.sequence, changed, announced }
  }

  /** Own records that no peer has taken yet. */
  async announcePending (): Promise<void> {
    const { store } = this.components
    for (const site of store.ownSites().filter(s => !s.published)) {
      const stored = store.record(site.name)
      if (stored !== undefined && stored.record.validity > this.now()) await this.announce(parseSiteName(site.name), stored.record).catch(() => 0)
    }
  }

  /** Re-signs records past half their validity, then puts them again; returns how many went out. */
  async republish (): Promise<number> {
    const { store, gate } = this.components
    let own = 0
    for (const site of store.ownSites()) {
      const stored = store.record(site.name)
      if (stored === undefined) continue
      let record = stored.record
      if (record.validity - this.now() < this.init.validity / 2) {
        record = await signRecord(this.key(site), record.value, record.sequence, { validity: this.init.validity, ttl: record.ttl, now: this.now() })
        await gate.accept(site.name, record.bytes, { kind: 'self' })
      }
      await this.announce(parseSiteName(site.name), record).then(() => { own++ }, err => { log.error('republishing %s failed: %s', site.name, (err as Error).message) })
    }
    return own
  }

  /** Puts the record to the DHT, provides its root, and pushes it to followers, all at once. */
  private async announce (name: SiteName, record: SiteRecord, options: { signal?: AbortSignal } = {}): Promise<number> {
    const { net, store, lifecycle } = this.components
    if (net === undefined) return 0
    const signal = options.signal ?? lifecycle.signal
    const [took] = await Promise.all([
      net.routing.putRecord(name.routingKey, record.bytes, { signal }),
      net.routing.provide(record.root, { signal }),
      net.pubsub.publish(name.topic, record.bytes).catch(err => { log('pubsub publish for %s: %s', name.name, (err as Error).message) })
    ])
    // With no peer to take it (a lone node), it stays pending and goes out once peers appear.
    if (took > 0 && store.ownSite(name.name) !== undefined) store.setPublished(name.name, true)
    return took
  }

  private addKey (label: string, key: PrivateKey, imported?: { floor: bigint }): OwnSite {
    const path = this.components.keyPath(label)
    writeSiteKey(path, key)
    try {
      this.components.store.addOwnSite(label, nameOfKey(key), imported)
    } catch (err) {
      removeSiteKey(path)
      throw err
    }
    const site = this.ownSite(label)
    if (this.components.lifecycle.online) this.components.topics.subscribe(parseSiteName(site.name))
    return site
  }

  private key (site: OwnSite): PrivateKey {
    return readSiteKey(this.components.keyPath(site.label))
  }

  private ownSite (label: string): OwnSite {
    const site = this.components.store.ownSite(label)
    if (site === undefined) throw new WeftError('ERR_SITE_NOT_FOUND', `no site "${label}" in this home (weft site list)`)
    return site
  }
}
