/**
 * Drill 3, replicas (issue 14's drill at the demo's scale): nodes 7 to 10 offer storage and
 * follow nothing. Node 6 asks for 3 copies of the site; the 3 offering nodes closest to the
 * site's key fetch it (from the followers: node 1 stopped in drill 2). Then every other
 * follower and one holder stop, node 6 drops its own copy, and its gateway serves the site
 * from the 2 holders left; node 6's audits find the stopped holder silent, replace it after
 * `storage.auditFailures` failed rounds, and the fourth offering node makes 3 copies again.
 *
 * The demo's nodes share one process, so "stop" is `daemon.stop()` (connections closed),
 * not SIGKILL; test/storage/drill.test.ts is the drill at 30 nodes.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { CID } from 'multiformats/cid'
import { WeftError } from '../errors.ts'
import { gatewayGet, siteHost } from './http.ts'
import type { DemoNode } from './network.ts'
import type { DrillContext } from './drills.ts'
import { siteFiles } from './drills.ts'
import { duration, nodeList, waitUntil, within } from './steps.ts'

/** Copies node 6 asks for: one fewer than the offering nodes, so repair has somewhere to go. */
export const DEMO_COPIES = 3
/** What an offering node gives others (the demo's sites are a few hundred KiB). */
export const DEMO_OFFER = 256 * 1024 * 1024
/** ms a holder has to answer node 6's challenge in the drill. */
export const DEMO_AUDIT_TIMEOUT = 2_000
/** Audit rounds the drill runs at most before it gives up on the repair. */
const MAX_ROUNDS = 6

const holding = (node: DemoNode, name: string): boolean => node.running && node.node.storage.held().some(h => h.target === name && h.state === 'held')

export async function drillReplicas (ctx: DrillContext, storageNodes: DemoNode[], version: { dir: string, sequence: bigint }): Promise<void> {
  const { say, interrupted, visitor, name } = ctx
  const storage = visitor.node.storage
  await say(`3. Replicas. ${nodeList(storageNodes)} offer storage and follow nothing; node 6 asks for ${DEMO_COPIES} copies of the site.`)
  let t = performance.now()
  const result = await storage.replicate(name, { copies: DEMO_COPIES, signal: within(30_000, interrupted) })
  const holders = storageNodes.filter(n => result.holders.includes(n.libp2p.peerId.toString()))
  if (holders.length < DEMO_COPIES) {
    throw new WeftError('ERR_INTERNAL', `demo: ${holders.length} of ${DEMO_COPIES} holders took the site (refused: ${result.refused.map(r => `${r.code} ${r.reason}`).join('; ') || 'none'})`)
  }
  await waitUntil('the holders did not fetch the site', 30_000, interrupted, () => holders.every(h => holding(h, name)) ? true : undefined)
  await say(`   ${capital(nodeList(holders))}, the offering nodes whose ids are closest to the site's key, fetched it (${result.bytes} bytes, every block checked) and hold it, in ${duration(performance.now() - t)}.`)

  // Every follower but node 6 stops, and one holder with them.
  const [lost, ...kept] = holders
  const spare = storageNodes.filter(n => !holders.includes(n))
  const others = ctx.followers.filter(f => f !== visitor)
  t = performance.now()
  await Promise.all([...others, lost].map(async n => { await ctx.net.stopNode(n.number) }))
  await visitor.node.sites.unfollow(name)
  await visitor.node.blocks.gc()
  const root = CID.parse((await visitor.node.sites.resolve(name, { offline: true })).root)
  if (visitor.node.blocks.has(root)) throw new WeftError('ERR_INTERNAL', 'demo: node 6 still holds the site\'s root block after unfollow and gc')
  await say(`   ${capital(nodeList(others))} (the other followers) and ${nodeList([lost])} (a holder) stopped; node 6 unfollowed the site and ran gc, in ${duration(performance.now() - t)}. Only ${nodeList(kept)} hold it now.`)

  // Every file through node 6's gateway: only the holders left can have sent it.
  const files = await siteFiles(version.dir)
  const sentBefore = new Map(kept.map(h => [h, h.node.exchange?.stats.blocksSent ?? 0]))
  t = performance.now()
  const signal = within(30_000, interrupted)
  await Promise.all(files.map(async file => {
    const answer = await gatewayGet(visitor.daemon.gatewayUrl, siteHost(name, visitor.daemon.gatewayUrl), `/${file}`, { signal })
    if (answer.status !== 200) throw new WeftError('ERR_FETCH_TIMEOUT', `demo: node 6's gateway answered ${answer.status} for /${file} with only the holders left`)
    if (!answer.body.equals(await readFile(join(version.dir, file)))) throw new WeftError('ERR_INTERNAL', `demo: node 6's gateway served ${file} with bytes that differ from version 2`)
  }))
  const sent = kept.map(h => ({ node: h, blocks: (h.node.exchange?.stats.blocksSent ?? 0) - (sentBefore.get(h) ?? 0) })).filter(s => s.blocks > 0)
  if (sent.length === 0) throw new WeftError('ERR_INTERNAL', 'demo: node 6 served the site again but no holder sent a block')
  await say(`   Node 6's gateway served all ${files.length} files again, byte-identical, in ${duration(performance.now() - t)}: blocks sent by ${sent.map(s => `node ${s.node.number} (${s.blocks})`).join(' and ')}.`)

  // Node 6's audits: its schedule runs every `storage.auditInterval` (1 h by default); the drill runs the rounds now.
  t = performance.now()
  for (let round = 1; round <= MAX_ROUNDS && storageNodes.filter(n => holding(n, name)).length < DEMO_COPIES; round++) {
    const results = await storage.audit(name, { signal: within(30_000, interrupted) })
    const line = results.map(r => `${numberOf(ctx, r.holder)} ${r.result}${r.replaced ? ', replaced' : ''}`).join('; ')
    await say(`   Audit round ${round} by node 6 (a nonce and sampled blocks, ${duration(DEMO_AUDIT_TIMEOUT)} to answer): ${line}.`)
    // a recruit fetches the site before it holds it: give it a few seconds before the next round
    const settle = performance.now() + 5_000
    while (storageNodes.filter(n => holding(n, name)).length < DEMO_COPIES && performance.now() < settle) await sleep(100, undefined, { signal: interrupted })
  }
  const now = storageNodes.filter(n => holding(n, name))
  if (now.length < DEMO_COPIES) throw new WeftError('ERR_INTERNAL', `demo: the site was on ${now.length} of ${DEMO_COPIES} holders after ${MAX_ROUNDS} audit rounds`)
  const recruited = now.filter(n => spare.includes(n))
  await say(`   Back to ${DEMO_COPIES} copies in ${duration(performance.now() - t)}: ${nodeList(now)}${recruited.length > 0 ? ` (${nodeList(recruited)} recruited; it fetched the site from the nodes still up)` : ''}.`)

  t = performance.now()
  await visitor.node.sites.follow(name, { signal: within(15_000, interrupted) })
  await waitUntil('node 6 did not hold the site again after following it', 15_000, interrupted, async () => (await visitor.node.sites.following()).some(f => f.name === name && f.fetched) ? true : undefined)
  await say(`   Node 6 follows the site again (${duration(performance.now() - t)}).`)
}

/** "Node 2, node 3 and node 5" at the start of a line. */
function capital (text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1)
}

/** "node 8", or the peer id's tail when it is no demo node. */
function numberOf (ctx: DrillContext, peer: string): string {
  const node = ctx.net.nodeOf(peer)
  return node === undefined ? `peer …${peer.slice(-6)}` : `node ${node.number}`
}
