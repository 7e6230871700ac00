/**
 * `npm run bench -- exchange [--json]`: how fast weft moves content between nodes on
 * 127.0.0.1, against the raw libp2p stream ceiling and against Helia's Bitswap, plus what
 * an idle node costs in memory. Each group of cases runs in a child process of its own
 * (exchange-worker.ts) with both ends of every transfer in that process; every timed case
 * runs RUNS times with a fresh leecher, and the median counts. MB here is 2^20 bytes.
 *
 * A weft fetch has two figures: until `exchange.fetch` resolves (every block verified and
 * handed to the store, which writes packs as it goes but flushes, with fsync and the
 * index, only every 64 MiB or 4,096 blocks), and until the leecher's `blocks.flush()`
 * after it has returned too ("through flush": everything fetched is durable and indexed).
 * The 1,000 × 4 KiB rows fit under one flush, so their first figure includes no fsync.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  LARGE_FILE, SMALL_DIR, WEFT_SCENARIOS,
  type ExchangeCase, type ExchangeCaseResult, type HeliaResult, type IdleResult, type RawResult, type WeftResult, type WeftRun, type WeftScenario
} from './exchange-worker.ts'
import type { BenchOptions } from './index.ts'
import { writeLargeFile, writeSmallFiles } from './shared-data.ts'

const RUNS = 3
const MiB = 1024 * 1024
/** WEFT_BENCH_MIB makes the large file smaller for a quick look. */
const LARGE_FILE_BYTES = Number(process.env.WEFT_BENCH_MIB ?? 256) * MiB
const SMALL_FILES = 1000
const SMALL_FILE_BYTES = 4096
const IDLE_NODES = 10

const TARGET_PCT_OF_RAW = 70
const TARGET_X_HELIA = 3
const TARGET_X_ONE_SEEDER = 1.3
const TARGET_FILES_PER_S = 2500
const TARGET_IDLE_MB = 20

const WORKER = fileURLToPath(new URL('./exchange-worker.ts', import.meta.url))

/** The worker running now, so an interrupt can stop it before its files are removed. */
let current: { child: ChildProcess, closed: Promise<unknown> } | undefined

/** Runs one group of cases in a fresh child and returns the JSON line it prints. */
async function runWorker<R extends ExchangeCaseResult> (name: ExchangeCase, data: string, scratch: string, count: number, nodeFlags: string[] = []): Promise<R> {
  // Dirty pages from the previous group would otherwise be written back during this one.
  execFileSync('sync')
  const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', ...nodeFlags, WORKER, name, data, scratch, String(count)], {
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let out = ''
  let err = ''
  child.stdout.setEncoding('utf8').on('data', (s: string) => { out += s })
  child.stderr.setEncoding('utf8').on('data', (s: string) => { err += s })
  const closed = new Promise<number | null>((resolve, reject) => {
    child.on('error', reject)
    child.on('close', resolve)
  })
  current = { child, closed: closed.catch(() => {}) }
  try {
    const code = await closed.finally(() => { current = undefined })
    if (code !== 0) throw new Error(`${name} failed (exit ${code}): ${err.trim()}`)
    return JSON.parse(out.trim().split('\n').at(-1) ?? '') as R
  } finally {
    rmSync(scratch, { recursive: true, force: true })
  }
}

function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/** The run whose time is the median, to show its details (shares) beside the median figure. */
function medianRun (runs: WeftRun[]): WeftRun | undefined {
  const done = runs.filter(r => r.error === undefined)
  const ms = median(done.map(r => r.ms))
  return done.reduce<WeftRun | undefined>((best, r) => best === undefined || Math.abs(r.ms - ms) < Math.abs(best.ms - ms) ? r : best, undefined)
}

const round = (n: number, digits = 1): number => Number(n.toFixed(digits))
const verdict = (ok: boolean): string => ok ? 'PASS' : 'MISS'
const perSecond = (count: number, ms: number): number => count / (ms / 1000)
const pct = (part: number, whole: number): string => `${(100 * part / whole).toFixed(0)}%`

export async function run (options: BenchOptions): Promise<void> {
  const say = (line: string): void => { (options.json ? process.stderr : process.stdout).write(line + '\n') }
  const root = mkdtempSync(join(tmpdir(), 'weft-bench-exchange-'))
  const cleanup = (): void => { rmSync(root, { recursive: true, force: true }) }
  const onSignal = (): void => {
    const running = current
    running?.child.kill('SIGKILL')
    void (running?.closed ?? Promise.resolve()).then(() => { cleanup(); process.exit(130) })
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    const data = join(root, 'data')
    mkdirSync(data)
    say(`generating ${LARGE_FILE_BYTES / MiB} MiB file and ${SMALL_FILES} × ${SMALL_FILE_BYTES / 1024} KiB files in ${root}`)
    writeLargeFile(join(data, LARGE_FILE), LARGE_FILE_BYTES)
    writeSmallFiles(join(data, SMALL_DIR), SMALL_FILES, SMALL_FILE_BYTES)
    const largeMB = LARGE_FILE_BYTES / MiB
    const ms = (values: number[]): string => values.map(v => v.toFixed(0)).join(', ')

    say(`raw libp2p stream (${RUNS} runs, one process)`)
    const raw = await runWorker<RawResult>('raw', data, join(root, 'raw'), RUNS)
    say(`  ${largeMB} MiB stream: ${ms(raw.runsMs)} ms;  ${raw.requests} pipelined 4 KiB requests: ${ms(raw.requestRunsMs)} ms`)

    say(`weft exchange (${RUNS} runs, one process: 4 seeders, a fresh leecher per run)`)
    const weft = await runWorker<WeftResult>('weft', data, join(root, 'weft'), RUNS)
    say(`  seeding: ${ms(weft.seedMs)} ms per seeder`)
    for (const scenario of WEFT_SCENARIOS) {
      for (const [i, r] of weft.runs[scenario].entries()) {
        const fallback = Object.keys(r.others).length > 0 ? `  also from ${JSON.stringify(r.others)}` : ''
        const offences = r.offences.some(o => Object.keys(o).length > 0) ? `  offences ${JSON.stringify(r.offences)}` : ''
        const outcome = r.error !== undefined
          ? `FAILED after ${r.ms.toFixed(0)} ms: ${r.error}`
          : `${r.ms.toFixed(0).padStart(6)} ms (flushed ${r.durableMs.toFixed(0)} ms)  ${r.blocks} blocks  shares ${r.shares.join('/')}`
        say(`  run ${i + 1}/${RUNS} ${scenario.padEnd(8)} ${outcome}${fallback}${offences}`)
      }
    }

    say(`Helia → Helia over Bitswap, then weft ← Helia (${RUNS} runs, one process)`)
    const helia = await runWorker<HeliaResult>('helia', data, join(root, 'helia'), RUNS)
    say(`  Helia cat: ${ms(helia.heliaRunsMs)} ms;  weft fetch from Helia: ${ms(helia.weftRunsMs)} ms  (${helia.weftFromPeers.map(p => JSON.stringify(p)).join(' ')})`)

    say(`idle nodes (${RUNS} × a baseline process and a process with ${IDLE_NODES} nodes in a ring)`)
    const idle: { base: IdleResult[], nodes: IdleResult[] } = { base: [], nodes: [] }
    for (let i = 0; i < RUNS; i++) {
      idle.base.push(await runWorker<IdleResult>('idle', data, join(root, `idle-0-${i}`), 0, ['--expose-gc']))
      idle.nodes.push(await runWorker<IdleResult>('idle', data, join(root, `idle-${IDLE_NODES}-${i}`), IDLE_NODES, ['--expose-gc']))
      say(`  run ${i + 1}/${RUNS} RSS baseline ${idle.base[i].rssMB.toFixed(0)} MB, with ${IDLE_NODES} nodes ${idle.nodes[i].rssMB.toFixed(0)} MB (after GC ${idle.base[i].rssAfterGcMB.toFixed(0)} / ${idle.nodes[i].rssAfterGcMB.toFixed(0)} MB)`)
    }

    // A failed fetch counts as infinitely slow: one failure in three still leaves a median.
    const weftMs = (scenario: WeftScenario): number => median(weft.runs[scenario].map(r => r.error !== undefined ? Infinity : r.ms))
    const weftDurableMs = (scenario: WeftScenario): number => median(weft.runs[scenario].map(r => r.error !== undefined ? Infinity : r.durableMs))
    const rawMBps = perSecond(largeMB, median(raw.runsMs))
    const rawRequestsPerS = perSecond(raw.requests, median(raw.requestRunsMs))
    const weft1MBps = perSecond(largeMB, weftMs('large-1'))
    const weft4MBps = perSecond(largeMB, weftMs('large-4'))
    const heliaMBps = perSecond(largeMB, median(helia.heliaRunsMs))
    const weftFromHeliaMBps = perSecond(largeMB, median(helia.weftRunsMs))
    const small1 = perSecond(SMALL_FILES, weftMs('small-1'))
    const small4 = perSecond(SMALL_FILES, weftMs('small-4'))
    const durable1MBps = perSecond(largeMB, weftDurableMs('large-1'))
    const durable4MBps = perSecond(largeMB, weftDurableMs('large-4'))
    const durableSmall1 = perSecond(SMALL_FILES, weftDurableMs('small-1'))
    const durableSmall4 = perSecond(SMALL_FILES, weftDurableMs('small-4'))
    const idleMB = (median(idle.nodes.map(r => r.rssMB)) - median(idle.base.map(r => r.rssMB))) / IDLE_NODES
    const idleAfterGcMB = (median(idle.nodes.map(r => r.rssAfterGcMB)) - median(idle.base.map(r => r.rssAfterGcMB))) / IDLE_NODES
    const pctOfRaw = 100 * weft1MBps / rawMBps
    const xHelia = weft1MBps / heliaMBps
    const xOneSeeder = weft4MBps / weft1MBps
    const shares4 = medianRun(weft.runs['large-4'])?.shares ?? []
    const smallShares4 = medianRun(weft.runs['small-4'])?.shares ?? []
    // A weft session that gave up (bans after stalls) and let Bitswap finish: the run still
    // completes, but the figure is then not the weft protocol's.
    const fallbacks = Object.fromEntries(WEFT_SCENARIOS.map(s => [s, weft.runs[s].filter(r => Object.keys(r.others).length > 0).length]))
    const failures = Object.fromEntries(WEFT_SCENARIOS.map(s => [s, weft.runs[s].filter(r => r.error !== undefined).length]))
    const pass = {
      one_seeder_vs_raw: pctOfRaw >= TARGET_PCT_OF_RAW,
      one_seeder_vs_helia: xHelia >= TARGET_X_HELIA,
      four_seeders_vs_one: xOneSeeder >= TARGET_X_ONE_SEEDER,
      small_files_1_seeder: small1 >= TARGET_FILES_PER_S,
      small_files_4_seeders: small4 >= TARGET_FILES_PER_S,
      idle_node_rss: idleMB < TARGET_IDLE_MB
    }

    const shareText = (shares: number[]): string => shares.map(n => pct(n, shares.reduce((a, b) => a + b, 0))).join(' / ')
    const row = (cells: string[]): string => cells.map((c, i) => c.padEnd([26, 15, 17, 27, 7, 16, 4][i])).join(' ').trimEnd()
    say('')
    say(`weft exchange on 127.0.0.1 — median of ${RUNS} runs, fresh leecher each run, both ends in one process; MB = 2^20 bytes`)
    say(`"fetched": until exchange.fetch resolved; "through flush": until the leecher's store had also flushed what it got (fsync + index); ratios and targets use "fetched"`)
    say(row(['', 'weft fetched', 'through flush', 'ceiling / peer', 'ratio', 'target', '']))
    say(row([`${largeMB} MiB, 1 seeder`, `${weft1MBps.toFixed(0)} MB/s`, `${durable1MBps.toFixed(0)} MB/s`, `raw stream ${rawMBps.toFixed(0)} MB/s`, `${pctOfRaw.toFixed(0)}%`, `≥ ${TARGET_PCT_OF_RAW}%`, verdict(pass.one_seeder_vs_raw)]))
    say(row(['', '', '', `Helia Bitswap ${heliaMBps.toFixed(1)} MB/s`, `${xHelia.toFixed(2)}x`, `≥ ${TARGET_X_HELIA}x`, verdict(pass.one_seeder_vs_helia)]))
    say(row([`${largeMB} MiB, 4 seeders`, `${weft4MBps.toFixed(0)} MB/s`, `${durable4MBps.toFixed(0)} MB/s`, `1 seeder ${weft1MBps.toFixed(0)} MB/s`, `${xOneSeeder.toFixed(2)}x`, `≥ ${TARGET_X_ONE_SEEDER}x`, verdict(pass.four_seeders_vs_one)]))
    say(row(['  shares of blocks', shareText(shares4), '', '', '', '', '']))
    say(row([`${SMALL_FILES} × ${SMALL_FILE_BYTES / 1024} KiB, 1 seeder`, `${small1.toFixed(0)} files/s`, `${durableSmall1.toFixed(0)} files/s`, `raw 4 KiB requests ${rawRequestsPerS.toFixed(0)}/s`, pct(small1, rawRequestsPerS), `≥ ${TARGET_FILES_PER_S} files/s`, verdict(pass.small_files_1_seeder)]))
    say(row([`${SMALL_FILES} × ${SMALL_FILE_BYTES / 1024} KiB, 4 seeders`, `${small4.toFixed(0)} files/s`, `${durableSmall4.toFixed(0)} files/s`, `1 seeder ${small1.toFixed(0)} files/s`, `${(small4 / small1).toFixed(2)}x`, `≥ ${TARGET_FILES_PER_S} files/s`, verdict(pass.small_files_4_seeders)]))
    say(row(['  shares of blocks', shareText(smallShares4), '', '', '', '', '']))
    say(row(['idle node RSS', `${idleMB.toFixed(1)} MB`, '', `after a full GC ${idleAfterGcMB.toFixed(1)} MB`, '', `< ${TARGET_IDLE_MB} MB`, verdict(pass.idle_node_rss)]))
    say(row([`${largeMB} MiB, weft ← Helia`, `${weftFromHeliaMBps.toFixed(1)} MB/s`, '', `Helia ← Helia ${heliaMBps.toFixed(1)} MB/s`, `${(weftFromHeliaMBps / heliaMBps).toFixed(2)}x`, '', '(Bitswap fallback)']))
    say('')
    for (const [scenario, n] of Object.entries(fallbacks)) {
      if (n > 0) say(`warning: in ${n} of ${RUNS} ${scenario} runs the weft session gave up on its seeders and Bitswap finished the fetch (see the run lines above)`)
    }
    for (const [scenario, n] of Object.entries(failures)) {
      if (n > 0) say(`warning: ${n} of ${RUNS} ${scenario} fetches failed; they count as infinitely slow (see the run lines above)`)
    }
    say(`weft: createNode homes on disk (fsync on, the default), exchange.fetch; Helia: stock Helia, in-memory blockstores, unixfs cat read to the end. Raw: one libp2p stream (TCP, TLS, Yamux: what weft's own networks negotiate) in ${MiB / 1024} KiB sends.`)

    if (options.json) {
      process.stdout.write(JSON.stringify({
        raw_stream_MBps: round(rawMBps),
        weft_1_seeder_MBps: round(weft1MBps),
        weft_4_seeders_MBps: round(weft4MBps),
        helia_bitswap_MBps: round(heliaMBps),
        small_files_1_seeder_per_s: round(small1),
        small_files_4_seeders_per_s: round(small4),
        idle_node_rss_MB: round(idleMB, 2),
        weft_from_helia_MBps: round(weftFromHeliaMBps),
        raw_small_requests_per_s: round(rawRequestsPerS),
        weft_1_seeder_pct_of_raw: round(pctOfRaw),
        weft_1_seeder_x_helia: round(xHelia, 2),
        weft_4_seeders_x_1_seeder: round(xOneSeeder, 2),
        weft_4_seeders_shares: shares4,
        small_files_4_seeders_shares: smallShares4,
        weft_1_seeder_durable_MBps: round(durable1MBps),
        weft_4_seeders_durable_MBps: round(durable4MBps),
        small_files_1_seeder_durable_per_s: round(durableSmall1),
        small_files_4_seeders_durable_per_s: round(durableSmall4),
        idle_node_rss_after_gc_MB: round(idleAfterGcMB, 2),
        bitswap_fallback_runs: fallbacks,
        failed_runs: failures,
        large_file_root: weft.largeRoot,
        large_file_root_matches_helia: weft.largeRoot === helia.root,
        small_files_root: weft.smallRoot,
        pass,
        runs: RUNS,
        runs_ms: {
          raw_stream: raw.runsMs.map(v => round(v)),
          raw_small_requests: raw.requestRunsMs.map(v => round(v)),
          ...Object.fromEntries(WEFT_SCENARIOS.map(s => [`weft_${s}`, weft.runs[s].map(r => r.error !== undefined ? null : round(r.ms))])),
          ...Object.fromEntries(WEFT_SCENARIOS.map(s => [`weft_${s}_through_flush`, weft.runs[s].map(r => r.error !== undefined ? null : round(r.durableMs))])),
          helia_bitswap: helia.heliaRunsMs.map(v => round(v)),
          weft_from_helia: helia.weftRunsMs.map(v => round(v))
        },
        weft_runs: weft.runs,
        idle_rss_MB: { baseline: idle.base.map(r => round(r.rssMB)), [`nodes_${IDLE_NODES}`]: idle.nodes.map(r => round(r.rssMB)) },
        large_file_MiB: largeMB,
        mb: 'MiB (2^20 bytes)'
      }) + '\n')
    }
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    cleanup()
  }
}
