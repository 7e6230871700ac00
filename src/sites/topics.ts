/**
 * Live updates: each own or followed site's IPNS-over-PubSub topic. Gossipsub asks the
 * record gate before it delivers or forwards a push, and the subscribers of a topic find
 * each other through its rendezvous CID in the DHT.
 */
import type { PeerId } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import type { Message, TopicValidatorResult } from '@libp2p/gossipsub'
import type { SitesNet } from './index.ts'
import { isHostile, type RecordGate } from './gate.ts'
import type { Running } from './lifecycle.ts'
import { topicRendezvous, type SiteName } from './names.ts'
import { RecordRejected } from './records.ts'
import type { SiteStore } from './store.ts'
import { Verdict } from '../net/verdicts.ts'

const log = logger('weft:sites')

/** ms one topic's rendezvous search and dials may take, so a slow DHT does not hold them until stop. */
const MEET_TIMEOUT = 60_000
/** Other subscribers dialled per topic: as many as a gossipsub mesh holds by default (D = 6). */
const MEET_DIALS = 6

export interface TopicsComponents {
  /** Absent offline: then there are no topics. */
  net?: SitesNet
  /** Every push passes the gate before gossipsub delivers or forwards it. */
  gate: Pick<RecordGate, 'accept'>
  /** Peers that push a site's records are remembered for `site info`. */
  store: Pick<SiteStore, 'sawPeer'>
  lifecycle: Running
}

export class Topics {
  private readonly components: TopicsComponents
  private readonly subscribed = new Set<string>()

  constructor (components: TopicsComponents) {
    this.components = components
  }

  subscribe (name: SiteName): void {
    const { net, lifecycle } = this.components
    if (net === undefined || this.subscribed.has(name.topic)) return
    this.subscribed.add(name.topic)
    net.pubsub.topicValidators.set(name.topic, async (peer, message) => await this.validatePush(name, peer, message))
    net.pubsub.subscribe(name.topic)
    lifecycle.background(async () => { await this.meetSubscribers(name) })
  }

  unsubscribe (topic: string): void {
    const pubsub = this.components.net?.pubsub
    if (pubsub === undefined || !this.subscribed.delete(topic)) return
    pubsub.topicValidators.delete(topic)
    try { pubsub.unsubscribe(topic) } catch { /* the node is already stopping */ }
  }

  unsubscribeAll (): void {
    for (const topic of [...this.subscribed]) this.unsubscribe(topic)
  }

  /** Gossipsub asks before it delivers or forwards: junk is rejected (and costs the sender), stale records go no further. */
  private async validatePush (name: SiteName, peer: PeerId, message: Message): Promise<TopicValidatorResult> {
    const from = peer.toString()
    try {
      const { outcome } = await this.components.gate.accept(name.name, message.data, { kind: 'pubsub', peer: from, origin: message.type === 'signed' ? message.from : undefined })
      this.components.store.sawPeer(name.name, from)
      return outcome === 'same' ? Verdict.Ignore : Verdict.Accept
    } catch (err) {
      if (err instanceof RecordRejected) return isHostile(err.reason) ? Verdict.Reject : Verdict.Ignore
      log.error('%s: validating a push failed: %s', name.name, (err as Error).message)
      return Verdict.Ignore
    }
  }

  /** Announces this node under the topic's rendezvous CID and dials a few others found there. */
  private async meetSubscribers (name: SiteName): Promise<void> {
    const { net, lifecycle } = this.components
    if (net === undefined) return
    const rendezvous = await topicRendezvous(name.topic)
    const signal = AbortSignal.any([lifecycle.signal, AbortSignal.timeout(MEET_TIMEOUT)])
    net.routing.provideSoon(rendezvous)
    let dialled = 0
    for await (const peer of net.routing.findProviders(rendezvous, { signal })) {
      if (dialled >= MEET_DIALS) break
      if (net.isConnected(peer)) continue
      dialled++
      await net.dial(peer, { signal }).catch(() => {})
    }
  }
}
