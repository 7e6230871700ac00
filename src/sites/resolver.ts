/**
 * Resolving a site: the record held while its TTL lasts (or offline), else the DHT's best
 * answer through the record gate. A followed site may answer the newest version held whole.
 */
import { WeftError, isWeftError } from '../errors.ts'
import { parseContentPath } from '../content/index.ts'
import type { ResolveResult, SitesInit, SitesNet } from './index.ts'
import type { RecordGate } from './gate.ts'
import type { HeldVersions } from './held.ts'
import type { Running } from './lifecycle.ts'
import { parseSiteName, type SiteName } from './names.ts'
import { RecordRejected, type SiteRecord } from './records.ts'
import type { SiteStore } from './store.ts'
import { askForRecord, RECORD_ASK_PROTOCOL } from './ask.ts'
import type { PeerId } from '@libp2p/interface'

/** ms a resolve asks the network when the caller gives no signal. */
const RESOLVE_TIMEOUT = 30_000

export interface ResolverComponents {
  /** Absent offline: then only the home answers. */
  net?: SitesNet
  /** What the DHT answers passes the gate like any other record. */
  gate: Pick<RecordGate, 'accept'>
  store: Pick<SiteStore, 'record' | 'follow'>
  /** Which older version of a followed site the store holds whole. */
  held: Pick<HeldVersions, 'completeRecently' | 'newestComplete'>
  lifecycle: Pick<Running, 'online'>
}

export type ResolverInit = Pick<SitesInit, 'quorum'>

export class Resolver {
  private readonly components: ResolverComponents
  private readonly init: ResolverInit

  constructor (components: ResolverComponents, init: ResolverInit) {
    this.components = components
    this.init = init
  }

  /** The DHT's best record, through the gate; then whatever the home holds (undefined offline or when none was found). */
  async fromNetwork (name: SiteName, options: { signal?: AbortSignal }): Promise<SiteRecord | undefined> {
    const { net, gate, store } = this.components
    if (net === undefined) return undefined
    let bytes: Uint8Array
    try {
      bytes = await net.routing.getRecord(name.routingKey, { signal: options.signal, quorum: this.init.quorum })
    } catch (err) {
      if (isWeftError(err, 'ERR_RECORD_NOT_FOUND') || options.signal?.aborted === true) return undefined
      throw err
    }
    try {
      await gate.accept(name.name, bytes, { kind: 'dht' })
    } catch (err) {
      if (!(err instanceof RecordRejected)) throw err
    }
    return store.record(name.name)?.record
  }

  /**
   * The record one peer holds (ask.ts), through the gate; then whatever the home holds. The
   * peer is the record's origin, so a new version is fetched from it first. Throws when the
   * peer cannot be asked; a record the gate refuses is charged to the peer there.
   */
  async fromPeer (name: SiteName, peer: PeerId, options: { signal: AbortSignal }): Promise<SiteRecord | undefined> {
    const { net, gate, store } = this.components
    if (net === undefined) return undefined
    const bytes = await askForRecord(async (p, signal) => await net.dialProtocol(p, RECORD_ASK_PROTOCOL, { signal }), peer, name.name, options.signal)
    if (bytes !== undefined) {
      await gate.accept(name.name, bytes, { kind: 'peer', peer: peer.toString(), origin: peer }).catch(err => {
        if (!(err instanceof RecordRejected)) throw err
      })
    }
    return store.record(name.name)?.record
  }

  async resolve (text: string, options: { offline?: boolean, fresh?: boolean, held?: boolean, signal?: AbortSignal } = {}): Promise<ResolveResult> {
    const { store, held } = this.components
    const name = parseSiteName(text)
    const newest = await this.resolveNewest(name, options)
    if (options.held !== true || store.follow(name.name) === undefined) return newest
    if (await held.completeRecently(parseContentPath(newest.value).cid)) return newest
    // Serve what the node holds: the newest version whose every block is here, while the sync loop fetches the rest.
    const older = await held.newestComplete(name.name, newest.sequence, { recently: true })
    if (older === undefined) return newest
    return { ...newest, value: older.value, root: parseContentPath(older.value).cid.toString(), sequence: older.sequence, source: 'held', newest: newest.sequence }
  }

  private async resolveNewest (name: SiteName, options: { offline?: boolean, fresh?: boolean, signal?: AbortSignal }): Promise<ResolveResult> {
    const { store, lifecycle } = this.components
    const held = store.record(name.name)
    const usable = (r: SiteRecord | undefined): r is SiteRecord => r !== undefined && r.validity > Date.now()
    const answer = (r: SiteRecord, source: string): ResolveResult => ({
      name: name.name, value: r.value, root: r.root.toString(), sequence: r.sequence, validity: new Date(r.validity).toISOString(), ttl: r.ttl, source
    })
    const fresh = held !== undefined && Date.now() < held.fetched + held.record.ttl
    if (usable(held?.record) && (fresh || options.offline === true || !lifecycle.online) && options.fresh !== true) {
      return answer(held.record, fresh ? 'cache' : 'local')
    }
    if (lifecycle.online && options.offline !== true) {
      const signal = options.signal ?? AbortSignal.timeout(RESOLVE_TIMEOUT)
      const before = held?.record.sequence
      const found = await this.fromNetwork(name, { signal })
      if (usable(found)) return answer(found, before === found.sequence ? 'local' : 'dht')
    }
    if (held !== undefined && held.record.validity <= Date.now()) {
      throw new WeftError('ERR_RECORD_NOT_FOUND', `the newest record for ${name.name} expired at ${new Date(held.record.validity).toISOString()} and no newer one was found`)
    }
    throw new WeftError('ERR_RECORD_NOT_FOUND', `no valid record for ${name.name}${lifecycle.online ? ' was found' : ' in this home (start the daemon to ask the network)'}`)
  }
}
