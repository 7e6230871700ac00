/**
 * The README's "Installed with npm" block, run as written: `npm pack` in this checkout,
 * `npm install -g` of the tarball into a fresh prefix (npm's cache first, the registry for
 * what it lacks), then the block's weft commands with the installed `weft`, on a PATH
 * without this checkout's Node 24, so the installed package has to bring its own.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { fileURLToPath } from 'node:url'
import { tmpDir } from '../helpers/home.ts'
import { consoleBlock } from '../helpers/readme.ts'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
/** Packing compiles all of src/ and installing unpacks ~550 packages: well under a minute on the 2-core machine. */
const STEP_TIMEOUT_MS = 150_000
const run = promisify(execFile)

test('npm pack, then npm install -g of the tarball into a fresh prefix, gives a weft that runs the README\'s commands', { timeout: 3 * STEP_TIMEOUT_MS }, async t => {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8')
  const { version } = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string }
  const [pack, install, ...commands] = consoleBlock(readme, '### Installed with npm')
  assert.equal(pack, 'npm pack')
  assert.equal(install, `npm install -g ./weft-${version}.tgz`)

  const dir = await tmpDir(t)
  const prefix = join(dir, 'prefix')
  const work = join(dir, 'work')
  await mkdir(work)
  const packed = await run('npm', ['pack', '--json', '--pack-destination', dir], { cwd: ROOT, timeout: STEP_TIMEOUT_MS, maxBuffer: 64 << 20 })
  const [{ filename }] = JSON.parse(packed.stdout.slice(packed.stdout.search(/^\[/m))) as Array<{ filename: string }>
  assert.equal(filename, `weft-${version}.tgz`)
  await run('npm', ['install', '-g', `./${filename}`, '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund'], { cwd: dir, timeout: STEP_TIMEOUT_MS, maxBuffer: 64 << 20 })

  // The package runs compiled code (Node will not strip types under node_modules) on its own Node.
  const installed = join(prefix, 'lib', 'node_modules', 'weft')
  assert.ok(existsSync(join(installed, 'dist', 'cli', 'main.js')), 'dist/ is in the package')
  assert.ok(!existsSync(join(installed, 'src')), 'src/ is not')
  assert.ok(existsSync(join(installed, 'dist', 'daemon', 'ui', 'index.html')), 'the web UI\'s files are copied beside the code')
  const ownNode = await run(join(installed, 'node_modules', 'node', 'bin', 'node'), ['--version'])
  assert.match(ownNode.stdout, /^v24\./)

  // No directory of this checkout (node_modules/.bin has Node 24) on the PATH.
  const path = [join(prefix, 'bin'), ...(process.env.PATH ?? '').split(':').filter(p => !p.startsWith(ROOT) && !p.includes('node_modules'))].join(':')
  const script = ['set -e', 'test "$(command -v weft)" = "$WEFT_EXPECTED"',
    ...commands.map(c => `echo "+ ${c.replace(/["$`\\]/g, '\\$&')}" >&2\n${c}`)].join('\n')
  const child = spawn('bash', ['-c', script], {
    cwd: work,
    env: { ...process.env, PATH: path, WEFT_HOME: join(dir, 'home'), WEFT_EXPECTED: join(prefix, 'bin', 'weft'), WEFT_DEBUG: '' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let out = ''
  let err = ''
  child.stdout.on('data', (b: Buffer) => { out += b.toString() })
  child.stderr.on('data', (b: Buffer) => { err += b.toString() })
  const code = await new Promise<number | null>(resolve => child.once('exit', resolve))
  assert.equal(code, 0, `the README's commands failed:\n${err}`)
  assert.match(out, new RegExp(`^${version.replaceAll('.', '\\.')}\n`), 'weft --version')
  assert.match(out, /\n<h1>hello<\/h1>\n/, 'weft cat')
  assert.match(out, /published version 0 of \/ipns\/k51/, 'weft publish')
})
