/**
 * `npm run bench -- sites [--json]`: one 20 MiB site (20 files of 1 MiB and an entry page)
 * on a private network on 127.0.0.1, every node in this process.
 *
 * - publish: the owner publishes it into a fresh network of 30 nodes and itself, the
 *   way `weft publish` does once the site exists: import and pin the folder, then
 *   `sites.publish` (sign the record, then its DHT put and the root's provide, together).
 *   Two figures: the whole publish (import + pin + record + provide), and the
 *   announcement alone (`sites.publish`: record + provide); beside them, a bare DHT put
 *   and a bare provide from the same node.
 * - update: 30 followers hold the first version (taken 5 at a time: setup, not a
 *   figure); the owner changes one 1 MiB file and publishes. Per follower, the time from
 *   just before `publish` until its `record` event (the new record accepted) and until
 *   every new block is in its store (read from the store every 10 ms; the `fetched`
 *   event is timed too, and checked against the store). Beside it, one more node that
 *   holds the first version fetches the update alone, once the followers are done; and
 *   followers that still lack new blocks then fetch them by CID, all at once.
 * - visit: 20 fresh nodes, joined 4 at a time (not timed), visiting one at a time:
 *   `sites.resolve` of the name, then the entry page's bytes over the exchange; beside
 *   it, a bare DHT provider lookup of the root from the same visitor.
 *
 * Every timed step starts once the process is quiet (event loop < 25% busy over 500 ms,
 * waiting a bounded time): 31 nodes share two cores, and background walks would
 * otherwise land in the figures. A follower or visitor that never gets there counts as
 * infinitely slow (null in JSON).
 *
 * WEFT_BENCH_FOLLOWERS, WEFT_BENCH_VISITORS and WEFT_BENCH_FOLLOW_WAVE change the counts
 * for a quicker look; WEFT_BENCH_DEBUG=1 lists every exchange penalty between the nodes.
 */
import { randomFillSync } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance as perf } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { blockLinks } from '../src/blocks/index.ts'
import { cat, fetchingBlockstore, importPath, parseContentPath, type ContentBlockstore, type ImportResult } from '../src/content/index.ts'
import { createNode, type WeftNode } from '../src/node/index.ts'
import { joinNetwork } from '../src/routing/index.ts'
import { parseSiteName, signRecord, siteNameOf, type SiteEvents } from '../src/sites/index.ts'
import type { BenchOptions } from './index.ts'

const FOLLOWERS = Number(process.env.WEFT_BENCH_FOLLOWERS ?? 30)
const VISITORS = Number(process.env.WEFT_BENCH_VISITORS ?? 20)
/** Visitors that join the network together (their visits are one at a time). */
const VISITOR_BATCH = 4
/** A visitor's join walks stop here (what they met stays in its table): joins are not timed, only waited for. */
const VISITOR_WALK_TIMEOUT = 5_000
/** Followers that take the first version together. */
const FOLLOW_WAVE = Number(process.env.WEFT_BENCH_FOLLOW_WAVE ?? 5)
const MiB = 1024 * 1024
const FILES = 20
const CHANGED_FILE = 7
const SITE_LABEL = 'bench'

const TARGET_RECORD_P95_MS = 1_000
const TARGET_CONTENT_P95_MS = 1_500
const TARGET_ANNOUNCE_MS = 1_000
const TARGET_VISIT_P50_MS = 200
/** Trautwein et al., "Design and evaluation of IPFS", SIGCOMM 2022: public network medians. */
const IPFS_PUBLISH_MEDIAN_S = 33.8
const IPFS_RETRIEVE_MEDIAN_S = 2.9

const JOIN_TIMEOUT = 120_000
/** Longest a wave of followers may take to hold the first version. */
const WAVE_TIMEOUT = 60_000
const UPDATE_TIMEOUT = 30_000
const VISIT_TIMEOUT = 15_000
const LOOKUP_TIMEOUT = 10_000

type Online = WeftNode & {
  libp2p: NonNullable<WeftNode['libp2p']>
  routing: NonNullable<WeftNode['routing']>
  exchange: NonNullable<WeftNode['exchange']>
}

/** What one node saw of the site, per sequence: when (performance.now()) the record and the last block came in. */
interface Seen { record?: number, source?: string, fetched?: number }

/** Nearest-rank quantile; a miss counts as infinitely slow. */
const quantile = (xs: number[], q: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]
const median = (xs: number[]): number => quantile(xs, 0.5)
/** A figure for JSON: whole ms, null when it never happened. */
const ms = (x: number): number | null => Number.isFinite(x) ? Math.round(x) : null
const show = (x: number): string => Number.isFinite(x) ? `${x.toFixed(0)} ms` : 'never'
const verdict = (ok: boolean): string => ok ? 'PASS' : 'MISS'

function createBenchNode (home: string): Promise<WeftNode> {
  return createNode({
    home,
    online: true,
    reprovideInterval: 0,
    net: { listen: ['/ip4/127.0.0.1/tcp/0'], network: { name: 'bench' }, bootstrap: [], mdns: false },
    sites: { republishInterval: 0, pollInterval: 0 }
  })
}

/** Records every `record` and `fetched` event of the site on `node`, stamped on arrival. */
function watch (node: WeftNode, name: string): Map<bigint, Seen> {
  const seen = new Map<bigint, Seen>()
  const at = (sequence: bigint): Seen => {
    let s = seen.get(sequence)
    if (s === undefined) seen.set(sequence, s = {})
    return s
  }
  node.sites.addEventListener('record', e => {
    const now = performance.now()
    const d = (e as CustomEvent<SiteEvents['record']>).detail
    if (d.name === name && at(d.sequence).record === undefined) Object.assign(at(d.sequence), { record: now, source: d.source })
  })
  node.sites.addEventListener('fetched', e => {
    const now = performance.now()
    const d = (e as CustomEvent<SiteEvents['fetched']>).detail
    if (d.name === name) at(d.sequence).fetched ??= now
  })
  return seen
}

/** Waits until `done()` or `timeout` ms; says which. */
async function until (done: () => boolean, timeout: number): Promise<boolean> {
  const deadline = performance.now() + timeout
  while (!done()) {
    if (performance.now() >= deadline) return false
    await sleep(25)
  }
  return true
}

/**
 * Waits (at most `maxMs`) for the process to go quiet: the event loop busy less than
 * `threshold` of a 500 ms window. Background walks (provides after a fetch, a join's
 * refresh) would otherwise share the two cores with what is timed next. Returns the last
 * window's utilisation.
 */
async function settle (maxMs: number, threshold = 0.25): Promise<number> {
  const deadline = performance.now() + maxMs
  let last = perf.eventLoopUtilization()
  for (;;) {
    await sleep(500)
    const now = perf.eventLoopUtilization()
    const utilisation = perf.eventLoopUtilization(now, last).utilization
    last = now
    if (utilisation < threshold || performance.now() >= deadline) return utilisation
  }
}

/** The node's store, fetching a missing block (that block alone) over the exchange, as the API's cat does. */
function fetchingStore (node: Online, signal: AbortSignal): ContentBlockstore {
  return fetchingBlockstore(node.blocks, async cid => await node.exchange.fetch(cid, { recursive: false, signal }))
}

interface Health {
  /** Penalties the nodes' exchanges charged each other, by offence. */
  offences: Record<string, number>
  /** Why, by the last reason each charged peer was given. */
  reasons: Record<string, number>
  /** Peers a node has banned (and hung up on) and not yet let back. */
  bans: number
  connectionsMin: number
  meshMin: number
  meshMedian: number
  meshEmpty: number
}

/** How the network stands: exchange penalties between the nodes, links, and the site topic's gossipsub mesh. */
function health (all: Online[], topic: string): Health {
  const offences: Record<string, number> = {}
  const reasons: Record<string, number> = {}
  let bans = 0
  for (const a of all) {
    for (const b of all) {
      if (a === b) continue
      const record = a.exchange.peerRecord(b.libp2p.peerId)
      if (record === undefined) continue
      for (const [offence, n] of Object.entries(record.offences)) offences[offence] = (offences[offence] ?? 0) + n
      const reason = (record.lastReason ?? '?').replace(/\d+/g, 'N').slice(0, 80)
      reasons[reason] = (reasons[reason] ?? 0) + 1
      if (process.env.WEFT_BENCH_DEBUG !== undefined) process.stderr.write(`  ${all.indexOf(a)} → ${all.indexOf(b)}: ${JSON.stringify(record)}\n`)
      if (record.bannedUntil !== undefined && record.bannedUntil > Date.now()) bans++
    }
  }
  // The GossipSub class has it; the interface libp2p hands out does not.
  const mesh = all.map(n => (n.libp2p.services.pubsub as unknown as { getMeshPeers: (topic: string) => string[] }).getMeshPeers(topic).length)
  return {
    offences,
    reasons,
    bans,
    connectionsMin: Math.min(...all.map(n => n.libp2p.getConnections().length)),
    meshMin: Math.min(...mesh),
    meshMedian: median(mesh),
    meshEmpty: mesh.filter(m => m === 0).length
  }
}

const healthText = (h: Health): string => {
  const offences = Object.entries(h.offences).map(([k, n]) => `${k} ${n}`).join(', ')
  const reasons = Object.entries(h.reasons).sort((a, b) => b[1] - a[1]).slice(0, 3).map(([r, n]) => `${n} × "${r}"`).join('; ')
  return `exchange penalties: ${offences === '' ? 'none' : `${offences} (${reasons})`}; ${h.bans} peers banned; fewest links ${h.connectionsMin}; topic mesh min ${h.meshMin} / median ${h.meshMedian} peers (${h.meshEmpty} with none)`
}

/** Every block under `root` in `node`'s store. */
async function dagBlocks (node: WeftNode, root: CID): Promise<CID[]> {
  const out = new Map<string, CID>()
  const stack = [root]
  while (stack.length > 0) {
    const cid = stack.pop() as CID
    if (out.has(cid.toString())) continue
    out.set(cid.toString(), cid)
    stack.push(...blockLinks(cid, await node.blocks.get(cid)))
  }
  return [...out.values()]
}

async function addSite (node: WeftNode, dir: string): Promise<ImportResult> {
  const result = await importPath(node.blocks, dir, {})
  await node.blocks.pin(result.root.cid, 'recursive')
  return result
}

export async function run (options: BenchOptions): Promise<void> {
  const say = (line: string): void => { (options.json ? process.stderr : process.stdout).write(line + '\n') }
  const dir = mkdtempSync(join(tmpdir(), 'weft-bench-sites-'))
  const nodes: Online[] = []
  const visitors = new Set<Online>()
  let cleaned: Promise<void> | undefined
  const cleanup = async (): Promise<void> => {
    cleaned ??= (async () => {
      await Promise.all([...nodes, ...visitors].map(async n => { await n.stop().catch(() => {}) }))
      rmSync(dir, { recursive: true, force: true })
    })()
    await cleaned
  }
  const onSignal = (): void => {
    // Stopping 30 nodes takes a moment; the homes go whatever happens.
    const exit = (): never => { rmSync(dir, { recursive: true, force: true }); process.exit(130) }
    setTimeout(exit, 10_000).unref()
    void cleanup().then(exit, exit)
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    // ---- the network: the followers, then the owner, all joined through nodes 0..2 ----
    const total = FOLLOWERS + 1
    for (let i = 0; i < total; i++) nodes.push(await createBenchNode(join(dir, `node-${i}`)) as Online)
    const followers = nodes.slice(0, FOLLOWERS)
    // Not one of the bootstrap nodes, so it is not linked to every node by construction.
    const owner = nodes[FOLLOWERS]
    const joinStart = performance.now()
    await Promise.all(nodes.map(async (node, i) => {
      const bootstrap = [0, 1, 2].filter(j => j !== i && j < total).map(j => nodes[j].libp2p.getMultiaddrs()[0])
      await joinNetwork(node.libp2p, bootstrap, { signal: AbortSignal.timeout(JOIN_TIMEOUT) })
    }))
    const joinS = (performance.now() - joinStart) / 1000
    say(`${total} nodes (${FOLLOWERS} followers and the owner) joined in ${joinS.toFixed(1)} s`)

    // ---- the site: 20 × 1 MiB of random bytes and an entry page ----
    const siteDir = join(dir, 'site')
    mkdirSync(siteDir)
    const page = Buffer.from(`<!doctype html>\n<title>weft bench</title>\n<h1>bench site</h1>\n${Array.from({ length: FILES }, (_, i) => `<a href="part-${String(i).padStart(2, '0')}.bin">part ${i}</a>`).join('\n')}\n`)
    writeFileSync(join(siteDir, 'index.html'), page)
    const filePath = (i: number): string => join(siteDir, `part-${String(i).padStart(2, '0')}.bin`)
    const piece = Buffer.allocUnsafe(MiB)
    for (let i = 0; i < FILES; i++) writeFileSync(filePath(i), randomFillSync(piece))
    const site = await owner.sites.create(SITE_LABEL)
    const name = site.name

    // The quiet a network has between events: the joins' refresh walks end first.
    await settle(10_000)
    // The whole publish: import and pin (as `weft publish` does), then sign and announce.
    const publishStart = performance.now()
    const v0 = await addSite(owner, siteDir)
    const announceStart = performance.now()
    const first = await owner.sites.publish(SITE_LABEL, v0.root.cid, { signal: AbortSignal.timeout(30_000) })
    const publishEnd = performance.now()
    const importMs = announceStart - publishStart
    const announceMs = publishEnd - announceStart
    const wholePublishMs = publishEnd - publishStart
    const siteMiB = v0.bytes / MiB
    say(`site ${name}: ${siteMiB.toFixed(2)} MiB in ${v0.files} files, root ${v0.root.cid}`)
    say(`publish (sequence ${first.sequence}, announced ${first.announced}): ${wholePublishMs.toFixed(0)} ms in all: import + pin ${importMs.toFixed(0)} ms, then record + provide ${announceMs.toFixed(0)} ms`)

    // Beside it: a bare DHT put (a record of a throwaway key) and a bare provide (a fresh CID), 3 of each.
    const barePut: number[] = []
    const bareProvide: number[] = []
    for (let i = 0; i < 3; i++) {
      await settle(5_000)
      const key = await generateKeyPair('Ed25519')
      const record = await signRecord(key, `/ipfs/${v0.root.cid}`, 0n, { validity: 3_600_000, ttl: 60_000 })
      let start = performance.now()
      await owner.routing.putRecord(siteNameOf(peerIdFromPrivateKey(key)).routingKey, record.bytes, { signal: AbortSignal.timeout(30_000) })
      barePut.push(performance.now() - start)
      const cid = CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode(`weft sites bench ${Date.now()} ${i} ${Math.random()}`)))
      start = performance.now()
      await owner.routing.provide(cid, { signal: AbortSignal.timeout(30_000) })
      bareProvide.push(performance.now() - start)
    }
    say(`bare DHT put: ${barePut.map(x => x.toFixed(0)).join(', ')} ms; bare provide: ${bareProvide.map(x => x.toFixed(0)).join(', ')} ms`)

    // ---- the followers take the first version, a wave at a time ----
    // (All 30 at once is 600 MiB through one process on 2 cores: answers then lag past the
    // exchange's 5 s stall timeout, peers get banned and hung up on, and fetches fall back
    // to Bitswap; the first version is setup here, not a figure.)
    const seen = followers.map(f => watch(f, name))
    const firstFetch: number[] = []
    const followStart = performance.now()
    for (let w = 0; w < FOLLOWERS; w += FOLLOW_WAVE) {
      const wave = followers.slice(w, w + FOLLOW_WAVE)
      const waveSeen = seen.slice(w, w + FOLLOW_WAVE)
      const waveStart = performance.now()
      await Promise.all(wave.map(async f => { await f.sites.follow(name, { signal: AbortSignal.timeout(30_000) }) }))
      await until(() => waveSeen.every(s => s.get(0n)?.fetched !== undefined), WAVE_TIMEOUT)
      firstFetch.push(...waveSeen.map(s => (s.get(0n)?.fetched ?? Infinity) - waveStart))
    }
    const gotFirst = seen.filter(s => s.get(0n)?.fetched !== undefined).length
    const firstMissed = FOLLOWERS - gotFirst
    const followS = (performance.now() - followStart) / 1000
    say(`follow, ${FOLLOW_WAVE} at a time: the first version held by ${gotFirst}/${FOLLOWERS} in ${followS.toFixed(1)} s; per follower p50 ${show(median(firstFetch))}, max ${show(Math.max(...firstFetch))} from its follow()`)
    if (firstMissed > 0) say(`warning: ${firstMissed} followers did not hold the first version within ${WAVE_TIMEOUT / 1000} s of their follow(); the update is measured anyway`)

    // A reference for the update's fetches: one more node, holding the first version (its
    // own import of the same folder), that fetches the update alone once the rest is done.
    const lone = await createBenchNode(join(dir, 'lone')) as Online
    visitors.add(lone)
    await addSite(lone, siteDir)
    await joinNetwork(lone.libp2p, [...nodes].sort(() => Math.random() - 0.5).slice(0, 3).map(n => n.libp2p.getMultiaddrs()[0]), { signal: AbortSignal.timeout(JOIN_TIMEOUT) })

    // ---- the update: one 1 MiB file changes ----
    writeFileSync(filePath(CHANGED_FILE), randomFillSync(piece))
    const v1 = await addSite(owner, siteDir)
    const before = new Set((await dagBlocks(owner, v0.root.cid)).map(String))
    const newBlocks = (await dagBlocks(owner, v1.root.cid)).filter(c => !before.has(c.toString()))
    const newBytes = (await Promise.all(newBlocks.map(async c => (await owner.blocks.get(c)).byteLength))).reduce((a, b) => a + b, 0)
    const quietBeforeUpdate = await settle(20_000)
    const topic = parseSiteName(name).topic
    const healthBefore = health(nodes, topic)
    say(`before the update: ${healthText(healthBefore)}`)

    // "Has every new block" is read from each follower's store (every 10 ms), not taken
    // from its 'fetched' event: the event is also timed, and checked against the store.
    const missing = followers.map(f => newBlocks.filter(c => !f.blocks.has(c)))
    const heldAt: Array<number | undefined> = followers.map(() => undefined)
    const poll = (): void => {
      const now = performance.now()
      followers.forEach((f, i) => {
        if (heldAt[i] !== undefined) return
        missing[i] = missing[i].filter(c => !f.blocks.has(c))
        if (missing[i].length === 0) heldAt[i] = now
      })
    }
    const poller = setInterval(poll, 10)
    const updateStart = performance.now()
    let sequence: bigint
    let updatePublishMs: number
    try {
      sequence = (await owner.sites.publish(SITE_LABEL, v1.root.cid, { signal: AbortSignal.timeout(30_000) })).sequence
      updatePublishMs = performance.now() - updateStart
      say(`update: sequence ${sequence}, ${newBlocks.length} new blocks (${(newBytes / MiB).toFixed(2)} MiB); event loop ${(100 * quietBeforeUpdate).toFixed(0)}% busy just before; publish returned after ${updatePublishMs.toFixed(0)} ms`)
      // Done when every follower holds the new blocks and said so, or said so a second ago
      // without them (a follower whose fetch has ended fetches no more).
      await until(() => followers.every((_, i) => {
        const fetched = seen[i].get(sequence)?.fetched
        return fetched !== undefined && (heldAt[i] !== undefined || performance.now() - fetched > 1_000)
      }), UPDATE_TIMEOUT)
    } finally {
      clearInterval(poller)
    }
    poll()
    const recordMs = seen.map(s => (s.get(sequence)?.record ?? Infinity) - updateStart)
    const contentMs = heldAt.map(t => (t ?? Infinity) - updateStart)
    const fetchedEventMs = seen.map(s => (s.get(sequence)?.fetched ?? Infinity) - updateStart)
    const fetchAfterRecordMs = seen.map((s, i) => (heldAt[i] ?? Infinity) - (s.get(sequence)?.record ?? Infinity))
    const recordMissed = seen.filter(s => s.get(sequence)?.record === undefined).length
    const contentMissed = heldAt.filter(t => t === undefined).length
    const falseFetched = seen.filter((s, i) => s.get(sequence)?.fetched !== undefined && heldAt[i] === undefined).length
    const sources: Record<string, number> = {}
    for (const s of seen) {
      const source = s.get(sequence)?.source
      if (source !== undefined) sources[source] = (sources[source] ?? 0) + 1
    }
    const sorted = (xs: number[]): string => [...xs].sort((a, b) => a - b).map(x => Number.isFinite(x) ? x.toFixed(0) : '∞').join(' ')
    say(`  record: ${FOLLOWERS - recordMissed}/${FOLLOWERS} (${Object.entries(sources).map(([k, v]) => `${k} ${v}`).join(', ')})  p50 ${show(median(recordMs))}  p95 ${show(quantile(recordMs, 0.95))}  max ${show(Math.max(...recordMs))}`)
    say(`  every new block held: ${FOLLOWERS - contentMissed}/${FOLLOWERS}  p50 ${show(median(contentMs))}  p95 ${show(quantile(contentMs, 0.95))}  max ${show(Math.max(...contentMs))}`)
    say(`  'fetched' event: ${fetchedEventMs.filter(Number.isFinite).length}/${FOLLOWERS}  p50 ${show(median(fetchedEventMs))}  p95 ${show(quantile(fetchedEventMs, 0.95))}; ${falseFetched} of them without every new block`)
    say(`  sorted record ms: ${sorted(recordMs)}`)
    say(`  sorted every-block ms: ${sorted(contentMs)}`)
    say(`  sorted 'fetched' ms: ${sorted(fetchedEventMs)}`)
    const healthAfter = health(nodes, topic)
    say(`after the update: ${healthText(healthAfter)}`)

    // Beside it: the followers that still lack new blocks fetch them by CID, all at once,
    // as the update's fetches would have (what the exchange part costs on its own).
    const lacking = followers.map((f, i) => ({ f, cids: newBlocks.filter(c => !f.blocks.has(c)), i })).filter(x => x.cids.length > 0)
    const directMs: number[] = []
    let directFailed = 0
    if (lacking.length > 0) {
      await settle(10_000)
      const directStart = performance.now()
      await Promise.all(lacking.map(async ({ f, cids }) => {
        try {
          const signal = AbortSignal.timeout(UPDATE_TIMEOUT)
          await Promise.all(cids.map(async c => { await f.exchange.fetch(c, { signal }) }))
          directMs.push(performance.now() - directStart)
        } catch {
          directFailed++
          directMs.push(Infinity)
        }
      }))
      say(`direct fetch of the missing new blocks by CID, ${lacking.length} followers at once: p50 ${show(median(directMs))}  p95 ${show(quantile(directMs, 0.95))}  max ${show(Math.max(...directMs))}${directFailed > 0 ? `; ${directFailed} failed` : ''}`)
    }

    await settle(10_000)
    const loneStart = performance.now()
    let loneMs = Infinity
    try {
      await lone.exchange.fetch(v1.root.cid, { signal: AbortSignal.timeout(UPDATE_TIMEOUT) })
      if (newBlocks.every(c => lone.blocks.has(c))) loneMs = performance.now() - loneStart
    } catch (err) {
      say(`the lone node's fetch of the update failed: ${(err as Error).message}`)
    }
    say(`one node alone, holding the first version, fetching the update: ${show(loneMs)}`)
    await lone.stop()
    visitors.delete(lone)

    // ---- visitors: fresh nodes, one at a time ----
    const expectedRoot = v1.root.cid.toString()
    const visitMs: number[] = []
    const resolveMs: number[] = []
    const pageMs: number[] = []
    const lookupMs: number[] = []
    const visitSources: Record<string, number> = {}
    let visitFailures = 0
    let staleVisits = 0
    let lookupsFound = 0
    const visitorJoinMs: number[] = []
    // A few visitors join together (untimed), then visit one after another, then stop.
    for (let b = 0; b < VISITORS; b += VISITOR_BATCH) {
      const batch: Array<{ v: number, home: string, node?: Online, joinMs?: number, error?: Error }> = []
      for (let v = b; v < Math.min(VISITORS, b + VISITOR_BATCH); v++) batch.push({ v, home: join(dir, `visitor-${v}`) })
      try {
        await Promise.all(batch.map(async entry => {
          try {
            entry.node = await createBenchNode(entry.home) as Online
            visitors.add(entry.node)
            const via = [...nodes].sort(() => Math.random() - 0.5).slice(0, 3)
            const joinAt = performance.now()
            await joinNetwork(entry.node.libp2p, via.map(n => n.libp2p.getMultiaddrs()[0]), { signal: AbortSignal.timeout(JOIN_TIMEOUT), walkTimeout: VISITOR_WALK_TIMEOUT })
            entry.joinMs = performance.now() - joinAt
            visitorJoinMs.push(entry.joinMs)
          } catch (err) {
            entry.error = err as Error
          }
        }))
        for (const { v, node: visitor, joinMs, error } of batch) {
          try {
            if (error !== undefined || visitor === undefined) throw error ?? new Error('no node')
            await settle(3_000)
            const signal = AbortSignal.timeout(VISIT_TIMEOUT)
            const start = performance.now()
            const resolved = await visitor.sites.resolve(name, { signal })
            const resolvedAt = performance.now()
            const chunks: Uint8Array[] = []
            for await (const chunk of cat(fetchingStore(visitor, signal), parseContentPath(`${resolved.value}/index.html`))) chunks.push(chunk)
            const end = performance.now()
            if (!Buffer.concat(chunks).equals(page)) throw new Error('the entry page came back different')
            if (resolved.root !== expectedRoot) staleVisits++
            visitSources[resolved.source] = (visitSources[resolved.source] ?? 0) + 1
            visitMs.push(end - start)
            resolveMs.push(resolvedAt - start)
            pageMs.push(end - resolvedAt)
            // Beside it: a bare DHT provider lookup of the same root from the same visitor.
            const lookupStart = performance.now()
            let found = false
            for await (const _ of visitor.routing.findProviders(v1.root.cid, { signal: AbortSignal.timeout(LOOKUP_TIMEOUT) })) { found = true; break }
            lookupMs.push(found ? performance.now() - lookupStart : Infinity)
            if (found) lookupsFound++
            say(`visitor ${v + 1}/${VISITORS}: ${(end - start).toFixed(0)} ms (resolve ${(resolvedAt - start).toFixed(0)} ms via ${resolved.source}, sequence ${resolved.sequence}; entry page ${(end - resolvedAt).toFixed(0)} ms); DHT provider lookup ${found ? `${lookupMs.at(-1)?.toFixed(0)} ms` : 'found none'}; joined in ${joinMs?.toFixed(0)} ms, ${visitor.libp2p.getConnections().length} links`)
          } catch (err) {
            visitFailures++
            visitMs.push(Infinity)
            say(`visitor ${v + 1}/${VISITORS} failed: ${(err as Error).message}`)
          }
        }
      } finally {
        await Promise.all(batch.map(async ({ node, home }) => {
          if (node !== undefined) {
            await node.stop().catch(() => {})
            visitors.delete(node)
          }
          rmSync(home, { recursive: true, force: true })
        }))
      }
    }

    const maxRssMB = process.resourceUsage().maxRSS / 1024
    const result = {
      followers: FOLLOWERS,
      nodes: total,
      site_MiB: Number(siteMiB.toFixed(2)),
      site_files: v0.files,
      join_s: Number(joinS.toFixed(1)),
      // sites.publish alone: the record's put and the root's provide (import and pin before it)
      announce_ms: ms(announceMs),
      // import + pin + sites.publish, as `weft publish` of an existing site
      whole_publish_ms: ms(wholePublishMs),
      import_pin_ms: ms(importMs),
      publish_announced: first.announced,
      bare_put_ms: ms(median(barePut)),
      bare_provide_ms: ms(median(bareProvide)),
      first_fetch_p50_ms: ms(median(firstFetch)),
      first_fetch_max_ms: ms(Math.max(...firstFetch)),
      first_fetch_missed: firstMissed,
      update_new_blocks: newBlocks.length,
      update_publish_ms: ms(updatePublishMs),
      record_p50_ms: ms(median(recordMs)),
      record_p95_ms: ms(quantile(recordMs, 0.95)),
      record_max_ms: ms(Math.max(...recordMs)),
      record_missed: recordMissed,
      record_sources: sources,
      content_p50_ms: ms(median(contentMs)),
      content_p95_ms: ms(quantile(contentMs, 0.95)),
      content_max_ms: ms(Math.max(...contentMs)),
      content_missed: contentMissed,
      fetch_after_record_p50_ms: ms(median(fetchAfterRecordMs)),
      fetched_event_p50_ms: ms(median(fetchedEventMs)),
      fetched_event_p95_ms: ms(quantile(fetchedEventMs, 0.95)),
      fetched_event_without_every_block: falseFetched,
      lone_update_fetch_ms: ms(loneMs),
      direct_fetch_followers: lacking.length,
      direct_fetch_p50_ms: directMs.length > 0 ? ms(median(directMs)) : null,
      direct_fetch_p95_ms: directMs.length > 0 ? ms(quantile(directMs, 0.95)) : null,
      direct_fetch_failed: directFailed,
      update_new_bytes: newBytes,
      visitors: VISITORS,
      visit_p50_ms: ms(median(visitMs)),
      visit_p95_ms: ms(quantile(visitMs, 0.95)),
      visit_failed: visitFailures,
      visit_stale: staleVisits,
      visit_sources: visitSources,
      visit_resolve_p50_ms: resolveMs.length > 0 ? ms(median(resolveMs)) : null,
      visit_page_p50_ms: pageMs.length > 0 ? ms(median(pageMs)) : null,
      lookup_p50_ms: lookupMs.length > 0 ? ms(median(lookupMs)) : null,
      lookup_p95_ms: lookupMs.length > 0 ? ms(quantile(lookupMs, 0.95)) : null,
      lookups_found: lookupsFound,
      visitor_join_p50_ms: visitorJoinMs.length > 0 ? ms(median(visitorJoinMs)) : null,
      max_rss_MB: Math.round(maxRssMB),
      health_before_update: healthBefore,
      health_after_update: healthAfter,
      pass: {
        record_p95: quantile(recordMs, 0.95) < TARGET_RECORD_P95_MS,
        content_p95: quantile(contentMs, 0.95) < TARGET_CONTENT_P95_MS,
        announce: announceMs < TARGET_ANNOUNCE_MS,
        visit_p50: median(visitMs) < TARGET_VISIT_P50_MS
      },
      ipfs_public_publish_median_s: IPFS_PUBLISH_MEDIAN_S,
      ipfs_public_retrieve_median_s: IPFS_RETRIEVE_MEDIAN_S
    }

    const row = (cells: string[]): string => cells.map((c, i) => c.padEnd([30, 38, 52, 15][i] ?? 0)).join(' ').trimEnd()
    const dist = (xs: number[]): string => `p50 ${show(median(xs))}  p95 ${show(quantile(xs, 0.95))}`
    say('')
    say(`sites — ${FOLLOWERS} followers and the owner on 127.0.0.1, one process; a ${siteMiB.toFixed(0)} MiB site, an update of one 1 MiB file; ${VISITORS} fresh visitors`)
    say(row(['', 'weft', 'reference, same run', 'target', '']))
    say(row(['update → record, per follower', `${dist(recordMs)}  max ${show(Math.max(...recordMs))}`, `${FOLLOWERS - recordMissed}/${FOLLOWERS} got it: ${Object.entries(sources).map(([k, v]) => `${k} ${v}`).join(', ')}`, `p95 < ${TARGET_RECORD_P95_MS} ms`, verdict(result.pass.record_p95)]))
    say(row(['update → every new block', `${dist(contentMs)}  max ${show(Math.max(...contentMs))}`, `${FOLLOWERS - contentMissed}/${FOLLOWERS} got them; after the record p50 ${show(median(fetchAfterRecordMs))}`, `p95 < ${TARGET_CONTENT_P95_MS} ms`, verdict(result.pass.content_p95)]))
    say(row(['', '', `'fetched' event ${dist(fetchedEventMs)}`, '', '']))
    say(row(['', '', `one node alone fetching the update ${show(loneMs)}`, '', '']))
    if (directMs.length > 0) say(row(['', '', `then missing blocks by CID ${dist(directMs)}`, '', '']))
    say(row(['announce (record + provide)', show(announceMs), `bare DHT put ${show(median(barePut))}, provide ${show(median(bareProvide))}`, `< ${TARGET_ANNOUNCE_MS} ms`, verdict(result.pass.announce)]))
    say(row([`whole publish, ${siteMiB.toFixed(0)} MiB`, show(wholePublishMs), `import + pin ${show(importMs)}, then the announce`, 'none', '']))
    say(row(['visit: resolve + entry page', dist(visitMs), `resolve p50 ${show(resolveMs.length > 0 ? median(resolveMs) : NaN)}, page p50 ${show(pageMs.length > 0 ? median(pageMs) : NaN)}`, `p50 < ${TARGET_VISIT_P50_MS} ms`, verdict(result.pass.visit_p50)]))
    say(row(['', '', `DHT provider lookup ${lookupMs.length > 0 ? dist(lookupMs) : 'none'}`, '', '']))
    say(`for scale: IPFS's public network, median publish ${IPFS_PUBLISH_MEDIAN_S} s and retrieve ${IPFS_RETRIEVE_MEDIAN_S} s (Trautwein et al., SIGCOMM 2022)`)
    say(`first version (${siteMiB.toFixed(0)} MiB to each follower, ${FOLLOW_WAVE} at a time): ${dist(firstFetch)}  max ${show(Math.max(...firstFetch))} from follow(); join ${joinS.toFixed(1)} s; peak RSS ${maxRssMB.toFixed(0)} MB`)
    if (recordMissed + contentMissed > 0) say(`warning: ${recordMissed} followers never got the new record and ${contentMissed} never held every new block (within ${UPDATE_TIMEOUT / 1000} s, or 1 s after their 'fetched' event); they count as infinitely slow`)
    if (falseFetched > 0) say(`warning: ${falseFetched} followers announced 'fetched' (and marked the version held) without every new block in their store`)
    if (visitFailures > 0) say(`warning: ${visitFailures} of ${VISITORS} visits failed; they count as infinitely slow`)
    if (staleVisits > 0) say(`warning: ${staleVisits} visitors resolved an older version than the newest`)
    if (options.json) process.stdout.write(JSON.stringify(result) + '\n')
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    await cleanup()
  }
}
