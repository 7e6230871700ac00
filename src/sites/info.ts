/** `site info`: what a node knows of one site, from its records, its store and (online) the DHT. */
import * as dagPb from '@ipld/dag-pb'
import type { CID } from 'multiformats/cid'
import { decodeDagPb } from '../blocks/index.ts'
import { catBytes, fetchingBlockstore, type ContentBlockstore } from '../content/index.ts'
import type { SiteInfo, SitesComponents } from './index.ts'
import type { HeldVersions } from './held.ts'
import { parseSiteName } from './names.ts'
import type { SiteStore } from './store.ts'

/** weft.json is metadata: a page of it is plenty. */
const MAX_SITE_JSON = 64 * 1024
/** ms info spends asking the DHT who provides the site and reading its root and weft.json. */
const INFO_TIMEOUT = 5_000

export interface InfoContext {
  store: SiteStore
  held: HeldVersions
  blocks: SitesComponents['blocks']
  /** Present while the node is online. */
  net?: NonNullable<SitesComponents['net']>
}

export async function siteInfo (ctx: InfoContext, text: string, options: { signal?: AbortSignal } = {}): Promise<SiteInfo> {
  const { store } = ctx
  // A label of one's own site works as well as its name.
  const own = store.ownSite(text)
  const name = parseSiteName(own?.name ?? text)
  const stored = store.record(name.name)
  const versions = store.versions(name.name)
  const current = stored === undefined ? undefined : versions.find(v => v.sequence === stored.record.sequence)
  // "held since" only while the store holds it: the time a fetch finished says nothing after a gc.
  const held = stored === undefined ? false : await ctx.held.complete(stored.record.root)
  const info: SiteInfo = {
    name: name.name,
    address: `/ipns/${name.name}`,
    label: store.ownSite(name.name)?.label,
    following: store.follow(name.name) !== undefined,
    current: stored === undefined
      ? undefined
      : {
          sequence: stored.record.sequence,
          value: stored.record.value,
          root: stored.record.root.toString(),
          validity: new Date(stored.record.validity).toISOString(),
          expired: stored.record.validity <= Date.now(),
          firstSeen: current?.firstSeen,
          fetched: held ? current?.fetched : undefined,
          held
        },
    versions,
    peers: [],
    equivocations: store.equivocations(name.name),
    rejections: store.rejections(name.name)
  }
  if (stored !== undefined) {
    const root = stored.record.root
    const net = ctx.net
    const signal = AbortSignal.any([AbortSignal.timeout(INFO_TIMEOUT), ...(options.signal !== undefined ? [options.signal] : [])])
    if (net !== undefined) {
      await (async () => {
        for await (const peer of net.routing.findProviders(root, { signal })) store.sawPeer(name.name, peer.toString())
      })().catch(() => {})
    }
    const blocks = contentStore(ctx, signal)
    info.size = await dagSize(blocks, root).catch(() => undefined)
    info.site = await siteJson(blocks, root).catch(() => undefined)
  }
  info.peers = store.peers(name.name)
  return info
}

/** The local store, fetching single missing blocks when online (info reads two blocks at most). */
function contentStore (ctx: InfoContext, signal: AbortSignal): ContentBlockstore {
  const net = ctx.net
  if (net === undefined) return ctx.blocks
  return fetchingBlockstore(ctx.blocks, async cid => await net.fetch(cid, { recursive: false, signal }))
}

/** The DAG's cumulative size from the root block's link sizes (kubo's CumulativeSize). */
async function dagSize (store: ContentBlockstore, root: CID): Promise<number> {
  const bytes = await store.get(root)
  if (root.code !== dagPb.code) return bytes.byteLength
  return decodeDagPb(root, bytes).Links.reduce((sum, link) => sum + (link.Tsize ?? 0), bytes.byteLength)
}

async function siteJson (store: ContentBlockstore, root: CID): Promise<SiteInfo['site']> {
  const path = { cid: root, segments: ['weft.json'], text: `${root.toString()}/weft.json` }
  const parsed: unknown = JSON.parse((await catBytes(store, path, { length: MAX_SITE_JSON })).toString('utf8'))
  if (parsed === null || typeof parsed !== 'object') return undefined
  const pick = (k: string): string | undefined => {
    const v = (parsed as Record<string, unknown>)[k]
    return typeof v === 'string' ? v.slice(0, 1000) : undefined
  }
  return { title: pick('title'), description: pick('description'), author: pick('author'), entry: pick('entry') }
}
