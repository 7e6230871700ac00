import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { tmpDir, tmpHome } from '../helpers/home.ts'
import { fails, ok, runWeft, startDaemonProcess, type CliResult } from '../helpers/cli.ts'
import { until } from '../helpers/until.ts'
import { repoPaths } from '../../src/repo/index.ts'

const OTHER_SITE = 'k51qzi5uqu5dlvj2baxnqndepeb86cbk3ng7n3i46uzyxzyqj2xjonzllnv0v8'
const CID = 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'

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

const FORUM_RULES = { files: ['posts.json', 'img/*.png'], maxBytes: 4096, maxFiles: 3 }

/** A home with its own forum site published (offline) with these rules: the owner may contribute too. */
async function forumHome (t: import('node:test').TestContext): Promise<{ home: string, name: string }> {
  const home = await tmpHome(t)
  const dir = await tmpDir(t)
  await writeFile(join(dir, 'index.html'), '<h1>forum</h1>')
  await writeFile(join(dir, 'weft.json'), JSON.stringify({ title: 'forum', users: FORUM_RULES }))
  const { name } = JSON.parse(ok(await runWeft(['site', 'create', 'forum', '--json'], { home })).out) as { name: string }
  ok(await runWeft(['publish', dir, '--site', 'forum'], { home }))
  return { home, name }
}

interface Listed { site: string, me: string, takesContributions: boolean, contributions: Array<{ user: string, sequence: string, root: string, state: string, reason?: string, files: number, bytes: number, mine: boolean }>, rejections: unknown[], equivocations: unknown[] }
const listOf = async (site: string, options: { home: string }): Promise<Listed> => JSON.parse(ok(await runWeft(['user', 'list', '--site', site, '--json'], options)).out)

test('CLI: `weft user write/rm/list/cat` on one\'s own site, offline: written under the rules, refused with the rule that refuses, read back verified', async t => {
  const { home, name } = await forumHome(t)
  const a = { home }
  const dir = await tmpDir(t)
  const me = ok(await runWeft(['user', 'id', '--site', 'forum'], a)).out.trim()
  const post = join(dir, 'posts.json')
  await writeFile(post, '{"posts":[{"id":"1","title":"hello"}]}')

  const written = JSON.parse(ok(await runWeft(['user', 'write', '--site', 'forum', 'posts.json', post, '--json'], a)).out)
  assert.deepEqual(written.files, [{ path: 'posts.json', size: 38 }])
  assert.equal(written.site, name)
  assert.equal(written.user, me)
  assert.equal(written.sequence, '0')
  assert.equal(written.announced, false, 'offline: nothing went out')
  assert.match(written.root, /^bafy/)

  // from stdin, with `-` and with no path at all; the human output says where the record went
  const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 1, 2, 3])
  const human = ok(await runWeft(['user', 'write', '--site', name, 'img/a.png', '-'], { ...a, input: png })).out
  assert.match(human, /^wrote img\/a\.png \(7 B\) to your contribution to k51\S+ \(saved; it goes out when `weft daemon` starts\)\n/)
  assert.match(human, /sequence {2}1\n/)
  // refusals name the rule: a name outside the patterns, too many files, too many bytes
  assert.match(fails(await runWeft(['user', 'write', '--site', 'forum', 'secret.txt', post], a), 'ERR_CONTRIBUTION_REFUSED'), /\(pattern\): "?secret\.txt"? matches none of the site's patterns \(posts\.json, img\/\*\.png\)/)
  ok(await runWeft(['user', 'write', '--site', `/ipns/${name}`, 'img/b.png'], { ...a, input: png }))
  assert.match(fails(await runWeft(['user', 'write', '--site', 'forum', 'img/c.png', '-'], { ...a, input: png }), 'ERR_CONTRIBUTION_REFUSED'), /\(too-many-files\): 4 files, more than the 3/)
  assert.match(fails(await runWeft(['user', 'write', '--site', 'forum', 'posts.json', '-'], { ...a, input: Buffer.alloc(5000) }), 'ERR_CONTRIBUTION_REFUSED'), /\(too-large\): \d+ bytes, more than the 4096/)
  fails(await runWeft(['user', 'write', '--site', 'forum', '../x.png', post], a), 'ERR_CONTRIBUTION_REFUSED')
  fails(await runWeft(['user', 'write', '--site', 'forum', 'posts.json', join(dir, 'absent')], a), 'ERR_PATH_NOT_FOUND')
  // a site neither owned nor followed here
  fails(await runWeft(['user', 'write', '--site', OTHER_SITE, 'posts.json', post], a), 'ERR_NOT_FOLLOWING')

  let list = await listOf('forum', a)
  assert.equal(list.takesContributions, true)
  assert.equal(list.me, me)
  assert.deepEqual(list.contributions, [{ user: me, sequence: '2', root: list.contributions[0]?.root, state: 'accepted', files: 3, bytes: 38 + 14, mine: true }])
  assert.match(ok(await runWeft(['user', 'list', '--site', 'forum'], a)).out, new RegExp(`${me} \\(you\\) +v2 +accepted +3 files +52 B`))

  // read back, verified from the store
  assert.deepEqual(ok(await runWeft(['user', 'cat', '--site', 'forum', me, 'img/a.png'], a)).stdout, png)
  assert.equal(ok(await runWeft(['user', 'cat', '--site', 'forum', me, 'posts.json'], a)).out, await readFile(post, 'utf8'))
  fails(await runWeft(['user', 'cat', '--site', 'forum', me, 'nope.json'], a), 'ERR_DAG_PATH_NOT_FOUND')
  fails(await runWeft(['user', 'cat', '--site', 'forum', OTHER_SITE, 'posts.json'], a), 'ERR_RECORD_NOT_FOUND')
  fails(await runWeft(['user', 'cat', '--site', 'forum', 'someone', 'posts.json'], a), 'ERR_INVALID_NAME', 2)

  // rm: a new version without the file; removing it again says it is not there
  const removed = JSON.parse(ok(await runWeft(['user', 'rm', '--site', 'forum', 'img/b.png', '--json'], a)).out)
  assert.equal(removed.sequence, '3')
  assert.deepEqual(removed.files.map((f: { path: string }) => f.path), ['img/a.png', 'posts.json'])
  fails(await runWeft(['user', 'rm', '--site', 'forum', 'img/b.png'], a), 'ERR_DAG_PATH_NOT_FOUND')
  list = await listOf('forum', a)
  assert.equal(list.contributions[0].files, 2)
  assert.equal(list.contributions[0].sequence, '3')
  fails(await runWeft(['user', 'cat', '--site', 'forum', me, 'img/b.png'], a), 'ERR_DAG_PATH_NOT_FOUND')
})

test('CLI: a contribution written offline reaches a follower once the daemon starts; later writes go through the daemon and are announced', async t => {
  const { home, name } = await forumHome(t)
  const dir = await tmpDir(t)
  const post = join(dir, 'posts.json')
  await writeFile(post, '{"posts":[]}')
  const offline = JSON.parse(ok(await runWeft(['user', 'write', '--site', 'forum', 'posts.json', post, '--json'], { home })).out)
  assert.equal(offline.announced, false)

  const owner = await startDaemonProcess(t, home)
  const follower = await startDaemonProcess(t)
  const f = { home: follower.home }
  ok(await runWeft(['connect', owner.address], f))
  ok(await runWeft(['follow', name], f))
  const seen = async (sequence: string): Promise<boolean> =>
    (await listOf(name, f)).contributions.some(c => c.user === offline.user && c.sequence === sequence && c.state === 'accepted')
  await until('the offline write to reach the follower', async () => await seen('0'), 30_000, 500).catch(err => { throw new Error(`${err.message}; ${owner.state()}`) })

  // through the owner's daemon: announced at once, and the follower reads the new bytes
  const online = JSON.parse(ok(await runWeft(['user', 'write', '--site', 'forum', 'posts.json', '-', '--json'], { home, input: '{"posts":[{"id":"2"}]}' })).out)
  assert.equal(online.announced, true)
  assert.equal(online.sequence, '1')
  assert.equal((await listOf('forum', { home })).contributions[0].mine, true)
  await until('the new version at the follower', async () => await seen('1'), 30_000, 500)
  assert.equal(ok(await runWeft(['user', 'cat', '--site', name, offline.user, 'posts.json'], f)).out, '{"posts":[{"id":"2"}]}')
  const there = await listOf(name, f)
  assert.equal(there.contributions.find(c => c.user === offline.user)?.mine, false)
  // the follower writes too, through its daemon
  const theirs = JSON.parse(ok(await runWeft(['user', 'write', '--site', name, 'img/x.png', '-', '--json'], { ...f, input: 'png' })).out)
  assert.notEqual(theirs.user, offline.user)
  assert.equal(theirs.announced, true, 'the owner is on the site\'s users topic')
  await until('the follower\'s write at the owner', async () => (await listOf('forum', { home })).contributions.some(c => c.user === theirs.user && c.state === 'accepted'), 30_000, 500)
  ok(await runWeft(['user', 'rm', '--site', name, 'img/x.png'], f))
})
