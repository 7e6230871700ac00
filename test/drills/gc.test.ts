import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { tmpDir, tmpHome } from '../helpers/home.ts'
import { KILLS, assertHomeSound, dagComplete, runCommandDrill, startGated, withHome } from '../helpers/drill.ts'
import { Operations } from '../../src/api/index.ts'
import { parseContentPath } from '../../src/content/index.ts'
import { CID } from 'multiformats/cid'

const SEED = 110_003

async function folder (root: string, name: string, files: number, large: number): Promise<string> {
  const dir = join(root, name)
  await mkdir(dir, { recursive: true })
  for (let f = 0; f < files; f++) await writeFile(join(dir, `f${f}.bin`), randomBytes(16 * 1024))
  await writeFile(join(dir, 'large.bin'), randomBytes(large))
  return dir
}

test(`kill -9 at ${KILLS} random moments of \`weft gc\`: pins and a followed site's version stay whole, and the space of the garbage is reclaimed in the end`, async t => {
  const work = await tmpDir(t)
  const home = await tmpHome(t)
  const publisherHome = await tmpHome(t)

  // A followed site's version, held by the follow (not by a pin): another home publishes
  // it, this one holds the same blocks and the record, as a follower does once it fetched.
  const site = await folder(work, 'site', 200, 4 * 1024 * 1024)
  const record = await withHome(publisherHome, async node => {
    const { name } = await node.sites.create('p')
    const published = await new Operations(node).publish(site, { site: 'p' })
    return { name, root: CID.parse(published.root), bytes: node.sites.record(name) as Uint8Array }
  })
  const kept = await folder(work, 'kept', 200, 6 * 1024 * 1024)
  const pins = await withHome(home, async node => {
    const ops = new Operations(node)
    await ops.add([site], { pin: false })
    await node.sites.follow(record.name)
    await node.sites.receive(record.name, record.bytes)
    await ops.add([kept], {})
    await writeFile(join(work, 'direct.bin'), randomBytes(100_000))
    const direct = (await ops.add([join(work, 'direct.bin')], { pin: false })).roots[0].cid
    await ops.pinAdd([direct], true)
    return await ops.pinLs()
  })
  assert.equal(pins.length, 2)

  const check = async (i: number, when: string): Promise<void> => {
    await withHome(home, async node => {
      if (i >= 0) {
        await assertHomeSound(node, when)
        assert.deepEqual(await new Operations(node).pinLs(), pins, `${when}: the pins changed`)
        assert.equal(parseContentPath((await node.sites.info(record.name)).current?.value ?? '/ipfs/bafkqaaa').cid.toString(), record.root.toString(), `${when}: the followed record changed`)
        assert.ok(await dagComplete(node, record.root), `${when}: gc took blocks of the followed site's version`)
      }
      // Fresh garbage for the next round, written among the live blocks, so gc has packs to rewrite.
      await new Operations(node).add([await folder(work, `garbage-${i + 1}`, 100, 4 * 1024 * 1024)], { pin: false })
    })
  }
  await check(-1, 'before the drill')
  const summary = await runCommandDrill(t, { name: 'gc', seed: SEED, start: async () => await startGated(t, home, ['gc']), check })
  t.diagnostic(summary)

  // However many gc runs died, one that finishes leaves no dead bytes on disk.
  await withHome(home, async node => {
    await node.blocks.gc()
    const stat = node.blocks.stat()
    assert.equal(stat.packBytes, stat.bytes, 'dead bytes stayed in the packs after a complete gc')
    await assertHomeSound(node, 'after a last, complete gc')
  })
})
