import { lpStream, type LengthPrefixedStream } from '@libp2p/utils'
import type { PeerId, Stream } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { WeftError, isWeftError } from '../errors.ts'
import * as dagPb from '@ipld/dag-pb'
import { blockKey, blockLinks, assertCodecSupported, decodeDagPb, MAX_BLOCK_SIZE } from '../blocks/index.ts'
import type { PeerScores } from './peer-score.ts'
import { closer, swarmKey, type InFlight } from './swarm.ts'
import { BLOCK, CANCEL, DONT_HAVE, MAX_FRAME_BYTES, ProtocolViolation, WANT, decodeMessage, encodeCidMessage } from './wire.ts'

export interface SessionStore {
  has(cid: CID): boolean
  /** `repair: false`: a damaged stored copy fails the read instead of being fetched again. */
  get(cid: CID, options?: { repair?: boolean }): Promise<Uint8Array>
  /** Stores a block after checking it against its CID (ERR_BLOCK_HASH_MISMATCH otherwise). */
  put(cid: CID, bytes: Uint8Array): Promise<void>
}

export interface FetchProgress {
  type: 'exchange:fetch:progress'
  blocks: number
  bytes: number
  /** Peers that have delivered at least one block. */
  peers: number
}

/** Connected peers asked at the start of a fetch (named providers come on top). */
const INITIAL_FANOUT = 4
/** Peers of a swarm (fetching the same DAG now) a session opens streams to: enough that most blocks have a few closer than us. */
const SWARM_FANOUT = 8

export interface SessionOptions {
  /** Fetch the whole DAG under the root (default), or the root block alone. */
  recursive?: boolean
  /** A want unanswered this long (ms) goes to another peer, and the silent one is penalised. */
  requestTimeout?: number
  /** Most wants open at one peer (fewer when its blocks are large: see WINDOW_BYTES). */
  window?: number
  onProgress?: (event: FetchProgress) => void
  signal?: AbortSignal
}

export interface SessionComponents {
  store: SessionStore
  scores: PeerScores
  openStream(peer: PeerId, signal: AbortSignal): Promise<Stream>
  /** Called (once) when some block has no peer left to ask: time to look further than the connected peers. */
  onStarved?: () => void
  /** The blocks this node's sessions are fetching, which its server may then answer when they arrive (swarm.ts). */
  inFlight?: InFlight
  /** swarmKey(this node's peer id): its place in each block's swarm order. */
  selfKey?: Uint8Array
}

export interface FetchResult {
  blocks: number
  bytes: number
  /** Blocks each peer delivered, by peer id. */
  fromPeers: Record<string, number>
}

interface Want {
  cid: CID
  /** Expected bytes: the parent's link size, capped at the largest block, or a guess. */
  size: number
  /** Peers that said they lack it, sent a bad copy, or stalled on it. */
  excluded: Set<string>
  assigned: Set<string>
  /** swarmKey(cid), once a swarm needs it. */
  target?: Uint8Array
}

interface Channel {
  peer: PeerId
  id: string
  /** Named by the caller as likely to hold the DAG: asked before the rest. */
  preferred: boolean
  /** Fetching the same DAG now (swarm.ts): asked for the blocks it is closer to than we are. */
  swarm: boolean
  key?: Uint8Array
  lp?: LengthPrefixedStream
  stream?: Stream
  ready: Promise<void>
  /** Open wants: when each was sent and how many bytes it is expected to bring. */
  inflight: Map<string, { sent: number, size: number }>
  dead: boolean
  delivered: number
  /** DONT_HAVE answers: a peer that keeps saying it lacks blocks is asked last. */
  lacks: number
  bytes: number
  started: number
  /** When this peer last sent anything: a stall is silence, not a long queue. */
  lastHeard: number
  /** Wants given up on after a stall; a late answer to one is not unsolicited. */
  late: Set<string>
  /** In the middle of a stall already penalised: one penalty per silence, not per want. */
  stalled: boolean
  /** Wants cancelled after another peer's copy came first: one answer to each may still be on the wire. */
  cancelled: Set<string>
}

const DEFAULT_WINDOW = 64
/** Most bytes expected in flight from one peer: a window of 1 MiB blocks is 8 wants. */
const WINDOW_BYTES = 8 * 1024 * 1024
/** Until a peer has sent blocks, assume this size. */
const ASSUMED_BLOCK = 1024 * 1024
const DEFAULT_TIMEOUT = 5_000

interface ChildLink { cid: CID, size?: number }

/** A block's children, with dag-pb's link sizes (a raw leaf's is its exact size). */
function childLinks (cid: CID, bytes: Uint8Array): ChildLink[] {
  if (cid.code === dagPb.code) return decodeDagPb(cid, bytes).Links.map(l => ({ cid: l.Hash, size: l.Tsize }))
  return blockLinks(cid, bytes).map(c => ({ cid: c }))
}

/**
 * One DAG fetch from any number of providers. Wants are pipelined, up to `window` per
 * peer, and go to the peer with the most throughput to spare; children are wanted as
 * soon as their parent verifies; a peer that lacks a block, sends a bad one or stalls
 * loses that block to the others. Every block is checked before it is stored.
 */
export class FetchSession {
  private readonly components: SessionComponents
  private readonly options: Required<Pick<SessionOptions, 'recursive' | 'requestTimeout' | 'window'>> & SessionOptions
  private readonly root: CID
  private readonly wants = new Map<string, Want>()
  private readonly queue: Want[] = []
  private readonly channels = new Map<string, Channel>()
  private readonly done = new Set<string>()
  private readonly controller = new AbortController()
  private localWalks = 0
  private providersPending = true
  /** Connected peers not asked yet: opened a few at a time, as the ones open lack blocks or fill up. */
  private readonly reserve: PeerId[] = []
  private blocks = 0
  private bytes = 0
  private settle!: { resolve: () => void, reject: (err: Error) => void }
  private finished = false

  constructor (components: SessionComponents, root: CID, options: SessionOptions = {}) {
    this.components = components
    this.root = root
    this.options = { recursive: true, requestTimeout: DEFAULT_TIMEOUT, window: DEFAULT_WINDOW, ...options }
  }

  async run (): Promise<FetchResult> {
    const signal = this.options.signal !== undefined ? AbortSignal.any([this.options.signal, this.controller.signal]) : this.controller.signal
    const finished = new Promise<void>((resolve, reject) => { this.settle = { resolve, reject } })
    const onAbort = (): void => { this.fail(new WeftError('ERR_FETCH_TIMEOUT', `fetching ${this.root} was stopped: ${String(signal.reason?.message ?? signal.reason)}`)) }
    signal.addEventListener('abort', onAbort, { once: true })
    const ticker = setInterval(() => { this.checkTimeouts() }, Math.max(50, Math.floor(this.options.requestTimeout / 4)))
    ticker.unref()
    const unregister = this.components.inFlight?.register(this)
    try {
      assertCodecSupported(this.root)
      void this.want(this.root)
      await finished
      return {
        blocks: this.blocks,
        bytes: this.bytes,
        fromPeers: Object.fromEntries([...this.channels.values()].filter(c => c.delivered > 0).map(c => [c.id, c.delivered]))
      }
    } finally {
      clearInterval(ticker)
      signal.removeEventListener('abort', onAbort)
      this.finished = true
      unregister?.()
      for (const key of this.wants.keys()) this.components.inFlight?.unwant(key)
      this.controller.abort()
      for (const channel of this.channels.values()) this.closeChannel(channel)
    }
  }

  /**
   * Connected peers that might have the DAG. Only INITIAL_FANOUT of them get a stream at
   * once: a follower in a 30-peer network opening 30 streams per fetch cost more than the
   * blocks did. More are opened when those lack a block or have no room.
   */
  addReserve (peers: PeerId[]): void {
    for (const peer of peers) {
      if (!this.channels.has(peer.toString())) this.reserve.splice(Math.floor(Math.random() * (this.reserve.length + 1)), 0, peer)
    }
    const open = [...this.channels.values()].filter(c => !c.preferred && !c.dead).length
    this.growFromReserve(INITIAL_FANOUT - open)
  }

  /** Opens up to `n` more channels from the reserve; returns how many. */
  private growFromReserve (n: number): number {
    let opened = 0
    while (opened < n && this.reserve.length > 0) {
      const peer = this.reserve.shift() as PeerId
      if (this.channels.has(peer.toString()) || this.components.scores.isBanned(peer.toString())) continue
      this.addProvider(peer)
      opened++
    }
    return opened
  }

  /**
   * Peers fetching the same DAG now (a site's followers after an update): streams open to
   * SWARM_FANOUT of them, picked at random, and each block is asked of those closer to it
   * than this node (swarm.ts), or of a named provider.
   */
  addSwarm (peers: PeerId[]): void {
    if (this.components.selfKey === undefined) return
    const shuffled = [...peers].sort(() => Math.random() - 0.5)
    let opened = 0
    for (const peer of shuffled) {
      if (opened >= SWARM_FANOUT) break
      const existing = this.channels.get(peer.toString())
      if (existing !== undefined) {
        existing.swarm = true
        existing.key ??= swarmKey(existing.id)
        continue
      }
      this.addProvider(peer, false, true)
      opened++
    }
  }

  /** A peer that may have the DAG; providers may arrive while the session runs. */
  addProvider (peer: PeerId, preferred = false, swarm = false): void {
    const id = peer.toString()
    if (this.finished || this.channels.has(id) || this.components.scores.isBanned(id)) return
    const channel: Channel = { peer, id, preferred, swarm, key: swarm ? swarmKey(id) : undefined, ready: Promise.resolve(), inflight: new Map(), dead: false, delivered: 0, lacks: 0, bytes: 0, started: Date.now(), lastHeard: Date.now(), late: new Set(), stalled: false, cancelled: new Set() }
    this.channels.set(id, channel)
    channel.ready = this.components.openStream(peer, this.controller.signal).then(stream => {
      channel.stream = stream
      // Room for a whole window of answers, so a slow verify never overflows the buffer.
      channel.lp = lpStream(stream, { maxDataLength: MAX_FRAME_BYTES, maxBufferSize: WINDOW_BYTES + 2 * MAX_FRAME_BYTES })
      void this.readLoop(channel)
      this.pump()
    }, () => {
      this.dropChannel(channel)
    })
  }

  /** No more providers will be added: a block nobody left can serve is now an error. */
  noMoreProviders (): void {
    this.providersPending = false
    this.pump()
  }

  /**
   * Asks for every child before anything may ask whether the fetch is done: a child that
   * is already local must not settle the fetch while a later sibling is still unasked.
   */
  private wantChildren (links: ChildLink[]): void {
    this.localWalks++
    try {
      for (const link of links) void this.want(link.cid, link.size)
    } finally {
      this.localWalks--
    }
  }

  private async want (cid: CID, size = ASSUMED_BLOCK): Promise<void> {
    const key = blockKey(cid)
    if (this.done.has(key) || this.wants.has(key)) return
    if (this.components.store.has(cid)) {
      this.done.add(key)
      if (this.options.recursive && cid.code !== raw.code) {
        this.localWalks++
        try {
          this.wantChildren(childLinks(cid, await this.components.store.get(cid)))
        } catch (err) {
          this.fail(err as Error)
        } finally {
          this.localWalks--
        }
      }
      this.checkDone()
      return
    }
    const want: Want = { cid, size: Math.min(Math.max(size, 1), MAX_BLOCK_SIZE), excluded: new Set(), assigned: new Set() }
    this.wants.set(key, want)
    this.components.inFlight?.want(key)
    this.queue.push(want)
    this.pump()
  }

  /** Whether this session has asked `peer` for `key` and not heard back (the server asks, so it never waits on a peer that waits on us). */
  waitingOn (key: string, peer: string): boolean {
    return this.channels.get(peer)?.inflight.has(key) === true
  }

  /** Whether `channel` may be sent `want` now. */
  private usable (channel: Channel, want: Want): boolean {
    return !channel.dead && !channel.stalled && channel.lp !== undefined && !want.excluded.has(channel.id) && !want.assigned.has(channel.id) && this.hasRoom(channel, want.size)
  }

  /**
   * In a swarm: one at random of the swarm peers closer to the block than this node (which
   * wait for it on our behalf if they are fetching it) and the named providers. Undefined
   * when no swarm peer is closer: then the usual pick.
   */
  private pickInSwarm (want: Want): Channel | undefined {
    const self = this.components.selfKey
    if (self === undefined) return undefined
    const candidates: Channel[] = []
    let swarmPeers = 0
    for (const channel of this.channels.values()) {
      if (!channel.swarm && !channel.preferred) continue
      if (!this.usable(channel, want)) continue
      if (channel.swarm && channel.key !== undefined) {
        want.target ??= swarmKey(want.cid.bytes)
        if (!closer(channel.key, self, want.target)) continue
        swarmPeers++
      }
      candidates.push(channel)
    }
    if (swarmPeers === 0) return undefined
    return candidates[Math.floor(Math.random() * candidates.length)]
  }

  /** The open channel with the most throughput to spare for `want`, if any. */
  private pick (want: Want): Channel | undefined {
    const inSwarm = this.pickInSwarm(want)
    if (inSwarm !== undefined) return inSwarm
    let best: Channel | undefined
    let bestCost = Infinity
    for (const channel of this.channels.values()) {
      if (channel.dead || channel.stalled || channel.lp === undefined || want.excluded.has(channel.id) || want.assigned.has(channel.id)) continue
      if (!this.hasRoom(channel, want.size)) continue
      const elapsed = Math.max(1, Date.now() - channel.started)
      const rate = (channel.bytes + 256 * 1024) / elapsed
      // A peer that has only ever said "don't have" is tried after every other.
      const lacking = channel.lacks > 0 && channel.delivered === 0 ? 1e9 : 1
      const named = channel.preferred ? 0.01 : 1
      const cost = lacking * named * (channel.inflight.size + 1) / rate
      if (cost < bestCost) {
        best = channel
        bestCost = cost
      }
    }
    return best
  }

  /** Whether `channel` may take another want of `size` bytes: by count and by expected bytes. */
  private hasRoom (channel: Channel, size = 1): boolean {
    if (channel.inflight.size >= this.options.window) return false
    let bytes = size
    for (const open of channel.inflight.values()) bytes += open.size
    return channel.inflight.size === 0 || bytes <= WINDOW_BYTES
  }

  private pump (): void {
    if (this.finished) return
    const batches = new Map<Channel, CID[]>()
    for (let i = 0; i < this.queue.length;) {
      // Every window full: nothing more to send until an answer comes (but a want nobody
      // can serve any more must still fail).
      if (![...this.channels.values()].some(c => !c.dead && !c.stalled && c.lp !== undefined && this.hasRoom(c))) {
        // Every open window is full: bring in more peers, unless some are still connecting.
        if (![...this.channels.values()].some(c => !c.dead && c.lp === undefined)) this.growFromReserve(2)
        const hopeless = this.queue.find(w => !this.canStillServe(w))
        if (hopeless !== undefined) this.fail(new WeftError('ERR_BLOCK_NOT_FOUND', `no provider could supply block ${hopeless.cid} (asked ${this.channels.size} peers)`))
        break
      }
      const want = this.queue[i]
      const channel = this.pick(want)
      if (channel === undefined) {
        // Everyone asked lacks it: ask more of the connected peers, then look further.
        if (!this.hasCandidate(want) && this.growFromReserve(INITIAL_FANOUT) === 0) this.components.onStarved?.()
        if (!this.canStillServe(want)) {
          this.fail(new WeftError('ERR_BLOCK_NOT_FOUND', `no provider could supply block ${want.cid} (asked ${this.channels.size} peers)`))
          return
        }
        i++
        continue
      }
      this.queue.splice(i, 1)
      want.assigned.add(channel.id)
      channel.inflight.set(blockKey(want.cid), { sent: Date.now(), size: want.size })
      batches.set(channel, [...(batches.get(channel) ?? []), want.cid])
    }
    // One write per peer per round, however many wants it carries.
    for (const [channel, cids] of batches) {
      channel.lp?.writeV(cids.map(cid => encodeCidMessage(WANT, cid))).catch(() => { this.dropChannel(channel) })
    }
  }

  /** Whether a peer already in the session (open or still opening) may yet be asked for `want`. */
  private hasCandidate (want: Want): boolean {
    for (const channel of this.channels.values()) {
      if (!channel.dead && !channel.stalled && !want.excluded.has(channel.id)) return true
    }
    return false
  }

  /** Whether some peer, present or still to come, might yet supply `want`. */
  private canStillServe (want: Want): boolean {
    if (this.providersPending || this.reserve.length > 0) return true
    for (const channel of this.channels.values()) {
      if (channel.dead || channel.stalled || want.excluded.has(channel.id)) continue
      return true
    }
    return want.assigned.size > 0
  }

  private async readLoop (channel: Channel): Promise<void> {
    const lp = channel.lp as LengthPrefixedStream
    try {
      while (!this.finished && !channel.dead) {
        const frame = await lp.read()
        channel.lastHeard = Date.now()
        channel.stalled = false
        const msg = decodeMessage(frame.subarray())
        if (msg.type === BLOCK) {
          await this.onBlock(channel, msg.cid, msg.data)
        } else if (msg.type === DONT_HAVE) {
          this.onDontHave(channel, msg.cid)
        } else {
          throw new ProtocolViolation(`a responder sent message type ${msg.type === WANT ? 'WANT' : 'CANCEL'}`)
        }
      }
    } catch (err) {
      if (this.finished) return
      if (err instanceof ProtocolViolation) this.components.scores.penalise(channel.id, err.offence, err.message)
      else if ((err as Error).name === 'InvalidDataLengthError') this.components.scores.penalise(channel.id, 'malformed', (err as Error).message)
      this.dropChannel(channel)
    }
  }

  private async onBlock (channel: Channel, cid: CID, data: Uint8Array): Promise<void> {
    const key = blockKey(cid)
    if (!channel.inflight.has(key)) {
      // An answer to a want given up on after a stall is late, not unasked.
      if (channel.late.delete(key)) {
        const want = this.wants.get(key)
        if (want !== undefined) {
          channel.inflight.set(key, { sent: Date.now(), size: want.size })
          want.assigned.add(channel.id)
          await this.onBlock(channel, cid, data)
        }
        return
      }
      // A block that came from elsewhere first and was cancelled here crossed our CANCEL on the wire.
      if (this.done.has(key) && channel.cancelled.delete(key)) return
      this.components.scores.penalise(channel.id, 'unsolicited', `sent ${cid} unasked`)
      return
    }
    channel.inflight.delete(key)
    const want = this.wants.get(key)
    if (want === undefined) return // already arrived from a faster peer
    want.assigned.delete(channel.id)
    try {
      await this.components.store.put(want.cid, data)
    } catch (err) {
      if (!isWeftError(err, 'ERR_BLOCK_HASH_MISMATCH')) {
        this.fail(err as Error)
        return
      }
      this.components.scores.penalise(channel.id, 'bad-block', `sent a block that does not match ${cid}`)
      want.excluded.add(channel.id)
      if (!this.queue.includes(want)) this.queue.push(want)
      this.pump()
      return
    }
    this.wants.delete(key)
    this.components.inFlight?.unwant(key)
    this.done.add(key)
    channel.delivered++
    channel.bytes += data.byteLength
    this.blocks++
    this.bytes += data.byteLength
    for (const other of want.assigned) {
      const c = this.channels.get(other)
      if (c === undefined) continue
      c.inflight.delete(key)
      c.cancelled.add(key)
      c.lp?.write(encodeCidMessage(CANCEL, want.cid)).catch(() => {})
    }
    const queued = this.queue.indexOf(want)
    if (queued >= 0) this.queue.splice(queued, 1)
    this.options.onProgress?.({ type: 'exchange:fetch:progress', blocks: this.blocks, bytes: this.bytes, peers: [...this.channels.values()].filter(c => c.delivered > 0).length })
    if (this.options.recursive && want.cid.code !== raw.code) {
      let links: ChildLink[]
      try {
        links = childLinks(want.cid, data)
      } catch (err) {
        this.fail(err as Error)
        return
      }
      this.wantChildren(links)
    }
    this.pump()
    this.checkDone()
  }

  private onDontHave (channel: Channel, cid: CID): void {
    const key = blockKey(cid)
    if (!channel.inflight.delete(key) && !channel.late.delete(key)) return
    channel.lacks++
    const want = this.wants.get(key)
    if (want === undefined) return
    want.assigned.delete(channel.id)
    want.excluded.add(channel.id)
    if (want.assigned.size === 0 && !this.queue.includes(want)) this.queue.push(want)
    this.pump()
  }

  /**
   * A peer that has said nothing for requestTimeout while it owes us answers is stalling:
   * one penalty per silence, and its open wants go to other peers. A peer that is busy
   * answering a long queue is not silent, so it is never charged for the queue.
   */
  private checkTimeouts (): void {
    const now = Date.now()
    for (const channel of this.channels.values()) {
      if (channel.dead || channel.inflight.size === 0) continue
      const oldest = Math.min(...[...channel.inflight.values()].map(open => open.sent))
      if (now - Math.max(oldest, channel.lastHeard) < this.options.requestTimeout) continue
      if (!channel.stalled) {
        channel.stalled = true
        this.components.scores.penalise(channel.id, 'stall', `silent for ${this.options.requestTimeout} ms with ${channel.inflight.size} wants open`)
      }
      for (const key of channel.inflight.keys()) {
        const want = this.wants.get(key)
        channel.late.add(key)
        if (want === undefined) continue
        want.assigned.delete(channel.id)
        want.excluded.add(channel.id)
        if (!this.queue.includes(want)) this.queue.push(want)
      }
      channel.inflight.clear()
      if (this.components.scores.isBanned(channel.id)) this.dropChannel(channel)
    }
    this.pump()
  }

  private dropChannel (channel: Channel): void {
    if (channel.dead) return
    channel.dead = true
    for (const key of channel.inflight.keys()) {
      const want = this.wants.get(key)
      if (want === undefined) continue
      want.assigned.delete(channel.id)
      if (!this.queue.includes(want)) this.queue.push(want)
    }
    channel.inflight.clear()
    this.closeChannel(channel)
    this.pump()
  }

  private closeChannel (channel: Channel): void {
    channel.dead = true
    channel.stream?.close().catch(() => { channel.stream?.abort(new Error('closing')) })
  }

  private checkDone (): void {
    if (!this.finished && this.wants.size === 0 && this.localWalks === 0) this.settle.resolve()
  }

  private fail (err: Error): void {
    if (this.finished) return
    this.settle.reject(err)
  }
}
