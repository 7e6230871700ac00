import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { tmpDir, tmpHome } from '../helpers/home.ts'
import { fails, ok, runWeft, startDaemonProcess, type CliResult } from '../helpers/cli.ts'


async function until<T> (what: string, fn: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const value = await fn()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 200))
  }
}

test('CLI: a site published with no daemon goes out when the daemon starts; another daemon follows it, gets the update pushed, and serves it after the owner stops', async t => {
  const a = { home: await tmpHome(t) }
  const created = JSON.parse(ok(await runWeft(['site', 'create', 'blog', '--json'], a)).out)
  assert.match(created.address, /^\/ipns\/k51/)
  const dir = await tmpDir(t)
  await writeFile(join(dir, 'index.html'), '<p>first</p>')
  const first = JSON.parse(ok(await runWeft(['publish', dir, '--site', 'blog', '--json'], a)).out)
  assert.equal(first.address, created.address)
  assert.equal(first.sequence, '0')
  assert.equal(first.announced, false)
  assert.equal(first.url, `http://${created.name}.ipns.localhost:8080/`)
  assert.equal(JSON.parse(ok(await runWeft(['site', 'list', '--json'], a)).out)[0].published, false)

  const owner = await startDaemonProcess(t, a.home)
  const follower = await startDaemonProcess(t)
  ok(await runWeft(['connect', owner.address], follower))
  // The owner's daemon announces the waiting record once it has a peer.
  await until('the record to go out', async () => JSON.parse(ok(await runWeft(['site', 'list', '--json'], owner)).out)[0].published === true ? true : undefined)
  const resolved = JSON.parse(ok(await runWeft(['resolve', created.address, '--json', '--timeout', '20s'], follower)).out)
  assert.equal(resolved.sequence, '0')
  assert.equal(resolved.root, first.root)

  assert.match(ok(await runWeft(['follow', created.name], follower)).out, /^following \/ipns\/k51\w+, keeping 2 versions: version 0/)
  await until('the follower to hold version 0', async () => JSON.parse(ok(await runWeft(['following', '--json'], follower)).out)[0]?.fetched === true ? true : undefined)
  assert.equal(ok(await runWeft(['cat', `${created.address}/index.html`], follower)).out, '<p>first</p>')

  await writeFile(join(dir, 'index.html'), '<p>second</p>')
  const second = JSON.parse(ok(await runWeft(['publish', dir, '--site', 'blog', '--json'], owner)).out)
  assert.equal(second.sequence, '1')
  assert.equal(second.announced, true)
  assert.match(ok(await runWeft(['publish', dir, '--site', 'blog'], owner)).out, /^unchanged: still version 1 of \/ipns\/k51\w+ \(announced to the network\)\n/)
  await until('the update to reach the follower', async () => {
    const f = JSON.parse(ok(await runWeft(['following', '--json'], follower)).out)[0]
    return f.sequence === '1' && f.fetched === true ? true : undefined
  })

  owner.child.kill('SIGTERM')
  await new Promise(resolve => owner.child.once('exit', resolve))
  assert.equal(ok(await runWeft(['cat', `/ipns/${created.name}/index.html`], follower)).out, '<p>second</p>')
  const info = JSON.parse(ok(await runWeft(['site', 'info', created.name, '--json'], follower)).out)
  assert.equal(info.current.sequence, '1')
  assert.equal(info.current.root, second.root)
  assert.deepEqual(info.versions.map((v: { sequence: string }) => v.sequence), ['1', '0'])
  assert.ok(info.peers.some((p: { peer: string }) => p.peer === owner.id), 'the owner was seen pushing the site')
  assert.match(ok(await runWeft(['site', 'info', created.name], follower)).out, /^address {4}\/ipns\/k51\w+\nversion {4}1 {2}\/ipfs\/\w+\n/)
})

test('CLI: site keys move between homes under a passphrase; bad input gets one line and a stable code, and the home stays as it was', async t => {
  const a = { home: await tmpHome(t) }
  const b = { home: await tmpHome(t) }
  const dir = await tmpDir(t)
  await writeFile(join(dir, 'index.html'), 'hello')
  fails(await runWeft(['site', 'create', 'Not A Label'], a), 'ERR_USAGE', 2)
  const site = JSON.parse(ok(await runWeft(['site', 'create', 'blog', '--json'], a)).out)
  fails(await runWeft(['site', 'create', 'blog'], a), 'ERR_SITE_EXISTS')
  ok(await runWeft(['publish', dir, '--site', 'blog'], a))

  const keyFile = join(dir, 'blog.key')
  fails(await runWeft(['site', 'export-key', 'blog', '-o', keyFile], { ...a, env: { WEFT_PASSPHRASE: '' } }), 'ERR_USAGE', 2)
  ok(await runWeft(['site', 'export-key', 'blog', '-o', keyFile], { ...a, env: { WEFT_PASSPHRASE: 'correct horse' } }))
  assert.equal((await stat(keyFile)).mode & 0o777, 0o600)
  assert.match(await readFile(keyFile, 'utf8'), /^weft-site-key-v1\n[A-Za-z0-9+/=]+\n$/)
  fails(await runWeft(['site', 'export-key', 'blog', '-o', keyFile], { ...a, env: { WEFT_PASSPHRASE: 'x' } }), 'ERR_OUTPUT_EXISTS')
  fails(await runWeft(['site', 'export-key', 'nope'], { ...a, env: { WEFT_PASSPHRASE: 'x' } }), 'ERR_SITE_NOT_FOUND')

  fails(await runWeft(['site', 'import-key', keyFile], { ...b, env: { WEFT_PASSPHRASE: 'wrong horse' } }), 'ERR_KEY_INVALID')
  const garbage = join(dir, 'garbage.key')
  await writeFile(garbage, 'weft-site-key-v1\nnot base64 json\n')
  fails(await runWeft(['site', 'import-key', garbage], { ...b, env: { WEFT_PASSPHRASE: 'x' } }), 'ERR_KEY_INVALID')
  assert.equal(existsSync(b.home), false, 'nothing imported: the failed imports did not even make a home')
  fails(await runWeft(['site', 'import-key', keyFile], { ...a, env: { WEFT_PASSPHRASE: 'correct horse' } }), 'ERR_SITE_EXISTS')
  const passFile = join(dir, 'pass')
  await writeFile(passFile, 'correct horse\n')
  const imported = JSON.parse(ok(await runWeft(['site', 'import-key', keyFile, '--passphrase-file', passFile, '--label', 'moved', '--json'], b)).out)
  assert.equal(imported.name, site.name)
  assert.equal(imported.label, 'moved')
  // The moved site carries on from the sequence it had reached.
  await writeFile(join(dir, 'index.html'), 'hello again')
  assert.equal(JSON.parse(ok(await runWeft(['publish', dir, '--site', 'moved', '--json'], b)).out).sequence, '1')

  fails(await runWeft(['publish', dir, '--site', 'nope'], b), 'ERR_SITE_NOT_FOUND')
  assert.equal(JSON.parse(ok(await runWeft(['repo', 'stat', '--json'], b)).out).pins, 1, 'nothing added for an unknown site')
  fails(await runWeft(['resolve', 'not-a-name'], b), 'ERR_INVALID_NAME', 2)
  fails(await runWeft(['resolve', '/ipns/k51qzi5uqu5dlvj2baxnqndepeb86cbk3ng7n3i46uzyxzyqj2xjonzllnv0v8'], b), 'ERR_RECORD_NOT_FOUND')
  fails(await runWeft(['cat', '/ipns/nope/index.html'], b), 'ERR_INVALID_NAME', 2)
  fails(await runWeft(['follow', 'nope'], b), 'ERR_INVALID_NAME', 2)
  fails(await runWeft(['follow', site.name, '--keep', '0'], b), 'ERR_USAGE', 2)
  fails(await runWeft(['unfollow', site.name], b), 'ERR_NOT_FOLLOWING')
  assert.equal(ok(await runWeft(['cat', `/ipns/${site.name}/index.html`], b)).out, 'hello again')
})

test('CLI: following says "no record yet" for a site of which no record was found, not "fetching"', async t => {
  const owner = { home: await tmpHome(t) }
  const site = JSON.parse(ok(await runWeft(['site', 'create', 'quiet', '--json'], owner)).out)
  // a home alone, then a running daemon with no peer: neither has a record to fetch from
  const alone = { home: await tmpHome(t) }
  ok(await runWeft(['follow', site.name], alone))
  const offline = ok(await runWeft(['following'], alone)).out
  assert.match(offline, /no record yet/)
  assert.doesNotMatch(offline, /fetching/)
  const daemon = await startDaemonProcess(t)
  assert.match(ok(await runWeft(['follow', site.name], daemon)).out, /no version found yet/)
  const online = ok(await runWeft(['following'], daemon)).out
  assert.match(online, new RegExp(`/ipns/${site.name} +- +no record yet`))
})
