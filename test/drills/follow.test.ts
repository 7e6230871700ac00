import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { tmpDir, tmpHome } from '../helpers/home.ts'
import { createTestNode } from '../helpers/testnet.ts'
import { KILLS, assertHomeSound, dagComplete, killFractions, runThenKill, startGated, withHome, type GatedProcess } from '../helpers/drill.ts'
import { ApiClient, readApiEndpoint } from '../../src/api/index.ts'
import { importPath, parseContentPath } from '../../src/content/index.ts'

const SEED = 110_002
/** How long a restarted follower may take to find the publisher and finish a version. */
const CATCH_UP_MS = 60_000

/** Polls `condition` every few ms until it holds; fails with `what` after `ms`. */
async function until (condition: () => boolean | Promise<boolean>, ms: number, what: () => string): Promise<void> {
  const deadline = performance.now() + ms
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting: ${what()}`)
    await sleep(5)
  }
}

test(`kill -9 at ${KILLS} random moments of a follower daemon's fetch: the home stays sound, the sequence never goes back, and the restarted follower catches up by itself`, async t => {
  const work = await tmpDir(t)
  // The publisher runs in this process, on 127.0.0.1; the follower is a real daemon whose
  // config bootstraps to it, so every restart finds it again without help.
  const publisher = await createTestNode(t)
  const site = await publisher.sites.create('s')
  const home = await tmpHome(t)
  await withHome(home, async node => {
    node.repo.saveConfig({
      ...node.repo.config,
      network: { name: 'testnet' },
      bootstrap: [publisher.libp2p.getMultiaddrs()[0].toString()],
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0'], api: '/ip4/127.0.0.1/tcp/0', gateway: '/ip4/127.0.0.1/tcp/0' }
    })
    await node.sites.follow(site.name)
  })

  /** Publishes version i: many small blocks and a large file, so the fetch takes a while. */
  const publish = async (i: number): Promise<{ root: string, files: number }> => {
    const dir = join(work, `v${i}`)
    await mkdir(dir, { recursive: true })
    for (let f = 0; f < 200; f++) await writeFile(join(dir, `f${f}.bin`), randomBytes(16 * 1024))
    await writeFile(join(dir, 'large.bin'), randomBytes(4 * 1024 * 1024 + i))
    const { root, entries } = await importPath(publisher.blocks, dir, {})
    await publisher.blocks.pin(root.cid, 'recursive')
    const published = await publisher.sites.publish('s', root.cid, { signal: AbortSignal.timeout(10_000) })
    assert.equal(published.sequence, BigInt(i))
    return { root: root.cid.toString(), files: entries.length }
  }
  // Its sites log goes to stderr, for the message of a failed wait.
  const daemon = async (): Promise<GatedProcess> => await startGated(t, home, ['daemon'], { DEBUG: 'weft:sites*' })
  const followed = async (p: GatedProcess): Promise<{ sequence?: string, fetched: boolean }> => {
    const endpoint = await readApiEndpoint(home)
    if (endpoint === undefined || !p.output().stdout.includes('daemon is ready')) return { fetched: false }
    const f = (await new ApiClient(endpoint.url, endpoint.token).following()).find(x => x.name === site.name)
    return { sequence: f?.sequence, fetched: f?.fetched === true }
  }
  /** Waits until the running follower holds version `i` whole, by its own account. */
  const caughtUp = async (p: GatedProcess, i: number): Promise<void> => {
    await until(async () => {
      const f = await followed(p).catch(() => ({ sequence: undefined, fetched: false }))
      return f.fetched && f.sequence === String(i)
    }, CATCH_UP_MS, () => `the follower to hold version ${i}: ${p.output().stderr.slice(-2000)}`)
  }

  let sequence = -1n
  const check = async (when: string): Promise<{ fetched: boolean }> => await withHome(home, async node => {
    await assertHomeSound(node, when)
    const info = (await node.sites.following()).find(f => f.name === site.name)
    assert.ok(info !== undefined, `${when}: the follow is gone`)
    const now = info.sequence ?? -1n
    assert.ok(now >= sequence, `${when}: the followed sequence went back from ${sequence} to ${now}`)
    sequence = now
    if (info.fetched) assert.ok(await dagComplete(node, parseContentPath(info.root as string).cid), `${when}: the follow says version ${now} is held, but blocks are missing`)
    return { fetched: info.fetched }
  })

  // Round 0 runs to the end: it measures the fetch, from the first block the publisher
  // sends to the follower holding the version, and the kills spread over that span.
  let next = daemon()
  const fractions = killFractions(SEED)
  let fetchSpan = 0
  const outcomes: Array<{ killed: boolean, delay: number }> = []
  for (let i = 0; i <= KILLS; i++) {
    const version = await publish(i)
    const p = await next
    const sentBefore = publisher.exchange.stats.blocksSent
    const started = p.go()
    next = daemon()
    await until(() => publisher.exchange.stats.blocksSent > sentBefore, CATCH_UP_MS, () => `the follower to start fetching version ${i}: ${p.output().stderr.slice(-2000)}`)
    const fetchBegan = performance.now()
    if (i === 0) {
      await caughtUp(p, 0)
      fetchSpan = performance.now() - fetchBegan
      t.diagnostic(`follow: version 0 (${version.files} files) fetched in ${Math.round(performance.now() - fetchBegan)} ms, ${Math.round(fetchBegan - started)} ms after the daemon began`)
      p.child.kill('SIGKILL')
      await p.exited
      assert.ok((await check('after the follower fetched version 0 and was killed')).fetched)
      continue
    }
    const delay = Math.round(fractions[i - 1] * fetchSpan)
    const { killed, exit } = await runThenKill(p, delay, fetchBegan)
    assert.ok(killed, `the follower daemon exited by itself: ${exit.stderr}`)
    const held = await check(`after the follower was killed ${delay} ms into fetching version ${i} (seed ${SEED})`)
    outcomes.push({ killed: !held.fetched || sequence !== BigInt(i), delay })
  }

  // No new version now: the last, interrupted one must complete after a restart, by itself.
  const last = await next
  const restarted = performance.now()
  last.go()
  await caughtUp(last, KILLS)
  const catchUp = performance.now() - restarted
  last.child.kill('SIGTERM')
  assert.equal((await last.exited).code, 0)
  assert.ok((await check('after the restarted follower caught up')).fetched)
  assert.equal(sequence, BigInt(KILLS))
  const landed = outcomes.filter(o => o.killed).length
  t.diagnostic(`follow: seed ${SEED}, ${landed}/${KILLS} kills landed before the version was held (moments: ${outcomes.map(o => `${o.delay}${o.killed ? '' : '(done)'}`).join(' ')}); the last restart caught up in ${Math.round(catchUp)} ms`)
  assert.ok(landed >= KILLS / 2, `only ${landed} of ${KILLS} kills landed before the fetch finished`)
})
