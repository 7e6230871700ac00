/**
 * `npm run bench -- sitedb [--json]`: a site database of 100,000 contribution rows
 * (10,000 users with 10 posts each, the issue 12 benchmark's size), read through
 * SiteDb.query, which runs SQL in a killable child process.
 *
 * - fill: putUser for each user (10 rows), and one user at the per-user cap.
 * - query: an indexed lookup by id and an `ORDER BY date DESC LIMIT 50`, each 1,000
 *   times; target p95 under 5 ms. Beside them, the same statements on an in-process
 *   node:sqlite connection to the same file: the difference is what the process
 *   boundary costs.
 * - runaway: a recursive query that never ends, with a 1 s deadline: when it comes back,
 *   the longest the event loop went without a turn meanwhile, and the next query's time
 *   (it starts a new query process).
 *
 * WEFT_BENCH_USERS changes the user count for a quicker look.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { MAX_ROWS_PER_FILE, MAX_ROWS_PER_USER, openSiteDb, parseDbSchema, type SiteDbSchema } from '../src/users/index.ts'
import type { BenchOptions } from './index.ts'
import { quantile, timed } from './lib/figures.ts'
import { FORUM_DB, forumPosts, LOOKUP, measureQueries, POSTS_PER_USER, TARGET_QUERY_P95_MS } from './lib/site-db-queries.ts'

const USERS = Number(process.env.WEFT_BENCH_USERS ?? 10_000)
const QUERIES = 1_000
const RUNAWAY_TIMEOUT_MS = 1_000

/** The forum's posts, and more/*.json for the per-user cap. */
const SCHEMA = parseDbSchema({
  db: { ...FORUM_DB, maps: [...FORUM_DB.maps, { file: 'more/*.json', table: 'posts' }] }
}) as SiteDbSchema

const RUNAWAY = 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c'

const ms = (x: number): number => Number(x.toFixed(3))
const encode = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v))

export async function run (options: BenchOptions): Promise<void> {
  const say = (line: string): void => { (options.json ? process.stderr : process.stdout).write(line + '\n') }
  const dir = mkdtempSync(join(tmpdir(), 'weft-bench-sitedb-'))
  const path = join(dir, 'site.db')
  const db = await openSiteDb({ path }, { schema: SCHEMA, queryTimeout: RUNAWAY_TIMEOUT_MS })
  try {
    const puts: number[] = []
    for (let u = 0; u < USERS; u++) {
      const posts = forumPosts(u)
      const start = performance.now()
      db.putUser(`user${u}`, new Map([['posts.json', encode({ posts })]]))
      puts.push(performance.now() - start)
    }
    db.markBuilt()
    const rows = USERS * POSTS_PER_USER
    say(`filled ${rows} rows from ${USERS} users: put p50 ${quantile(puts, 0.5).toFixed(2)} ms, p95 ${quantile(puts, 0.95).toFixed(2)} ms`)

    const capFiles = new Map<string, Uint8Array>()
    for (let f = 0; f * MAX_ROWS_PER_FILE < MAX_ROWS_PER_USER; f++) {
      capFiles.set(`more/${f}.json`, encode(Array.from({ length: MAX_ROWS_PER_FILE }, (_, i) => ({ id: `cap-${f}-${i}`, title: 'capped', body: 'y'.repeat(100), date: -1 }))))
    }
    const capBytes = [...capFiles.values()].reduce((n, b) => n + b.byteLength, 0)
    const capStart = performance.now()
    db.putUser('capped', capFiles)
    const capMs = performance.now() - capStart
    db.removeUser('capped')
    say(`one user at the cap (${MAX_ROWS_PER_USER} rows, ${(capBytes / 1024 / 1024).toFixed(1)} MiB of JSON): put ${capMs.toFixed(0)} ms`)

    const coldStart = performance.now()
    await db.query('SELECT 1')
    const coldMs = performance.now() - coldStart

    const figures = await measureQueries(async (sql, params) => await db.query(sql, params), path, USERS, QUERIES)
    const { lookups, newest } = figures

    let worstGap = 0
    let last = performance.now()
    const ticker = setInterval(() => { const now = performance.now(); worstGap = Math.max(worstGap, now - last); last = now }, 5)
    const runawayStart = performance.now()
    const outcome = await db.query(RUNAWAY).then(() => 'answered', (err: Error & { code?: string }) => err.code ?? err.message)
    const runawayMs = performance.now() - runawayStart
    clearInterval(ticker)
    const afterStart = performance.now()
    await db.query(LOOKUP, ['1-1'])
    const afterMs = performance.now() - afterStart

    const result = {
      rows,
      users: USERS,
      put_p50_ms: ms(quantile(puts, 0.5)),
      put_p95_ms: ms(quantile(puts, 0.95)),
      put_at_cap_ms: ms(capMs),
      query_process_start_ms: ms(coldMs),
      lookup_p50_ms: ms(quantile(lookups, 0.5)),
      lookup_p95_ms: ms(quantile(lookups, 0.95)),
      newest50_p50_ms: ms(quantile(newest, 0.5)),
      newest50_p95_ms: ms(quantile(newest, 0.95)),
      direct_lookup_p95_ms: ms(figures.directLookupP95),
      direct_newest50_p95_ms: ms(figures.directNewestP95),
      runaway: outcome,
      runaway_stopped_ms: ms(runawayMs),
      runaway_worst_loop_gap_ms: ms(worstGap),
      query_after_runaway_ms: ms(afterMs)
    }
    const verdict = (p95: number): string => p95 < TARGET_QUERY_P95_MS ? 'PASS' : 'MISS'
    say('')
    say(`site db — ${rows} rows, queries in a child process (beside: the same statement in-process)`)
    say(`indexed lookup        p50 ${result.lookup_p50_ms} ms   p95 ${result.lookup_p95_ms} ms   in-process p95 ${result.direct_lookup_p95_ms} ms   target < ${TARGET_QUERY_P95_MS} ms ${verdict(result.lookup_p95_ms)}`)
    say(`ORDER BY … LIMIT 50   p50 ${result.newest50_p50_ms} ms   p95 ${result.newest50_p95_ms} ms   in-process p95 ${result.direct_newest50_p95_ms} ms   target < ${TARGET_QUERY_P95_MS} ms ${verdict(result.newest50_p95_ms)}`)
    say(`query process start   ${coldMs.toFixed(0)} ms (first query)`)
    say(`runaway query         ${outcome} after ${runawayMs.toFixed(0)} ms (deadline ${RUNAWAY_TIMEOUT_MS} ms)   event loop's worst gap ${worstGap.toFixed(0)} ms   next query ${afterMs.toFixed(0)} ms   ${outcome === 'ERR_QUERY_TIMEOUT' && runawayMs < RUNAWAY_TIMEOUT_MS * 1.5 ? 'PASS' : 'MISS'}`)
    if (options.json) process.stdout.write(JSON.stringify(result) + '\n')
  } finally {
    await db.close()
    rmSync(dir, { recursive: true, force: true })
  }
}
