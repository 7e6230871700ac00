/**
 * `npm run bench -- byzantine [--json]`: how weft's DHT lookups fare when some peers lie
 * (issue 16). Two parts, each kad-dht's defaults beside weft's hardening
 * (src/routing/hardened.ts):
 *
 * 1. a model of the lookup logic at 10,000 nodes (byzantine-model.ts): attack x adversary
 *    share -> lookup success, content retrieval, record freshness;
 * 2. real kad-dht 16.4.5 nodes over @libp2p/memory in this process, with hostile nodes
 *    speaking the kad protocol (test/routing/hostile-dht.ts): content retrieval.
 *
 * Knobs: BYZ_NODES (model size, 10000), BYZ_LOOKUPS (per model cell, 40), BYZ_SEED (1),
 * BYZ_REAL_NODES (60), BYZ_REAL_SHARE (0.2), BYZ_REAL_K (kad-dht's k there, 5: a
 * cluster must outnumber k, and k = 20 needs hundreds of nodes), BYZ_REAL_LOOKUPS (6),
 * BYZ_REAL_ATTACKS (comma-separated, all four by default), BYZ_MODEL (0 skips the model).
 * Memory: the heap is measured after a forced GC once each network has stopped (RSS
 * alone does not fall: V8 and malloc keep the pages a finished network used).
 */
import { createHash, randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { createHardenedLookups, findProvidersReliably, provideReliably } from '../src/routing/index.ts'
import { keyDistance } from '../src/routing/density.ts'
import { blockVerifier, createHostileNet, type Attack as RealAttack } from '../test/routing/hostile-dht.ts'
import { runModel, MODEL_DEFAULTS, type Attack, type ModelResult } from './byzantine-model.ts'
import type { BenchOptions } from './index.ts'

const env = (name: string, fallback: number): number => Number(process.env[name] ?? fallback)
const ATTACKS: Attack[] = ['drop', 'wrong-closest', 'fake-providers', 'sybil', 'eclipse']
const SHARES = [0.1, 0.2, 0.3]
const REAL_ATTACKS: RealAttack[] = ['drop', 'wrong-closest', 'fake-providers', 'sybil']
/** Issue 16's targets for content retrieval with hardening. */
const TARGETS: Record<number, number> = { 0.2: 0.99, 0.3: 0.95 }

const pct = (x: number): string => `${(100 * x).toFixed(1)}%`
const kadId = (bytes: Uint8Array): Uint8Array => createHash('sha256').update(bytes).digest()

interface ModelRow { attack: Attack, share: number, defaults: ModelResult, hardened: ModelResult }
interface RealRow { attack: RealAttack, share: number, nodes: number, lookups: number, defaults: number, hardened: number, rssMiB: number, heapMiB: number, heapAfterStopMiB: number, buildMs: number, lookupMs: number }

const MiB = 2 ** 20
/** V8's gc(), exposed for this process (node's documented way without a command-line flag). */
function exposeGc (): () => void {
  setFlagsFromString('--expose-gc')
  return runInNewContext('gc') as () => void
}

export async function run (options: BenchOptions): Promise<void> {
  const say = (line: string): void => { (options.json ? process.stderr : process.stdout).write(line + '\n') }
  const base = { ...MODEL_DEFAULTS, nodes: env('BYZ_NODES', MODEL_DEFAULTS.nodes), lookups: env('BYZ_LOOKUPS', 40), seed: env('BYZ_SEED', MODEL_DEFAULTS.seed) }
  const model = env('BYZ_MODEL', 1) !== 0
  if (model) say(`model: ${base.nodes} nodes, k=${base.k}, alpha=${base.alpha}, ${base.paths} paths, ${base.lookups} lookups per cell, seed ${base.seed}; Sybils over ${base.sybilTargets} target keys; attackers in ${base.attackerPrefixes} /16s`)
  if (model) say('attack          share | lookup ok (defaults / hardened) | content (defaults / hardened) | fresh record (defaults / hardened) | queries per lookup | target')
  const rows: ModelRow[] = []
  const cells: Array<[Attack, number]> = [['none', 0], ...ATTACKS.flatMap(a => SHARES.map(s => [a, s] as [Attack, number]))]
  for (const [attack, share] of model ? cells : []) {
    const defaults = runModel({ ...base, attack, share, mode: 'defaults' })
    const hardened = runModel({ ...base, attack, share, mode: 'hardened' })
    rows.push({ attack, share, defaults, hardened })
    const target = TARGETS[share]
    const verdict = target === undefined ? '' : `${hardened.content >= target ? 'PASS' : 'MISS'} content >= ${pct(target)}`
    say(`${attack.padEnd(15)} ${pct(share).padStart(5)} | ${pct(defaults.lookup).padStart(6)} / ${pct(hardened.lookup).padStart(6)} | ${pct(defaults.content).padStart(6)} / ${pct(hardened.content).padStart(6)} | ${pct(defaults.freshness).padStart(6)} / ${pct(hardened.freshness).padStart(6)} | ${defaults.queries.toFixed(0)} / ${hardened.queries.toFixed(0)} | ${verdict}`)
  }

  const realNodes = env('BYZ_REAL_NODES', 60)
  const realShare = env('BYZ_REAL_SHARE', 0.2)
  const realK = env('BYZ_REAL_K', 5)
  const realLookups = env('BYZ_REAL_LOOKUPS', 6)
  const realAttacks = (process.env.BYZ_REAL_ATTACKS?.split(',') ?? REAL_ATTACKS) as RealAttack[]
  const gc = exposeGc()
  const hostileCount = Math.round(realNodes * realShare)
  say(`\nreal nodes: ${realNodes} libp2p nodes over @libp2p/memory (${realNodes - hostileCount} kad-dht 16.4.5, ${hostileCount} hostile), k=${realK}, ${realLookups} provider lookups per attack from honest nodes; content = a provider found that served a block hashing right`)
  const real: RealRow[] = []
  for (const attack of realAttacks) {
    const block = randomBytes(1024)
    const cid = CID.createV1(raw.code, await sha256.digest(block))
    const started = performance.now()
    const net = await createHostileNet({ honest: realNodes - hostileCount, hostile: hostileCount, attack, k: realK, target: cid.multihash.bytes, blocks: new Map([[Buffer.from(cid.bytes).toString('hex'), block]]) })
    const buildMs = performance.now() - started
    const rssMiB = process.memoryUsage().rss / MiB
    const heapMiB = process.memoryUsage().heapUsed / MiB
    let row: Omit<RealRow, 'heapAfterStopMiB'> | undefined
    try {
      const key = kadId(cid.multihash.bytes)
      const byDistance = [...net.honest].sort((a, b) => keyDistance(kadId(a.peerId.toMultihash().bytes), key) - keyDistance(kadId(b.peerId.toMultihash().bytes), key))
      const publisher = byDistance[byDistance.length - 1]
      const finders = byDistance.slice(Math.floor(byDistance.length / 3)).filter(n => n !== publisher).slice(0, realLookups)
      const signal = (): AbortSignal => AbortSignal.timeout(120_000)
      // defaults first, so the hardened provide's wider placement cannot help them
      // a provide past its deadline (a loaded machine, droppers' timeouts) is reported, and the lookups still run
      await provideReliably(publisher, cid, { signal: signal() }).catch(err => { say(`${attack}: kad-dht's provide: ${(err as Error).message}`) })
      const lookupsStarted = performance.now()
      let defaults = 0
      for (const f of finders) {
        const found = await findProvidersReliably(f, cid, { signal: signal() }).catch(() => [])
        const verify = blockVerifier(f, cid)
        if ((await Promise.all(found.map(async p => await verify(p.id)))).some(Boolean)) defaults++
      }
      await createHardenedLookups(publisher).provide(cid, { signal: signal() }).catch(err => { say(`${attack}: the hardened provide: ${(err as Error).message}`) })
      let hardened = 0
      for (const f of finders) {
        const found = await createHardenedLookups(f).findProviders(cid, blockVerifier(f, cid), { signal: signal() }).catch(() => [])
        if (found.length > 0) hardened++
      }
      row = { attack, share: realShare, nodes: realNodes, lookups: finders.length, defaults: defaults / finders.length, hardened: hardened / finders.length, rssMiB, heapMiB, buildMs, lookupMs: performance.now() - lookupsStarted }
    } finally {
      await net.stop()
    }
    gc()
    const done = { ...row, heapAfterStopMiB: process.memoryUsage().heapUsed / MiB }
    real.push(done)
    say(`${attack.padEnd(15)} ${pct(realShare).padStart(5)} | content ${pct(done.defaults).padStart(6)} / ${pct(done.hardened).padStart(6)} | built in ${(buildMs / 1000).toFixed(0)} s, lookups ${(done.lookupMs / 1000).toFixed(0)} s; RSS ${rssMiB.toFixed(0)} MiB, heap ${heapMiB.toFixed(0)} MiB built, ${done.heapAfterStopMiB.toFixed(0)} MiB after stop and GC`)
  }
  if (options.json) process.stdout.write(JSON.stringify({ model: { ...base, rows }, real }) + '\n')
}
