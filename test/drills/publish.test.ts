import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { tmpDir, tmpHome } from '../helpers/home.ts'
import { KILLS, assertHomeSound, dagComplete, runCommandDrill, startGated, withHome } from '../helpers/drill.ts'
import { cat, parseContentPath } from '../../src/content/index.ts'
import type { WeftNode } from '../../src/node/index.ts'

const SEED = 110_001

/** A folder for version `i`: small files, one large one (several chunks), and a marker saying which version it is. */
async function versionFolder (root: string, i: number): Promise<string> {
  const dir = join(root, `v${i}`)
  await mkdir(join(dir, 'small'), { recursive: true })
  for (let f = 0; f < 64; f++) await writeFile(join(dir, 'small', `f${f}.bin`), randomBytes(32 * 1024))
  await writeFile(join(dir, 'large.bin'), randomBytes(3 * 1024 * 1024 + 11))
  await writeFile(join(dir, 'marker.txt'), `version ${i}\n`)
  return dir
}

async function readText (node: WeftNode, path: string): Promise<string> {
  const chunks: Uint8Array[] = []
  for await (const chunk of cat(node.blocks, parseContentPath(path))) chunks.push(chunk)
  return Buffer.concat(chunks).toString('utf8')
}

test(`kill -9 at ${KILLS} random moments of an offline \`weft publish\`: the home stays sound and each version is published whole or not at all`, async t => {
  const work = await tmpDir(t)
  const home = await tmpHome(t)
  const name = await withHome(home, async node => (await node.sites.create('s')).name)

  /** The site's sequence after the last check. */
  let held = -1n
  const summary = await runCommandDrill(t, {
    name: 'publish',
    seed: SEED,
    start: async i => await startGated(t, home, ['publish', await versionFolder(work, i), '--site', 's', '--no-progress']),
    check: async (i, when, finished) => {
      await withHome(home, async node => {
        await assertHomeSound(node, when)
        const current = (await node.sites.info(name)).current
        if (current === undefined) {
          assert.equal(held, -1n, `${when}: the site lost its record`)
          assert.ok(!finished, `${when}: the publish finished but left no record`)
          return
        }
        assert.ok(current.sequence >= held, `${when}: the sequence went back from ${held} to ${current.sequence}`)
        if (current.sequence === held) {
          assert.ok(!finished, `${when}: the publish finished but the record did not move`)
          return
        }
        assert.equal(current.sequence, held + 1n, `${when}: the sequence skipped`)
        // The new record names this round's folder, pinned, with every block. (A kill
        // between the pin and the signature leaves the folder pinned and unpublished, as
        // after \`weft add\`; assertHomeSound has checked that pin is whole.)
        const root = parseContentPath(current.value).cid
        assert.ok(node.blocks.pins('recursive').some(p => p.cid.equals(root)), `${when}: the published root ${root} is not pinned`)
        assert.ok(await dagComplete(node, root), `${when}: the published root ${root} lacks blocks`)
        assert.equal(await readText(node, `${current.value}/marker.txt`), `version ${i}\n`, `${when}: the record names another folder`)
        held = current.sequence
      })
    }
  })
  t.diagnostic(summary)
})
