/**
 * `npm run bench -- gateway [--json]`: weft's HTTP gateway against nginx, and how soon a
 * visitor's gateway starts answering with a site only a peer holds. Everything on
 * 127.0.0.1, each server in a process of its own:
 *
 * - throughput: a 4 KiB and a 1 MiB file, added and pinned in the visitor (a `startDaemon`
 *   node in gateway-node.ts), asked for by their subdomain URL
 *   (`<cid>.ipfs.localhost:<port>/4k.bin`, the Host header set, the address 127.0.0.1);
 *   beside it nginx (Debian's, `worker_processes 1`, sendfile, keep-alive, no access log)
 *   serving the same two files from disk, and, as the ceiling for any server in one Node
 *   process, node:http alone answering the same files from memory with the same headers.
 *   wrk drives all three the same way (1 thread, 50 connections): per file a warm-up of
 *   each, then weft, nginx, node, twice; a figure is the mean of the two timed runs. Every
 *   server is first checked to return the exact bytes.
 *   A second visitor with verified reads off (blocks served without hashing them against
 *   their CIDs) runs in the same loop, for what verifying costs; both keep finished
 *   answers (AnswerCache), so repeated requests for one file mostly skip the store.
 *   Beside each run, the CPU time the server used per request (user + system from /proc:
 *   the weft process with all its threads, nginx's master and worker), which shows
 *   which side is bound by its own CPU.
 * - time to first byte: a DHT of WEFT_BENCH_DHT_NODES plain nodes (22 by default, in a
 *   process of their own), which the visitor and a publisher node (its own process) join:
 *   24 nodes, k = 20. The publisher publishes a new site (a fresh key and fresh content
 *   each trial, so the visitor holds no block of it and has never resolved its name),
 *   with the site's key and content chosen so that the visitor is not among the 20 peers
 *   closest to the record's key nor to the root's (XOR distance over all 24): the record
 *   and the provider record land on other peers, and the visitor must walk the DHT for
 *   both. Just before each visit the visitor is asked whether its DHT store holds either
 *   anyway (a walk can miss a closer peer); the share is printed beside the figure. From
 *   sending `GET /` to `<k51 name>.ipns.localhost:<port>` until the first byte of the
 *   entry page's body. Beside it, the same request again, once the visitor holds the site.
 *   WEFT_BENCH_DHT_NODES=0 measures it as before: the publisher linked to the visitor
 *   alone, a two-node network where the record's put and the provide land on the visitor.
 *
 * MB here is 2^20 bytes. WEFT_BENCH_SECONDS (default 10), WEFT_BENCH_WARMUP_SECONDS (3)
 * and WEFT_BENCH_TRIALS (20; 0 skips the second part) change the amounts;
 * WEFT_BENCH_PROFILE=<dir> runs the visitor under `--cpu-prof` and leaves its profile there.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { Agent, request } from 'node:http'
import { availableParallelism, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import type { Command, Far, Published, Ready } from './gateway-node.ts'
import { cpuMs, createWrk, requireTool, startNginx, type Nginx, type Wrk, type WrkResult } from './gateway-load.ts'
import type { BenchOptions } from './index.ts'

const MiB = 1024 * 1024
const FILES = [
  { key: '4k', name: '4k.bin', bytes: 4096, label: '4 KiB' },
  { key: '1m', name: '1m.bin', bytes: MiB, label: '1 MiB' }
] as const
type FileKey = typeof FILES[number]['key']
/**
 * weft; weft with verified reads off (blocks served unhashed, to measure what hashing
 * costs); the peer (nginx); the ceiling (node:http alone, answering from memory).
 */
const SERVERS = ['weft', 'weft-noverify', 'nginx', 'node'] as const
type Server = typeof SERVERS[number]
const CONNECTIONS = 50
const RUNS = 2
const SECONDS = Number(process.env.WEFT_BENCH_SECONDS ?? 10)
const WARMUP_SECONDS = Number(process.env.WEFT_BENCH_WARMUP_SECONDS ?? 3)
const TRIALS = Number(process.env.WEFT_BENCH_TRIALS ?? 20)
/** The DHT the time-to-first-byte sites are published into, beside the visitor and the publisher. */
const DHT_NODES = Number(process.env.WEFT_BENCH_DHT_NODES ?? 22)
/** kad-dht's k in weft (DHT_TUNING.kBucketSize): a record lives on the k peers closest to its key. */
const K = 20
/** Folders written for one trial before giving up on one whose root is far from the visitor. */
const ROOT_TRIES = 50
const PROFILE_DIR = process.env.WEFT_BENCH_PROFILE

const TARGET_RPS_4K_PCT = 50
const TARGET_MBPS_1M_PCT = 60
/** Issue 11: hashing every block read may cost at most this much throughput. */
const TARGET_VERIFY_COST_PCT = 10

/** The longest one visit may take before it counts as never answered. */
const VISIT_TIMEOUT = 30_000
/** A pause after each publish, so the publisher's own follow-up work is not in the visit. */
const AFTER_PUBLISH_MS = 250

const NODE_SCRIPT = fileURLToPath(new URL('./gateway-node.ts', import.meta.url))

// ---- the weft nodes' processes ----

interface NodeProcess {
  ready: Ready
  ask<T>(command: Command): Promise<T>
  stop(): Promise<void>
}

/** Starts gateway-node.ts with `args` and waits for its ready line. */
async function startNodeProcess (args: string[], nodeFlags: string[] = []): Promise<NodeProcess> {
  const child: ChildProcess = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', ...nodeFlags, NODE_SCRIPT, ...args], { stdio: ['pipe', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr?.setEncoding('utf8').on('data', (s: string) => { stderr = (stderr + s).slice(-4000) })
  const lines: string[] = []
  const waiting: Array<{ resolve: (line: string) => void, reject: (err: Error) => void }> = []
  let ended: Error | undefined
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', line => {
    const waiter = waiting.shift()
    if (waiter !== undefined) waiter.resolve(line)
    else lines.push(line)
  })
  const exited = new Promise<void>(resolve => {
    child.once('exit', (code, signal) => {
      ended = new Error(`gateway-node.ts ${args[0]} exited (${code ?? signal}): ${stderr.trim()}`)
      for (const w of waiting.splice(0)) w.reject(ended)
      resolve()
    })
  })
  const next = async (): Promise<unknown> => {
    const line = lines.shift() ?? await new Promise<string>((resolve, reject) => {
      if (ended !== undefined) reject(ended)
      else waiting.push({ resolve, reject })
    })
    const value = JSON.parse(line) as { error?: string }
    if (value.error !== undefined) throw new Error(`${args[0]}: ${value.error}`)
    return value
  }
  let stopping: Promise<void> | undefined
  const stop = async (): Promise<void> => {
    stopping ??= (async () => {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.stdin?.end()
      // A CPU profile is written on the way out, which takes a moment.
      const timer = setTimeout(() => { child.kill('SIGKILL') }, 20_000)
      await exited
      clearTimeout(timer)
    })()
    await stopping
  }
  try {
    const ready = await next() as Ready
    return {
      ready,
      ask: async <T>(command: Command): Promise<T> => {
        child.stdin?.write(JSON.stringify(command) + '\n')
        return await next() as T
      },
      stop
    }
  } catch (err) {
    await stop()
    throw err
  }
}

// ---- one timed HTTP request ----

interface Visit { status: number, firstByteMs: number, totalMs: number, body: Buffer }

/** GET `url` with `host` as the Host header: ms from sending it to the first body byte and to the last. */
async function visit (agent: Agent, url: string, host: string | undefined, timeout = VISIT_TIMEOUT): Promise<Visit> {
  return await new Promise<Visit>((resolve, reject) => {
    const chunks: Buffer[] = []
    let firstByteMs: number | undefined
    const req = request(url, { agent, headers: host === undefined ? {} : { host }, signal: AbortSignal.timeout(timeout) }, res => {
      res.on('data', (chunk: Buffer) => {
        firstByteMs ??= performance.now() - start
        chunks.push(chunk)
      })
      res.once('end', () => {
        const totalMs = performance.now() - start
        resolve({ status: res.statusCode ?? 0, firstByteMs: firstByteMs ?? totalMs, totalMs, body: Buffer.concat(chunks) })
      })
      res.once('error', reject)
    })
    req.once('error', reject)
    const start = performance.now()
    req.end()
  })
}

// ---- figures ----

/** Nearest-rank quantile; a miss counts as infinitely slow. */
const quantile = (xs: number[], q: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length
const round = (n: number, digits = 1): number => Number(n.toFixed(digits))
const msOrNull = (x: number): number | null => Number.isFinite(x) ? round(x) : null
const showMs = (x: number): string => Number.isFinite(x) ? `${x.toFixed(1)} ms` : 'never'
const verdict = (ok: boolean): string => ok ? 'PASS' : 'MISS'
const thousands = (n: number): string => Math.round(n).toLocaleString('en-US')

/** A wrk run and the CPU time the server used meanwhile (ms; undefined without /proc). */
type Run = WrkResult & { cpuMs?: number }

interface Figures {
  requestsPerS: number
  /** Body bytes a second, MiB. */
  MBps: number
  latency: { p50: number, p90: number, p99: number }
  /** Socket errors and non-2xx/3xx answers over the timed runs. */
  errors: number
  /** The server's CPU time per request, ms. */
  cpuPerRequest?: number
  runs: Run[]
}

const cpuPerRequest = (r: Run): number | undefined => r.cpuMs === undefined ? undefined : r.cpuMs / r.requests

function figures (runs: Run[], bodyBytes: number): Figures {
  const cpu = runs.map(cpuPerRequest)
  return {
    cpuPerRequest: cpu.every(c => c !== undefined) ? mean(cpu as number[]) : undefined,
    requestsPerS: mean(runs.map(r => r.requestsPerS)),
    MBps: mean(runs.map(r => r.requestsPerS * bodyBytes / MiB)),
    latency: { p50: mean(runs.map(r => r.latency.p50)), p90: mean(runs.map(r => r.latency.p90)), p99: mean(runs.map(r => r.latency.p99)) },
    errors: runs.reduce((n, r) => n + Object.values(r.errors).reduce((a, b) => a + b, 0), 0),
    runs
  }
}

/** A small site whose every file is new: an entry page and a few assets carrying `nonce`. */
function writeSite (dir: string, nonce: string): Buffer {
  mkdirSync(dir, { recursive: true })
  const page = Buffer.from(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>weft gateway bench ${nonce}</title>
<link rel="stylesheet" href="style.css"><script src="app.js" defer></script></head>
<body><h1>site ${nonce}</h1><img src="logo.svg" alt="logo" width="64" height="64">
${Array.from({ length: 20 }, (_, i) => `<p>Paragraph ${i} of a site published for the weft gateway benchmark (${nonce}).</p>`).join('\n')}
</body></html>
`)
  writeFileSync(join(dir, 'index.html'), page)
  writeFileSync(join(dir, 'style.css'), `/* ${nonce} */\n` + Array.from({ length: 60 }, (_, i) => `.c${i} { margin: ${i}px; color: #${(i * 4099).toString(16).padStart(6, '0').slice(0, 6)}; }`).join('\n') + '\n')
  writeFileSync(join(dir, 'app.js'), `// ${nonce}\n` + Array.from({ length: 80 }, (_, i) => `export const v${i} = ${JSON.stringify(`${nonce}-${i}`)}`).join('\n') + '\n')
  writeFileSync(join(dir, 'logo.svg'), `<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><!-- ${nonce} --><circle cx="32" cy="32" r="30" fill="#3a7"/></svg>\n`)
  writeFileSync(join(dir, 'photo.bin'), randomBytes(64 * 1024))
  return page
}

export async function run (options: BenchOptions): Promise<void> {
  const say = (line: string): void => { (options.json ? process.stderr : process.stdout).write(line + '\n') }
  const started = performance.now()
  const root = mkdtempSync(join(tmpdir(), 'weft-bench-gateway-'))
  const agent = new Agent({ keepAlive: true })
  const nodes: NodeProcess[] = []
  let nginx: Nginx | undefined
  let wrk: Wrk | undefined
  let cleaned: Promise<void> | undefined
  const cleanup = async (): Promise<void> => {
    cleaned ??= (async () => {
      await wrk?.stop().catch(() => {})
      await Promise.all([nginx?.stop(), ...nodes.map(async n => { await n.stop() })].map(async p => { await p?.catch(() => {}) }))
      agent.destroy()
      rmSync(root, { recursive: true, force: true })
    })()
    await cleaned
  }
  const onSignal = (): void => {
    const exit = (): never => { rmSync(root, { recursive: true, force: true }); process.exit(130) }
    setTimeout(exit, 25_000).unref()
    void cleanup().then(exit, exit)
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    const nginxBinary = requireTool('nginx', 'nginx-light')
    const wrkBinary = requireTool('wrk', 'wrk')

    // nginx's worker drops root for nobody/www-data: the files must be readable by anyone.
    chmodSync(root, 0o755)
    const www = join(root, 'www')
    mkdirSync(www, { mode: 0o755 })
    chmodSync(www, 0o755)
    const content = new Map<FileKey, Buffer>()
    for (const f of FILES) {
      const bytes = randomBytes(f.bytes)
      writeFileSync(join(www, f.name), bytes, { mode: 0o644 })
      content.set(f.key, bytes)
    }

    const profileFlags = PROFILE_DIR === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${resolve(PROFILE_DIR)}`]
    const visitor = await startNodeProcess(['visitor', join(root, 'visitor'), www], profileFlags)
    nodes.push(visitor)
    const gatewayUrl = visitor.ready.gatewayUrl as string
    const port = new URL(gatewayUrl).port
    const folderHost = `${visitor.ready.root}.ipfs.localhost:${port}`
    const unverified = await startNodeProcess(['visitor', join(root, 'visitor-noverify'), www, 'noverify'])
    nodes.push(unverified)
    const unverifiedUrl = unverified.ready.gatewayUrl as string
    const unverifiedHost = `${unverified.ready.root}.ipfs.localhost:${new URL(unverifiedUrl).port}`
    const bareNode = await startNodeProcess(['bare', www])
    nodes.push(bareNode)
    const bareUrl = bareNode.ready.gatewayUrl as string
    nginx = await startNginx(nginxBinary, join(root, 'nginx'), www)
    wrk = createWrk(wrkBinary, root)
    say(`weft gateway ${gatewayUrl} (pid ${visitor.ready.pid}${PROFILE_DIR === undefined ? '' : `, profiled into ${resolve(PROFILE_DIR)}`}), Host ${folderHost}; nginx ${nginx.version} ${nginx.url}`)

    // ---- the same bytes from both, before anything is timed ----
    const servers = {
      weft: (f: typeof FILES[number]) => ({ url: `${gatewayUrl}/${f.name}`, host: folderHost as string | undefined }),
      'weft-noverify': (f: typeof FILES[number]) => ({ url: `${unverifiedUrl}/${f.name}`, host: unverifiedHost as string | undefined }),
      nginx: (f: typeof FILES[number]) => ({ url: `${(nginx as Nginx).url}/${f.name}`, host: undefined as string | undefined }),
      node: (f: typeof FILES[number]) => ({ url: `${bareUrl}/${f.name}`, host: undefined as string | undefined })
    }
    for (const f of FILES) {
      for (const [server, target] of Object.entries(servers)) {
        const { url, host } = target(f)
        const got = await visit(agent, url, host)
        if (got.status !== 200 || !got.body.equals(content.get(f.key) as Buffer)) {
          throw new Error(`${server} answered ${url}${host === undefined ? '' : ` (Host ${host})`} with ${got.status} and ${got.body.byteLength} bytes that are not ${f.name}: ${got.body.subarray(0, 200).toString('utf8')}`)
        }
      }
    }
    say(`all four servers (weft, weft with verified reads off, nginx, node:http alone) return the exact bytes of ${FILES.map(f => f.name).join(' and ')}`)

    // ---- throughput: per file a warm-up of each, then weft, nginx, weft, nginx ----
    const results: Record<FileKey, Record<Server, Run[]>> = { '4k': { weft: [], 'weft-noverify': [], nginx: [], node: [] }, '1m': { weft: [], 'weft-noverify': [], nginx: [], node: [] } }
    const pids = { weft: [visitor.ready.pid], 'weft-noverify': [unverified.ready.pid], nginx: [nginx.pid], node: [bareNode.ready.pid] }
    /** One wrk run against `server`, with the CPU time the server (nginx: master and worker) used meanwhile. */
    const load = async (server: Server, f: typeof FILES[number], seconds: number): Promise<Run> => {
      const { url, host } = servers[server](f)
      const before = cpuMs(pids[server])
      const r = await (wrk as Wrk).run(url, { seconds, connections: CONNECTIONS, host })
      const after = cpuMs(pids[server])
      return { ...r, cpuMs: before === undefined || after === undefined ? undefined : after - before }
    }
    const describe = (r: Run, bodyBytes: number): string => {
      const cpu = cpuPerRequest(r)
      return `${thousands(r.requestsPerS).padStart(7)} req/s ${(r.requestsPerS * bodyBytes / MiB).toFixed(1).padStart(7)} MB/s  latency p50 ${r.latency.p50.toFixed(2)} p90 ${r.latency.p90.toFixed(2)} p99 ${r.latency.p99.toFixed(2)} ms` +
        (cpu === undefined ? '' : `  server CPU ${(1000 * cpu).toFixed(0)} µs/request (${(100 * (r.cpuMs as number) / 1000 / r.seconds).toFixed(0)}% of a core)`) +
        (Object.values(r.errors).some(n => n > 0) ? `  errors ${JSON.stringify(r.errors)}` : '')
    }
    for (const f of FILES) {
      for (const server of SERVERS) {
        const r = await load(server, f, WARMUP_SECONDS)
        say(`  ${f.label} ${server.padEnd(13)} warm-up ${describe(r, f.bytes)}`)
      }
      for (let i = 0; i < RUNS; i++) {
        for (const server of SERVERS) {
          const r = await load(server, f, SECONDS)
          results[f.key][server].push(r)
          say(`  ${f.label} ${server.padEnd(13)} run ${i + 1}/${RUNS} ${describe(r, f.bytes)}`)
        }
      }
    }
    const weft4k = figures(results['4k'].weft, 4096)
    const nginx4k = figures(results['4k'].nginx, 4096)
    const weft1m = figures(results['1m'].weft, MiB)
    const nginx1m = figures(results['1m'].nginx, MiB)
    const node4k = figures(results['4k'].node, 4096)
    const node1m = figures(results['1m'].node, MiB)
    const unverified4k = figures(results['4k']['weft-noverify'], 4096)
    const unverified1m = figures(results['1m']['weft-noverify'], MiB)
    /** Throughput lost to hashing blocks as they are read, % of the unverified figure. */
    const verifyCost4k = 100 * (1 - weft4k.requestsPerS / unverified4k.requestsPerS)
    const verifyCost1m = 100 * (1 - weft1m.MBps / unverified1m.MBps)
    const rpsPct = 100 * weft4k.requestsPerS / nginx4k.requestsPerS
    const MBpsPct = 100 * weft1m.MBps / nginx1m.MBps
    const errors = weft4k.errors + nginx4k.errors + weft1m.errors + nginx1m.errors

    // ---- time to first byte: a new site from the publisher, then the same request again ----
    const coldMs: number[] = []
    const coldTotalMs: number[] = []
    const cachedMs: number[] = []
    const publishMs: number[] = []
    let visitFailures = 0
    /** Visits where the visitor's own DHT store held the record / the root's provider record just before. */
    const heldBefore = { record: 0, provider: 0 }
    let visits = 0
    if (TRIALS > 0) {
      const publisher = await startNodeProcess(['publisher', join(root, 'publisher')])
      nodes.push(publisher)
      let far: Far | undefined
      if (DHT_NODES > 0) {
        const joinStart = performance.now()
        const swarm = await startNodeProcess(['swarm', join(root, 'swarm'), String(DHT_NODES)])
        nodes.push(swarm)
        const entry = (swarm.ready.addresses ?? []).slice(0, 3)
        await Promise.all([visitor, publisher].map(async n => { await n.ask({ op: 'join', addresses: entry }) }))
        far = { peer: visitor.ready.peer as string, peers: [...(swarm.ready.peers ?? []), visitor.ready.peer as string, publisher.ready.peer as string], k: K }
        say(`time to first byte: a DHT of ${far.peers.length} nodes (${DHT_NODES} plain, the visitor, the publisher; k = ${K}) formed in ${((performance.now() - joinStart) / 1000).toFixed(1)} s`)
      } else {
        await publisher.ask({ op: 'dial', address: visitor.ready.address })
        say('time to first byte: the publisher linked to the visitor alone (a two-node network: the record and the provide land on the visitor)')
      }
      for (let i = 0; i < TRIALS; i++) {
        const folder = join(root, 'sites', `site-${i}`)
        // New content until its root is far from the visitor (with a DHT), one folder otherwise.
        let page: Buffer | undefined
        let site: Published | undefined
        for (let tries = 0; tries < ROOT_TRIES && (site === undefined || site.rootNear === true); tries++) {
          rmSync(folder, { recursive: true, force: true })
          page = writeSite(folder, `${i}-${randomBytes(8).toString('hex')}`)
          site = await publisher.ask<Published>({ op: 'publish', label: `site-${i}`, folder, far })
        }
        if (site === undefined || page === undefined || site.rootNear === true) throw new Error(`${ROOT_TRIES} new folders in a row had a root among the visitor's ${K} closest: is the DHT smaller than k?`)
        publishMs.push(site.ms)
        await sleep(AFTER_PUBLISH_MS)
        const host = `${site.name}.ipns.localhost:${port}`
        const { held } = await visitor.ask<{ held: boolean[] }>({ op: 'holds', targets: [`/ipns/${site.name}`, site.root] })
        visits++
        if (held[0]) heldBefore.record++
        if (held[1]) heldBefore.provider++
        const local = held[0] || held[1] ? ` (the visitor's DHT store held ${[held[0] ? 'the record' : '', held[1] ? "the root's provider record" : ''].filter(x => x !== '').join(' and ')})` : ''
        try {
          const cold = await visit(agent, `${gatewayUrl}/`, host)
          if (cold.status !== 200 || !cold.body.equals(page)) throw new Error(`the first visit got ${cold.status} and ${cold.body.byteLength} bytes that are not the entry page: ${cold.body.subarray(0, 200).toString('utf8')}`)
          const cached = await visit(agent, `${gatewayUrl}/`, host)
          if (cached.status !== 200 || !cached.body.equals(page)) throw new Error(`the second visit got ${cached.status} and ${cached.body.byteLength} bytes that are not the entry page`)
          coldMs.push(cold.firstByteMs)
          coldTotalMs.push(cold.totalMs)
          cachedMs.push(cached.firstByteMs)
          say(`  site ${i + 1}/${TRIALS} ${site.name}: first visit ${showMs(cold.firstByteMs)} to the first byte (${showMs(cold.totalMs)} to the last), again ${showMs(cached.firstByteMs)}; published in ${site.ms.toFixed(0)} ms${site.announced ? '' : ' (not announced)'}${local}`)
        } catch (err) {
          visitFailures++
          coldMs.push(Infinity)
          coldTotalMs.push(Infinity)
          say(`  site ${i + 1}/${TRIALS} ${site.name}: the visit failed: ${(err as Error).message}`)
        }
      }
    }

    const pass = {
      rps_4k: rpsPct >= TARGET_RPS_4K_PCT && weft4k.errors === 0,
      MBps_1m: MBpsPct >= TARGET_MBPS_1M_PCT && weft1m.errors === 0,
      verify_cost: Math.max(verifyCost4k, verifyCost1m) < TARGET_VERIFY_COST_PCT
    }
    const cores = availableParallelism()
    const row = (cells: string[]): string => cells.map((c, i) => c.padEnd([30, 26, 30, 7, 9, 4][i] ?? 0)).join(' ').trimEnd()
    say('')
    say(`gateway — weft's gateway (one Node process) vs nginx ${nginx.version} (worker_processes 1, sendfile, keep-alive), wrk 1 thread × ${CONNECTIONS} connections,`)
    say(`mean of ${RUNS} × ${SECONDS} s after a ${WARMUP_SECONDS} s warm-up, alternating; wrk, nginx and weft share ${cores} cores on 127.0.0.1; MB = 2^20 bytes of body`)
    say(row(['', 'weft', 'nginx, same run', 'ratio', 'target', '']))
    say(row([`${FILES[0].label} file, requests/s`, `${thousands(weft4k.requestsPerS)} (p50 ${weft4k.latency.p50.toFixed(1)} ms)`, `${thousands(nginx4k.requestsPerS)} (p50 ${nginx4k.latency.p50.toFixed(1)} ms)`, `${rpsPct.toFixed(0)}%`, `≥ ${TARGET_RPS_4K_PCT}%`, verdict(pass.rps_4k)]))
    say(row([`${FILES[1].label} file, MB/s`, `${weft1m.MBps.toFixed(0)} (p50 ${weft1m.latency.p50.toFixed(1)} ms)`, `${nginx1m.MBps.toFixed(0)} (p50 ${nginx1m.latency.p50.toFixed(1)} ms)`, `${MBpsPct.toFixed(0)}%`, `≥ ${TARGET_MBPS_1M_PCT}%`, verdict(pass.MBps_1m)]))
    say(row(['  (4 KiB MB/s; 1 MiB req/s)', `${weft4k.MBps.toFixed(1)} MB/s; ${thousands(weft1m.requestsPerS)} req/s`, `${nginx4k.MBps.toFixed(1)} MB/s; ${thousands(nginx1m.requestsPerS)} req/s`, '', '', '']))
    say(row(['  latency p99', `${weft4k.latency.p99.toFixed(1)} / ${weft1m.latency.p99.toFixed(1)} ms`, `${nginx4k.latency.p99.toFixed(1)} / ${nginx1m.latency.p99.toFixed(1)} ms`, '', '', '']))
    say(row(['  verified reads off, same run', `${thousands(unverified4k.requestsPerS)} req/s; ${unverified1m.MBps.toFixed(0)} MB/s`, `verifying costs ${verifyCost4k.toFixed(1)}% / ${verifyCost1m.toFixed(1)}%`, '', `< ${TARGET_VERIFY_COST_PCT}%`, verdict(pass.verify_cost)]))
    const us = (x: number | undefined): string => x === undefined ? '?' : (1000 * x).toFixed(0)
    say(row(['  node:http alone, same run', `${thousands(node4k.requestsPerS)} req/s; ${node1m.MBps.toFixed(0)} MB/s`, `weft is ${(100 * weft4k.requestsPerS / node4k.requestsPerS).toFixed(0)}% / ${(100 * weft1m.MBps / node1m.MBps).toFixed(0)}% of it`, `${(100 * node4k.requestsPerS / nginx4k.requestsPerS).toFixed(0)}%`, 'ceiling', '']))
    if (weft4k.cpuPerRequest !== undefined) say(row(['  server CPU per request', `${us(weft4k.cpuPerRequest)} / ${us(weft1m.cpuPerRequest)} µs`, `${us(nginx4k.cpuPerRequest)} / ${us(nginx1m.cpuPerRequest)} µs`, '', '', '']))
    if (TRIALS > 0) {
      say(row([DHT_NODES > 0 ? `TTFB, new site, ${DHT_NODES + 2}-node DHT` : 'TTFB, new site, 2 nodes', `p50 ${showMs(quantile(coldMs, 0.5))}  p95 ${showMs(quantile(coldMs, 0.95))}`, `cached: p50 ${showMs(quantile(cachedMs, 0.5))}  p95 ${showMs(quantile(cachedMs, 0.95))}`, '', 'none', '']))
      say(row(['  whole entry page', `p50 ${showMs(quantile(coldTotalMs, 0.5))}  p95 ${showMs(quantile(coldTotalMs, 0.95))}`, `publish p50 ${showMs(quantile(publishMs, 0.5))}`, '', '', '']))
      say(DHT_NODES > 0
        ? `TTFB: ${TRIALS} sites, each new (fresh key and content), published by a second node into a ${DHT_NODES + 2}-node DHT (k = ${K}) with the visitor outside the ${K} closest to the record's key and to the root's; from sending GET / to <name>.ipns.localhost until the first body byte`
        : `TTFB: ${TRIALS} sites, each new (fresh key and content), published by a second node linked to the visitor alone (two nodes: the record and the provide land on the visitor); from sending GET / to <name>.ipns.localhost until the first body byte`)
      say(`  the visitor's own DHT store held the record before ${heldBefore.record} of ${visits} visits, the root's provider record before ${heldBefore.provider} (a lookup for those is answered locally)`)
    }
    if (errors > 0) say(`warning: ${errors} socket errors or non-2xx answers in the timed runs (see the run lines); a server with any misses its target`)
    if (visitFailures > 0) say(`warning: ${visitFailures} of ${TRIALS} first visits failed; they count as infinitely slow`)
    say(`took ${((performance.now() - started) / 1000).toFixed(0)} s`)

    if (options.json) {
      const latency = (f: Figures): { p50: number, p90: number, p99: number } => ({ p50: round(f.latency.p50, 2), p90: round(f.latency.p90, 2), p99: round(f.latency.p99, 2) })
      process.stdout.write(JSON.stringify({
        weft_rps_4k: round(weft4k.requestsPerS, 0),
        weft_noverify_rps_4k: round(unverified4k.requestsPerS, 0),
        weft_noverify_MBps_1m: round(unverified1m.MBps),
        verify_cost_4k_pct: round(verifyCost4k),
        verify_cost_1m_pct: round(verifyCost1m),
        nginx_rps_4k: round(nginx4k.requestsPerS, 0),
        weft_MBps_1m: round(weft1m.MBps),
        nginx_MBps_1m: round(nginx1m.MBps),
        ttfb_p50_ms: TRIALS > 0 ? msOrNull(quantile(coldMs, 0.5)) : null,
        ttfb_p95_ms: TRIALS > 0 ? msOrNull(quantile(coldMs, 0.95)) : null,
        cached_ttfb_p50_ms: cachedMs.length > 0 ? msOrNull(quantile(cachedMs, 0.5)) : null,
        cached_ttfb_p95_ms: cachedMs.length > 0 ? msOrNull(quantile(cachedMs, 0.95)) : null,
        first_visit_total_p50_ms: TRIALS > 0 ? msOrNull(quantile(coldTotalMs, 0.5)) : null,
        publish_p50_ms: publishMs.length > 0 ? msOrNull(quantile(publishMs, 0.5)) : null,
        ttfb_trials: TRIALS,
        ttfb_failed: visitFailures,
        ttfb_dht_nodes: TRIALS > 0 ? (DHT_NODES > 0 ? DHT_NODES + 2 : 2) : null,
        ttfb_visitor_held_record: heldBefore.record,
        ttfb_visitor_held_provider: heldBefore.provider,
        node_rps_4k: round(node4k.requestsPerS, 0),
        node_MBps_1m: round(node1m.MBps),
        weft_pct_of_node_rps_4k: round(100 * weft4k.requestsPerS / node4k.requestsPerS),
        node_pct_of_nginx_rps_4k: round(100 * node4k.requestsPerS / nginx4k.requestsPerS),
        weft_pct_of_nginx_rps_4k: round(rpsPct),
        weft_pct_of_nginx_MBps_1m: round(MBpsPct),
        weft_MBps_4k: round(weft4k.MBps),
        nginx_MBps_4k: round(nginx4k.MBps),
        weft_rps_1m: round(weft1m.requestsPerS, 0),
        nginx_rps_1m: round(nginx1m.requestsPerS, 0),
        latency_ms: { weft_4k: latency(weft4k), nginx_4k: latency(nginx4k), weft_1m: latency(weft1m), nginx_1m: latency(nginx1m) },
        errors: { weft_4k: weft4k.errors, nginx_4k: nginx4k.errors, weft_1m: weft1m.errors, nginx_1m: nginx1m.errors },
        cpu_us_per_request: Object.fromEntries(([['weft_4k', weft4k], ['nginx_4k', nginx4k], ['weft_1m', weft1m], ['nginx_1m', nginx1m]] as const).map(([k, f]) => [k, f.cpuPerRequest === undefined ? null : round(1000 * f.cpuPerRequest, 0)])),
        pass,
        targets: { rps_4k_pct: TARGET_RPS_4K_PCT, MBps_1m_pct: TARGET_MBPS_1M_PCT, verify_cost_pct: TARGET_VERIFY_COST_PCT },
        runs: Object.fromEntries(FILES.flatMap(f => SERVERS.map(s => [`${s}_${f.key}`, results[f.key][s].map(r => ({ rps: round(r.requestsPerS, 0), p50_ms: round(r.latency.p50, 2), p99_ms: round(r.latency.p99, 2), cpu_ms: r.cpuMs ?? null }))]))),
        ttfb_ms: coldMs.map(msOrNull),
        cached_ttfb_ms: cachedMs.map(msOrNull),
        connections: CONNECTIONS,
        seconds: SECONDS,
        warmup_seconds: WARMUP_SECONDS,
        wrk_threads: 1,
        nginx_version: nginx.version,
        nginx_worker_processes: 1,
        weft_processes: 1,
        cores,
        mb: 'MiB (2^20 bytes) of body'
      }) + '\n')
    }
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    await cleanup()
  }
}
