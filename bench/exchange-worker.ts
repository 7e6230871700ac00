/**
 * One group of timed cases of the `exchange` benchmark, run in a child process of its own
 * so one case's heap does not slow the next:
 * `exchange-worker.ts <case> <data> <scratch> <runs | nodes> [weft scenarios, comma-separated]`.
 * Both ends of every transfer live in this process, on 127.0.0.1, so raw libp2p, weft
 * and Helia share the one JavaScript thread alike. Prints one JSON line on stdout.
 *
 *   raw    one libp2p stream carrying the large file's size, and 1,000 pipelined 4 KiB
 *          request/response pairs: the ceilings
 *   weft   the large file and the small-file folder from 1 and from 4 weft seeders
 *   helia  the large file over Bitswap, Helia to Helia; then weft from the Helia seeder
 *   idle   N idle online weft nodes in a ring (N = 0: the baseline), for RSS per node
 *
 * To see where a transfer's time goes, run one case by hand with
 * EXCHANGE_BENCH_PROFILE=<dir>: each timed transfer then leaves a .cpuprofile there, e.g.
 * `EXCHANGE_BENCH_PROFILE=/tmp/prof node bench/exchange-worker.ts weft <data> <scratch> 3 small-1`.
 */
import { randomBytes } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdir, rm, stat, writeFile } from 'node:fs/promises'
import { Session } from 'node:inspector/promises'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { unixfs } from '@helia/unixfs'
import { CID } from 'multiformats/cid'
import { importPath } from '../src/content/index.ts'
import { createLocalHelia } from '../test/helpers/helia.ts'
import { createNet, type WeftLibp2p } from '../src/net/index.ts'
import type { FetchResult, Offence } from '../src/exchange/index.ts'
import { createNode, type WeftNode } from '../src/node/index.ts'

export const CASES = ['raw', 'weft', 'helia', 'idle'] as const
export type ExchangeCase = typeof CASES[number]

/** The weft transfers, each timed RUNS times with a fresh leecher. */
export const WEFT_SCENARIOS = ['large-1', 'large-4', 'small-1', 'small-4'] as const
export type WeftScenario = typeof WEFT_SCENARIOS[number]

/** Where the orchestrator put the inputs inside the data folder. */
export const LARGE_FILE = 'large.bin'
export const SMALL_DIR = 'small'

export interface RawResult {
  case: 'raw'
  bytes: number
  runsMs: number[]
  /** SMALL_REQUESTS request/response pairs, pipelined as the exchange does, one send each. */
  requests: number
  requestRunsMs: number[]
}

export interface WeftRun {
  /** Until `exchange.fetch` resolved: every block verified and handed to the store. */
  ms: number
  /** Until the leecher's store had also flushed (fsync and index) what it was given. */
  durableMs: number
  blocks: number
  bytes: number
  /** Blocks per seeder over the weft protocol, in seeder order (seeder 0 is the 1-seeder case's). */
  shares: number[]
  /** Blocks from anywhere else: `bitswap` when the weft session gave up and Bitswap finished. */
  others: Record<string, number>
  /** What the leecher held against each seeder afterwards (stalls, mostly): why a share is small. */
  offences: Array<Partial<Record<Offence, number>>>
  /** Set when the fetch failed: its code and message; `ms` is then the time until it did. */
  error?: string
}

export interface WeftResult {
  case: 'weft'
  largeRoot: string
  smallRoot: string
  /** Import time per seeder (not timed against any target; shows the seeders are full). */
  seedMs: number[]
  runs: Record<WeftScenario, WeftRun[]>
}

export interface HeliaResult {
  case: 'helia'
  root: string
  bytes: number
  /** Helia → Helia: `unixfs(helia2).cat(cid)` read to the end. */
  heliaRunsMs: number[]
  /** weft ← Helia: `exchange.fetch`, which falls back to Bitswap. */
  weftRunsMs: number[]
  weftFromPeers: Array<Record<string, number>>
}

export interface IdleResult {
  case: 'idle'
  nodes: number
  /** RSS (MiB) once the nodes have idled, and again after a forced full GC. */
  rssMB: number
  rssAfterGcMB: number
  heapUsedMB: number
}

export type ExchangeCaseResult = RawResult | WeftResult | HeliaResult | IdleResult

const MiB = 1024 * 1024
const RAW_PROTOCOL = '/weft-bench/raw/1.0.0'
const RAW_RPC_PROTOCOL = '/weft-bench/rpc/1.0.0'
/** The small-message ceiling: as many requests as the folder has files, each a WANT's size, each answered with a 4 KiB BLOCK's size. */
const SMALL_REQUESTS = 1000
const REQUEST_BYTES = 38
const RESPONSE_BYTES = 4096 + 40
const REQUEST_WINDOW = 32
/** Sends of one weft block's size, so the ceiling moves data as the exchange does. */
const RAW_CHUNK = MiB
const FETCH_TIMEOUT_MS = 120_000
const IDLE_SETTLE_MS = 2_000
const NETWORK = { name: 'bench' }
const WEFT_NET = { listen: ['/ip4/127.0.0.1/tcp/0'], network: NETWORK, bootstrap: [], mdns: false }

/**
 * With EXCHANGE_BENCH_PROFILE=<dir>, each timed transfer writes a CPU profile of itself
 * alone (not the seeding around it) to <dir>/<label>.cpuprofile, for Chrome DevTools.
 */
async function timed<T> (label: string, fn: () => Promise<T>): Promise<{ value: T, ms: number }> {
  const dir = process.env.EXCHANGE_BENCH_PROFILE
  const session = dir !== undefined && dir !== '' ? new Session() : undefined
  if (session !== undefined) {
    session.connect()
    await session.post('Profiler.enable')
    await session.post('Profiler.setSamplingInterval', { interval: 1000 })
    await session.post('Profiler.start')
  }
  const start = performance.now()
  try {
    const value = await fn()
    return { value, ms: performance.now() - start }
  } finally {
    if (session !== undefined && dir !== undefined) {
      const { profile } = await session.post('Profiler.stop')
      session.disconnect()
      await mkdir(dir, { recursive: true })
      await writeFile(join(dir, `${label}.cpuprofile`), JSON.stringify(profile))
    }
  }
}

type OnlineNode = WeftNode & Required<Pick<WeftNode, 'libp2p' | 'exchange'>>

async function onlineNode (home: string): Promise<OnlineNode> {
  const node = await createNode({ home, online: true, net: WEFT_NET })
  if (node.libp2p === undefined || node.exchange === undefined) throw new Error('createNode({ online: true }) returned an offline node')
  return node as OnlineNode
}

const firstAddress = (libp2p: Pick<WeftLibp2p, 'getMultiaddrs'>): ReturnType<WeftLibp2p['getMultiaddrs']>[number] => {
  const address = libp2p.getMultiaddrs()[0]
  if (address === undefined) throw new Error('a node has no listen address')
  return address
}

async function rawStream (bytes: number, runs: number): Promise<RawResult> {
  const [sender, receiver] = await Promise.all([0, 1].map(async () => await createNet({
    privateKey: await generateKeyPair('Ed25519'),
    network: NETWORK,
    bootstrap: [],
    listen: ['/ip4/127.0.0.1/tcp/0'],
    mdns: false
  })))
  try {
    let received: ((n: number) => void) | undefined
    await receiver.handle(RAW_PROTOCOL, async stream => {
      let n = 0
      for await (const chunk of stream) n += chunk.byteLength
      received?.(n)
      await stream.close()
    })
    await sender.dial(firstAddress(receiver))
    const chunk = randomBytes(RAW_CHUNK)
    const runsMs: number[] = []
    for (let i = 0; i < runs; i++) {
      const done = new Promise<number>(resolve => { received = resolve })
      const { value: got, ms } = await timed(`raw-${i}`, async () => {
        const stream = await sender.dialProtocol(firstAddress(receiver), RAW_PROTOCOL)
        for (let sent = 0; sent < bytes; sent += chunk.byteLength) {
          if (!stream.send(chunk)) await stream.onDrain()
        }
        await stream.close()
        return await done
      })
      runsMs.push(ms)
      if (got !== bytes) throw new Error(`the raw stream delivered ${got} of ${bytes} bytes`)
    }

    // Each request answered in its own send, as the exchange answers each WANT with one BLOCK.
    await receiver.handle(RAW_RPC_PROTOCOL, async stream => {
      const response = new Uint8Array(RESPONSE_BYTES)
      let buffered = 0
      for await (const chunk of stream) {
        buffered += chunk.byteLength
        for (; buffered >= REQUEST_BYTES; buffered -= REQUEST_BYTES) {
          if (!stream.send(response)) await stream.onDrain()
        }
      }
      await stream.close()
    })
    const requestRunsMs: number[] = []
    for (let i = 0; i < runs; i++) {
      const { value: answered, ms } = await timed(`raw-requests-${i}`, async () => {
        const stream = await sender.dialProtocol(firstAddress(receiver), RAW_RPC_PROTOCOL)
        const request = new Uint8Array(REQUEST_BYTES)
        let sent = 0
        let answered = 0
        let buffered = 0
        const fill = (): void => {
          for (; sent < SMALL_REQUESTS && sent - answered < REQUEST_WINDOW; sent++) stream.send(request)
        }
        fill()
        for await (const chunk of stream) {
          buffered += chunk.byteLength
          for (; buffered >= RESPONSE_BYTES; buffered -= RESPONSE_BYTES) answered++
          if (answered === SMALL_REQUESTS) await stream.close()
          else fill()
        }
        return answered
      })
      requestRunsMs.push(ms)
      if (answered !== SMALL_REQUESTS) throw new Error(`the raw requests got ${answered} of ${SMALL_REQUESTS} answers`)
    }
    return { case: 'raw', bytes, runsMs, requests: SMALL_REQUESTS, requestRunsMs }
  } finally {
    await Promise.all([sender.stop(), receiver.stop()])
  }
}

async function weftExchange (data: string, scratch: string, runs: number, scenarios: readonly WeftScenario[]): Promise<WeftResult> {
  const seeders: OnlineNode[] = []
  try {
    const seedMs: number[] = []
    let largeRoot: CID | undefined
    let smallRoot: CID | undefined
    for (let i = 0; i < 4; i++) {
      const seeder = await onlineNode(join(scratch, `seeder-${i}`))
      seeders.push(seeder)
      const start = performance.now()
      // The same bytes give the same CIDs, so every seeder holds the whole of both DAGs.
      const large = (await importPath(seeder.blocks, join(data, LARGE_FILE))).root.cid
      const small = (await importPath(seeder.blocks, join(data, SMALL_DIR))).root.cid
      seedMs.push(performance.now() - start)
      if ((largeRoot !== undefined && !largeRoot.equals(large)) || (smallRoot !== undefined && !smallRoot.equals(small))) {
        throw new Error('seeders disagree on a root CID')
      }
      largeRoot = large
      smallRoot = small
    }
    if (largeRoot === undefined || smallRoot === undefined) throw new Error('no seeder')
    const roots = { large: largeRoot, small: smallRoot }
    const seederIds = seeders.map(s => s.libp2p.peerId.toString())

    const results = Object.fromEntries(WEFT_SCENARIOS.map(s => [s, [] as WeftRun[]])) as Record<WeftScenario, WeftRun[]>
    for (let i = 0; i < runs; i++) {
      // Interleaved, so a slow patch of the machine hits every scenario alike.
      for (const scenario of scenarios) {
        const [content, count] = scenario.split('-') as ['large' | 'small', string]
        const home = join(scratch, `leecher-${scenario}-${i}`)
        const leecher = await onlineNode(home)
        try {
          for (const seeder of seeders.slice(0, Number(count))) await leecher.libp2p.dial(firstAddress(seeder.libp2p))
          const start = performance.now()
          const offences = (): WeftRun['offences'] => seederIds.slice(0, Number(count)).map(id => leecher.exchange.peerRecord(id)?.offences ?? {})
          let fetched: { value: FetchResult, ms: number }
          try {
            fetched = await timed(`weft-${scenario}-${i}`, async () => await leecher.exchange.fetch(roots[content], { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) }))
          } catch (err) {
            // A failed fetch is a result too (it counts as infinitely slow), not a reason to stop.
            const ms = performance.now() - start
            const error = `${(err as { code?: string }).code ?? (err as Error).name}: ${(err as Error).message}`
            results[scenario].push({ ms, durableMs: ms, blocks: 0, bytes: 0, shares: [], others: {}, offences: offences(), error })
            continue
          }
          const { value: result, ms } = fetched
          await leecher.blocks.flush()
          const durableMs = performance.now() - start
          const others = Object.fromEntries(Object.entries(result.fromPeers).filter(([id]) => !seederIds.includes(id)))
          results[scenario].push({
            ms,
            durableMs,
            blocks: result.blocks,
            bytes: result.bytes,
            shares: seederIds.slice(0, Number(count)).map(id => result.fromPeers[id] ?? 0),
            others,
            offences: offences()
          })
        } finally {
          await leecher.stop()
          await rm(home, { recursive: true, force: true })
        }
      }
    }
    return { case: 'weft', largeRoot: largeRoot.toString(), smallRoot: smallRoot.toString(), seedMs, runs: results }
  } finally {
    await Promise.all(seeders.map(async s => { await s.stop() }))
  }
}

/** A stock Helia node, built as the interop tests build it. */
const stockHelia = createLocalHelia

async function heliaBitswap (data: string, scratch: string, runs: number): Promise<HeliaResult> {
  const seeder = await stockHelia()
  try {
    const file = join(data, LARGE_FILE)
    const bytes = (await stat(file)).size
    // The profile weft's importPath uses, so the DAG (and root) is the one weft fetches.
    const root = await unixfs(seeder).addByteStream(createReadStream(file, { highWaterMark: MiB }), { profile: 'unixfs-v1-2025' } as never)
    const heliaRunsMs: number[] = []
    const weftRunsMs: number[] = []
    const weftFromPeers: Array<Record<string, number>> = []
    for (let i = 0; i < runs; i++) {
      const leecher = await stockHelia()
      try {
        await leecher.libp2p.dial(seeder.libp2p.getMultiaddrs()[0])
        const { value: got, ms } = await timed(`helia-${i}`, async () => {
          let n = 0
          for await (const chunk of unixfs(leecher).cat(root, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) })) n += chunk.byteLength
          return n
        })
        heliaRunsMs.push(ms)
        if (got !== bytes) throw new Error(`Helia read ${got} of ${bytes} bytes`)
      } finally {
        await leecher.stop()
      }

      const home = join(scratch, `weft-from-helia-${i}`)
      const weft = await onlineNode(home)
      try {
        await weft.libp2p.dial(seeder.libp2p.getMultiaddrs()[0])
        const { value: result, ms } = await timed(`weft-from-helia-${i}`, async () => await weft.exchange.fetch(CID.parse(root.toString()), { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) }))
        weftRunsMs.push(ms)
        weftFromPeers.push(result.fromPeers)
        if (result.bytes < bytes) throw new Error(`weft fetched ${result.bytes} of ${bytes} bytes from Helia`)
      } finally {
        await weft.stop()
        await rm(home, { recursive: true, force: true })
      }
    }
    return { case: 'helia', root: root.toString(), bytes, heliaRunsMs, weftRunsMs, weftFromPeers }
  } finally {
    await seeder.stop()
  }
}

async function idleNodes (scratch: string, n: number): Promise<IdleResult> {
  const nodes: OnlineNode[] = []
  try {
    for (let i = 0; i < n; i++) nodes.push(await onlineNode(join(scratch, `idle-${i}`)))
    if (n > 1) {
      for (let i = 0; i < n; i++) await nodes[i].libp2p.dial(firstAddress(nodes[(i + 1) % n].libp2p))
    }
    await sleep(IDLE_SETTLE_MS)
    const rssMB = process.memoryUsage.rss() / MiB
    const gc = (globalThis as { gc?: () => void }).gc
    gc?.()
    const after = process.memoryUsage()
    return { case: 'idle', nodes: n, rssMB, rssAfterGcMB: after.rss / MiB, heapUsedMB: after.heapUsed / MiB }
  } finally {
    await Promise.all(nodes.map(async node => { await node.stop() }))
  }
}

async function runCase (name: ExchangeCase, data: string, scratch: string, arg: number, scenarios: readonly WeftScenario[]): Promise<ExchangeCaseResult> {
  await mkdir(scratch, { recursive: true })
  switch (name) {
    case 'raw': return await rawStream((await stat(join(data, LARGE_FILE))).size, arg)
    case 'weft': return await weftExchange(data, scratch, arg, scenarios)
    case 'helia': return await heliaBitswap(data, scratch, arg)
    case 'idle': return await idleNodes(scratch, arg)
  }
}

if (import.meta.main) {
  // <case> <data> <scratch> <runs, or nodes for idle> [weft scenarios, comma-separated]
  const [name, data, scratch, count, only] = process.argv.slice(2)
  const scenarios = only === undefined ? WEFT_SCENARIOS : only.split(',') as WeftScenario[]
  if (!(CASES as readonly string[]).includes(name) || data === undefined || scratch === undefined || !Number.isInteger(Number(count)) ||
      !scenarios.every(s => (WEFT_SCENARIOS as readonly string[]).includes(s))) {
    process.stderr.write(`usage: exchange-worker.ts <${CASES.join('|')}> <data> <scratch> <runs|nodes> [${WEFT_SCENARIOS.join(',')}]\n`)
    process.exit(2)
  }
  const result = await runCase(name as ExchangeCase, data, scratch, Number(count), scenarios)
  process.stdout.write(JSON.stringify(result) + '\n')
  // Lingering sockets or timers in a library must not keep the orchestrator waiting.
  process.exit(0)
}
