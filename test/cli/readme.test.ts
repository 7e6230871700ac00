/**
 * The README's hand-run flows, run as written: its "Two nodes on one machine, by hand"
 * block and the site block after it, taken from README.md itself, so the README cannot
 * drift from what works. Only what a reader sets is changed: the homes the first block
 * exports go under a temporary folder.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'
import { tmpDir } from '../helpers/home.ts'
import { consoleBlock } from '../helpers/readme.ts'
import { until } from '../helpers/until.ts'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

/** Both flows together end well within this (two daemons start, a site crosses once). */
const SCRIPT_TIMEOUT_MS = 180_000

test('the README\'s two-node and site flows work as written', async t => {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8')
  const nodes = consoleBlock(readme, 'Two nodes on one machine, by hand')
  const site = consoleBlock(readme, 'A site, published and followed')
  const dir = await tmpDir(t)
  // The homes the block exports, under this test's folder.
  assert.equal(nodes[0], 'export A=/tmp/a B=/tmp/b')
  nodes[0] = `export A=${dir}/a B=${dir}/b`
  // Each command is echoed first, so a failure names it; set -e stops at the first.
  const script = ['set -e', ...[...nodes, ...site].map(c => `echo "+ ${c.split('\n')[0].replace(/["$`\\]/g, '\\$&')}" >&2\n${c}`)].join('\n')

  const child = spawn('bash', ['-c', script], { cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, WEFT_DEBUG: '' } })
  // The daemons run in the script's process group: whatever happens, the group goes.
  t.after(() => {
    try { process.kill(-(child.pid as number), 'SIGKILL') } catch { /* already gone */ }
  })
  let out = ''
  let err = ''
  child.stdout.on('data', (b: Buffer) => { out += b.toString() })
  child.stderr.on('data', (b: Buffer) => { err += b.toString() })
  const code = await new Promise<number | null>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`the README flows did not finish in ${SCRIPT_TIMEOUT_MS} ms:\n${err}`)) }, SCRIPT_TIMEOUT_MS)
    child.once('exit', c => { clearTimeout(timer); resolve(c) })
  })
  // The block stops its daemons itself (kill %1 %2); they are given a moment to go before the homes are removed.
  const gone = (): boolean => {
    try { process.kill(-(child.pid as number), 0); return false } catch { return true }
  }
  const stopped = await until('the daemons to stop', gone, 30_000, 100).then(() => true, () => false)
  assert.equal(code, 0, `the README flows failed:\n${err}\n${out}`)
  assert.ok(stopped, 'the daemons stopped when the block told them to')
  // Both `cat`s printed the sample site's page: by CID, then by the site's name on the follower.
  const page = await readFile(join(ROOT, 'examples', 'sample-site', 'index.html'), 'utf8')
  assert.equal(out.split(page).length - 1, 2, out)
  assert.match(out, /^connected to 12D3KooW\w+$/m)
  assert.match(out, /^published version 0 of \/ipns\/k51\w+ \(announced to the network\)$/m)
})
