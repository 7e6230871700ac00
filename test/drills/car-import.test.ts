import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { tmpDir, tmpHome } from '../helpers/home.ts'
import { KILLS, assertHomeSound, runCommandDrill, startGated, withHome } from '../helpers/drill.ts'
import { Operations } from '../../src/api/index.ts'
import { createNode } from '../../src/node/index.ts'

const SEED = 110_004

test(`kill -9 at ${KILLS} random moments of \`weft car import\`: each archive's root is pinned whole or not at all, and importing it again works`, async t => {
  const work = await tmpDir(t)
  const home = await tmpHome(t)
  // The archives come from another home, kept open for the whole drill.
  const source = new Operations(await createNode({ home: await tmpHome(t) }))
  t.after(async () => { await source.node.stop() })
  const archives: Array<{ file: string, root: string }> = []
  const archive = async (i: number): Promise<string> => {
    const dir = join(work, `content-${i}`)
    await mkdir(dir, { recursive: true })
    for (let f = 0; f < 64; f++) await writeFile(join(dir, `f${f}.bin`), randomBytes(32 * 1024))
    await writeFile(join(dir, 'large.bin'), randomBytes(3 * 1024 * 1024 + i))
    const root = (await source.add([dir], { pin: false })).roots[0].cid
    const chunks: Uint8Array[] = []
    for await (const chunk of source.carExport(root, { offline: true })) chunks.push(chunk)
    const file = join(work, `content-${i}.car`)
    await writeFile(file, Buffer.concat(chunks))
    archives[i] = { file, root }
    return file
  }

  let pinned = new Set<string>()
  const summary = await runCommandDrill(t, {
    name: 'car import',
    seed: SEED,
    start: async i => await startGated(t, home, ['car', 'import', await archive(i)]),
    check: async (i, when, finished) => {
      await withHome(home, async node => {
        // Every pin whole (so a pinned root is a whole import), nothing else broken.
        await assertHomeSound(node, when)
        const now = new Set((await new Operations(node).pinLs()).map(p => p.cid))
        for (const cid of pinned) assert.ok(now.has(cid), `${when}: the pin on ${cid}, imported before, is gone`)
        for (const cid of now) assert.ok(archives.some(a => a.root === cid), `${when}: a pin on ${cid} that no archive has`)
        if (finished) assert.ok(now.has(archives[i].root), `${when}: the import finished but its root is not pinned`)
        pinned = now
      })
    }
  })
  t.diagnostic(summary)

  // An import a kill cut short works when it is run again.
  await withHome(home, async node => {
    const ops = new Operations(node)
    for (const { file, root } of archives.filter(a => !pinned.has(a.root))) {
      assert.deepEqual((await ops.carImport(createReadStream(file), true)).roots, [root])
    }
    assert.equal((await ops.pinLs()).length, KILLS + 1)
    await assertHomeSound(node, 'after importing again what the kills cut short')
  })
})
