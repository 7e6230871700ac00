/**
 * The README's "Pointing weft at real chains" commands, run as written on a new home
 * (issue 20: on a fresh home they answered ERR_CONFIG_KEY). They are taken from README.md
 * itself, so the README cannot drift from what works. Only what a reader has is provided:
 * `weft` on the PATH (this checkout's bin/weft) and WEFT_HOME naming a home not yet made.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdir, readFile, symlink } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'
import { getConfigValue } from '../../src/repo/index.ts'
import { readConfig } from '../../src/repo/config.ts'
import { tmpDir } from '../helpers/home.ts'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
/** About fifteen weft processes, one after the other, on a busy two-core machine. */
const SCRIPT_TIMEOUT_MS = 180_000

/** The lines of every ```sh block in the README section headed `heading`. */
function shBlocks (readme: string, heading: string): string[] {
  const at = readme.indexOf(`### ${heading}\n`)
  assert.ok(at >= 0, `the README has "### ${heading}"`)
  const next = readme.indexOf('\n##', at + heading.length + 5)
  const section = readme.slice(at, next < 0 ? undefined : next)
  const lines: string[] = []
  for (const m of section.matchAll(/```sh\n([\s\S]*?)```/g)) lines.push(...m[1].split('\n').filter(l => l.trim() !== ''))
  return lines
}

test('the README\'s "Pointing weft at real chains" commands work as written on a new home', async t => {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8')
  const lines = shBlocks(readme, 'Pointing weft at real chains')
  const commands = lines.filter(l => !l.trimStart().startsWith('#'))
  assert.ok(commands.length >= 10 && commands.every(c => c.startsWith('weft config set ')), lines.join('\n'))
  const dir = await tmpDir(t)
  const bin = join(dir, 'bin')
  await mkdir(bin)
  await symlink(join(ROOT, 'bin', 'weft'), join(bin, 'weft'))
  const home = join(dir, 'home')
  // each command echoed first, so a failure names it; set -e stops at the first
  const script = ['set -e', ...lines.map(l => `echo ${JSON.stringify('+ ' + l).replace(/[$`]/g, '\\$&')} >&2\n${l}`)].join('\n')
  const child = spawn('bash', ['-c', script], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}`, WEFT_HOME: home, WEFT_DEBUG: '' } })
  let out = ''
  let err = ''
  child.stdout.on('data', (b: Buffer) => { out += b.toString() })
  child.stderr.on('data', (b: Buffer) => { err += b.toString() })
  const code = await new Promise<number | null>((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`the commands did not finish in ${SCRIPT_TIMEOUT_MS} ms:\n${err}`)) }, SCRIPT_TIMEOUT_MS)
    child.once('exit', c => { clearTimeout(timer); resolve(c) })
  })
  assert.equal(code, 0, `the README's commands failed:\n${err}\n${out}`)

  // the home holds each value as the README set it
  const config = readConfig(join(home, 'config.json'))
  for (const command of commands) {
    const m = /^weft config set (\S+) (?:'([^']*)'|(\S+))/.exec(command)
    assert.ok(m !== null, command)
    assert.deepEqual(getConfigValue(config, m[1]), JSON.parse(m[2] ?? m[3]), command)
  }
})
