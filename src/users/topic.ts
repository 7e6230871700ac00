/**
 * A site's users topic, `/weft/site-users/<site>`, as this node takes part in it: joined
 * with a validator that limits each publishing node's rate, parses the push and hashes the
 * blocks it carries before the record is looked at, then hands the record to `receive`
 * (the gate and the check); its outcome decides whether gossipsub passes the push on.
 */
import type { PeerId } from '@libp2p/interface'
import type { Message, TopicValidatorResult } from '@libp2p/gossipsub'
import { CID } from 'multiformats/cid'
import { verifyBlock } from '../blocks/hashing.ts'
import { RecordRejected, type RecordSource } from '../sites/index.ts'
import { decodePush, PushMalformed } from './push.ts'
import type { TokenBuckets } from './rate.ts'
import type { UsersNet } from './index.ts'
import { Verdict } from '../net/verdicts.ts'

/** Users topics: `/weft/site-users/<site>`; kept apart from the site's IPNS-over-PubSub topic, whose subscribers (kubo among them) take only the site's own records. */
export function usersTopic (site: string): string {
  return `/weft/site-users/${site}`
}

/** Refused records that only a broken or hostile sender produces (as for sites). */
export const HOSTILE = new Set(['too-large', 'malformed', 'wrong-key', 'bad-signature', 'bad-value', 'wrong-site'])

export interface UsersTopicComponents {
  net: Pick<UsersNet, 'pubsub' | 'penalise'>
  /** Per-key token buckets, shared with the service's per-user limit. */
  buckets: TokenBuckets
  /** Counts a push refused before its record was read (as the gate counts records). */
  rejected: (site: string, peer: string) => void
  /** The gate and the check; throws RecordRejected. */
  receive: (site: string, record: Uint8Array, source: RecordSource, hints: PeerId[], carried: Map<string, Uint8Array>) => Promise<'new' | 'refresh' | 'same'>
}

export class UsersTopics {
  private readonly components: UsersTopicComponents
  private readonly limits: { peerBurst: number, peerRate: number }
  private readonly joined = new Set<string>()

  constructor (components: UsersTopicComponents, limits: { peerBurst: number, peerRate: number }) {
    this.components = components
    this.limits = limits
  }

  join (site: string): void {
    const { pubsub } = this.components.net
    const topic = usersTopic(site)
    if (this.joined.has(topic)) return
    this.joined.add(topic)
    pubsub.topicValidators.set(topic, async (peer, message) => await this.validate(site, peer, message))
    pubsub.subscribe(topic)
  }

  leaveAll (): void {
    const { pubsub } = this.components.net
    for (const topic of this.joined) {
      pubsub.topicValidators.delete(topic)
      try { pubsub.unsubscribe(topic) } catch { /* stopping */ }
    }
    this.joined.clear()
  }

  private async validate (site: string, peer: PeerId, message: Message): Promise<TopicValidatorResult> {
    const { net, buckets } = this.components
    const from = peer.toString()
    // the rate is the publishing node's (the message's signer), not the relay's: an honest
    // relay passing on a flood must not be banned for it
    const origin = message.type === 'signed' ? message.from.toString() : undefined
    if (!buckets.take(`peer:${origin ?? from}`, this.limits.peerBurst, this.limits.peerRate)) {
      if (origin !== undefined) net.penalise(origin, `more than ${this.limits.peerRate} user records a second on ${site}`)
      return Verdict.Ignore
    }
    let push
    try {
      push = decodePush(message.data)
      for (const [cid, bytes] of push.blocks) verifyBlock(CID.parse(cid), bytes)
    } catch (err) {
      // only a broken or hostile sender makes a push that does not parse or blocks that do not hash right
      const detail = err instanceof PushMalformed ? err.message : `a carried block: ${(err as Error).message}`
      this.components.rejected(site, from)
      net.penalise(origin ?? from, `a malformed users push for ${site}: ${detail}`)
      return Verdict.Reject
    }
    try {
      // The folder is asked of the push's publisher first (it wrote it), then of the peer
      // that forwarded it: a forwarder lacks it until it has checked it too, and without the
      // publisher a one-block fetch waits for the DHT (seconds) or for the blocks to spread.
      const hints = message.type === 'signed' && !message.from.equals(peer) ? [message.from, peer] : [peer]
      const outcome = await this.components.receive(site, push.record, { kind: 'pubsub', peer: from, origin: peer }, hints, push.blocks)
      return outcome === 'new' ? Verdict.Accept : Verdict.Ignore
    } catch (err) {
      if (err instanceof RecordRejected) return HOSTILE.has(err.reason) ? Verdict.Reject : Verdict.Ignore
      return Verdict.Ignore
    }
  }
}
