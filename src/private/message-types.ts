/** The messages service's front: what it does, what it needs, and its limits. */
import type { DatabaseSync } from 'node:sqlite'
import type { PeerId, Startable, Stream } from '@libp2p/interface'
import type { GossipSub } from '@libp2p/gossipsub'
import type { Sites } from '../sites/index.ts'
import type { UserIdentity } from '../users/index.ts'

/** A letter this node's person opened. */
export interface InboxMessage {
  /** The envelope's SHA-256 (hex). */
  id: string
  site: string
  /** The sender's user id on the site (proven by their signature inside). */
  from: string
  /** This person's user id on the site. */
  to: string
  /** ms since the epoch, by the sender's clock. */
  sent: number
  body: Uint8Array
}

/** A letter as JSON carries it: the body as UTF-8 text when it is valid UTF-8, else base64. */
export interface InboxMessageJson { id: string, from: string, sent: number, body: string, encoding: 'utf8' | 'base64' }

const UTF8 = new TextDecoder('utf-8', { fatal: true })

export function inboxMessageJson (m: InboxMessage): InboxMessageJson {
  try {
    return { id: m.id, from: m.from, sent: m.sent, body: UTF8.decode(m.body), encoding: 'utf8' }
  } catch {
    return { id: m.id, from: m.from, sent: m.sent, body: Buffer.from(m.body).toString('base64'), encoding: 'base64' }
  }
}

export interface SentMessage {
  id: string
  site: string
  from: string
  to: string
  sent: number
  /** The sealed envelope's bytes. */
  size: number
  /** Pushed to at least one peer on the site's messages topic (else it waits here, and peers ask for it when they join). */
  announced: boolean
}

export interface MessagesInfo {
  site: string
  /** Envelopes carried for the site's users, and their bytes. */
  held: number
  heldBytes: number
  /** Letters this person opened on the site. */
  inbox: number
  /** Envelopes refused: malformed, too large, or (opened here) a bad signature, re-addressed, another site's, expired. */
  rejections: Array<{ reason: string, count: number, lastPeer?: string }>
}

export interface MessageEvents {
  /** A letter opened into the inbox. */
  message: InboxMessage
}

export interface Messages extends Startable, EventTarget {
  /** Seals `body` to the user `to` on `site` and sends it to the site's carriers. ERR_MESSAGE_TOO_LARGE, ERR_MESSAGE_REFUSED, ERR_NOT_FOLLOWING. */
  send(site: string, to: string, body: Uint8Array, options?: { signal?: AbortSignal }): Promise<SentMessage>
  /** What this person can open on a site, newest first. */
  list(site: string): InboxMessage[]
  info(site: string): MessagesInfo
  /** Asks peers on the site's messages topic for what they carry; returns how many envelopes came. */
  catchUp(site: string): Promise<number>
}

export interface MessagesComponents {
  /** The messages tables live in the home's database. */
  db: DatabaseSync
  /** The person's key on each site: it signs what they send and opens what is sealed to them. */
  identity: Pick<UserIdentity, 'key' | 'id' | 'hasKey'>
  /** Which sites are followed or owned (their messages are carried), and word when that may have changed. */
  sites: Pick<Sites, 'list' | 'followedNames' | 'addEventListener' | 'removeEventListener'>
  /** Word when a master key was linked or imported (envelopes carried before it are opened then); returns the unsubscribe. */
  onKeyImported?: (fn: () => void) => () => void
  net?: MessagesNet
}

export interface MessagesNet {
  /** Pushes on each site's messages topic; who joins it (they are asked for what they carry). */
  pubsub: Pick<GossipSub, 'topicValidators' | 'subscribe' | 'unsubscribe' | 'publish' | 'getSubscribers' | 'addEventListener' | 'removeEventListener'>
  penalise: (peer: string, detail: string) => void
  /** `handler` gets the stream and the peer that opened it (its asks are rate-limited). */
  handle: (protocol: string, handler: (stream: Stream, peer: string) => void) => Promise<void>
  unhandle: (protocol: string) => Promise<void>
  dialProtocol: (peer: PeerId, protocol: string, options: { signal: AbortSignal }) => Promise<Stream>
}

export interface MessagesInit {
  /** ms an envelope is carried, and the oldest letter the recipient takes. */
  expiry: number
  /** ms a letter's time may lie ahead of this node's clock. */
  clockSkew: number
  /** Envelopes, and bytes of them, carried per site; past either the oldest go. A catch-up answer bringing more new than these is cut off and its responder penalised. */
  maxPerSite: number
  maxBytesPerSite: number
  /** Letters kept from one sender to one recipient; past it that sender's oldest go. */
  maxPerSender: number
  /** Letters, and bytes of them, kept per recipient on a site (fresh sender keys cost nothing); past either the oldest go. */
  maxInbox: number
  maxInboxBytes: number
  /** Envelopes one origin (the gossipsub signer) may publish at once, and a second after that. */
  peerBurst: number
  peerRate: number
  /** Envelopes one connected peer may hand on at once, and a second after that, whoever signed them: higher than an origin's, since an honest relay forwards many origins. */
  relayBurst: number
  relayRate: number
  /** Catch-up asks one peer may make of this node at once, and a minute after that. */
  serveBurst: number
  servePerMinute: number
  /** ms a catch-up responder waits for the ask before it gives up on the stream. */
  serveReadTimeout: number
  /** ms between catch-up rounds (0: only when peers join the topic). */
  catchUpInterval: number
  /** Peers asked per round. */
  catchUpPeers: number
  /** The longest one catch-up may take (ms). */
  fetchTimeout: number
  /** ms between sweeps of expired envelopes. */
  sweepInterval: number
}

export const MESSAGES_DEFAULTS: MessagesInit = {
  // the 30 days: a recipient away for a month still finds their messages
  expiry: 30 * 24 * 3600_000,
  // ten minutes covers clocks no NTP has touched in weeks
  clockSkew: 10 * 60_000,
  // 10,000 letters or 64 MiB a site: a busy forum's month of direct messages, on any laptop's disk
  maxPerSite: 10_000,
  maxBytesPerSite: 64 * 1024 * 1024,
  // one sender cannot push a recipient's other letters out; 1,000 is years of an ordinary correspondence
  maxPerSender: 1_000,
  // as many letters and bytes as a site holds envelopes: one recipient's whole share of a busy site
  maxInbox: 10_000,
  maxInboxBytes: 64 * 1024 * 1024,
  // a person types a few messages a minute; a script replying in bursts stays well under this
  peerBurst: 30,
  peerRate: 2,
  // a relay carries a handful of busy origins' bursts at once: four origins' worth before it is charged
  relayBurst: 120,
  relayRate: 8,
  // a node asks a peer when it joins a topic and every ten minutes per site: a few dozen sites fit well under this
  serveBurst: 30,
  servePerMinute: 30,
  // an ask is one small frame sent right after the stream opens; ten seconds covers a slow link
  serveReadTimeout: 10_000,
  catchUpInterval: 10 * 60_000,
  catchUpPeers: 3,
  fetchTimeout: 60_000,
  sweepInterval: 3600_000
}
