import { test } from 'node:test'
import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { tmpDir, tmpHome } from '../helpers/home.ts'
import { fails, ok, runWeft, startDaemonProcess, type CliResult } from '../helpers/cli.ts'

const OTHER_SITE = 'k51qzi5uqu5dlvj2baxnqndepeb86cbk3ng7n3i46uzyxzyqj2xjonzllnv0v8'
const SOMEONE = 'k51qzi5uqu5dlj2qkibv67ep4sdmtxq5xngpt5lpdvtsv6ll5yqp6hnbmmgs4k'


test('CLI: `weft message send` seals into the home offline and through the daemon; `weft message ls` lists what opens', async t => {
  const a = { home: await tmpHome(t) }
  const dir = await tmpDir(t)
  const site = JSON.parse(ok(await runWeft(['site', 'create', 'blog', '--json'], a)).out) as { name: string }
  const me = ok(await runWeft(['user', 'id', '--site', 'blog'], a)).out.trim()

  // offline: a note to oneself (stdin) opens here; a letter to someone else is only held
  const sent = JSON.parse(ok(await runWeft(['message', 'send', '--site', 'blog', me, '--json'], { ...a, input: 'remember the milk' })).out)
  assert.equal(sent.from, me)
  assert.equal(sent.to, me)
  assert.equal(sent.announced, false)
  await writeFile(join(dir, 'letter.txt'), 'hello there')
  const out = ok(await runWeft(['message', 'send', '--site', site.name, SOMEONE, join(dir, 'letter.txt')], a)).out
  assert.match(out, /sealed a message \(11 B\) to k51/)
  assert.match(out, /held in the home; it goes out when `weft daemon` starts/)
  const listed = JSON.parse(ok(await runWeft(['message', 'ls', '--site', 'blog', '--json'], a)).out)
  assert.equal(listed.me, me)
  assert.equal(listed.held, 2)
  assert.deepEqual(listed.messages.map((m: { from: string, body: string }) => [m.from, m.body]), [[me, 'remember the milk']])
  const text = ok(await runWeft(['message', 'ls', '--site', 'blog'], a)).out
  assert.match(text, /remember the milk/)

  // refusals, each before anything is sealed
  await writeFile(join(dir, 'big'), new Uint8Array(70_000))
  fails(await runWeft(['message', 'send', '--site', 'blog', SOMEONE, join(dir, 'big')], a), 'ERR_MESSAGE_TOO_LARGE')
  fails(await runWeft(['message', 'send', '--site', 'blog', 'bob'], { ...a, input: 'x' }), 'ERR_MESSAGE_REFUSED')
  fails(await runWeft(['message', 'send', '--site', 'blog', SOMEONE], { ...a, input: '' }), 'ERR_MESSAGE_REFUSED')
  fails(await runWeft(['message', 'send', '--site', OTHER_SITE, SOMEONE], { ...a, input: 'x' }), 'ERR_NOT_FOLLOWING')
  assert.equal(JSON.parse(ok(await runWeft(['message', 'ls', '--site', 'blog', '--json'], a)).out).held, 2)
  // ls on a home that does not exist says so and makes none
  fails(await runWeft(['message', 'ls', '--site', 'blog'], { home: join(dir, 'nohome') }), 'ERR_REPO_NOT_A_HOME')

  // through the daemon
  await startDaemonProcess(t, a.home)
  ok(await runWeft(['message', 'send', '--site', 'blog', me], { ...a, input: 'through the daemon' }))
  const after = JSON.parse(ok(await runWeft(['message', 'ls', '--site', 'blog', '--json'], a)).out)
  assert.deepEqual(after.messages.map((m: { body: string }) => m.body).sort(), ['remember the milk', 'through the daemon'])
})
