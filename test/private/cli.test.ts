import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { tmpDir, tmpHome } from '../helpers/home.ts'
import { fails, ok, runWeft, startDaemonProcess, type CliResult } from '../helpers/cli.ts'

const SITE = 'k51qzi5uqu5dlvj2baxnqndepeb86cbk3ng7n3i46uzyxzyqj2xjonzllnv0v8'


test('CLI: `weft private put|get|ls|rm` offline, then through the running daemon on the same home', async t => {
  const home = await tmpHome(t)
  const h = { home }
  const dir = await tmpDir(t)
  const bytes = randomBytes(70_000)
  const file = join(dir, 'photo.bin')
  await writeFile(file, bytes)
  fails(await runWeft(['private', 'ls', '--site', SITE], h), 'ERR_REPO_NOT_A_HOME')

  // offline: the CLI opens the home itself
  const put = JSON.parse(ok(await runWeft(['private', 'put', '--site', SITE, 'photos/a.bin', file, '--json'], h)).out)
  assert.deepEqual({ site: put.site, path: put.path, size: put.size }, { site: SITE, path: 'photos/a.bin', size: bytes.length })
  ok(await runWeft(['private', 'put', '--site', `/ipns/${SITE}`, 'note.txt'], { ...h, input: 'dear diary' }))
  assert.deepEqual(ok(await runWeft(['private', 'get', '--site', SITE, 'photos/a.bin'], h)).stdout, bytes)
  assert.equal(ok(await runWeft(['private', 'get', '--site', SITE, 'note.txt'], h)).out, 'dear diary')
  const listed = JSON.parse(ok(await runWeft(['private', 'ls', '--site', SITE, '--json'], h)).out)
  assert.deepEqual(listed.files.map((f: { path: string }) => f.path), ['note.txt', 'photos/a.bin'])
  assert.deepEqual({ files: listed.usage.files, bytes: listed.usage.bytes }, { files: 2, bytes: bytes.length + 10 })
  assert.match(ok(await runWeft(['private', 'ls', '--site', SITE], h)).out, /photos\/a\.bin[\s\S]*2 files/)
  fails(await runWeft(['private', 'get', '--site', SITE, 'missing'], h), 'ERR_PRIVATE_NOT_FOUND')
  fails(await runWeft(['private', 'put', '--site', SITE, '../up', file], h), 'ERR_USAGE', 2)

  // the daemon holds the home's lock: these go through its API
  await startDaemonProcess(t, home)
  assert.equal(ok(await runWeft(['private', 'get', '--site', SITE, 'note.txt'], h)).out, 'dear diary')
  ok(await runWeft(['private', 'put', '--site', SITE, 'note.txt', '-'], { ...h, input: 'second entry' }))
  assert.equal(ok(await runWeft(['private', 'get', '--site', SITE, 'note.txt'], h)).out, 'second entry')
  assert.match(ok(await runWeft(['private', 'rm', '--site', SITE, 'photos/a.bin'], h)).out, /removed photos\/a\.bin/)
  fails(await runWeft(['private', 'get', '--site', SITE, 'photos/a.bin'], h), 'ERR_PRIVATE_NOT_FOUND')
  fails(await runWeft(['private', 'rm', '--site', SITE, 'photos/a.bin'], h), 'ERR_PRIVATE_NOT_FOUND')
  assert.deepEqual(JSON.parse(ok(await runWeft(['private', 'ls', '--site', SITE, '--json'], h)).out).files.map((f: { path: string }) => f.path), ['note.txt'])
})
