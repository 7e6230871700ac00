/**
 * `npm run bench -- private [--json]`: issue 13's private store speed. One offline node in
 * a temporary home, in this process; MB here is 2^20 bytes.
 *
 * - aead: XChaCha20-Poly1305 over a 64 MiB buffer as the store seals a file (STREAM, 1 MiB
 *   segments; HChaCha20 from noble, the bulk in OpenSSL): the ceiling for a private put.
 *   Beside it, noble's pure-JS xchacha20poly1305 on the same bytes.
 * - plain add / cat: a 64 MiB file imported as `weft add` does (importPath, raw leaves,
 *   1 MiB chunks) from a fresh random file each run, then read back verified (readFile).
 * - private put / get: the same size through `node.private.put` (pad, seal, import, sign
 *   the index) and `node.private.read` (read verified, open a segment at a time: what
 *   `weft private get` and `GET /.weft/private/<path>` stream), counted as cat is.
 *
 * Each is run RUNS times, interleaved, after the process settles; the median counts. Targets (issue 13):
 * private put and get at 50% or more of plain add and cat.
 *
 * Then device sync (private-sync.ts): a 1 MiB change on one device reaching the person's
 * second device on 127.0.0.1, p95 under 2 s, beside a plain 1 MiB fetch between the same nodes.
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js'
import type { CID } from 'multiformats/cid'
import { importPath, readFile } from '../src/content/index.ts'
import { createNode } from '../src/node/index.ts'
import { sealFile } from '../src/private/index.ts'
import type { BenchOptions } from './index.ts'
import { median, settle, verdict } from './lib/figures.ts'
import { measureSync } from './private-sync.ts'

const MiB = 1024 * 1024
const FILE_BYTES = 64 * MiB
const RUNS = 5
const TARGET_PCT_OF_PLAIN = 50
const SITE = 'k51qzi5uqu5dlvj2baxnqndepeb86cbk3ng7n3i46uzyxzyqj2xjonzllnv0v8'
/** ms the process may take to go quiet before a timed run. */
const SETTLE_MS = 5_000

const mbps = (bytes: number, ms: number): number => Number(((bytes / MiB) / (ms / 1000)).toFixed(1))

export async function run (options: BenchOptions): Promise<void> {
  const log = (text: string): void => { process.stderr.write(`${text}\n`) }
  const dir = mkdtempSync(join(tmpdir(), 'weft-bench-private-'))
  const node = await createNode({ home: join(dir, 'home') })
  try {
    const key = randomBytes(32)
    const data = randomBytes(FILE_BYTES)
    log(`private store: ${FILE_BYTES / MiB} MiB, ${RUNS} runs each, median`)

    const files = Array.from({ length: RUNS }, (_, i) => {
      const path = join(dir, `plain-${i}.bin`)
      writeFileSync(path, randomBytes(FILE_BYTES))
      return path
    })
    // interleaved, run by run, so a neighbour's load on a shared machine falls on plain and private alike
    const times = { aead: [] as number[], noble: [] as number[], add: [] as number[], cat: [] as number[], put: [] as number[], get: [] as number[] }
    const time = async (into: number[], once: () => Promise<unknown> | unknown): Promise<void> => {
      await settle(SETTLE_MS)
      const start = performance.now()
      await once()
      into.push(performance.now() - start)
    }
    for (let i = 0; i < RUNS; i++) {
      await time(times.aead, () => sealFile(key, data))
      await time(times.noble, () => xchacha20poly1305(key, randomBytes(24)).encrypt(data))
      let root: CID | undefined
      await time(times.add, async () => { root = (await importPath(node.blocks, files[i], {})).root.cid })
      await time(times.put, async () => { await node.private.put(SITE, `file-${i}.bin`, data) })
      await time(times.cat, async () => {
        let bytes = 0
        for await (const chunk of readFile(node.blocks, root as CID)) bytes += chunk.byteLength
        if (bytes !== FILE_BYTES) throw new Error(`cat read ${bytes} bytes`)
      })
      // read as plain cat is: block by block (each segment released once authenticated), counted, not gathered
      await time(times.get, async () => {
        let bytes = 0
        for await (const chunk of node.private.read(SITE, `file-${i}.bin`)) bytes += chunk.byteLength
        if (bytes !== FILE_BYTES) throw new Error(`get read ${bytes} bytes`)
      })
    }
    const [aeadMs, nobleMs, addMs, catMs, putMs, getMs] = [times.aead, times.noble, times.add, times.cat, times.put, times.get].map(median)

    const figures = {
      file_bytes: FILE_BYTES,
      aead_MBps: mbps(FILE_BYTES, aeadMs),
      noble_aead_MBps: mbps(FILE_BYTES, nobleMs),
      plain_add_MBps: mbps(FILE_BYTES, addMs),
      plain_cat_MBps: mbps(FILE_BYTES, catMs),
      private_put_MBps: mbps(FILE_BYTES, putMs),
      private_get_MBps: mbps(FILE_BYTES, getMs)
    }
    const putPct = Math.round(100 * figures.private_put_MBps / figures.plain_add_MBps)
    const getPct = Math.round(100 * figures.private_get_MBps / figures.plain_cat_MBps)
    const result = { ...figures, put_pct_of_add: putPct, get_pct_of_cat: getPct, target_pct: TARGET_PCT_OF_PLAIN }
    log(`ceiling   XChaCha20-Poly1305 (STREAM, OpenSSL bulk)  ${figures.aead_MBps} MB/s   (noble pure JS: ${figures.noble_aead_MBps} MB/s)`)
    log(`put       private ${figures.private_put_MBps} MB/s   plain add ${figures.plain_add_MBps} MB/s   ${putPct}% (target ≥ ${TARGET_PCT_OF_PLAIN}%)  ${verdict(putPct >= TARGET_PCT_OF_PLAIN)}`)
    log(`get       private ${figures.private_get_MBps} MB/s   plain cat ${figures.plain_cat_MBps} MB/s   ${getPct}% (target ≥ ${TARGET_PCT_OF_PLAIN}%)  ${verdict(getPct >= TARGET_PCT_OF_PLAIN)}`)
    const sync = await measureSync(dir, SITE, log)
    if (options.json) process.stdout.write(`${JSON.stringify({ ...result, ...sync })}\n`)
  } finally {
    await node.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}
