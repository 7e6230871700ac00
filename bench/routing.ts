/**
 * `npm run bench -- routing [--json]`: a 30-node private network on 127.0.0.1. How long
 * the network takes to form, how long one node takes to reprovide 10,000 pinned roots
 * (the batched reprovide against one provide at a time, extrapolated from 100 measured in
 * the same run), and provider lookup latency.
 *
 * Lookups: with k = 20 of 30 nodes, a random node holds most roots' provider records
 * itself, and kad-dht answers those from its own store in a millisecond. So the lookups
 * that count come from nodes that must walk: outside the 20 closest to the root's key
 * (XOR distance) and not holding its provider record; beside them, lookups from random
 * nodes, as this benchmark measured them before, with the share answered locally.
 */
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import * as Digest from 'multiformats/hashes/digest'
import { createNode, type WeftNode } from '../src/node/index.ts'
import { byKadDistance, DHT_TUNING, joinNetwork } from '../src/routing/index.ts'
import type { BenchOptions } from './index.ts'

const NODES = 30
/** WEFT_BENCH_ROOTS overrides it for a quicker look. */
const ROOTS = Number(process.env.WEFT_BENCH_ROOTS ?? 10_000)
const SEQUENTIAL_SAMPLE = 100
const LOOKUPS = 50
/** The default reprovide interval: a reprovide must finish well inside it. */
const INTERVAL_S = 12 * 3600

type Online = WeftNode & { libp2p: NonNullable<WeftNode['libp2p']>, routing: NonNullable<WeftNode['routing']> }

const quantile = (xs: number[], q: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]

export async function run (options: BenchOptions): Promise<void> {
  const say = (line: string): void => { (options.json ? process.stderr : process.stdout).write(line + '\n') }
  const dir = mkdtempSync(join(tmpdir(), 'weft-bench-routing-'))
  const nodes: Online[] = []
  try {
    for (let i = 0; i < NODES; i++) {
      nodes.push(await createNode({
        home: join(dir, `node-${i}`),
        online: true,
        reprovideInterval: 0,
        net: { listen: ['/ip4/127.0.0.1/tcp/0'], network: { name: 'bench' }, bootstrap: [], mdns: false }
      }) as Online)
    }
    const joinStart = performance.now()
    await Promise.all(nodes.map(async (node, i) => {
      const bootstrap = [0, 1, 2].filter(j => j !== i).map(j => nodes[j].libp2p.getMultiaddrs()[0])
      await joinNetwork(node.libp2p, bootstrap, { signal: AbortSignal.timeout(120_000) })
    }))
    const joinS = (performance.now() - joinStart) / 1000
    say(`${NODES} nodes joined in ${joinS.toFixed(1)} s`)

    // 10,000 small blocks, each pinned on its own: 10,000 roots to announce.
    const publisher = nodes[0]
    for (let i = 0; i < ROOTS; i++) {
      const bytes = Buffer.from(`weft reprovide bench root ${i}`)
      const cid = CID.createV1(raw.code, Digest.create(0x12, createHash('sha256').update(bytes).digest()))
      await publisher.blocks.put(cid, bytes)
    }
    await publisher.blocks.flush()
    for (const cid of publisher.blocks.cids()) await publisher.blocks.pin(cid, 'direct')

    const sample = [...publisher.blocks.cids()].slice(0, SEQUENTIAL_SAMPLE)
    const seqStart = performance.now()
    for (const cid of sample) await publisher.routing.provide(cid, { signal: AbortSignal.timeout(60_000) })
    const sequentialPerProvideMs = (performance.now() - seqStart) / SEQUENTIAL_SAMPLE
    const sequentialS = sequentialPerProvideMs * ROOTS / 1000
    say(`one provide at a time: ${sequentialPerProvideMs.toFixed(0)} ms each → ${sequentialS.toFixed(0)} s for ${ROOTS} (extrapolated from ${SEQUENTIAL_SAMPLE})`)

    const report = await publisher.routing.reprovide({
      signal: AbortSignal.timeout(1_800_000),
      onProgress: (done, total) => { if (done % 1000 === 0) say(`  reprovided ${done}/${total}`) }
    })
    const reprovideS = report.ms / 1000
    say(`reprovide: ${report.provided} provided, ${report.failed} failed in ${reprovideS.toFixed(1)} s`)

    // Lookups from nodes that must walk (outside the k closest, not holding the record),
    // then from random nodes, each from a root picked at random.
    const roots = [...publisher.blocks.cids()]
    const others = nodes.slice(1)
    interface Lookups { latencies: number[], found: number, local: number }
    const lookup = async (finder: Online, cid: CID, into: Lookups): Promise<void> => {
      if (await finder.routing.storesLocally(cid)) into.local++
      const start = performance.now()
      for await (const peer of finder.routing.findProviders(cid, { signal: AbortSignal.timeout(10_000) })) {
        if (peer.equals(publisher.libp2p.peerId)) { into.found++; break }
      }
      into.latencies.push(performance.now() - start)
    }
    const far: Lookups = { latencies: [], found: 0, local: 0 }
    let noFarFinder = 0
    for (let i = 0; i < LOOKUPS; i++) {
      const cid = roots[Math.floor(Math.random() * roots.length)]
      const outside = byKadDistance(cid, nodes.map(n => n.libp2p.peerId)).slice(DHT_TUNING.kBucketSize)
      const candidates: Online[] = []
      for (const id of outside) {
        const node = others.find(n => n.libp2p.peerId.equals(id))
        if (node !== undefined && !(await node.routing.storesLocally(cid))) candidates.push(node)
      }
      // Every node outside the k closest took it anyway: look up from one of them, counted as local.
      if (candidates.length === 0) noFarFinder++
      const pool = candidates.length > 0 ? candidates : others.filter(n => outside.some(id => id.equals(n.libp2p.peerId)))
      await lookup(pool[Math.floor(Math.random() * pool.length)], cid, far)
    }
    const random: Lookups = { latencies: [], found: 0, local: 0 }
    for (let i = 0; i < LOOKUPS; i++) {
      await lookup(others[Math.floor(Math.random() * others.length)], roots[Math.floor(Math.random() * roots.length)], random)
    }

    const result = {
      nodes: NODES,
      join_s: Number(joinS.toFixed(1)),
      reprovide_roots: ROOTS,
      reprovide_s: Number(reprovideS.toFixed(1)),
      reprovide_per_s: Number((report.provided / reprovideS).toFixed(0)),
      reprovide_failed: report.failed,
      sequential_provide_ms: Number(sequentialPerProvideMs.toFixed(0)),
      sequential_reprovide_s: Number(sequentialS.toFixed(0)),
      lookups: LOOKUPS,
      // from nodes outside the k closest to the root, not holding its provider record
      lookup_found: far.found,
      lookup_p50_ms: Number(quantile(far.latencies, 0.5).toFixed(0)),
      lookup_p95_ms: Number(quantile(far.latencies, 0.95).toFixed(0)),
      lookup_local: far.local,
      lookup_no_far_finder: noFarFinder,
      // from random nodes other than the publisher (what this benchmark measured before)
      random_lookup_found: random.found,
      random_lookup_p50_ms: Number(quantile(random.latencies, 0.5).toFixed(0)),
      random_lookup_p95_ms: Number(quantile(random.latencies, 0.95).toFixed(0)),
      random_lookup_local: random.local
    }
    say('')
    say(`routing — ${NODES} nodes on 127.0.0.1`)
    say(`reprovide ${ROOTS} roots   ${reprovideS.toFixed(1)} s   one at a time ${sequentialS.toFixed(0)} s (${(sequentialS / reprovideS).toFixed(1)}x)   interval ${INTERVAL_S} s   ${reprovideS < INTERVAL_S / 100 ? 'PASS' : 'MISS'} (< 1% of the interval)`)
    say(`provider lookups, far     ${far.found}/${LOOKUPS} found   p50 ${result.lookup_p50_ms} ms   p95 ${result.lookup_p95_ms} ms   (finders outside the ${DHT_TUNING.kBucketSize} closest to each root, not holding its record${far.local > 0 ? `; ${far.local}/${LOOKUPS} held it after all, answered locally` : ''})`)
    say(`provider lookups, random  ${random.found}/${LOOKUPS} found   p50 ${result.random_lookup_p50_ms} ms   p95 ${result.random_lookup_p95_ms} ms   (finders anywhere but the publisher; ${random.local}/${LOOKUPS} answered from their own store)`)
    if (options.json) process.stdout.write(JSON.stringify(result) + '\n')
  } finally {
    await Promise.all(nodes.map(async n => { await n.stop() }))
    rmSync(dir, { recursive: true, force: true })
  }
}
