/**
 * `npm run bench -- durability [--json]`: issue 14's replicas. Nodes in this process on
 * 127.0.0.1 (a mesh of 8, each offering storage); MiB is 2^20 bytes.
 *
 * - replicate_s: a 100 MiB site (WEFT_BENCH_DURABILITY_MIB to change it) replicated to 5
 *   holders, from the request until every holder holds it whole.
 * - repair_s: 2 of the 5 holders stopped; until 5 nodes hold it again (audit interval 1 s,
 *   2 failed audits replace a holder: the floor is ~2 s of audits).
 * - audit_ms_per_GiB: a holder's cost to answer challenges of 64 blocks (1 MiB each), per
 *   GiB sampled, median of RUNS.
 * - cheat_fetch_ms: the audit's margin: the time a holder that dropped the sampled blocks
 *   would need to fetch them from another holder when challenged (16 blocks, the default
 *   sample), beside the default deadline (storage.auditTimeout, 5 s) and the honest answer.
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import type { CID } from 'multiformats/cid'
import { walkDag } from '../src/blocks/index.ts'
import { importPath } from '../src/content/index.ts'
import { createNode, type WeftNode } from '../src/node/index.ts'
import { STORAGE_PROTOCOL, requestOver } from '../src/storage/index.ts'
import type { BenchOptions } from './index.ts'
import { median, until } from './lib/figures.ts'

const MiB = 1024 * 1024
const SITE_MIB = Number(process.env.WEFT_BENCH_DURABILITY_MIB ?? 100)
const NODES = 8
const COPIES = 5
const RUNS = 5
const AUDIT_DEADLINE_MS = 5_000

type Online = WeftNode & { libp2p: NonNullable<WeftNode['libp2p']>, exchange: NonNullable<WeftNode['exchange']> }

export async function run (options: BenchOptions): Promise<void> {
  const log = (text: string): void => { process.stderr.write(`${text}\n`) }
  const dir = mkdtempSync(join(tmpdir(), 'weft-bench-durability-'))
  const nodes: Online[] = []
  try {
    for (let i = 0; i < NODES; i++) {
      nodes.push(await createNode({
        home: join(dir, `node-${i}`),
        online: true,
        net: { listen: ['/ip4/127.0.0.1/tcp/0'], network: { name: 'bench' }, bootstrap: [], mdns: false },
        reprovideInterval: 0,
        sites: { republishInterval: 0, pollInterval: 0 },
        configOverrides: c => ({ ...c, storage: { ...c.storage, offer: 10e9, perPeer: 10e9, auditInterval: i === 0 ? 1000 : 0, auditFailures: 2 } })
      }) as Online)
    }
    for (let i = 0; i < NODES; i++) for (const other of nodes.slice(i + 1)) await nodes[i].libp2p.dial(other.libp2p.getMultiaddrs()[0])
    const [publisher] = nodes
    const site = await publisher.sites.create('durable')
    writeFileSync(join(dir, 'site.bin'), randomBytes(SITE_MIB * MiB))
    const { root } = await importPath(publisher.blocks, join(dir, 'site.bin'), {})
    await publisher.blocks.pin(root.cid, 'recursive')
    await publisher.sites.publish('durable', root.cid)
    log(`durability: a ${SITE_MIB} MiB site, ${NODES} nodes in one process on 127.0.0.1, ${COPIES} copies`)

    const holds = (n: WeftNode): boolean => n.storage.held().some(h => h.target === site.name && h.state === 'held')
    let started = performance.now()
    const result = await publisher.storage.replicate(site.name, { copies: COPIES })
    const holders = nodes.filter(n => result.holders.includes(n.libp2p.peerId.toString()))
    const replicated = await until(() => nodes.filter(holds).length >= COPIES, 600_000, 100)
    for (const n of nodes) for (const h of n.storage.held()) if (h.state !== 'held') log(`  ${n.libp2p.peerId}: ${h.state} ${h.reason ?? ''}`)
    const replicateS = replicated ? (performance.now() - started) / 1000 : Infinity
    log(`replicate to ${COPIES}: ${replicateS.toFixed(1)} s (${(SITE_MIB * COPIES / replicateS).toFixed(0)} MiB/s sent in all)`)

    // a holder's cost to answer: 64 sampled blocks of 1 MiB per challenge
    const cids: CID[] = []
    await walkDag(publisher.blocks, root.cid, cid => { cids.push(cid) })
    const leaves = cids.filter(c => c.code === 0x55)
    const holder = holders[0]
    const ask = async (cidsAsked: CID[]): Promise<void> => {
      const answer = await requestOver(async (p, signal) => await publisher.libp2p.dialProtocol(p, STORAGE_PROTOCOL, { signal }), holder.libp2p.peerId,
        { t: 'audit', target: site.name, nonce: randomBytes(32).toString('base64'), cids: cidsAsked.map(c => c.toString()) }, { signal: AbortSignal.timeout(60_000) })
      if (answer.t !== 'proof' || answer.hashes.some(h => h === null)) throw new Error(`the holder did not prove: ${JSON.stringify(answer).slice(0, 200)}`)
    }
    const auditMs: number[] = []
    for (let i = 0; i < RUNS; i++) {
      const sample = leaves.slice((i * 64) % Math.max(1, leaves.length - 64)).slice(0, 64)
      const t0 = performance.now()
      await ask(sample)
      auditMs.push((performance.now() - t0) / (sample.length * MiB / 2 ** 30))
    }
    const auditMsPerGiB = median(auditMs)
    const honest16 = auditMsPerGiB * 16 * MiB / 2 ** 30
    log(`audit answer: ${auditMsPerGiB.toFixed(0)} ms per GiB sampled (a 16-block challenge: ~${honest16.toFixed(0)} ms)`)

    // the margin: a non-holder fetching 16 sampled blocks from the holders when challenged
    const outsider = nodes.find(n => !holders.includes(n) && n !== publisher) as Online
    const sample = leaves.slice(-16)
    const t1 = performance.now()
    await Promise.all(sample.map(async cid => await outsider.exchange.fetch(cid, { recursive: false, signal: AbortSignal.timeout(60_000) })))
    const cheatFetchMs = performance.now() - t1
    log(`a cheat fetching the 16 sampled blocks on challenge: ${cheatFetchMs.toFixed(0)} ms, against a ${AUDIT_DEADLINE_MS} ms deadline (loopback: no real network's latency or bandwidth)`)

    // repair: 2 holders gone
    started = performance.now()
    for (const gone of holders.slice(0, 2)) await gone.stop()
    const alive = nodes.filter(n => !holders.slice(0, 2).includes(n))
    const repaired = await until(() => alive.filter(holds).length >= COPIES, 600_000, 100)
    const repairS = repaired ? (performance.now() - started) / 1000 : Infinity
    log(`repair to ${COPIES} after losing 2: ${repairS.toFixed(1)} s`)

    if (options.json) {
      process.stdout.write(JSON.stringify({
        site_mib: SITE_MIB,
        copies: COPIES,
        replicate_s: Number.isFinite(replicateS) ? Number(replicateS.toFixed(2)) : null,
        repair_s: Number.isFinite(repairS) ? Number(repairS.toFixed(2)) : null,
        audit_ms_per_GiB: Number(auditMsPerGiB.toFixed(0)),
        cheat_fetch_ms: Number(cheatFetchMs.toFixed(0)),
        audit_deadline_ms: AUDIT_DEADLINE_MS
      }) + '\n')
    }
  } finally {
    for (const n of nodes) await n.stop().catch(() => {})
    rmSync(dir, { recursive: true, force: true })
  }
}
