/**
 * Which versions of a site this node holds, read from the store: a version is held when
 * every block of its DAG is there. No flag says so, because any flag goes stale the moment
 * gc, an unfollow or a quarantined block takes blocks away (issue 11: after unfollow, gc
 * and follow, a flag said "held" over a fraction of the site and nothing fetched the rest).
 *
 * A walk reads each dag-pb node and only asks the index about raw leaves, so it costs one
 * read per folder or multi-block file, not one per block of content.
 */
import type { CID } from 'multiformats/cid'
import { walkDag } from '../blocks/index.ts'
import type { Blocks } from '../blocks/index.ts'
import type { SiteStore, SiteVersion } from './store.ts'
import { parseContentPath } from '../content/index.ts'

/**
 * ms a gateway answer may rely on an earlier walk of the same root. A page load asks for
 * its HTML, styles and images at once; one walk serves them all, and a version whose
 * blocks go (gc, quarantine) is noticed this long after at most.
 */
export const HELD_CHECK_MS = 2_000

export class HeldVersions {
  private readonly blocks: Pick<Blocks, 'get' | 'has'>
  private readonly store: SiteStore
  private readonly recent = new Map<string, { complete: boolean, at: number }>()

  constructor (blocks: Pick<Blocks, 'get' | 'has'>, store: SiteStore) {
    this.blocks = blocks
    this.store = store
  }

  /** Whether every block under `root` is in the store, walked now. */
  async complete (root: CID): Promise<boolean> {
    let complete = true
    try {
      await walkDag(this.blocks, root, () => {})
    } catch {
      // A missing block, or one the store refused to hand out (corrupt) or could not decode: not held.
      complete = false
    }
    this.recent.set(root.toString(), { complete, at: Date.now() })
    return complete
  }

  /** As `complete`, but a walk of the same root in the last HELD_CHECK_MS answers (the gateway asks once per request). */
  async completeRecently (root: CID): Promise<boolean> {
    const key = root.toString()
    const seen = this.recent.get(key)
    if (seen !== undefined && Date.now() - seen.at < HELD_CHECK_MS) return seen.complete
    if (this.recent.size > MAX_REMEMBERED) this.forgetOld()
    return await this.complete(root)
  }

  /** Marks a root held or not without a walk (a fetch that just finished verified every block). */
  remember (root: CID, complete: boolean): void {
    this.recent.set(root.toString(), { complete, at: Date.now() })
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

  private forgetOld (): void {
    const now = Date.now()
    for (const [key, seen] of this.recent) if (now - seen.at >= HELD_CHECK_MS) this.recent.delete(key)
  }
}

/** Roots remembered at once before old entries are dropped (a node follows tens of sites, not thousands). */
const MAX_REMEMBERED = 1_000
