/**
 * The demo's live drills. Each one says what it did and what it measured, and nothing
 * more: where a node served from its own copy, the line says so.
 *
 * 1. update: the owner publishes a changed page; node 6's gateway serves it.
 * 2. owner offline: node 1 stops; node 6's gateway still serves the site; then node 6
 *    drops its copy (unfollow, gc), finds the record again in the DHT and fetches the
 *    site through its gateway from the followers that remain.
 */
import { cp, readFile, readdir, writeFile } from 'node:fs/promises'
import { join, relative, sep } from 'node:path'
import { performance } from 'node:perf_hooks'
import { CID } from 'multiformats/cid'
import { Operations } from '../api/index.ts'
import { parseSiteName } from '../sites/index.ts'
import { WeftError } from '../errors.ts'
import { gatewayGet, siteHost } from './http.ts'
import type { DemoNetwork, DemoNode } from './network.ts'
import { bySource, duration, holdsVersion, nodeList, trackRecords, waitUntil, within } from './steps.ts'

export interface DrillContext {
  net: DemoNetwork
  owner: DemoNode
  /** Node 6: the node whose gateway the visitor uses. */
  visitor: DemoNode
  followers: DemoNode[]
  /** The site's label in the owner's home, and its name. */
  label: string
  name: string
  /** The folder published as the first version. */
  siteDir: string
  say: (text: string) => Promise<void>
  interrupted: AbortSignal
}

/** The text that marks the first version on the sample site's index page, and what the update puts there. */
export const VERSION_1 = '>Version 1<'
export const VERSION_2 = 'Version 2'

/** Every file under `dir`, as `/`-separated relative paths. */
export async function siteFiles (dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true })
  return entries.filter(e => e.isFile()).map(e => relative(dir, join(e.parentPath, e.name)).split(sep).join('/')).sort()
}

/** GET a path of the site from node 6's gateway; anything but a 200 is an error naming the status. */
async function visit (ctx: DrillContext, path: string, signal: AbortSignal): Promise<Buffer> {
  const answer = await gatewayGet(ctx.visitor.daemon.gatewayUrl, siteHost(ctx.name, ctx.visitor.daemon.gatewayUrl), path, { signal })
  if (answer.status !== 200) {
    // On a private loopback network anything but a timeout is a weft bug.
    throw new WeftError(answer.status === 504 ? 'ERR_FETCH_TIMEOUT' : 'ERR_INTERNAL', `demo: node 6's gateway answered ${answer.status} for ${path}: ${answer.body.toString('utf8').split('\n')[0].slice(0, 200)}`)
  }
  return answer.body
}

/** Drill 1: returns the folder of version 2. */
export async function drillUpdate (ctx: DrillContext): Promise<{ dir: string, sequence: bigint }> {
  const { say, interrupted } = ctx
  const dir = join(ctx.net.root, 'site-v2')
  await cp(ctx.siteDir, dir, { recursive: true })
  const index = await readFile(join(dir, 'index.html'), 'utf8')
  if (!index.includes(VERSION_1)) throw new WeftError('ERR_PATH_NOT_FOUND', `demo: ${join(ctx.siteDir, 'index.html')} has no "${VERSION_1}" marker to change`)
  const stamp = new Date().toTimeString().slice(0, 8)
  await writeFile(join(dir, 'index.html'), index.replace(VERSION_1, `>${VERSION_2}, published at ${stamp} while the demo ran<`))
  await say(`1. Update. Node 1 publishes version 2: index.html now reads "${VERSION_2}, published at ${stamp}…".`)

  const ops = new Operations(ctx.owner.node)
  // One failure ends the other waits too.
  const drill = new AbortController()
  const drillSignal = AbortSignal.any([interrupted, drill.signal])
  const started = performance.now()
  const records = trackRecords(ctx.followers, ctx.name, 1n, started)
  let published: { ms: number, sequence: bigint }
  let served: { sent: number, answered: number }
  let held: number[]
  try {
    ;[published, served, held] = await Promise.all([
      ops.publish(dir, { site: ctx.label }).then(report => ({ ms: performance.now() - started, sequence: BigInt(report.sequence) })),
      // Node 6's gateway, polled as a browser reloading the page would be.
      waitUntil('node 6\'s gateway did not serve version 2', 30_000, drillSignal, async signal => {
        const sent = performance.now() - started
        const body = await visit(ctx, '/', signal)
        return body.toString('utf8').includes(VERSION_2) ? { sent, answered: performance.now() - started } : undefined
      }),
      Promise.all(ctx.followers.map(async f => await waitUntil(`node ${f.number} did not fetch version 2`, 30_000, drillSignal, async () => {
        return await holdsVersion(f, ctx.name, 1n) ? performance.now() - started : undefined
      })))
    ])
  } finally {
    drill.abort()
    records.stop()
  }
  const sequence = published.sequence
  const reached = [...records.arrivals.values()]
  await say(`   Node 1 published it as record sequence ${sequence} in ${duration(published.ms)} (add, sign, put to the DHT, provide, push).`)
  await say(`   The signed record reached the ${reached.length} followers ${duration(Math.min(...reached.map(r => r.ms)))} to ${duration(Math.max(...reached.map(r => r.ms)))} after the publish began (${bySource(reached)}); each checked the signature and sequence.`)
  await say(`   All ${ctx.followers.length} followers held every block of version 2 after ${duration(Math.max(...held))} (the first after ${duration(Math.min(...held))}).`)
  await say(`   Node 6's gateway answered with version 2 ${duration(served.answered)} after the publish began (to a request sent at ${duration(served.sent)}).`)
  return { dir, sequence }
}

/** Drill 2. */
export async function drillOwnerOffline (ctx: DrillContext, version: { dir: string, sequence: bigint }): Promise<void> {
  const { say, interrupted, visitor } = ctx
  let t = performance.now()
  await ctx.net.stopNode(ctx.owner.number)
  await say(`2. Owner offline. Node 1, the only node with the site's key, stopped (${duration(performance.now() - t)}).`)

  t = performance.now()
  const page = await visit(ctx, '/', within(10_000, interrupted))
  if (!page.toString('utf8').includes(VERSION_2)) throw new WeftError('ERR_INTERNAL', 'demo: node 6\'s gateway served an older version after node 1 stopped')
  await say(`   Node 6's gateway still serves version 2 (HTTP 200 in ${duration(performance.now() - t)}), from the copy node 6 keeps as a follower.`)

  // To show the other followers serving it, node 6 gives its copy up.
  await visitor.node.sites.unfollow(ctx.name)
  const gc = await visitor.node.blocks.gc()
  const left = visitor.node.blocks.stat().blocks
  const root = CID.parse((await visitor.node.sites.resolve(ctx.name, { offline: true })).root)
  if (visitor.node.blocks.has(root)) throw new WeftError('ERR_INTERNAL', 'demo: node 6 still holds the site\'s root block after unfollow and gc')
  await say(`   Node 6 unfollowed the site and ran gc: ${gc.blocks} blocks dropped, ${left} left in its store${left > 0 ? ' (the other sites it follows: the forum)' : ''}; it no longer holds the site.`)

  // The record is still in the network: the DHT, asked afresh, answers from the peers still up.
  t = performance.now()
  const answered = new Set<DemoNode>()
  const signal = within(15_000, interrupted)
  for await (const event of visitor.libp2p.services.dht.get(parseSiteName(ctx.name).routingKey, { signal })) {
    if (event.name !== 'PEER_RESPONSE' || event.record == null) continue
    const from = ctx.net.nodeOf(event.from.toString())
    if (from !== undefined) answered.add(from)
  }
  interrupted.throwIfAborted()
  if (answered.size === 0) throw new WeftError('ERR_RECORD_NOT_FOUND', 'demo: no peer answered node 6\'s DHT query with the site\'s record')
  const resolved = await visitor.node.sites.resolve(ctx.name, { fresh: true, signal: within(15_000, interrupted) })
  if (resolved.sequence !== version.sequence) throw new WeftError('ERR_INTERNAL', `demo: the DHT gave sequence ${resolved.sequence}, not ${version.sequence}`)
  await say(`   Asked afresh, the DHT returned the site's record from ${nodeList([...answered])} (${duration(performance.now() - t)}): sequence ${resolved.sequence}, signature checked (node 1 is offline).`)

  // Every file of the site, through node 6's gateway, as a browser loading each page would.
  const files = await siteFiles(version.dir)
  const sentBefore = new Map(ctx.followers.map(f => [f, f.node.exchange?.stats.blocksSent ?? 0]))
  t = performance.now()
  const fetchSignal = within(30_000, interrupted)
  await Promise.all(files.map(async file => {
    const body = await visit(ctx, `/${file}`, fetchSignal)
    if (!body.equals(await readFile(join(version.dir, file)))) throw new WeftError('ERR_INTERNAL', `demo: node 6's gateway served ${file} with bytes that differ from version 2`)
  }))
  const fetchMs = performance.now() - t
  const served = ctx.followers.filter(f => f !== visitor).map(f => ({ node: f, blocks: (f.node.exchange?.stats.blocksSent ?? 0) - (sentBefore.get(f) ?? 0) })).filter(s => s.blocks > 0)
  const sent = served.reduce((sum, s) => sum + s.blocks, 0)
  const holds = visitor.node.blocks.stat().blocks
  if (!visitor.node.blocks.has(root)) throw new WeftError('ERR_INTERNAL', 'demo: node 6 served the site without fetching its root block')
  await say(`   Node 6's gateway then fetched all ${files.length} files again, byte-identical to version 2, in ${duration(fetchMs)}; node 6 now holds ${holds} blocks, each checked against its hash.`)
  await say(sent === 0
    ? '   None of them were sent over weft\'s exchange by nodes 2 to 5.'
    : `   Blocks sent by the other followers: ${served.map(s => `${s.blocks} by node ${s.node.number}`).join(', ')}${sent > holds ? ` (${sent} for ${holds}: some were sent twice)` : ''}.`)
  t = performance.now()
  await visitor.node.sites.follow(ctx.name, { signal: within(15_000, interrupted) })
  await waitUntil('node 6 did not hold the site again after following it', 15_000, interrupted, async () => await holdsVersion(visitor, ctx.name, version.sequence) ? true : undefined)
  await say(`   Node 6 follows the site again and holds version 2 (${duration(performance.now() - t)}), so it serves the site to others too.`)
}
