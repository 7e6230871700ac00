/**
 * `npm run bench -- users [--json]`: issue 12's performance section, on a private network
 * on 127.0.0.1; each follower of the first forum in a process of its own (WEFT_BENCH_ONE_PROCESS=1: all in this one).
 *
 * - contribution: a forum site (examples/forum/weft.json's rules and db, with an index on
 *   id) owned by one node and followed by 30 more, joined through the DHT as in bench
 *   sites. Users on 5 followers write a post at once, 4 rounds. Per (write, reader) pair,
 *   where the readers are every node but the writer (the owner too): from just before
 *   `users.write` until a query of the reader's database (`users.query`, the real path)
 *   shows the post; the query is asked when the reader's 'contribution' event names that
 *   version, and again every 10 ms until the row is there. Beside it: the site record's
 *   push to the same followers (the owner republishes; each follower's 'record' event).
 * - cold follow: a second forum with 10,000 contributions (10 posts each: 100,000 rows).
 *   They are made on a generator node (generated keys, `buildFolder` into its store,
 *   `signUserRecord`) that follows the site and answers catch-up (`/weft/users/1.0.0`)
 *   with them, as a follower holding them would. Then a fresh node follows the site: from `sites.follow` until its database holds
 *   every contribution, all of it over the network (catch-up from the topic's peers, one
 *   walk per folder). Beside it: another fresh node fetching the same posts as one
 *   folder (each contribution's folder under one root) from the generator.
 * - query: 1,000 indexed lookups and 1,000 `ORDER BY date DESC LIMIT 50` over those
 *   100,000 rows through the cold follower's `users.query`; beside them, the same
 *   statements in-process on its database file (bench/lib/site-db-queries.ts, shared
 *   with `bench sitedb`).
 *
 * The followers of the first forum stop before the cold follow: the cold figures are
 * the owner, the generator and the new follower on two cores, not thirty idle nodes.
 *
 * WEFT_BENCH_FOLLOWERS, WEFT_BENCH_ROUNDS and WEFT_BENCH_CONTRIBUTIONS change the counts
 * for a quicker look.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import type { CID } from 'multiformats/cid'
import { importPath } from '../src/content/index.ts'
import { createNode, type WeftNode } from '../src/node/index.ts'
import { joinNetwork } from '../src/routing/index.ts'
import type { SiteEvents } from '../src/sites/index.ts'
import { CATCH_UP_PROTOCOL, signUserRecord, usersTopic, type UserEvents, type UsersInit } from '../src/users/index.ts'
import { serveCatchUp } from '../src/users/catch-up.ts'
import { buildFolder } from '../src/users/folder.ts'
import type { BenchOptions } from './index.ts'
import { createBenchNode as createFollowerNode, serveFollower, type Request as UsersNodeRequest } from './users-node.ts'
import { cpuTicks, USER_HZ, median, ms, quantile, settle, settleMachine, show, until, verdict } from './lib/figures.ts'
import { FORUM_DB, forumPosts, measureQueries, POSTS_PER_USER, TARGET_QUERY_P95_MS } from './lib/site-db-queries.ts'

const FOLLOWERS = Number(process.env.WEFT_BENCH_FOLLOWERS ?? 30)
const WRITERS = 5
const ROUNDS = Number(process.env.WEFT_BENCH_ROUNDS ?? 4)
const CONTRIBUTIONS = Number(process.env.WEFT_BENCH_CONTRIBUTIONS ?? 10_000)
/** Site record pushes timed beside the contributions. */
const PUSHES = 3
const QUERIES = 1_000

const TARGET_CONTRIBUTION_P95_MS = 1_000
const TARGET_COLD_FOLLOW_S = 60

const JOIN_TIMEOUT = 120_000
const FOLLOW_TIMEOUT = 60_000
/** A round's writes count as never shown on a reader after this. */
const ROUND_TIMEOUT = 15_000
const PUSH_TIMEOUT = 15_000
/** The longest a round waits for the machine to go quiet (under half its CPUs busy). */
const QUIET_TIMEOUT = 30_000
/** The cold follower's intake of every contribution: past this it counts as never (the run must stay near 5 minutes). */
const COLD_TIMEOUT = 150_000
/** How often a reader's database is asked again when the event came before the row (it should not). */
const POLL_MS = 10

/** examples/forum/weft.json's users section. */
const FORUM_RULES = { files: ['posts.json'], maxBytes: 65536, maxFiles: 1, banned: [] as string[], moderators: [] as string[] }
const YEAR = 365 * 24 * 3600_000

type Online = WeftNode & {
  libp2p: NonNullable<WeftNode['libp2p']>
  routing: NonNullable<WeftNode['routing']>
  exchange: NonNullable<WeftNode['exchange']>
}

const encode = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v))

/** Absolute ms, comparable with the follower processes' stamps on one machine. */
const now = (): number => performance.timeOrigin + performance.now()

const FOLLOWER_SCRIPT = new URL('./users-node.ts', import.meta.url).pathname
/** WEFT_BENCH_ONE_PROCESS=1: every follower in this process, as the benchmark ran before (one event loop for all). */
const ONE_PROCESS = process.env.WEFT_BENCH_ONE_PROCESS === '1'
/** A follower process's start: module loading (~2 s alone) times thirty on two cores. */
const FOLLOWER_START_TIMEOUT = 180_000

/**
 * A follower: in a process of its own (bench/users-node.ts, requests over IPC), or with
 * WEFT_BENCH_ONE_PROCESS=1 in this one (the same requests, called directly); and the
 * records and posts it saw, stamped where it runs.
 */
class Follower {
  readonly records = new Map<string, number>()
  readonly shown = new Map<string, number>()
  private readonly send: (request: Record<string, unknown>) => Promise<unknown>
  private readonly end: () => Promise<void>

  private constructor (send: (request: Record<string, unknown>) => Promise<unknown>, end: () => Promise<void>) {
    this.send = send
    this.end = end
  }

  private seen (m: Record<string, unknown>): void {
    if (m.event === 'record') this.records.set(m.sequence as string, m.at as number)
    else if (m.event === 'shown') this.shown.set(m.post as string, m.at as number)
  }

  static async start (home: string): Promise<Follower> {
    if (ONE_PROCESS) {
      const node = await createFollowerNode(home)
      let follower: Follower | undefined
      const served = serveFollower(node, event => { follower?.seen(event) })
      follower = new Follower(async request => await served.handle(request as never), async () => { served.stop(); await node.stop() })
      return follower
    }
    // WEFT_BENCH_FOLLOWER_PROF=<dir>: each follower writes a CPU profile there when it stops (NODE_OPTIONS may not carry --cpu-prof)
    const profile = process.env.WEFT_BENCH_FOLLOWER_PROF !== undefined ? ['--cpu-prof', `--cpu-prof-dir=${process.env.WEFT_BENCH_FOLLOWER_PROF}`] : []
    const child: ChildProcess = fork(FOLLOWER_SCRIPT, [home], { execArgv: ['--disable-warning=ExperimentalWarning', ...profile], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    const exited = new Promise<void>(resolve => { child.once('exit', () => { resolve() }) })
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error('a follower process did not start')) }, FOLLOWER_START_TIMEOUT)
      child.once('message', () => { clearTimeout(timer); resolve() })
      child.once('exit', code => { clearTimeout(timer); reject(new Error(`a follower process exited (${code})`)) })
    })
    const pending = new Map<number, { resolve: (v: unknown) => void, reject: (e: Error) => void }>()
    let next = 0
    void exited.then(() => { for (const p of pending.values()) p.reject(new Error('the follower process exited')) })
    const follower: Follower = new Follower(async request => {
      const id = next++
      return await new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject })
        child.send({ ...request, id })
      })
    }, async () => {
      if (child.connected) child.disconnect()
      const timer = setTimeout(() => { child.kill('SIGKILL') }, 30_000)
      await exited
      clearTimeout(timer)
    })
    child.on('message', (m: Record<string, unknown>) => {
      if (typeof m.id !== 'number') {
        follower.seen(m)
        return
      }
      const p = pending.get(m.id)
      pending.delete(m.id)
      if (m.error !== undefined) p?.reject(new Error(m.error as string))
      else p?.resolve(m.ok)
    })
    return follower
  }

  async call<T = unknown> (request: { op: UsersNodeRequest['op'] } & Record<string, unknown>): Promise<T> {
    return await this.send(request) as T
  }

  async stop (): Promise<void> {
    await this.end()
  }
}

async function createBenchNode (home: string, users: Partial<UsersInit> = {}): Promise<Online> {
  return await createNode({
    home,
    online: true,
    reprovideInterval: 0,
    net: { listen: ['/ip4/127.0.0.1/tcp/0'], network: { name: 'bench' }, bootstrap: [], mdns: false },
    sites: { republishInterval: 0, pollInterval: 0 },
    users
  }) as Online
}

/** Publishes a forum site from `dir` on `owner` under `label`; returns its name. */
async function publishForum (owner: Online, dir: string, label: string): Promise<string> {
  mkdirSync(dir)
  writeFileSync(join(dir, 'index.html'), `<!doctype html>\n<title>${label}</title>\n<h1>${label}</h1>\n`)
  writeFileSync(join(dir, 'weft.json'), JSON.stringify({ title: label, users: FORUM_RULES, db: FORUM_DB }))
  const { root } = await importPath(owner.blocks, dir, {})
  await owner.blocks.pin(root.cid, 'recursive')
  await owner.sites.create(label)
  return (await owner.sites.publish(label, root.cid, { signal: AbortSignal.timeout(30_000) })).name
}

/** Whether `node` holds the site's current version and takes its contributions (its database answers). */
async function ready (node: Online, site: string): Promise<boolean> {
  const own = node.sites.list().some(s => s.name === site)
  if (!own && (await node.sites.following()).find(f => f.name === site)?.fetched !== true) return false
  try {
    await node.users.query(site, 'SELECT 1 FROM posts LIMIT 1')
    return true
  } catch {
    return false
  }
}

/**
 * Stamps (absolute ms, `now()`) the first time `node`'s database shows post `id`: asked when
 * the node's 'contribution' event names the post's author, then every POLL_MS until the
 * row is there (the event comes after the row is written, so once is the rule).
 */
function watchPosts (node: Online, site: string): { expect: (user: string, id: string) => void, shown: Map<string, number>, stop: () => void } {
  const shown = new Map<string, number>()
  const wanted = new Map<string, string>()
  let stopped = false
  const look = async (id: string): Promise<void> => {
    while (!stopped && !shown.has(id)) {
      const rows = await node.users.query(site, 'SELECT 1 AS x FROM posts WHERE id = ?', [id]).catch(() => [])
      if (rows.length > 0) {
        shown.set(id, now())
        return
      }
      await new Promise(resolve => setTimeout(resolve, POLL_MS))
    }
  }
  const onContribution = (event: Event): void => {
    const d = (event as CustomEvent<UserEvents['contribution']>).detail
    const id = wanted.get(d.user)
    if (d.site !== site || id === undefined) return
    wanted.delete(d.user)
    void look(id)
  }
  node.users.addEventListener('contribution', onContribution)
  // a page with the site's event stream open: the site API keeps its query process started meanwhile
  const release = node.users.listen(site)
  return {
    expect: (user, id) => { wanted.set(user, id) },
    shown,
    stop: () => { stopped = true; release(); node.users.removeEventListener('contribution', onContribution) }
  }
}

/** Counts distinct users whose contribution to `site` `node` accepted, stamping the first and the last. */
function countContributions (node: Online, site: string): { users: Set<string>, first?: number, last?: number, stop: () => void } {
  const out: { users: Set<string>, first?: number, last?: number, stop: () => void } = { users: new Set(), stop: () => {} }
  const on = (event: Event): void => {
    const d = (event as CustomEvent<UserEvents['contribution']>).detail
    if (d.site !== site) return
    const now = performance.now()
    out.first ??= now
    if (!out.users.has(d.user)) out.last = now
    out.users.add(d.user)
  }
  node.users.addEventListener('contribution', on)
  out.stop = () => { node.users.removeEventListener('contribution', on) }
  return out
}

export async function run (options: BenchOptions): Promise<void> {
  const say = (line: string): void => { (options.json ? process.stderr : process.stdout).write(line + '\n') }
  const dir = mkdtempSync(join(tmpdir(), 'weft-bench-users-'))
  const running = new Set<Online>()
  const children: Follower[] = []
  const start = async (home: string, users?: Partial<UsersInit>): Promise<Online> => {
    const node = await createBenchNode(join(dir, home), users)
    running.add(node)
    return node
  }
  const stop = async (nodes: Online[]): Promise<void> => {
    await Promise.all(nodes.map(async n => { running.delete(n); await n.stop().catch(() => {}) }))
  }
  let cleaned: Promise<void> | undefined
  const cleanup = async (): Promise<void> => {
    cleaned ??= (async () => {
      await Promise.all(children.map(async c => { await c.stop() }))
      await stop([...running])
      rmSync(dir, { recursive: true, force: true })
    })()
    await cleaned
  }
  const onSignal = (): void => {
    const exit = (): never => { rmSync(dir, { recursive: true, force: true }); process.exit(130) }
    void cleanup().then(exit, exit)
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  const benchStart = performance.now()
  try {
    // ---- the network: the followers (a process each), then the owner (here), joined through followers 0..2 ----
    let t0 = performance.now()
    const followers = await Promise.all(Array.from({ length: FOLLOWERS }, async (_, i) => await Follower.start(join(dir, `node-${i}`))))
    children.push(...followers)
    const owner = await start(`node-${FOLLOWERS}`)
    const total = FOLLOWERS + 1
    const seeds = await Promise.all(followers.slice(0, 3).map(async f => await f.call<string>({ op: 'address' })))
    const startS = (performance.now() - t0) / 1000
    t0 = performance.now()
    await Promise.all([
      ...followers.map(async (f, i) => { await f.call({ op: 'join', bootstrap: seeds.filter((_, j) => j !== i), timeout: JOIN_TIMEOUT }) }),
      joinNetwork(owner.libp2p, seeds.map(a => multiaddr(a)), { signal: AbortSignal.timeout(JOIN_TIMEOUT) })
    ])
    const joinS = (performance.now() - t0) / 1000
    say(`${total} nodes (${FOLLOWERS} followers, ${ONE_PROCESS ? 'all in this process' : 'a process each'}, and the owner) started in ${startS.toFixed(1)} s and joined in ${joinS.toFixed(1)} s`)

    // ---- the forum, followed by every follower ----
    const forum = await publishForum(owner, join(dir, 'forum'), 'forum')
    t0 = performance.now()
    await Promise.all(followers.map(async f => { await f.call({ op: 'follow', site: forum, timeout: FOLLOW_TIMEOUT }) }))
    const allReady = await until(async () => (await Promise.all([ready(owner, forum), ...followers.map(async f => await f.call<boolean>({ op: 'ready', site: forum }))])).every(Boolean), FOLLOW_TIMEOUT, 250)
    // the topic's mesh forms over gossipsub heartbeats (a second each)
    await until(async () => owner.libp2p.services.pubsub.getSubscribers(usersTopic(forum)).length > 0 &&
      (await Promise.all(followers.map(async f => await f.call<number>({ op: 'subscribers', site: forum })))).every(n => n > 0), 10_000, 250)
    say(`forum ${forum}: every node holds it and its database answers: ${allReady ? 'yes' : 'NO'} (${((performance.now() - t0) / 1000).toFixed(1)} s)`)
    await Promise.all(followers.map(async f => { await f.call({ op: 'watch', site: forum }) }))

    // ---- beside it: the site record's push to the same followers ----
    const pushMs: number[] = []
    for (let p = 0; p < PUSHES; p++) {
      // a new version (the entry page changes; the rules do not, and no contribution is held yet)
      writeFileSync(join(dir, 'forum', 'index.html'), `<!doctype html>\n<title>forum</title>\n<h1>forum</h1>\n<!-- version ${p + 1} -->\n`)
      const { root } = await importPath(owner.blocks, join(dir, 'forum'), {})
      await owner.blocks.pin(root.cid, 'recursive')
      // the followers' processes, not this event loop, are what must be quiet (the last version's provides)
      await settleMachine(QUIET_TIMEOUT)
      const pushStart = now()
      // publish returns once the DHT took the record too; on a busy machine that can outlast
      // its deadline while the push has long arrived, so the version signed is what is timed
      const sequence = await owner.sites.publish('forum', root.cid, { signal: AbortSignal.timeout(30_000) })
        .then(r => r.sequence, async () => (await owner.sites.resolve(forum, { offline: true })).sequence)
      await until(() => followers.every(f => f.records.has(sequence.toString())), PUSH_TIMEOUT)
      pushMs.push(...followers.map(f => (f.records.get(sequence.toString()) ?? Infinity) - pushStart))
    }
    say(`site record push, ${PUSHES} × ${FOLLOWERS} followers: p50 ${show(median(pushMs))}  p95 ${show(quantile(pushMs, 0.95))}  max ${show(Math.max(...pushMs))}`)

    // ---- contributions: 5 writers at once, a round at a time ----
    const writers = followers.filter((_, i) => i % Math.floor(FOLLOWERS / WRITERS) === 0).slice(0, WRITERS)
    const writerIds = await Promise.all(writers.map(async w => await w.call<string>({ op: 'userId', site: forum })))
    // the readers: every follower (in its process) and the owner (here); a writer is not its own reader
    const ownerWatch = watchPosts(owner, forum)
    const shownOn = (reader: Follower | 'owner', post: string): number | undefined => reader === 'owner' ? ownerWatch.shown.get(post) : reader.shown.get(post)
    const readers: Array<Follower | 'owner'> = [...followers, 'owner']
    const contributionMs: number[] = []
    // the same pairs by reader: a writer (its own walks run beside its reads), the owner (this process), the other followers
    const byReader: Record<'writers' | 'owner' | 'others', number[]> = { writers: [], owner: [], others: [] }
    const writeMs: number[] = []
    const roundMs: number[] = []
    const writing: Array<Promise<void>> = []
    let pairs = 0
    let missed = 0
    const quiet: Array<{ waited: number, busy: number }> = []
    const roundCpu: number[] = []
    for (let round = 0; round < ROUNDS; round++) {
      // the followers are processes of their own: the machine's CPUs, not this event loop, say when they are done with the last round
      const waitStart = performance.now()
      const busy = await settleMachine(QUIET_TIMEOUT)
      quiet.push({ waited: performance.now() - waitStart, busy })
      const ids = writers.map((_, w) => `w${w}-r${round}`)
      await Promise.all(readers.flatMap(r => ids.map(async (post, w) => {
        if (r === writers[w]) return
        if (r === 'owner') ownerWatch.expect(writerIds[w], post)
        else await r.call({ op: 'expect', site: forum, user: writerIds[w], post })
      })))
      const starts: number[] = []
      const ticksBefore = cpuTicks()
      const roundStart = performance.now()
      // write() returns once the record is signed, stored and pushed; the round waits for the readers
      writing.push(...writers.map(async (writer, w) => {
        const posts = Array.from({ length: round + 1 }, (_, r) => ({ id: `w${w}-r${r}`, title: `round ${r} from writer ${w}`, body: 'y'.repeat(200), date: Date.now(), reply_to: null }))
        starts[w] = now()
        const took = await writer.call<{ started: number, returned: number }>({ op: 'write', site: forum, posts, timeout: ROUND_TIMEOUT })
        // the writer's own clock for the start: its process, not this one, ran the write
        starts[w] = took.started
        writeMs.push(took.returned - took.started)
      }))
      await until(() => readers.every(r => ids.every((post, w) => r === writers[w] || shownOn(r, post) !== undefined)), ROUND_TIMEOUT)
      const ticksAfter = cpuTicks()
      // the machine's CPU time (every process) from the writes until the last reader showed the last post
      roundCpu.push(ticksBefore !== undefined && ticksAfter !== undefined ? (ticksAfter.busy - ticksBefore.busy) / USER_HZ : NaN)
      await Promise.allSettled(writing)
      roundMs.push(performance.now() - roundStart)
      for (const [w, post] of ids.entries()) {
        for (const r of readers) {
          if (r === writers[w]) continue
          pairs++
          const at = shownOn(r, post)
          if (at === undefined) missed++
          contributionMs.push((at ?? Infinity) - starts[w])
          byReader[r === 'owner' ? 'owner' : writers.includes(r) ? 'writers' : 'others'].push((at ?? Infinity) - starts[w])
        }
      }
      say(`round ${round + 1}/${ROUNDS}: ${WRITERS} posts on every reader's database in ${show(roundMs.at(-1) as number)}, ${(roundCpu.at(-1) as number).toFixed(2)} s of CPU (began after ${(quiet[round].waited / 1000).toFixed(1)} s, the CPUs ${(quiet[round].busy * 100).toFixed(0)}% busy)`)
    }
    ownerWatch.stop()
    // where the missing pairs stand on their reader: no record (the push never came), or its folder not fetched (pending)
    const missingStates: Record<string, number> = {}
    for (const [w, user] of writerIds.entries()) {
      for (const r of readers) {
        if (r === writers[w] || shownOn(r, `w${w}-r${ROUNDS - 1}`) !== undefined) continue
        const state = r === 'owner'
          ? owner.users.info(forum).contributions.find(c => c.user === user)?.state ?? 'no record'
          : await r.call<string>({ op: 'state', site: forum, user })
        missingStates[state] = (missingStates[state] ?? 0) + 1
      }
    }
    const shownMs = contributionMs.filter(Number.isFinite)
    say(`contribution → every reader's database, ${pairs} (write, reader) pairs: p50 ${show(median(contributionMs))}  p95 ${show(quantile(contributionMs, 0.95))}  max ${show(Math.max(...contributionMs))}; users.write returned p50 ${show(median(writeMs))}`)
    say(`  by reader: ${Object.entries(byReader).map(([k, v]) => `${k} (${v.length} pairs) p50 ${show(median(v))} p95 ${show(quantile(v, 0.95))}`).join('; ')}`)
    if (missed > 0) say(`  ${missed} pairs never shown; of those shown, p50 ${show(median(shownMs))}; the last round's missing (writer, reader) pairs stand: ${Object.entries(missingStates).map(([k, v]) => `${v} ${k}`).join(', ')}`)

    // ---- cold follow: a forum with 10,000 contributions ----
    await Promise.all(followers.map(async f => { await f.stop() }))
    const generator = await start('generator')
    const coldBootstrap = [owner.libp2p.getMultiaddrs()[0]]
    await joinNetwork(generator.libp2p, coldBootstrap, { signal: AbortSignal.timeout(JOIN_TIMEOUT) })
    const big = await publishForum(owner, join(dir, 'big'), 'big')
    await generator.sites.follow(big, { signal: AbortSignal.timeout(FOLLOW_TIMEOUT) })
    await until(async () => await ready(generator, big), FOLLOW_TIMEOUT, 100)

    t0 = performance.now()
    const records: Uint8Array[] = []
    const posts = new Map<string, Uint8Array>()
    let postBytes = 0
    for (let u = 0; u < CONTRIBUTIONS; u++) {
      const key = await generateKeyPair('Ed25519')
      const file = encode({ posts: forumPosts(u) })
      postBytes += file.byteLength
      posts.set(`${u}/posts.json`, file)
      const folder = await buildFolder(generator.blocks, new Map([['posts.json', file]]))
      records.push((await signUserRecord(key, big, folder.root, 0n, { validity: YEAR, ttl: 60_000 })).bytes)
    }
    // the reference: the same posts as one folder (each user's folder is one of its entries)
    const oneFolder: CID = (await buildFolder(generator.blocks, posts)).root
    const generateS = (performance.now() - t0) / 1000
    // the generator answers catch-up with them, as a follower holding them would
    await generator.libp2p.unhandle(CATCH_UP_PROTOCOL)
    await generator.libp2p.handle(CATCH_UP_PROTOCOL, stream => { void serveCatchUp(stream, (site, offset, limit) => site === big ? records.slice(offset, offset + limit) : []) }, { maxInboundStreams: 8 })
    say(`generated ${CONTRIBUTIONS} contributions (${POSTS_PER_USER} posts each, ${(postBytes / 1024 / 1024).toFixed(1)} MiB of posts.json) on the generator in ${generateS.toFixed(1)} s`)

    // beside it: a fresh node fetches the same posts as one folder from the generator
    await settle(10_000)
    const reference = await start('reference')
    await reference.libp2p.dial(generator.libp2p.getMultiaddrs()[0])
    t0 = performance.now()
    let referenceS = Infinity
    let referenceBlocks = 0
    let referenceBytes = 0
    try {
      const fetched = await reference.exchange.fetch(oneFolder, { providers: [generator.libp2p.peerId], signal: AbortSignal.timeout(COLD_TIMEOUT) })
      referenceS = (performance.now() - t0) / 1000
      referenceBlocks = fetched.blocks
      referenceBytes = fetched.bytes
    } catch (err) {
      say(`the reference fetch failed: ${(err as Error).message}`)
    }
    await stop([reference])
    say(`one folder of the same posts, fetched whole by a fresh node: ${referenceS.toFixed(1)} s (${referenceBlocks} blocks, ${(referenceBytes / 1024 / 1024).toFixed(1)} MiB)`)

    // the new follower: joined (untimed), then from follow() until every contribution is in its database
    await settle(10_000)
    const cold = await start('cold')
    await joinNetwork(cold.libp2p, [owner.libp2p.getMultiaddrs()[0], generator.libp2p.getMultiaddrs()[0]], { signal: AbortSignal.timeout(JOIN_TIMEOUT) })
    await settle(10_000)
    say('the new follower joined; following')
    const coldCount = countContributions(cold, big)
    let siteHeldAt: number | undefined
    cold.sites.addEventListener('fetched', e => { if ((e as CustomEvent<SiteEvents['fetched']>).detail.name === big) siteHeldAt ??= performance.now() })
    const coldStart = performance.now()
    await cold.sites.follow(big, { signal: AbortSignal.timeout(FOLLOW_TIMEOUT) })
    const progress = setInterval(() => { say(`  ${coldCount.users.size} contributions after ${((performance.now() - coldStart) / 1000).toFixed(0)} s`) }, 15_000)
    await until(() => coldCount.users.size >= CONTRIBUTIONS, COLD_TIMEOUT, 100)
    clearInterval(progress)
    let rows = 0
    let users = 0
    await until(async () => {
      const [r] = await cold.users.query(big, 'SELECT count(*) AS n, count(DISTINCT user) AS u FROM posts').catch(() => [{ n: 0, u: 0 }])
      rows = Number(r.n)
      users = Number(r.u)
      return users >= CONTRIBUTIONS
    }, 10_000, 50)
    const coldS = users >= CONTRIBUTIONS ? (performance.now() - coldStart) / 1000 : Infinity
    coldCount.stop()
    const info = cold.users.info(big)
    say(`cold follow: ${users}/${CONTRIBUTIONS} users' ${rows} rows in its database after ${coldS.toFixed(1)} s (site held at ${(((siteHeldAt ?? NaN) - coldStart) / 1000).toFixed(1)} s, first contribution at ${(((coldCount.first ?? NaN) - coldStart) / 1000).toFixed(1)} s; ${info.rejections.map(r => `${r.count} ${r.reason}`).join(', ') || 'no'} refusals)`)

    // ---- queries over the cold follower's 100,000 rows, through users.query ----
    await settle(10_000)
    // a lookup that finds no row throws: over a partial database, the posts' ids are those of the users held
    const figures = await measureQueries(async (sql, params) => await cold.users.query(big, sql, params), join(cold.repo.paths.siteDbs, `${big}.db`), users >= CONTRIBUTIONS ? CONTRIBUTIONS : 0, QUERIES)
      .catch(err => { say(`queries not measured: ${(err as Error).message}`); return { lookups: [Infinity], newest: [Infinity], directLookupP95: Infinity, directNewestP95: Infinity } })
    if (users < CONTRIBUTIONS) say(`the cold follower's database holds ${users} of ${CONTRIBUTIONS} users: the queries run over ${rows} rows`)
    const queryP95 = Math.max(quantile(figures.lookups, 0.95), quantile(figures.newest, 0.95))

    const result = {
      followers: FOLLOWERS,
      writers: WRITERS,
      rounds: ROUNDS,
      pairs,
      contribution_p50_ms: ms(median(contributionMs)),
      contribution_p95_ms: ms(quantile(contributionMs, 0.95)),
      contribution_max_ms: ms(Math.max(...contributionMs)),
      contribution_missed: missed,
      contribution_shown_p50_ms: shownMs.length > 0 ? ms(median(shownMs)) : null,
      contribution_missing_states: missingStates,
      write_p50_ms: ms(median(writeMs)),
      round_cpu_s: roundCpu.map(c => Number(c.toFixed(2))),
      record_push_pairs: pushMs.length,
      record_push_p50_ms: ms(median(pushMs)),
      record_push_p95_ms: ms(quantile(pushMs, 0.95)),
      contributions: CONTRIBUTIONS,
      rows,
      query_count: QUERIES,
      query_p95_ms: ms(queryP95, 3),
      lookup_p50_ms: ms(median(figures.lookups), 3),
      lookup_p95_ms: ms(quantile(figures.lookups, 0.95), 3),
      newest50_p50_ms: ms(median(figures.newest), 3),
      newest50_p95_ms: ms(quantile(figures.newest, 0.95), 3),
      direct_lookup_p95_ms: ms(figures.directLookupP95, 3),
      direct_newest50_p95_ms: ms(figures.directNewestP95, 3),
      cold_follow_s: Number.isFinite(coldS) ? Number(coldS.toFixed(1)) : null,
      cold_site_held_s: siteHeldAt !== undefined ? Number(((siteHeldAt - coldStart) / 1000).toFixed(1)) : null,
      cold_users: users,
      one_folder_fetch_s: Number.isFinite(referenceS) ? Number(referenceS.toFixed(1)) : null,
      one_folder_blocks: referenceBlocks,
      one_folder_bytes: referenceBytes,
      generate_s: Number(generateS.toFixed(1)),
      join_s: Number(joinS.toFixed(1)),
      total_s: Math.round((performance.now() - benchStart) / 1000),
      max_rss_MB: Math.round(process.resourceUsage().maxRSS / 1024),
      pass: {
        contribution_p95: quantile(contributionMs, 0.95) < TARGET_CONTRIBUTION_P95_MS,
        query_p95: queryP95 < TARGET_QUERY_P95_MS,
        cold_follow: coldS < TARGET_COLD_FOLLOW_S
      }
    }

    const row = (cells: string[]): string => cells.map((c, i) => c.padEnd([34, 34, 50, 14][i] ?? 0)).join(' ').trimEnd()
    say('')
    say(`users — ${FOLLOWERS} followers (${ONE_PROCESS ? 'one process' : 'a process each'}) and the owner on 127.0.0.1; ${WRITERS} writers × ${ROUNDS} rounds; a forum of ${CONTRIBUTIONS} contributions`)
    say(row(['', 'weft', 'reference, same run', 'target', '']))
    say(row([`write → each reader's db (${pairs})`, `p50 ${show(median(contributionMs))}  p95 ${show(quantile(contributionMs, 0.95))}`, `site record push p50 ${show(median(pushMs))}  p95 ${show(quantile(pushMs, 0.95))}`, `p95 < ${TARGET_CONTRIBUTION_P95_MS} ms`, verdict(result.pass.contribution_p95)]))
    say(row([`indexed lookup, ${rows} rows`, `p50 ${show(median(figures.lookups), 2)}  p95 ${show(quantile(figures.lookups, 0.95), 2)}`, `in-process p95 ${show(figures.directLookupP95, 3)}`, `p95 < ${TARGET_QUERY_P95_MS} ms`, verdict(quantile(figures.lookups, 0.95) < TARGET_QUERY_P95_MS)]))
    say(row(['ORDER BY date DESC LIMIT 50', `p50 ${show(median(figures.newest), 2)}  p95 ${show(quantile(figures.newest, 0.95), 2)}`, `in-process p95 ${show(figures.directNewestP95, 3)}`, `p95 < ${TARGET_QUERY_P95_MS} ms`, verdict(quantile(figures.newest, 0.95) < TARGET_QUERY_P95_MS)]))
    say(row([`cold follow, ${CONTRIBUTIONS} contributions`, Number.isFinite(coldS) ? `${coldS.toFixed(1)} s` : 'never', `same posts as one folder ${Number.isFinite(referenceS) ? `${referenceS.toFixed(1)} s` : 'never'}`, `< ${TARGET_COLD_FOLLOW_S} s`, verdict(result.pass.cold_follow)]))
    say(`setup: join ${joinS.toFixed(1)} s; ${CONTRIBUTIONS} contributions generated in ${generateS.toFixed(1)} s; whole run ${result.total_s} s; peak RSS ${result.max_rss_MB} MB`)
    if (missed > 0) say(`warning: ${missed} of ${pairs} (write, reader) pairs never showed the post within ${ROUND_TIMEOUT / 1000} s; they count as infinitely slow`)
    if (options.json) process.stdout.write(JSON.stringify(result) + '\n')
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    await cleanup()
  }
}
