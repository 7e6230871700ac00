import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { tmpDir, tmpHome } from '../helpers/home.ts'
import { runWeft, startDaemonProcess, type CliResult } from '../helpers/cli.ts'
import { repoPaths } from '../../src/repo/index.ts'

const OTHER_SITE = 'k51qzi5uqu5dlvj2baxnqndepeb86cbk3ng7n3i46uzyxzyqj2xjonzllnv0v8'
const CID = 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'

const ok = (r: CliResult): CliResult => {
  assert.equal(r.code, 0, r.stderr)
  return r
}
const fails = (r: CliResult, code: string, exit = 1): string => {
  assert.equal(r.code, exit, r.stderr)
  assert.match(r.stderr, new RegExp(`^weft: [^\\n]+ \\(${code}\\)\\n$`))
  return r.stderr
}
const pass = (passphrase: string) => ({ WEFT_PASSPHRASE: passphrase })

test('CLI: `weft user id` gives one id per site, the same for every way of naming the site; the master key moves between homes under a passphrase', async t => {
  const a = { home: await tmpHome(t) }
  const b = { home: await tmpHome(t) }
  const c = { home: await tmpHome(t) }
  const dir = await tmpDir(t)
  const site = JSON.parse(ok(await runWeft(['site', 'create', 'blog', '--json'], a)).out) as { name: string }

  const id = ok(await runWeft(['user', 'id', '--site', site.name], a)).out.trim()
  assert.match(id, /^k51[0-9a-z]{59}$/)
  assert.notEqual(id, site.name)
  const keyFile = repoPaths(a.home).userKey
  assert.equal((await stat(keyFile)).mode & 0o777, 0o600)
  assert.equal((await readFile(keyFile)).byteLength, 32)
  // the label of one's own site, its /ipns/ path and a petname all lead to the same site
  assert.equal(ok(await runWeft(['user', 'id', '--site', 'blog'], a)).out.trim(), id)
  assert.equal(ok(await runWeft(['user', 'id', '--site', `/ipns/${site.name}`], a)).out.trim(), id)
  ok(await runWeft(['name', 'set', 'my-blog', `/ipns/${site.name}`], a))
  assert.deepEqual(JSON.parse(ok(await runWeft(['user', 'id', '--site', 'my-blog', '--json'], a)).out), { site: site.name, id })
  // another site, another id
  const other = ok(await runWeft(['user', 'id', '--site', OTHER_SITE], a)).out.trim()
  assert.notEqual(other, id)
  // names that lead to no site
  fails(await runWeft(['user', 'id', '--site', '/ipns/nope'], a), 'ERR_INVALID_NAME', 2)
  ok(await runWeft(['name', 'set', 'some-file', `/ipfs/${CID}`], a))
  assert.match(fails(await runWeft(['user', 'id', '--site', 'some-file'], a), 'ERR_USAGE', 2), /content, not a site/)
  fails(await runWeft(['user', 'id'], a), 'ERR_USAGE', 2)

  // export
  const exported = join(dir, 'user.key')
  fails(await runWeft(['user', 'export-key', '-o', exported], { ...a, env: pass('') }), 'ERR_USAGE', 2)
  ok(await runWeft(['user', 'export-key', '-o', exported], { ...a, env: pass('correct horse') }))
  assert.equal((await stat(exported)).mode & 0o777, 0o600)
  const text = await readFile(exported, 'utf8')
  assert.match(text, /^weft-user-key-v1\n[A-Za-z0-9+/=]+\n$/)
  fails(await runWeft(['user', 'export-key', '-o', exported], { ...a, env: pass('x') }), 'ERR_OUTPUT_EXISTS')
  assert.equal(ok(await runWeft(['user', 'export-key'], { ...a, env: pass('x') })).out.split('\n')[0], 'weft-user-key-v1')
  fails(await runWeft(['user', 'export-key'], { ...b, env: pass('x') }), 'ERR_REPO_NOT_A_HOME')
  assert.equal(existsSync(b.home), false, 'exporting from no home made none')

  // import into a new home: bad input first, then the real one
  fails(await runWeft(['user', 'import-key', exported], { ...b, env: pass('wrong horse') }), 'ERR_KEY_INVALID')
  const garbage = join(dir, 'garbage.key')
  await writeFile(garbage, 'weft-user-key-v1\nnot base64 json\n')
  fails(await runWeft(['user', 'import-key', garbage], { ...b, env: pass('x') }), 'ERR_KEY_INVALID')
  await writeFile(garbage, text.replace('weft-user-key-v1', 'weft-site-key-v1'))
  fails(await runWeft(['user', 'import-key', garbage], { ...b, env: pass('correct horse') }), 'ERR_KEY_INVALID')
  fails(await runWeft(['user', 'import-key', join(dir, 'absent')], { ...b, env: pass('x') }), 'ERR_PATH_NOT_FOUND')
  assert.equal(existsSync(b.home), false, 'the failed imports did not make a home')
  const passFile = join(dir, 'pass')
  await writeFile(passFile, 'correct horse\n')
  assert.match(ok(await runWeft(['user', 'import-key', exported, '--passphrase-file', passFile], b)).out, /^imported the user key/)
  assert.equal(ok(await runWeft(['user', 'id', '--site', site.name], b)).out.trim(), id)
  assert.equal(ok(await runWeft(['user', 'id', '--site', OTHER_SITE], b)).out.trim(), other)
  assert.deepEqual(JSON.parse(ok(await runWeft(['user', 'import-key', exported, '--json'], { ...b, env: pass('correct horse') })).out), { outcome: 'same' })

  // a home with its own identity refuses the import unless forced
  const own = ok(await runWeft(['user', 'id', '--site', site.name], c)).out.trim()
  assert.notEqual(own, id)
  const refusal = fails(await runWeft(['user', 'import-key', exported], { ...c, env: pass('correct horse') }), 'ERR_USER_KEY_EXISTS')
  assert.match(refusal, /identity on every site/)
  assert.match(refusal, /--force/)
  assert.equal(ok(await runWeft(['user', 'id', '--site', site.name], c)).out.trim(), own, 'the refused import changed nothing')
  assert.match(ok(await runWeft(['user', 'import-key', exported, '--force'], { ...c, env: pass('correct horse') })).out, /old identity on every site is lost/)
  assert.equal(ok(await runWeft(['user', 'id', '--site', site.name], c)).out.trim(), id)
})

test('CLI: the user commands go through a running daemon', async t => {
  const daemon = await startDaemonProcess(t)
  const d = { home: daemon.home }
  const dir = await tmpDir(t)
  // the daemon holds the home's lock, so each of these ran in the daemon
  const id = ok(await runWeft(['user', 'id', '--site', OTHER_SITE], d)).out.trim()
  assert.match(id, /^k51/)
  assert.equal(ok(await runWeft(['user', 'id', '--site', OTHER_SITE], d)).out.trim(), id)
  const exported = join(dir, 'user.key')
  ok(await runWeft(['user', 'export-key', '-o', exported], { ...d, env: pass('correct horse') }))
  fails(await runWeft(['user', 'import-key', exported], { ...d, env: pass('wrong horse') }), 'ERR_KEY_INVALID')
  assert.deepEqual(JSON.parse(ok(await runWeft(['user', 'import-key', exported, '--json'], { ...d, env: pass('correct horse') })).out), { outcome: 'same' })

  // a key from elsewhere: refused, then forced; the daemon answers with the new id at once
  const e = { home: await tmpHome(t) }
  const theirs = ok(await runWeft(['user', 'id', '--site', OTHER_SITE], e)).out.trim()
  const theirKey = join(dir, 'theirs.key')
  ok(await runWeft(['user', 'export-key', '-o', theirKey], { ...e, env: pass('pass') }))
  fails(await runWeft(['user', 'import-key', theirKey], { ...d, env: pass('pass') }), 'ERR_USER_KEY_EXISTS')
  assert.equal(ok(await runWeft(['user', 'id', '--site', OTHER_SITE], d)).out.trim(), id)
  ok(await runWeft(['user', 'import-key', theirKey, '--force'], { ...d, env: pass('pass') }))
  assert.equal(ok(await runWeft(['user', 'id', '--site', OTHER_SITE], d)).out.trim(), theirs)
})
