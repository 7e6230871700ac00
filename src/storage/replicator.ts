/**
 * The requester's side: places replicas on the peers closest (XOR) to the site's DHT key
 * or the CID that offer storage, audits each holder on a schedule against its own copy,
 * replaces holders past the failure threshold, and recruits new ones (seeded from whoever
 * the DHT says holds the data) whenever fewer than `copies` pass.
 */
import { randomBytes, randomInt } from 'node:crypto'
import { logger } from '@libp2p/logger'
import { peerIdFromString } from '@libp2p/peer-id'
import type { PeerId } from '@libp2p/interface'
import { CID } from 'multiformats/cid'
import { walkDag } from '../blocks/index.ts'
import { dagSizeOf } from '../content/index.ts'
import { WeftError, isWeftError } from '../errors.ts'
import { byKadDistance } from '../routing/index.ts'
import { parseSiteName } from '../sites/index.ts'
import type { Held, StorageStore, TargetKind, Wanted } from './store.ts'
import { MAX_AUDIT_CIDS, MAX_SEEDS, NONCE_BYTES, STORAGE_PROTOCOL, proofOf } from './wire.ts'
import type { AuditResult, ReplicateResult, StorageComponents, StorageInit, StorageNet } from './index.ts'

const log = logger('weft:storage')

/** The multicodec of a CID that names a key: a site's name, not content. */
const LIBP2P_KEY_CODEC = 0x72
/** ms the DHT walk for the closest peers and the lookup for seeds may take. */
const LOOKUP_TIMEOUT = 15_000
/** ms one hold request may take (the holder answers before it fetches). */
const HOLD_TIMEOUT = 10_000
/** DAGs whose block lists are remembered for audits (a node replicates tens of things, not thousands). */
const MAX_DAGS_REMEMBERED = 64

export interface ReplicatorComponents {
  store: StorageStore
  blocks: StorageComponents['blocks']
  sites: StorageComponents['sites']
  net: StorageNet
  request: StorageNet['request']
}

export type ReplicatorInit = Pick<StorageInit, 'copies' | 'auditTimeout' | 'auditSample' | 'auditFailures' | 'fetchTimeout'>

/** An audit's result for a holder that is still fetching: neither a pass nor a failure. */
export const FETCHING = 'fetching'

interface Target { kind: TargetKind, target: string, root: CID, key: CID | Uint8Array }

export class Replicator {
  private readonly components: ReplicatorComponents
  private readonly init: Required<ReplicatorInit>
  /** Each audited root's block CIDs, walked once. */
  private readonly dags = new Map<string, CID[]>()

  constructor (components: ReplicatorComponents, init: Required<ReplicatorInit>) {
    this.components = components
    this.init = init
  }

  /** A CID, or a site name resolved to its current root. */
  async resolve (text: string, options: { signal?: AbortSignal } = {}): Promise<Target> {
    let cid: CID | undefined
    try { cid = CID.parse(text.replace(/^\/ipfs\//, '')) } catch { /* a site name, then */ }
    // a site name (k51…) is a CID too, of its key (libp2p-key)
    if (cid !== undefined && cid.code !== LIBP2P_KEY_CODEC) return { kind: 'cid', target: cid.toString(), root: cid, key: cid }
    const name = parseSiteName(text)
    const resolved = await this.components.sites.resolve(name.name, { signal: options.signal })
    return { kind: 'site', target: name.name, root: CID.parse(resolved.root), key: name.routingKey }
  }

  /** Every block CID of the DAG under `root`, from the local store (ERR_STORAGE_NOT_HELD when one is missing). */
  private async dag (root: CID): Promise<CID[]> {
    const key = root.toString()
    const known = this.dags.get(key)
    if (known !== undefined) return known
    const cids: CID[] = []
    try {
      await walkDag(this.components.blocks, root, cid => { cids.push(cid) })
    } catch (err) {
      if (isWeftError(err, 'ERR_BLOCK_NOT_FOUND')) throw new WeftError('ERR_STORAGE_NOT_HELD', `${root} is not wholly in the local store: ${err.message}`)
      throw err
    }
    if (this.dags.size >= MAX_DAGS_REMEMBERED) this.dags.clear()
    this.dags.set(key, cids)
    return cids
  }

  async replicate (text: string, options: { copies?: number, keep?: number, signal?: AbortSignal } = {}): Promise<ReplicateResult> {
    const target = await this.resolve(text, options)
    await this.dag(target.root)
    const bytes = dagSizeOf(target.root, await this.components.blocks.get(target.root)) ?? 0
    const copies = options.copies ?? this.init.copies
    if (!Number.isSafeInteger(copies) || copies < 1) throw new WeftError('ERR_USAGE', `--copies must be a whole number, at least 1 (got ${copies})`)
    const keep = options.keep ?? 1
    const previous = this.components.store.wanted(target.target)[0]
    this.components.store.want({ target: target.target, kind: target.kind, keep, copies, bytes, created: previous?.created ?? Date.now() })
    const holding = this.components.store.replicas(target.target).filter(r => r.state === 'holding').length
    const refused = await this.recruit(target, { target: target.target, kind: target.kind, keep, copies, bytes, created: Date.now() }, copies - holding, options)
    const holders = this.components.store.replicas(target.target).filter(r => r.state === 'holding').map(r => r.holder)
    if (holders.length === 0) throw new WeftError('ERR_STORAGE_NO_HOLDERS', `no peer offering storage took ${target.target}${refused.length > 0 ? `: ${refused.map(r => `${r.peer} ${r.code}`).join(', ')}` : ''}`)
    return { target: target.target, kind: target.kind, root: target.root.toString(), bytes, copies, holders, refused }
  }

  /**
   * Asks up to `need` new peers: the closest to the target's DHT key that offer storage and
   * hold nothing of it yet, in XOR order, each seeded with the peers that hold it now.
   */
  private async recruit (target: Target, wanted: Wanted, need: number, options: { signal?: AbortSignal, exclude?: Set<string> } = {}): Promise<Array<{ peer: string, code: string, reason: string }>> {
    const refused: Array<{ peer: string, code: string, reason: string }> = []
    if (need <= 0) return refused
    const { net, store } = this.components
    const self = net.peerId.toString()
    const known = new Set([...store.replicas(target.target).map(r => r.holder), ...(options.exclude ?? [])])
    const lookup = AbortSignal.any([AbortSignal.timeout(LOOKUP_TIMEOUT), ...(options.signal !== undefined ? [options.signal] : [])])
    const keyBytes = target.key instanceof Uint8Array ? target.key : target.key.multihash.bytes
    const found = await net.closestPeers(keyBytes, { signal: lookup }).catch(() => [] as PeerId[])
    const byId = new Map<string, PeerId>()
    for (const peer of [...found, ...net.connectedPeers()]) {
      const id = peer.toString()
      if (id !== self && !known.has(id)) byId.set(id, peer)
    }
    const offering: PeerId[] = []
    for (const peer of byId.values()) {
      // a peer the DHT walk met but identify never reached may offer storage too: its hold request says
      const protocols = await net.protocols(peer)
      if (protocols.length === 0 || protocols.includes(STORAGE_PROTOCOL)) offering.push(peer)
    }
    const candidates = byKadDistance(target.key, offering)
    const seeds = await this.seeds(target, lookup)
    let accepted = 0
    for (const peer of candidates) {
      if (accepted >= need) break
      options.signal?.throwIfAborted()
      const id = peer.toString()
      try {
        const answer = await this.components.request(peer, { t: 'hold', kind: target.kind, target: target.target, keep: wanted.keep, bytes: wanted.bytes, seeds, copies: wanted.copies }, {
          signal: AbortSignal.any([AbortSignal.timeout(HOLD_TIMEOUT), ...(options.signal !== undefined ? [options.signal] : [])])
        })
        if (answer.t === 'accepted') {
          store.addReplica(target.target, id, wanted.bytes)
          accepted++
        } else if (answer.t === 'refused') {
          refused.push({ peer: id, code: answer.code, reason: answer.reason })
        } else {
          refused.push({ peer: id, code: 'invalid', reason: `answered ${answer.t} to a hold` })
        }
      } catch (err) {
        refused.push({ peer: id, code: 'unavailable', reason: (err as Error).message })
      }
    }
    log('recruited %d of %d holders for %s', accepted, need, target.target)
    return refused
  }

  /** Who holds the data now: this node, the holders that pass, and the DHT's providers of the root. */
  private async seeds (target: Target, signal: AbortSignal): Promise<string[]> {
    const { net, store, blocks } = this.components
    const seeds = new Set<string>()
    if (blocks.has(target.root)) seeds.add(net.peerId.toString())
    for (const r of store.replicas(target.target)) if (r.state === 'holding' && r.failures === 0) seeds.add(r.holder)
    try {
      for await (const peer of net.findProviders(target.root, { signal })) {
        if (seeds.size >= MAX_SEEDS) break
        seeds.add(peer.toString())
      }
    } catch { /* the seeds found so far */ }
    return [...seeds].slice(0, MAX_SEEDS)
  }

  /** One audit round for one target: challenge every holder, replace the failing, recruit to `copies`. */
  async auditTarget (wanted: Wanted, options: { signal?: AbortSignal } = {}): Promise<AuditResult[]> {
    const { store } = this.components
    const target = await this.resolve(wanted.target, options)
    const cids = await this.dag(target.root)
    const holders = store.replicas(wanted.target).filter(r => r.state === 'holding')
    const results = await Promise.all(holders.map(async r => {
      const result = await this.challenge(peerIdFromString(r.holder), r.added, target, cids, options)
      const after = store.audited(wanted.target, r.holder, result)
      const replaced = after !== undefined && after.failures >= this.init.auditFailures
      if (replaced) {
        store.replace(wanted.target, r.holder)
        log('replacing %s as a holder of %s: %s', r.holder, wanted.target, result)
        void this.components.request(peerIdFromString(r.holder), { t: 'release', target: wanted.target }, { signal: AbortSignal.timeout(HOLD_TIMEOUT) }).catch(() => {})
      }
      return { target: wanted.target, holder: r.holder, result, replaced }
    }))
    // holders not yet audited count as passing: they were just recruited
    const passing = store.replicas(wanted.target).filter(r => r.state === 'holding' && (r.lastResult === undefined || r.lastResult === 'pass' || r.lastResult === FETCHING)).length
    if (passing < wanted.copies) await this.recruit(target, wanted, wanted.copies - passing, options)
    return results
  }

  /**
   * Repair among holders, for when the requester is gone: a holder audits the others it
   * finds in the DHT (the root's providers) against its own copy, and the passing holder
   * closest to the target's key (itself included) recruits until `copies` pass again, so
   * the holders do not all recruit at once.
   */
  async repairHeld (held: Held, options: { signal?: AbortSignal } = {}): Promise<AuditResult[]> {
    const { net } = this.components
    // while the requester is connected, its own audits keep the copies
    if (net.connectedPeers().some(p => p.toString() === held.peer)) return []
    const target = await this.resolve(held.target, options)
    const cids = await this.dag(target.root)
    const found = await this.providersOf(target.root, options)
    for (const r of this.components.store.replicas(held.target)) if (r.state === 'holding') found.set(r.holder, peerIdFromString(r.holder))
    const results = await Promise.all([...found.values()].map(async peer => ({
      target: held.target, holder: peer.toString(), result: await this.challenge(peer, Date.now(), target, cids, options), replaced: false
    })))
    const passing = results.filter(r => r.result === 'pass' || r.result === FETCHING).map(r => peerIdFromString(r.holder))
    const living = passing.length + 1
    if (living < held.copies && byKadDistance(target.key, [net.peerId, ...passing])[0].equals(net.peerId)) {
      log('%s has %d of %d holders: recruiting', held.target, living, held.copies)
      await this.recruit(target, { target: held.target, kind: held.kind, keep: held.keep, copies: held.copies, bytes: held.bytes, created: held.accepted }, held.copies - living, {
        ...options, exclude: new Set(results.map(r => r.holder))
      })
    }
    return results
  }

  /**
   * A follower's audit (storage.auditFollowed): the holders of a site this node follows but
   * did not replicate, found as the root's providers that offer storage, challenged against
   * this node's own copy. A follower is not the requester: it replaces and recruits no one
   * (the requester and the holders do); what it learns is kept for `followedAudits`. A
   * provider that offers storage but does not hold the site for anyone (`not-held`: it only
   * follows it) is no holder and is left out.
   */
  async auditFollowed (name: string, options: { signal?: AbortSignal } = {}): Promise<AuditResult[]> {
    const { net } = this.components
    const target = await this.resolve(name, options)
    const cids = await this.dag(target.root)
    const found = await this.providersOf(target.root, options)
    // a peer not met yet has no protocols in the peer store: asked too, and judged after
    const speaks = async (peer: PeerId): Promise<boolean | undefined> => {
      const protocols = await net.protocols(peer).catch((): string[] => [])
      return protocols.length === 0 ? undefined : protocols.includes(STORAGE_PROTOCOL)
    }
    const asked = (await Promise.all([...found.values()].map(async peer => await speaks(peer) !== false ? peer : undefined))).filter(p => p !== undefined)
    const results = await Promise.all(asked.map(async peer => ({
      target: name, holder: peer.toString(), result: await this.challenge(peer, Date.now(), target, cids, options), replaced: false
    })))
    const holders: AuditResult[] = []
    for (const [i, r] of results.entries()) {
      if (r.result.startsWith('refused: not-held')) continue
      if (r.result.startsWith('unreachable') && await speaks(asked[i]) === false) continue
      holders.push(r)
    }
    return holders
  }

  /** The DHT providers of `root` other than this node, by id: those found within LOOKUP_TIMEOUT. */
  private async providersOf (root: CID, options: { signal?: AbortSignal }): Promise<Map<string, PeerId>> {
    const self = this.components.net.peerId.toString()
    const found = new Map<string, PeerId>()
    const lookup = AbortSignal.any([AbortSignal.timeout(LOOKUP_TIMEOUT), ...(options.signal !== undefined ? [options.signal] : [])])
    try {
      for await (const peer of this.components.net.findProviders(root, { signal: lookup })) if (peer.toString() !== self) found.set(peer.toString(), peer)
    } catch { /* the providers found so far */ }
    return found
  }

  /** `pass`, or why not: a wrong or missing proof, a late or refused answer, an unreachable holder. */
  private async challenge (holder: PeerId, added: number, target: Target, cids: CID[], options: { signal?: AbortSignal }): Promise<string> {
    const sample = sampleOf(cids, Math.min(this.init.auditSample, MAX_AUDIT_CIDS))
    const nonce = randomBytes(NONCE_BYTES)
    const expected = await Promise.all(sample.map(async cid => proofOf(nonce, await this.components.blocks.get(cid))))
    const deadline = AbortSignal.timeout(this.init.auditTimeout)
    let answer
    try {
      answer = await this.components.request(holder, { t: 'audit', target: target.target, nonce: nonce.toString('base64'), cids: sample.map(c => c.toString()) }, {
        signal: AbortSignal.any([deadline, ...(options.signal !== undefined ? [options.signal] : [])])
      })
    } catch (err) {
      if (deadline.aborted) return `late: no answer within ${this.init.auditTimeout} ms`
      return `unreachable: ${(err as Error).message}`
    }
    // a new holder still fetching is not failed, within the time a fetch may take
    if (answer.t === 'refused' && answer.code === 'fetching' && Date.now() - added < this.init.fetchTimeout) return FETCHING
    if (answer.t === 'refused') return `refused: ${answer.code}`
    if (answer.t !== 'proof' || answer.hashes.length !== sample.length) return 'malformed answer'
    let missing = 0
    let wrong = 0
    answer.hashes.forEach((h, i) => { if (h === null) missing++; else if (h !== expected[i]) wrong++ })
    if (missing === 0 && wrong === 0) return 'pass'
    return `failed: ${missing} missing, ${wrong} wrong of ${sample.length} blocks`
  }
}

/** `n` distinct entries of `list`, chosen uniformly (a partial Fisher-Yates shuffle). */
function sampleOf<T> (list: T[], n: number): T[] {
  const copy = [...list]
  const count = Math.min(n, copy.length)
  for (let i = 0; i < count; i++) {
    const j = i + randomInt(copy.length - i)
    ;[copy[i], copy[j]] = [copy[j], copy[i]]
  }
  return copy.slice(0, count)
}
