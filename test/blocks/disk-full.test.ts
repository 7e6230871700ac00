import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { statfsSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import { importPath } from '../../src/content/index.ts'
import { createNode } from '../../src/node/index.ts'
import { isWeftError } from '../../src/errors.ts'
import { tmpDir } from '../helpers/home.ts'
import { runWeft } from '../helpers/cli.ts'

const MiB = 1024 * 1024
/** Room for a home (config, keys, weft.db and its WAL) and a few MiB of blocks. */
const DISK_SIZE = '24m'
/** What the filler leaves free: less than the file added next needs. */
const LEFT_FREE = MiB

/**
 * A real, small filesystem (tmpfs, mounted for this test and unmounted after it), so writes
 * fail with ENOSPC as on a full disk. The tests run as root here and in CI.
 */
async function tinyDisk (t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'weft-disk-'))
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${DISK_SIZE}`, 'tmpfs', dir])
  t.after(async () => {
    execFileSync('umount', ['-l', dir])
    await rm(dir, { recursive: true, force: true })
  })
  return dir
}

/** Fills the disk under `dir` until LEFT_FREE bytes are free; returns the filler's path. */
async function fill (dir: string): Promise<string> {
  const { bavail, bsize } = statfsSync(dir)
  const filler = join(dir, 'filler')
  await writeFile(filler, Buffer.alloc(Math.max(0, bavail * bsize - LEFT_FREE)))
  return filler
}

async function packBytes (home: string): Promise<number> {
  let total = 0
  for (const name of await readdir(join(home, 'blocks'))) total += (await stat(join(home, 'blocks', name))).size
  return total
}

test('a full disk is ERR_DISK_FULL; the failed write is cut at once and the same open store works again as soon as space frees', async t => {
  const disk = await tinyDisk(t)
  const home = join(disk, 'home')
  const node = await createNode({ home })
  t.after(async () => { await node.stop() })
  const src = await tmpDir(t)
  await writeFile(join(src, 'small.bin'), randomBytes(100_000))
  const big = randomBytes(3 * MiB + 5)
  await writeFile(join(src, 'big.bin'), big)
  const small = await importPath(node.blocks, join(src, 'small.bin'), {})
  await node.blocks.pin(small.root.cid)
  const before = node.blocks.stat()
  const filler = await fill(disk)

  await assert.rejects(importPath(node.blocks, join(src, 'big.bin'), {}), (err: unknown) => isWeftError(err, 'ERR_DISK_FULL'))
  // nothing that was never stored counts, and the unindexed tail is gone already
  assert.deepEqual(node.blocks.stat(), before)
  assert.equal(await packBytes(home), before.packBytes)
  assert.ok(statfsSync(disk).bavail * statfsSync(disk).bsize >= LEFT_FREE / 2, 'the failed write gave its space back')
  // still full, the store answers: verify, stat, gc
  assert.deepEqual((await node.blocks.verify()).problems, [])
  assert.equal((await node.blocks.gc()).blocks, 0)

  await rm(filler)
  const added = await importPath(node.blocks, join(src, 'big.bin'), {})
  await node.blocks.pin(added.root.cid)
  const after = node.blocks.stat()
  assert.equal(after.blocks, before.blocks + 5, 'three 1 MiB leaves, one small leaf and the file node')
  assert.ok(after.bytes > before.bytes + big.byteLength)
  assert.equal(after.packBytes, after.bytes, 'no dead bytes left in the packs')
  const report = await node.blocks.verify()
  assert.deepEqual(report.problems, [])
  assert.equal(report.ok, after.blocks)
  assert.equal((await node.blocks.gc()).blocks, 0)
})

test('a full disk met by the thread that writes a large file is ERR_DISK_FULL; the store is cut back at once and works again as soon as space frees', async t => {
  const disk = await tinyDisk(t)
  const home = join(disk, 'home')
  const node = await createNode({ home })
  t.after(async () => { await node.stop() })
  const src = await tmpDir(t)
  // From 8 MiB a file goes through the import's own thread (content/import.ts).
  const big = randomBytes(12 * MiB + 5)
  await writeFile(join(src, 'big.bin'), big)
  const before = node.blocks.stat()
  const filler = await fill(disk)

  await assert.rejects(importPath(node.blocks, join(src, 'big.bin'), {}), (err: unknown) => isWeftError(err, 'ERR_DISK_FULL'))
  assert.deepEqual(node.blocks.stat(), before)
  assert.equal(await packBytes(home), before.packBytes)
  assert.deepEqual((await node.blocks.verify()).problems, [])

  await rm(filler)
  const added = await importPath(node.blocks, join(src, 'big.bin'), {})
  await node.blocks.pin(added.root.cid)
  const after = node.blocks.stat()
  assert.equal(after.blocks, before.blocks + 14, 'twelve 1 MiB leaves, one small leaf and the file node')
  assert.equal(after.packBytes, after.bytes, 'no dead bytes left in the packs')
  assert.deepEqual((await node.blocks.verify()).problems, [])
})

test('a full disk met by an automatic flush (thousands of small blocks) still fails the add with ERR_DISK_FULL, not later at the pin', async t => {
  const disk = await tinyDisk(t)
  const home = join(disk, 'home')
  const node = await createNode({ home })
  t.after(async () => { await node.stop() })
  const src = await tmpDir(t)
  const folder = join(src, 'many')
  await mkdir(folder)
  // more blocks than one automatic flush takes (4096), more bytes than are left free
  for (let i = 0; i < 5000; i++) await writeFile(join(folder, `f${i}`), randomBytes(400))
  const filler = await fill(disk)
  await assert.rejects(importPath(node.blocks, folder, {}), (err: unknown) => isWeftError(err, 'ERR_DISK_FULL'))
  const report = await node.blocks.verify()
  assert.deepEqual(report.problems, [])
  assert.equal(report.ok, node.blocks.stat().blocks, 'stat counts exactly the blocks that are stored')
  assert.equal(await packBytes(home), node.blocks.stat().bytes, 'no unindexed tail left')

  await rm(filler)
  const added = await importPath(node.blocks, folder, {})
  await node.blocks.pin(added.root.cid)
  assert.deepEqual((await node.blocks.verify()).problems, [])
})

test('weft add on a full disk exits 7 with ERR_DISK_FULL, counts nothing, and works once space frees', async t => {
  const disk = await tinyDisk(t)
  const home = join(disk, 'home')
  const src = await tmpDir(t)
  await writeFile(join(src, 'small.bin'), randomBytes(100_000))
  await writeFile(join(src, 'big.bin'), randomBytes(3 * MiB + 5))
  assert.equal((await runWeft(['add', '-Q', join(src, 'small.bin')], { home })).code, 0)
  const before = JSON.parse((await runWeft(['repo', 'stat', '--json'], { home })).out)
  const filler = await fill(disk)

  const full = await runWeft(['add', '-Q', join(src, 'big.bin')], { home })
  assert.equal(full.code, 7, full.stderr)
  assert.match(full.stderr, /ERR_DISK_FULL|disk .* is full/)
  assert.doesNotMatch(full.stderr, /ERR_INTERNAL|a bug/)
  const still = JSON.parse((await runWeft(['repo', 'stat', '--json'], { home })).out)
  assert.equal(still.blocks, before.blocks)
  assert.equal(still.bytes, before.bytes)
  assert.equal(still.diskBytes, before.diskBytes)

  await rm(filler)
  const added = await runWeft(['add', '-Q', join(src, 'big.bin')], { home })
  assert.equal(added.code, 0, added.stderr)
  const verify = await runWeft(['repo', 'verify'], { home })
  assert.equal(verify.code, 0, verify.stderr)
  const after = JSON.parse((await runWeft(['repo', 'stat', '--json'], { home })).out)
  assert.equal(after.blocks, before.blocks + 5)
  assert.equal(after.diskBytes, after.bytes)
})
