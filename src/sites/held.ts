/**
 * Which versions of a site this node holds, read from the store: a version is held when
 * every block of its DAG is there. No flag says so, because any flag goes stale the moment
 * gc, an unfollow or a quarantined block takes blocks away (issue 11: after unfollow, gc
 * and follow, a flag said "held" over a fraction of the site and nothing fetched the rest).
 *
 * A walk reads each dag-pb node and only asks the index about raw leaves, so it costs one
 * read per folder or multi-block file, not one per block of content: 50-80 ms for a site of
 * 2,000 pages in 40 folders and a 50 MiB file, measured on a loaded 2-core machine.
 */
import type { CID } from 'multiformats/cid'
import { walkDag } from '../blocks/index.ts'
import type { Blocks } from '../blocks/index.ts'
import { parseContentPath } from '../content/index.ts'
import type { SiteStore, SiteVersion } from './store.ts'

/**
 * ms a gateway answer or a listing may rely on an earlier walk of the same root. A page
 * load asks for its HTML, styles and images at once; one walk serves them all, and a
 * version whose blocks go (gc, quarantine) is noticed this long after at most.
 */
export const HELD_CHECK_MS = 2_000
/** A large site's walk is trusted for this many times its own length, so walks take at most ~5% of the time. */
const WALK_COST_FACTOR = 20
/** Roots remembered at once before old entries are dropped (a node follows tens of sites, not thousands). */
const MAX_REMEMBERED = 1_000

interface Walked { complete: boolean, at: number, trustFor: number }

export class HeldVersions {
  private readonly blocks: Pick<Blocks, 'get' | 'has'>
  private readonly store: SiteStore
  private readonly walked = new Map<string, Walked>()
  /** Walks under way: requests that arrive together share one. */
  private readonly walking = new Map<string, Promise<boolean>>()

  constructor (blocks: Pick<Blocks, 'get' | 'has'>, store: SiteStore) {
    this.blocks = blocks
    this.store = store
  }

  /** Whether every block under `root` is in the store, walked now. */
  async complete (root: CID): Promise<boolean> {
    const started = Date.now()
    let complete = true
    try {
      await walkDag(this.blocks, root, () => {})
    } catch {
      // A missing block, or one the store refused to hand out (corrupt) or could not decode: not held.
      complete = false
    }
    this.note(root, complete, Math.max(HELD_CHECK_MS, (Date.now() - started) * WALK_COST_FACTOR))
    return complete
  }

  /** As `complete`, but a recent walk of the same root answers (the gateway asks on every request). */
  async completeRecently (root: CID): Promise<boolean> {
    const key = root.toString()
    const seen = this.walked.get(key)
    if (seen !== undefined && Date.now() - seen.at < seen.trustFor) return seen.complete
    let walk = this.walking.get(key)
    if (walk === undefined) {
      walk = this.complete(root).finally(() => { this.walking.delete(key) })
      this.walking.set(key, walk)
    }
    return await walk
  }

  /** Notes a root as held without a walk (a fetch that just finished verified every block). */
  remember (root: CID, complete: boolean): void {
    this.note(root, complete, HELD_CHECK_MS)
  }

  /** The newest version of `name` below `sequence` whose every block is in the store. */
  async newestComplete (name: string, below: bigint, options: { recently?: boolean } = {}): Promise<SiteVersion | undefined> {
    for (const version of this.store.versions(name)) {
      if (version.sequence >= below) continue
      const root = parseContentPath(version.value).cid
      if (options.recently === true ? await this.completeRecently(root) : await this.complete(root)) return version
    }
    return undefined
  }

  private note (root: CID, complete: boolean, trustFor: number): void {
    if (this.walked.size >= MAX_REMEMBERED) {
      const now = Date.now()
      for (const [key, seen] of this.walked) if (now - seen.at >= seen.trustFor) this.walked.delete(key)
      if (this.walked.size >= MAX_REMEMBERED) this.walked.clear()
    }
    this.walked.set(root.toString(), { complete, at: Date.now(), trustFor })
  }
}
