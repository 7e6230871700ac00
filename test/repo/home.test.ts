import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { openRepo, getConfigValue, setConfigValue, removeCreatedHome, repoPaths } from '../../src/repo/index.ts'
import { isWeftError } from '../../src/errors.ts'
import { tmpDir, tmpHome } from '../helpers/home.ts'
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
  assert.deepEqual(tables, ['blocks', 'contributions', 'datastore', 'follows', 'message_envelopes', 'message_inbox', 'message_rejections', 'meta', 'peers', 'petnames', 'pinning_requests', 'pins', 'private_device', 'private_indexes', 'site_equivocations', 'site_peers', 'site_records', 'site_rejections', 'site_versions', 'sites', 'storage_held', 'storage_replicas', 'storage_wanted', 'user_consent', 'user_equivocations', 'user_records', 'user_rejections'])
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
  assert.equal(next.datastore.storageMax, 512 * 2 ** 20)
  assert.equal(getConfigValue(next, 'datastore.storageMax'), '512MiB')
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

/** Every name in `dir`, recursively, with its size: to show a refused command wrote nothing. */
async function snapshot (dir: string): Promise<string[]> {
  const out: string[] = []
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const path = join(entry.parentPath, entry.name)
    out.push(`${path} ${entry.isFile() ? (await stat(path)).size : 'dir'}`)
  }
  return out.sort()
}

test('a folder that holds other things is refused as a home, by every command, and nothing is written to it', async t => {
  const dir = await tmpDir(t)
  await writeFile(join(dir, 'passwd'), 'root:x:0:0::/root:/bin/sh\n')
  await mkdir(join(dir, 'ssl'))
  const before = await snapshot(dir)
  await assert.rejects(openRepo(dir), (e: unknown) => isWeftError(e, 'ERR_REPO_NOT_A_HOME'))
  await assert.rejects(openRepo(dir, { init: true }), (e: unknown) => isWeftError(e, 'ERR_REPO_NOT_A_HOME'))
  const file = join(dir, 'passwd')
  for (const args of [['repo', 'stat'], ['init'], ['add', file], ['config', 'set', 'datastore.storageMax', '"1GB"'], ['config', 'show'], ['site', 'create', 'blog'], ['daemon']]) {
    const r = await runWeft(args, { home: dir })
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`)
    assert.match(r.stderr, new RegExp(`^weft: ${dir} holds files that are not a weft home.*\\(ERR_REPO_NOT_A_HOME\\)\\n$`))
  }
  assert.deepEqual(await snapshot(dir), before)
})

test('a home is made in an absent or an empty folder; one whose creation was cut short is finished, with its identity', async t => {
  const empty = await tmpDir(t)
  const made = await openRepo(empty)
  const id = made.peerId
  made.close()
  // Cut short after the identity key: no config.json yet. The marker says it is a home.
  await rm(join(empty, 'config.json'))
  const finished = await openRepo(empty)
  assert.equal(finished.peerId, id)
  finished.close()
  assert.ok(existsSync(join(empty, 'config.json')))

  // A home cut short by an older weft, before the marker existed: only layout entries, and a stale lock.
  const old = await tmpDir(t)
  const first = await openRepo(old)
  const oldId = first.peerId
  first.close()
  await rm(join(old, 'config.json'))
  await rm(join(old, 'home.json'))
  await writeFile(join(old, 'repo.lock'), JSON.stringify({ pid: 2 ** 22 + 1, since: new Date().toISOString() }))
  const r = await runWeft(['repo', 'stat', '--json'], { home: old })
  assert.equal(r.code, 0, r.stderr)
  assert.equal(JSON.parse(r.out).peerId, oldId)
})

test('reading commands do not create a home, and a command that fails leaves none behind', async t => {
  const home = await tmpHome(t)
  for (const args of [['repo', 'stat'], ['pin', 'ls'], ['id'], ['following']]) {
    const r = await runWeft(args, { home })
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`)
    assert.match(r.stderr, /^weft: there is no weft home at .+ yet: `weft init` makes one.*\(ERR_REPO_NOT_A_HOME\)\n$/)
  }
  // Settings before there is a home are the defaults, shown without making one.
  assert.equal(JSON.parse((await runWeft(['config', 'show'], { home })).out).datastore.storageMax, '10GB')
  assert.equal((await runWeft(['config', 'get', 'datastore.storageMax'], { home })).out, '"10GB"\n')
  assert.equal((await runWeft(['config', 'set', 'datastore.storageMx', '"1GB"'], { home })).code, 2)
  assert.equal((await runWeft(['config', 'set', 'datastore.storageMax', '"lots"'], { home })).code, 2)
  assert.equal((await runWeft(['pin', 'add', 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'], { home })).code, 1)
  assert.equal((await runWeft(['site', 'export-key', 'nope'], { home, env: { WEFT_PASSPHRASE: 'x' } })).code, 1)
  assert.equal(existsSync(home), false, 'no home was created')

  // In an empty folder (made by the user), the folder stays and stays empty.
  const empty = await tmpDir(t)
  assert.equal((await runWeft(['name', 'rm', 'nope'], { home: empty })).code, 1)
  assert.equal((await runWeft(['repo', 'verify'], { home: empty })).code, 1)
  assert.deepEqual(await readdir(empty), [])

  // A command that stores something makes the home.
  const set = await runWeft(['config', 'set', 'datastore.storageMax', '"1GB"'], { home })
  assert.equal(set.code, 0, set.stderr)
  assert.equal(JSON.parse((await runWeft(['config', 'get', 'datastore.storageMax'], { home })).out), '1GB')
})

test('config keys that are unset by default can be set, as the README shows (naming.ens.rpc)', async t => {
  const home = await tmpHome(t)
  assert.equal((await runWeft(['init'], { home })).code, 0)
  assert.equal((await runWeft(['config', 'get', 'naming.ens.rpc'], { home })).out, 'null\n')
  const set = await runWeft(['config', 'set', 'naming.ens.rpc', '"http://127.0.0.1:8545"'], { home })
  assert.equal(set.code, 0, set.stderr)
  assert.equal(JSON.parse((await runWeft(['config', 'get', 'naming.ens.rpc'], { home })).out), 'http://127.0.0.1:8545')
  const bad = await runWeft(['config', 'set', 'naming.ens.rpcc', '"http://127.0.0.1:8545"'], { home })
  assert.equal(bad.code, 2)
  assert.match(bad.stderr, /ERR_CONFIG_KEY/)
})

test('undoing a new home leaves it alone when another process has opened it meanwhile', async t => {
  const home = await tmpHome(t)
  // Two commands started together on a new home: this one lost the race, the other holds it open.
  const other = await openRepo(home)
  removeCreatedHome(repoPaths(home), 'absent')
  assert.ok(existsSync(join(home, 'config.json')) && existsSync(join(home, 'weft.db')) && existsSync(join(home, 'keys', 'self.key')))
  other.close()
  // Once it is free, the undo takes everything weft put there, and the folder.
  removeCreatedHome(repoPaths(home), 'absent')
  assert.equal(existsSync(home), false)
})
