import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { tmpDir, tmpHome } from '../helpers/home.ts'
import { runWeft, spawnWeft } from '../helpers/cli.ts'

async function packBytes (home: string): Promise<number> {
  let total = 0
  try {
    for (const name of await readdir(join(home, 'blocks'))) total += (await stat(join(home, 'blocks', name))).size
  } catch { /* not created yet */ }
  return total
}

/** Starts `weft <args>` and kills it with SIGKILL once `ready` says so; fails if it finished first. */
async function killMidway (home: string, args: string[], ready: () => Promise<boolean>): Promise<void> {
  const child = spawnWeft(args, { home })
  child.stdout?.resume()
  child.stderr?.resume()
  const exited = new Promise<NodeJS.Signals | null>(resolve => child.once('exit', (_code, signal) => { resolve(signal) }))
  let finished = false
  void exited.then(() => { finished = true })
  const deadline = Date.now() + 60_000
  while (!finished && Date.now() < deadline && !(await ready())) await sleep(5)
  child.kill('SIGKILL')
  assert.equal(await exited, 'SIGKILL', 'the command finished before it could be killed; give it more work')
}

/** Every stored block verifies, the pins are exactly `pinned`'s keys, and each reads back as its bytes. */
async function assertConsistent (home: string, pinned: Map<string, Buffer>): Promise<void> {
  const verify = await runWeft(['repo', 'verify', '--json'], { home })
  assert.equal(verify.code, 0, verify.stderr)
  assert.deepEqual(JSON.parse(verify.out).problems, [])
  const pins = JSON.parse((await runWeft(['pin', 'ls', '--json'], { home })).out)
  assert.deepEqual(pins.map((p: { cid: string }) => p.cid).sort(), [...pinned.keys()].sort())
  for (const [cid, bytes] of pinned) assert.deepEqual((await runWeft(['cat', cid], { home })).stdout, bytes)
}

test('kill -9 during add and during gc leaves no partial block and loses no pin', async t => {
  const dir = await tmpDir(t)
  const home = await tmpHome(t)
  // Large enough that gc, which copies it out of the pack the killed adds share, takes a while.
  const keep = randomBytes(48 * 1024 * 1024 + 7)
  await writeFile(join(dir, 'keep.bin'), keep)
  const kept = (await runWeft(['add', '-Q', join(dir, 'keep.bin')], { home })).out.trim()
  const pinned = new Map([[kept, keep]])

  // About 100 MiB of work: many small files, then one large file.
  const folder = join(dir, 'site')
  await mkdir(join(folder, 'small'), { recursive: true })
  for (let i = 0; i < 300; i++) await writeFile(join(folder, 'small', `f${i}.bin`), randomBytes(64 * 1024))
  await writeFile(join(folder, 'zlarge.bin'), randomBytes(80 * 1024 * 1024))

  // Kill at several depths: among the small files, inside the large file, near the end.
  for (const mib of [4, 30, 70]) {
    const before = await packBytes(home)
    await killMidway(home, ['add', folder], async () => (await packBytes(home)) - before > mib * 1024 * 1024)
    await assertConsistent(home, pinned)
  }

  // gc copies live blocks (the 48 MiB file) into a new pack, commits their moves, then drops
  // the old pack. Unpinned content in the middle of the pack (a pinned file follows it, so
  // opening the store cannot cut it away as an unindexed tail) gives every gc copying to do,
  // and a gc killed before the moves commit leaves that work to the next. Each kill is at a
  // point seen on disk, the latest halfway through the copy, with 24 MiB of copying ahead.
  await writeFile(join(dir, 'junk.bin'), randomBytes(16 * 1024 * 1024))
  const junk = (await runWeft(['add', '-Q', join(dir, 'junk.bin')], { home })).out.trim()
  assert.equal((await runWeft(['pin', 'rm', junk], { home })).code, 0)
  const tail = randomBytes(256 * 1024)
  await writeFile(join(dir, 'tail.bin'), tail)
  pinned.set((await runWeft(['add', '-Q', join(dir, 'tail.bin')], { home })).out.trim(), tail)
  for (const copied of [0, 8, 24]) {
    const packsBefore = new Set(await readdir(join(home, 'blocks')))
    await killMidway(home, ['gc'], async () => {
      const fresh = (await readdir(join(home, 'blocks'))).filter(name => !packsBefore.has(name))
      if (fresh.length === 0) return false
      let bytes = 0
      for (const name of fresh) bytes += (await stat(join(home, 'blocks', name))).size
      return bytes >= copied * 1024 * 1024
    })
    await assertConsistent(home, pinned)
  }
  // and the gc that is let run reclaims the unpinned bytes
  const gc = await runWeft(['gc', '--json'], { home })
  assert.equal(gc.code, 0, gc.stderr)
  assert.ok(JSON.parse(gc.out).bytesReclaimed >= 16 * 1024 * 1024, gc.out)
  await assertConsistent(home, pinned)

  // After all that, the add completes and the content reads back whole.
  const root = (await runWeft(['add', '-Q', folder], { home })).out.trim()
  assert.match(root, /^bafybei/)
  const out = join(dir, 'out')
  assert.equal((await runWeft(['get', root, '-o', out], { home })).code, 0)
  assert.equal((await stat(join(out, 'zlarge.bin'))).size, 80 * 1024 * 1024)
  const verify = await runWeft(['repo', 'verify', '--json'], { home })
  assert.deepEqual(JSON.parse(verify.out).problems, [])
})
