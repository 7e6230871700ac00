/**
 * Files of 8 MiB and more are read, hashed and written into the packs by the import's own
 * thread (content/import.ts, chunk-worker.ts). When such an import stops half way (the
 * caller aborts, or the file shrinks under it), the store stays whole: every byte in the
 * packs belongs to an indexed block that verifies (blocks written before the stop may stay,
 * unpinned, until gc, as with any interrupted add), the pins are as they were, and the
 * next add of the same file works.
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readdir, stat, truncate, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { importPath } from '../../src/content/index.ts'
import { isWeftError } from '../../src/errors.ts'
import { createNode, type WeftNode } from '../../src/node/index.ts'
import { tmpDir, tmpHome } from '../helpers/home.ts'

const MiB = 1024 * 1024

async function startNode (t: TestContext): Promise<{ node: WeftNode, home: string }> {
  let node: WeftNode | undefined
  t.after(async () => { await node?.stop() })
  const home = await tmpHome(t)
  node = await createNode({ home })
  return { node, home }
}

async function packBytes (home: string): Promise<number> {
  let total = 0
  for (const name of await readdir(join(home, 'blocks'))) total += (await stat(join(home, 'blocks', name))).size
  return total
}

/** Every byte in the packs belongs to an indexed block that verifies; the pins are `pins`. */
async function assertWhole (node: WeftNode, home: string, pins: string[]): Promise<void> {
  const stat = node.blocks.stat()
  assert.equal(await packBytes(home), stat.bytes, 'no unindexed tail in the packs')
  const report = await node.blocks.verify()
  assert.deepEqual(report.problems, [])
  assert.equal(report.ok, stat.blocks)
  assert.deepEqual(node.blocks.pins().map(p => p.cid.toString()), pins)
}

test('an add aborted while the thread writes a large file leaves the store whole, and the next add works', async t => {
  const { node, home } = await startNode(t)
  const dir = await tmpDir(t)
  const small = await importPath(node.blocks, await writeTo(join(dir, 'small.bin'), randomBytes(100_000)))
  await node.blocks.pin(small.root.cid)
  const before = node.blocks.stat()
  const pins = [small.root.cid.toString()]
  const path = await writeTo(join(dir, 'big.bin'), randomBytes(40 * MiB))
  const controller = new AbortController()
  let seen = 0
  await assert.rejects(importPath(node.blocks, path, {
    signal: controller.signal,
    onProgress: e => { seen = e.bytes; if (e.bytes >= 2 * MiB) controller.abort() }
  }), (err: Error) => err.name === 'AbortError')
  assert.ok(seen >= 2 * MiB && seen < 40 * MiB, `aborted part way (${seen} bytes seen)`)
  await assertWhole(node, home, pins)

  const added = await importPath(node.blocks, path)
  await node.blocks.pin(added.root.cid)
  assert.equal(node.blocks.stat().blocks, before.blocks + 41, 'forty 1 MiB leaves and the file node')
  await assertWhole(node, home, [...pins, added.root.cid.toString()].sort())
})

test('a large file that shrinks while it is added fails with ERR_PATH_UNREADABLE and leaves the store whole', async t => {
  const { node, home } = await startNode(t)
  const dir = await tmpDir(t)
  const path = await writeTo(join(dir, 'big.bin'), randomBytes(40 * MiB))
  let cut = false
  await assert.rejects(importPath(node.blocks, path, {
    onProgress: () => {
      if (cut) return
      cut = true
      // The thread reads at most a few chunks ahead of what the importer has taken.
      truncate(path, 20 * MiB).catch(() => {})
    }
  }), (err: unknown) => isWeftError(err, 'ERR_PATH_UNREADABLE') && /shrank/.test(err.message))
  assert.ok(cut)
  await assertWhole(node, home, [])
})

async function writeTo (path: string, bytes: Uint8Array): Promise<string> {
  await writeFile(path, bytes)
  return path
}
