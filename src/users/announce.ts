/**
 * This person's own user records going out: pushed on the site's users topic (with the
 * folder's blocks when they fit) and put to the DHT under the user's key. The put walks
 * the network (seconds to tens of seconds on a busy one), so it runs in the background;
 * a record no DHT peer took is sent again by the next catch-up round, and none is sent
 * again while its put is still under way.
 */
import { logger } from '@libp2p/logger'
import type { CID } from 'multiformats/cid'
import { parseSiteName } from '../sites/index.ts'
import { encodePush } from './push.ts'
import { usersTopic } from './topic.ts'
import type { UserRecord } from './records.ts'
import type { UsersNet } from './index.ts'

const log = logger('weft:users')

export class OwnRecords {
  /** Sites whose own newest record no DHT peer has taken yet. */
  private readonly unannounced = new Set<string>()
  /**
   * Sites whose own record's DHT put is under way (the number of the newest put). Under
   * load a put takes seconds, and each new connection set off a catch-up round: the same
   * record was pushed to every follower and put again, over and over, while the first put
   * was still walking.
   */
  private readonly putting = new Map<string, number>()
  private puts = 0

  /** Whether no DHT peer took the site's own newest record. */
  notTaken (site: string): boolean {
    return this.unannounced.has(site)
  }

  /** Whether a put of the site's own record is under way. */
  isPutting (site: string): boolean {
    return this.putting.has(site)
  }

  /** Pushes the record now; its DHT put goes to `background`. */
  async announce (net: UsersNet, site: string, record: UserRecord, blocks: Array<{ cid: CID, bytes: Uint8Array }>, background: (fn: () => Promise<void>) => void, signal: AbortSignal): Promise<void> {
    // the push first: it is what the followers online wait for, and a provide's walk started before it delays it on a busy node
    await net.pubsub.publish(usersTopic(site), encodePush(record.bytes, blocks)).catch(err => { log('%s: publishing a user record: %s', site, (err as Error).message) })
    net.routing.provideSoon(record.root)
    this.unannounced.delete(site)
    const put = ++this.puts
    this.putting.set(site, put)
    background(async () => {
      const took = await net.routing.putRecord(parseSiteName(record.user).routingKey, record.bytes, { signal }).catch(err => { log('%s: putting a user record: %s', site, (err as Error).message); return 0 })
      // a newer write's put has taken over
      if (this.putting.get(site) !== put) return
      this.putting.delete(site)
      // with no peer to take it (a daemon just started, alone), it goes out again on the next catch-up round
      if (took === 0) this.unannounced.add(site)
    })
  }
}
