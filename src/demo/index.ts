/**
 * `weft demo` (and `npm start`): a private network of ten nodes in this process on
 * 127.0.0.1. Node 1 publishes the sample site and the sample forum (a second site, whose
 * visitors post through the site API), nodes 2 to 6 follow both, nodes 7 to 10 offer
 * storage, node 6's gateway is the one a browser visits, by the site's key, by node 6's
 * petname and (where hsd is installed) by a Handshake name on a regtest hsd the demo
 * starts; then four live drills (an update, the owner going offline, replicas outliving
 * every other follower, and, where tor is installed, a follower behind a censor reached
 * through a relay and through a private Tor network on 127.0.0.1), and the network runs
 * until Ctrl-C. Nothing dials beyond 127.0.0.1.
 */
import { once } from 'node:events'
import { rm } from 'node:fs/promises'
import { performance } from 'node:perf_hooks'
import { Operations } from '../api/index.ts'
import { startNetwork, DEMO_NETWORK, type DemoNetwork } from './network.ts'
import { drillOwnerOffline, drillUpdate, siteFiles, type DrillContext } from './drills.ts'
import { drillReplicas, DEMO_AUDIT_TIMEOUT, DEMO_OFFER } from './drill-replicas.ts'
import { drillCensorship } from './drill-censorship.ts'
import { bySource, duration, holdsVersion, nodeList, trackRecords, waitUntil, within } from './steps.ts'
import { siteHost } from './http.ts'
import type { Config } from '../repo/index.ts'
import { startHsd, type RegtestHsd } from './hsd.ts'
import { nameOnHandshake, namePetname, siteIndex } from './names.ts'

export { gatewayGet, siteHost, type GatewayAnswer } from './http.ts'
export { findHsd } from './hsd.ts'

/** Node 1 publishes, nodes 2 to 6 follow, node 6's gateway is the visitor's. */
export const DEMO_NODES = 6
/** Nodes 7 to 10 offer storage and follow nothing (drill 3). */
export const DEMO_STORAGE_NODES = 4
const SITE_LABEL = 'sample'
const FORUM_LABEL = 'forum'
/** hsd starts in one to three seconds; past this the demo goes on without it. */
const HSD_START_MS = 20_000

export interface DemoOptions {
  /** The folder published as the site's first version (examples/sample-site). */
  siteDir: string
  /** The sample forum (examples/forum), published as a second site; absent: no forum. */
  forumDir?: string
  /** Node 6's gateway port; undefined: 8080 when free, else any. */
  port?: number
  /** Leave the homes on disk at the end. */
  keep: boolean
  /** End after the drills instead of running until interrupted. */
  exitAfterDrills: boolean
  /** Before the drills, wait for `waitForEnter`. */
  hold: boolean
}

export interface DemoIo {
  say: (text: string) => Promise<void>
  /** Resolves on Enter (or the end of input); used by `hold`. */
  waitForEnter: (signal: AbortSignal) => Promise<void>
  /** Aborted by Ctrl-C (SIGINT) or SIGTERM. */
  interrupted: AbortSignal
}

/** A regtest hsd for the Handshake name, or undefined (and one line saying why) when it cannot run here. */
async function startHandshake (io: DemoIo): Promise<RegtestHsd | undefined> {
  const t = performance.now()
  try {
    const hsd = await startHsd({ ms: HSD_START_MS, signal: io.interrupted })
    await io.say(`Handshake: started hsd (regtest, in memory, RPC on ${new URL(hsd.rpc).host}) and mined to the height where names open, in ${duration(performance.now() - t)}`)
    return hsd
  } catch (err) {
    if (io.interrupted.aborted) throw err
    await io.say(`Handshake: skipped, the demo goes on without a Handshake name: ${(err as Error).message}`)
    return undefined
  }
}

export async function runDemo (options: DemoOptions, io: DemoIo): Promise<void> {
  const { say, interrupted } = io
  await say(`weft demo: ${DEMO_NODES + DEMO_STORAGE_NODES} nodes on a private network "${DEMO_NETWORK}" in this process, on 127.0.0.1 only (no bootstrap peers, no mDNS): node 1 publishes, nodes 2 to ${DEMO_NODES} follow, nodes ${DEMO_NODES + 1} to ${DEMO_NODES + DEMO_STORAGE_NODES} offer storage`)
  // Node 6 is made with the chain's endpoint in its config, so the chain comes first.
  const hsd = await startHandshake(io)
  try {
    await runNetwork(options, io, hsd)
  } finally {
    await hsd?.stop()
  }
}

/** Node 6: the chain's endpoint (when hsd runs; it alone asks the chain, and checks every proof) and the drill's audit deadline. */
function visitorConfig (hsd: RegtestHsd | undefined): (config: Config) => Config {
  return c => ({
    ...c,
    naming: hsd === undefined ? c.naming : { ...c.naming, hns: { ...c.naming.hns, rpc: hsd.rpc, apiKey: hsd.apiKey, network: 'regtest' } },
    storage: { ...c.storage, auditTimeout: DEMO_AUDIT_TIMEOUT }
  })
}

async function runNetwork (options: DemoOptions, io: DemoIo, hsd: RegtestHsd | undefined): Promise<void> {
  const { say, interrupted } = io
  let t = performance.now()
  const net = await startNetwork({
    size: DEMO_NODES + DEMO_STORAGE_NODES,
    gatewayNode: DEMO_NODES,
    gatewayPort: options.port,
    nodeConfig: number => number === DEMO_NODES ? visitorConfig(hsd) : number > DEMO_NODES ? c => ({ ...c, storage: { ...c.storage, offer: DEMO_OFFER } }) : undefined,
    signal: interrupted
  })
  try {
    await say(`temporary homes in ${net.root}`)
    await say(`started and connected each to each in ${duration(performance.now() - t)}`)
    const ctx = await publishAndFollow(net, options, io)
    const { visitor, name } = ctx
    const siteUrl = `http://${siteHost(name, visitor.daemon.gatewayUrl)}/`
    const forum = options.forumDir === undefined ? undefined : await publishForum(net, options.forumDir, io)
    const forumUrl = forum === undefined ? undefined : `http://${siteHost(forum, visitor.daemon.gatewayUrl)}/`
    const index = await siteIndex(ctx)
    const petnameUrl = await namePetname(ctx, index)
    const handshakeUrl = hsd === undefined ? undefined : await nameOnHandshake(ctx, hsd, index)
    await say('')
    await say('Open these in a browser (served by node 6, which follows the site and never had its key):')
    await say(`  site:      ${siteUrl}`)
    await say(`  petname:   ${petnameUrl}`)
    if (handshakeUrl !== undefined) await say(`  Handshake: ${handshakeUrl}`)
    if (forumUrl !== undefined) await say(`  forum:     ${forumUrl}`)
    await say(`  web UI:    ${visitor.daemon.uiUrl}`)
    await say('A visitor sees the sample site: four linked pages with a stylesheet, an SVG logo and a script that writes "script ran" on the page, every byte checked against its hash by node 6.')
    if (forumUrl !== undefined) await say('The forum is a second site: its page reads posts through the site API (/.weft/client.js) from node 6\'s copy of every visitor\'s contribution; to post, allow the site once on the page node 6 opens.')
    await say(`(*.localhost resolves to 127.0.0.1 in browsers; with curl: curl -H 'Host: ${siteHost(name, visitor.daemon.gatewayUrl)}' ${visitor.daemon.gatewayUrl}/)`)
    if (options.hold) {
      await say('')
      await say('Press Enter to run the drills.')
      await io.waitForEnter(interrupted)
    }
    await say('')
    await say('Drills:')
    const version = await drillUpdate(ctx)
    await drillOwnerOffline(ctx, version)
    await drillReplicas(ctx, net.nodes.slice(DEMO_NODES), version)
    const censored = await drillCensorship({ root: net.root, say, interrupted })
    await say('')
    await say(`Drills done: the update reached node 6's gateway, the site kept loading from the followers with node 1 stopped, and from its replicas with every other follower stopped${censored ? '; a site reached followers its publisher\'s address was blocked from, through a relay and through Tor' : ''}.`)
    if (!options.exitAfterDrills) {
      await say(`${nodeList(net.nodes.filter(n => n.running))} keep running, and the site is still at ${siteUrl}`)
      await say(`Press Ctrl-C to stop them and ${options.keep ? 'keep' : 'remove'} the temporary homes.`)
      if (!interrupted.aborted) await once(interrupted, 'abort')
    }
  } finally {
    t = performance.now()
    const stopped = await net.stop(15_000).then(() => undefined, (err: Error) => err)
    if (options.keep) {
      await say(`Stopped the nodes (${duration(performance.now() - t)}). Kept the homes: ${net.root}/node-1 … node-${DEMO_NODES + DEMO_STORAGE_NODES} (e.g. ./bin/weft --home ${net.root}/node-1 site list)`)
    } else {
      await rm(net.root, { recursive: true, force: true })
      await say(`Stopped the nodes and removed the temporary homes (${duration(performance.now() - t)}).`)
    }
    if (stopped !== undefined) throw stopped
  }
}

/** Node 1 creates the site and publishes the folder; nodes 2 to 6 follow it and fetch it. */
async function publishAndFollow (net: DemoNetwork, options: DemoOptions, io: DemoIo): Promise<DrillContext> {
  const { say, interrupted } = io
  const [owner, ...followers] = net.nodes.slice(0, DEMO_NODES)
  const visitor = followers[followers.length - 1]
  const site = await owner.node.sites.create(SITE_LABEL)
  let t = performance.now()
  const report = await new Operations(owner.node).publish(options.siteDir, { site: SITE_LABEL })
  const files = await siteFiles(options.siteDir)
  await say(`node 1 created the site /ipns/${site.name} and published ${options.siteDir} (${files.length} files, root ${report.root}, record sequence ${report.sequence}) in ${duration(performance.now() - t)}`)
  t = performance.now()
  const records = trackRecords(followers, site.name, 0n, t)
  try {
    await Promise.all(followers.map(async f => { await f.node.sites.follow(site.name, { signal: within(30_000, interrupted) }) }))
    await Promise.all(followers.map(async f => {
      await waitUntil(`node ${f.number} did not fetch the site`, 30_000, interrupted, async () => await holdsVersion(f, site.name, 0n) ? true : undefined)
    }))
  } finally {
    records.stop()
  }
  await say(`nodes 2 to ${DEMO_NODES} follow it: each got the record (${bySource([...records.arrivals.values()])}), checked its signature and fetched every block, in ${duration(performance.now() - t)}`)
  return { net, owner, visitor, followers, label: SITE_LABEL, name: site.name, siteDir: options.siteDir, say, interrupted }
}

/** Node 1 publishes the sample forum as a second site; nodes 2 to 6 follow it. Returns its name. */
async function publishForum (net: DemoNetwork, forumDir: string, io: DemoIo): Promise<string> {
  const { say, interrupted } = io
  const [owner, ...followers] = net.nodes.slice(0, DEMO_NODES)
  const site = await owner.node.sites.create(FORUM_LABEL)
  const t = performance.now()
  const report = await new Operations(owner.node).publish(forumDir, { site: FORUM_LABEL })
  await Promise.all(followers.map(async f => { await f.node.sites.follow(site.name, { signal: within(30_000, interrupted) }) }))
  await Promise.all(followers.map(async f => {
    await waitUntil(`node ${f.number} did not fetch the forum`, 30_000, interrupted, async () => await holdsVersion(f, site.name, 0n) ? true : undefined)
  }))
  await say(`node 1 published the sample forum as a second site /ipns/${site.name} (root ${report.root}); nodes 2 to ${DEMO_NODES} follow it and hold it, in ${duration(performance.now() - t)}`)
  return site.name
}
