import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { openRepo, getConfigValue, setConfigValue, parseSize } from '../../src/repo/index.ts'
import { isWeftError } from '../../src/errors.ts'
import { tmpHome } from '../helpers/home.ts'
import { runWeft } from '../helpers/cli.ts'

test('a new home has a valid config, a 0600 identity key in a 0700 folder, and the metadata db', async t => {
  const home = await tmpHome(t)
  const repo = await openRepo(home, { init: true })
  t.after(() => { repo.close() })
  assert.match(repo.peerId, /^12D3KooW/)
  assert.equal((await stat(join(home, 'keys'))).mode & 0o777, 0o700)
  assert.equal((await stat(join(home, 'keys', 'self.key'))).mode & 0o777, 0o600)
  const config = JSON.parse(await readFile(join(home, 'config.json'), 'utf8'))
  assert.equal(config.datastore.storageMax, '10GB')
  assert.equal(config.datastore.sync, true)
  const tables = repo.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all().map(r => r.name)
  assert.deepEqual(tables, ['blocks', 'follows', 'meta', 'petnames', 'pins', 'site_equivocations', 'site_peers', 'site_records', 'site_rejections', 'site_versions', 'sites'])
})

test('init refuses an existing home; the identity survives reopening', async t => {
  const home = await tmpHome(t)
  const first = await openRepo(home, { init: true })
  const id = first.peerId
  first.close()
  await assert.rejects(openRepo(home, { init: true }), (e: unknown) => isWeftError(e, 'ERR_REPO_EXISTS'))
  const again = await openRepo(home)
  t.after(() => { again.close() })
  assert.equal(again.peerId, id)
})

test('a second process gets ERR_REPO_LOCKED naming the holder; a dead holder\'s lock is taken over', async t => {
  const home = await tmpHome(t)
  const repo = await openRepo(home)
  const locked = await runWeft(['repo', 'stat'], { home })
  assert.equal(locked.code, 3)
  assert.match(locked.stderr, new RegExp(`in use by process ${process.pid}.*\\(ERR_REPO_LOCKED\\)`))
  assert.equal(locked.stderr.trim().split('\n').length, 1)
  repo.close()
  // A lock left by a process that has exited.
  const dead = spawn(process.execPath, ['-e', ''])
  await new Promise(resolve => dead.once('exit', resolve))
  await writeFile(join(home, 'repo.lock'), JSON.stringify({ pid: dead.pid, since: new Date().toISOString() }))
  const ok = await runWeft(['repo', 'stat', '--json'], { home })
  assert.equal(ok.code, 0, ok.stderr)
  assert.equal(JSON.parse(ok.out).blocks, 0)
})

test('config get/set go through the schema', async t => {
  const home = await tmpHome(t)
  const repo = await openRepo(home)
  t.after(() => { repo.close() })
  assert.equal(getConfigValue(repo.config, 'datastore.storageMax'), '10GB')
  assert.deepEqual(getConfigValue(repo.config, 'datastore'), { storageMax: '10GB', sync: true })
  const next = setConfigValue(repo.config, 'datastore.storageMax', '"512MiB"')
  assert.equal(parseSize(next.datastore.storageMax), 512 * 2 ** 20)
  assert.throws(() => setConfigValue(repo.config, 'datastore.storageMax', '"lots"'), (e: unknown) => isWeftError(e, 'ERR_CONFIG_VALUE'))
  assert.throws(() => setConfigValue(repo.config, 'datastore.sync', 'yes'), (e: unknown) => isWeftError(e, 'ERR_CONFIG_VALUE'))
  assert.throws(() => setConfigValue(repo.config, 'datastore.sync', '"yes"'), (e: unknown) => isWeftError(e, 'ERR_CONFIG_VALUE'))
  assert.throws(() => setConfigValue(repo.config, 'datastore.speed', '1'), (e: unknown) => isWeftError(e, 'ERR_CONFIG_KEY'))
  assert.throws(() => getConfigValue(repo.config, 'nope'), (e: unknown) => isWeftError(e, 'ERR_CONFIG_KEY'))
})

test('a config.json broken by hand is reported with the key at fault', async t => {
  const home = await tmpHome(t)
  ;(await openRepo(home)).close()
  const path = join(home, 'config.json')
  const config = JSON.parse(await readFile(path, 'utf8'))
  config.datastore.storageMax = 12
  await writeFile(path, JSON.stringify(config))
  await assert.rejects(openRepo(home), (e: unknown) => isWeftError(e, 'ERR_CONFIG_INVALID') && e.message.includes('datastore.storageMax'))
  await writeFile(path, '{ not json')
  const r = await runWeft(['repo', 'stat'], { home })
  assert.equal(r.code, 1)
  assert.match(r.stderr, /ERR_CONFIG_INVALID/)
  // The failed open released the lock.
  await writeFile(path, JSON.stringify({ version: 1 }))
  const ok = await openRepo(home)
  ok.close()
})
