/**
 * Messages: sealed letters between users of a site (envelope format in messages.ts),
 * carried by every node that follows or owns the site.
 *
 * An envelope arrives (a push on `/weft/site-messages/<site>`, a catch-up answer, this
 * node's own send) → size and shape; on the topic a rate limit per origin (the gossipsub
 * signer, which a peer can make fresh per message) and a higher one per connected peer that
 * delivered it; in a catch-up answer a bound on what is new per ask → held in the home
 * until it expires, within the site's caps → this node tries to open it with its person's
 * key on the site (one X25519; not at all while the home has no master key): one that opens
 * and whose signature, recipient and site check out goes into the inbox (at most so many
 * per sender, and so many and so many bytes per recipient); one that opens but fails those
 * is dropped and counted.
 *
 * Who pays for a flood: the connected peer past its (relay's) limit, and the origin past its
 * own when the origin is that connected peer. A relay passing on someone else's flood is not
 * charged until it passes the relay's limit, so an honest relay is not banned for forwarding.
 */
import { createHash, type KeyObject } from 'node:crypto'
import type { PeerId } from '@libp2p/interface'
import type { Message, TopicValidatorResult } from '@libp2p/gossipsub'
import { logger } from '@libp2p/logger'
import { WeftError } from '../errors.ts'
import { parseSiteName } from '../sites/index.ts'
import { TokenBuckets } from '../users/rate.ts'
import { envelopeProblem, letterProblem, openEnvelope, sealMessage, userIdOfKey, userKeyOf, x25519PrivateKey, x25519SecretOf } from './messages.ts'
import { ed25519 } from '@noble/curves/ed25519.js'
import { MessageStore } from './message-store.ts'
import { CatchUpViolation, MESSAGES_CATCH_UP_PROTOCOL, requestMessagesCatchUp, serveMessagesCatchUp } from './message-catch-up.ts'
import { MESSAGES_DEFAULTS, type InboxMessage, type Messages, type MessagesComponents, type MessagesInfo, type MessagesInit, type SentMessage } from './message-types.ts'
import { Verdict } from '../net/verdicts.ts'

const log = logger('weft:messages')

/** Messages topics: `/weft/site-messages/<site>`, beside the site's users topic. */
export function messagesTopic (site: string): string {
  return `/weft/site-messages/${site}`
}

const TOPIC_PREFIX = '/weft/site-messages/'
/** What only a broken or hostile sender hands on: the peer that sent it is penalised. */
const HOSTILE = new Set(['too-large', 'malformed'])
/** A second for identify and the topic's subscriptions to arrive after a connection. */
const CATCH_UP_DELAY = 1_000
/** Peers' clock readings kept (site × peer); past it the oldest is forgotten, which only costs that peer a full answer next time. */
const MAX_CLOCKS = 10_000
/**
 * A peer joining a topic is asked at most once a minute per site: else leaving and joining
 * again would have this node take an answer's worth of new envelopes from it every second.
 */
const REASK_PER_SECOND = 1 / 60
/** Envelopes read from the store at a time when opening what is held. */
const OPEN_HELD_PAGE = 64
/** A token bucket's rate is per second; the catch-up server's is set per minute. */
const SECONDS_PER_MINUTE = 60

export class MessageService extends EventTarget implements Messages {
  private readonly components: MessagesComponents
  private readonly init: MessagesInit
  private readonly store: MessageStore
  private readonly buckets = new TokenBuckets()
  /** Catch-up asks answered, per asking peer. */
  private readonly asks = new TokenBuckets()
  /** Catch-up asks made because a peer joined a topic, per site and peer. */
  private readonly joins = new TokenBuckets()
  private readonly subscribed = new Set<string>()
  /** The clock reading each peer gave at its last catch-up answer, per site: the next ask is for what came since. */
  private readonly clocks = new Map<string, number>()
  private readonly asking = new Map<string, NodeJS.Timeout>()
  private readonly inFlight = new Map<string, Promise<number>>()
  private readonly openingKeys = new Map<string, { publicEd: Uint8Array, secret: KeyObject, publicX: Uint8Array }>()
  private readonly cleanups: Array<() => void> = []
  private readonly timers: NodeJS.Timeout[] = []
  private controller = new AbortController()
  private keyPresent = false
  private started = false

  constructor (components: MessagesComponents, init: MessagesInit) {
    super()
    this.components = components
    this.init = init
    this.store = new MessageStore(components.db, {
      maxPerSite: init.maxPerSite,
      maxBytesPerSite: init.maxBytesPerSite,
      maxPerSender: init.maxPerSender,
      maxInbox: init.maxInbox,
      maxInboxBytes: init.maxInboxBytes,
      inboxExpiry: init.expiry
    })
  }

  // ---- lifecycle ----

  async start (): Promise<void> {
    if (this.started) return
    this.started = true
    this.controller = new AbortController()
    this.store.expire()
    const sweep = setInterval(() => { this.store.expire() }, this.init.sweepInterval)
    sweep.unref()
    this.timers.push(sweep)
    // envelopes carried while the home had no key were held, not opened: a linked key opens them now
    const off = this.components.onKeyImported?.(() => { this.background(async () => { await this.openHeld() }) })
    if (off !== undefined) this.cleanups.push(off)
    const net = this.components.net
    if (net === undefined) return
    const onSite = (): void => { this.syncTopics() }
    this.components.sites.addEventListener('record', onSite)
    this.components.sites.addEventListener('fetched', onSite)
    this.cleanups.push(() => {
      this.components.sites.removeEventListener('record', onSite)
      this.components.sites.removeEventListener('fetched', onSite)
    })
    await net.handle(MESSAGES_CATCH_UP_PROTOCOL, (stream, peer) => {
      // each answer reads the site from the disk: a peer asking without end is refused, not served
      if (!this.asks.take(peer, this.init.serveBurst, this.init.servePerMinute / SECONDS_PER_MINUTE)) {
        log('refused a catch-up ask from %s: more than %d a minute', peer, this.init.servePerMinute)
        stream.abort(new Error('too many catch-up asks'))
        return
      }
      // only sites this node carries: it answers for no one else's
      void serveMessagesCatchUp(stream, (site, since, offset, limit) => this.isActive(site) ? this.store.envelopes(site, since, offset, limit) : [], this.init.serveReadTimeout)
    })
    this.cleanups.push(() => { void net.unhandle(MESSAGES_CATCH_UP_PROTOCOL).catch(() => {}) })
    // a peer that joins a topic this node is on is asked at once for what it carries (it may have been offline)
    const onSubscription = (event: CustomEvent<{ peerId: PeerId, subscriptions: Array<{ topic: string, subscribe: boolean }> }>): void => {
      for (const s of event.detail.subscriptions) {
        if (s.subscribe && this.subscribed.has(s.topic)) this.askSoon(s.topic.slice(TOPIC_PREFIX.length), event.detail.peerId)
      }
    }
    net.pubsub.addEventListener('subscription-change', onSubscription)
    this.cleanups.push(() => { net.pubsub.removeEventListener('subscription-change', onSubscription) })
    if (this.init.catchUpInterval > 0) {
      const timer = setInterval(() => {
        this.syncTopics()
        this.background(async () => { await this.catchUpAll() })
      }, this.init.catchUpInterval)
      timer.unref()
      this.timers.push(timer)
    }
    this.syncTopics()
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    this.controller.abort()
    for (const t of this.timers.splice(0)) clearInterval(t)
    for (const t of this.asking.values()) clearTimeout(t)
    this.asking.clear()
    for (const fn of this.cleanups.splice(0)) fn()
    for (const topic of [...this.subscribed]) this.unsubscribe(topic)
  }

  private background (fn: () => Promise<void>): void {
    fn().catch(err => { if (!this.controller.signal.aborted) log.error('background work failed: %s', (err as Error).message) })
  }

  private get online (): boolean {
    return this.components.net !== undefined && this.started
  }

  // ---- sites this node carries messages for ----

  private activeSites (): string[] {
    return [...new Set([...this.components.sites.list().map(s => s.name), ...this.components.sites.followedNames()])]
  }

  private isActive (site: string): boolean {
    return this.activeSites().includes(site)
  }

  /** Joins the topic of every site followed or owned, and leaves the others. */
  private syncTopics (): void {
    if (!this.online) return
    const active = new Set(this.activeSites().map(messagesTopic))
    for (const topic of active) {
      if (!this.subscribed.has(topic)) this.subscribe(topic.slice(TOPIC_PREFIX.length))
    }
    for (const topic of [...this.subscribed]) {
      if (!active.has(topic)) this.unsubscribe(topic)
    }
  }

  private subscribe (site: string): void {
    const net = this.components.net
    const topic = messagesTopic(site)
    if (!this.online || net === undefined || this.subscribed.has(topic)) return
    this.subscribed.add(topic)
    net.pubsub.topicValidators.set(topic, async (peer, message) => await this.validatePush(site, peer, message))
    net.pubsub.subscribe(topic)
    // peers already on the topic are asked for what they carry
    for (const peer of net.pubsub.getSubscribers(topic).slice(0, this.init.catchUpPeers)) this.askSoon(site, peer)
  }

  private unsubscribe (topic: string): void {
    const pubsub = this.components.net?.pubsub
    if (pubsub === undefined || !this.subscribed.delete(topic)) return
    pubsub.topicValidators.delete(topic)
    try { pubsub.unsubscribe(topic) } catch { /* stopping */ }
  }

  private async validatePush (site: string, peer: PeerId, message: Message): Promise<TopicValidatorResult> {
    const from = peer.toString()
    // the signer is whoever the publisher says (a fresh key per message costs nothing under
    // StrictSign), so the connected peer that delivered it is limited too, at a relay's rate
    const origin = message.type === 'signed' ? message.from.toString() : from
    const viaOk = this.buckets.take(`via:${from}`, this.init.relayBurst, this.init.relayRate)
    // what the relay's limit stops costs the origin nothing
    const originOk = viaOk && this.buckets.take(`origin:${origin}`, this.init.peerBurst, this.init.peerRate)
    if (!viaOk || !originOk) {
      // an honest relay forwarding someone's flood is charged only past the relay's limit
      if (!viaOk) this.components.net?.penalise(from, `handed on more than ${this.init.relayRate} messages a second on ${site}`)
      else if (origin === from) this.components.net?.penalise(from, `more than ${this.init.peerRate} messages a second on ${site}`)
      return Verdict.Ignore
    }
    const outcome = await this.receive(site, message.data, from)
    if (outcome === 'new') return Verdict.Accept
    return outcome === 'refused' ? Verdict.Reject : Verdict.Ignore
  }

  /**
   * The one way an envelope comes in: checked, held, and opened if it is this person's.
   * `peer` (a push's forwarder, a catch-up's responder) is penalised for what is no envelope.
   */
  private async receive (site: string, bytes: Uint8Array, peer?: string): Promise<'new' | 'same' | 'refused'> {
    if (!this.isActive(site)) return 'same'
    const problem = envelopeProblem(bytes)
    if (problem !== undefined) {
      this.store.rejection(site, problem, peer)
      if (peer !== undefined && HOSTILE.has(problem)) this.components.net?.penalise(peer, `${problem} message envelope for ${site}`)
      return 'refused'
    }
    const id = createHash('sha256').update(bytes).digest()
    if (!this.store.putEnvelope(id, site, bytes, Date.now() + this.init.expiry)) return 'same'
    // held whatever happens here: a failure to open is this node's, not the envelope's
    await this.tryOpen(site, id, bytes).catch(err => { log.error('%s: opening a message failed: %s', site, (err as Error).message) })
    return 'new'
  }

  /** Opens an envelope with this person's key on the site; what opens and checks out goes into the inbox. */
  private async tryOpen (site: string, id: Uint8Array, bytes: Uint8Array): Promise<void> {
    // a home with no master key has no letters to open, and carrying must not make one (a later link would refuse it)
    if (this.store.inInbox(id) || !this.hasKey()) return
    const { publicEd, secret, publicX } = this.openingKey(site)
    const letter = openEnvelope(bytes, secret, publicX)
    if (letter === undefined) return
    const problem = await letterProblem(letter, { recipient: publicEd, site })
    if (problem !== undefined) {
      log('%s: dropped a message that opened but is %s', site, problem)
      this.store.rejection(site, problem)
      return
    }
    const now = Date.now()
    // the carriers' expiry is the recipient's too: an envelope kept past it and replayed is not news
    if (letter.sent < now - this.init.expiry || letter.sent > now + this.init.clockSkew) {
      this.store.rejection(site, letter.sent < now ? 'expired' : 'future')
      return
    }
    const row = { site, recipient: userIdOfKey(publicEd), sender: userIdOfKey(letter.sender), sent: letter.sent, body: letter.body, received: now }
    if (this.store.putInbox(id, row)) {
      this.dispatchEvent(new CustomEvent<InboxMessage>('message', { detail: toMessage({ ...row, id: Buffer.from(id).toString('hex') }) }))
    }
  }

  /** Whether the home has a master key; once it has, it keeps one (a link or import replaces it, never removes it), so the file is read until then only. */
  private hasKey (): boolean {
    this.keyPresent ||= this.components.identity.hasKey()
    return this.keyPresent
  }

  /** Tries every envelope held for the sites carried (one X25519 each): after a key arrives, what was carried for it opens. */
  private async openHeld (): Promise<void> {
    for (const site of this.activeSites()) {
      for (let offset = 0; ; offset += OPEN_HELD_PAGE) {
        if (!this.started) return
        const page = this.store.envelopes(site, 0, offset, OPEN_HELD_PAGE)
        for (const bytes of page) await this.tryOpen(site, createHash('sha256').update(bytes).digest(), bytes)
        if (page.length < OPEN_HELD_PAGE) break
      }
    }
  }

  /** This person's keys on a site in the form opening takes, kept per site key (an imported or linked master key changes it). */
  private openingKey (site: string): { publicEd: Uint8Array, secret: KeyObject, publicX: Uint8Array } {
    const key = this.components.identity.key(site)
    const publicEd = key.publicKey.raw
    const held = this.openingKeys.get(site)
    if (held !== undefined && Buffer.compare(held.publicEd, publicEd) === 0) return held
    const made = { publicEd, secret: x25519PrivateKey(x25519SecretOf(key)), publicX: ed25519.utils.toMontgomery(publicEd) }
    this.openingKeys.set(site, made)
    return made
  }

  // ---- catching up ----

  private askSoon (site: string, peer: PeerId): void {
    const key = `${site}/${peer.toString()}`
    if (!this.online || this.asking.has(key) || !this.joins.take(key, 1, REASK_PER_SECOND)) return
    const timer = setTimeout(() => {
      this.background(async () => {
        try {
          await this.askPeer(site, peer)
        } finally {
          this.asking.delete(key)
        }
      })
    }, CATCH_UP_DELAY)
    timer.unref()
    this.asking.set(key, timer)
  }

  /** One ask at a time per peer and site: a second waits for the first, then asks for what came since its answer. */
  private async askPeer (site: string, peer: PeerId): Promise<number> {
    const key = `${site}/${peer.toString()}`
    const run = (this.inFlight.get(key) ?? Promise.resolve(0)).catch(() => 0).then(async () => await this.askPeerNow(site, peer, key))
    this.inFlight.set(key, run)
    try {
      return await run
    } finally {
      if (this.inFlight.get(key) === run) this.inFlight.delete(key)
    }
  }

  private async askPeerNow (site: string, peer: PeerId, key: string): Promise<number> {
    const net = this.components.net
    if (net === undefined || !this.online || !this.isActive(site)) return 0
    const signal = AbortSignal.any([this.controller.signal, AbortSignal.timeout(this.init.fetchTimeout)])
    let received = 0
    let fresh = 0
    let freshBytes = 0
    try {
      const { clock } = await requestMessagesCatchUp(async (p, s) => await net.dialProtocol(p, MESSAGES_CATCH_UP_PROTOCOL, { signal: s }), peer, site, this.clocks.get(key) ?? 0, async bytes => {
        received++
        if (await this.receive(site, bytes, peer.toString()) !== 'new') return
        fresh++
        freshBytes += bytes.byteLength
        // more new than this node keeps for a site (its caps drop the oldest anyway) is no catch-up but a flood
        if (fresh > this.init.maxPerSite || freshBytes > this.init.maxBytesPerSite) {
          throw new CatchUpViolation(`brought more than ${this.init.maxPerSite} new envelopes or ${this.init.maxBytesPerSite} new bytes in one answer`)
        }
      }, signal)
      this.clocks.delete(key)
      this.clocks.set(key, clock)
      if (this.clocks.size > MAX_CLOCKS) this.clocks.delete(this.clocks.keys().next().value as string)
    } catch (err) {
      if (err instanceof CatchUpViolation) net.penalise(peer.toString(), `messages catch-up for ${site}: ${err.message}`)
      log('%s: catching up on messages from %s failed: %s', site, peer, (err as Error).message)
    }
    return received
  }

  private async catchUpAll (): Promise<void> {
    for (const site of this.activeSites()) await this.catchUp(site)
  }

  async catchUp (site: string): Promise<number> {
    const net = this.components.net
    if (net === undefined || !this.online) return 0
    const name = parseSiteName(site).name
    const peers = net.pubsub.getSubscribers(messagesTopic(name)).slice(0, this.init.catchUpPeers)
    const counts = await Promise.all(peers.map(async peer => await this.askPeer(name, peer)))
    return counts.reduce((a, b) => a + b, 0)
  }

  // ---- the interface ----

  async send (site: string, to: string, body: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<SentMessage> {
    options.signal?.throwIfAborted()
    const name = parseSiteName(site).name
    if (!this.isActive(name)) throw new WeftError('ERR_NOT_FOLLOWING', `${name} is neither followed nor owned here: follow it first (weft follow ${name})`)
    userKeyOf(to)
    if (body.byteLength === 0) throw new WeftError('ERR_MESSAGE_REFUSED', 'the message is empty')
    const key = this.components.identity.key(name)
    const sent = Date.now()
    const envelope = await sealMessage(key, name, to, body, sent)
    const id = createHash('sha256').update(envelope).digest()
    this.store.putEnvelope(id, name, envelope, sent + this.init.expiry)
    // a note to oneself opens here
    await this.tryOpen(name, id, envelope)
    let announced = false
    const net = this.components.net
    if (this.online && net !== undefined) {
      this.subscribe(name)
      const topic = messagesTopic(name)
      // with no peer on the topic yet it waits here: peers ask for it when they join
      if (net.pubsub.getSubscribers(topic).length > 0) {
        announced = await net.pubsub.publish(topic, envelope).then(() => true, err => { log('%s: publishing a message: %s', name, (err as Error).message); return false })
      }
    }
    return { id: Buffer.from(id).toString('hex'), site: name, from: userIdOfKey(key.publicKey.raw), to, sent, size: envelope.byteLength, announced }
  }

  list (site: string): InboxMessage[] {
    const name = parseSiteName(site).name
    // no master key, no letters: asking must not make one (a later link would refuse it)
    if (!this.hasKey()) return []
    return this.store.inbox(name, this.components.identity.id(name)).map(toMessage)
  }

  info (site: string): MessagesInfo {
    const name = parseSiteName(site).name
    const held = this.store.held(name)
    return { site: name, held: held.envelopes, heldBytes: held.bytes, inbox: this.list(name).length, rejections: this.store.rejections(name) }
  }
}

function toMessage (row: { id: string, site: string, sender: string, recipient: string, sent: number, body: Uint8Array }): InboxMessage {
  return { id: row.id, site: row.site, from: row.sender, to: row.recipient, sent: row.sent, body: row.body }
}


export function createMessages (components: MessagesComponents, init: Partial<MessagesInit> = {}): Messages {
  return new MessageService(components, { ...MESSAGES_DEFAULTS, ...init })
}
