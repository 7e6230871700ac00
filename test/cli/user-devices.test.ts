import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { tmpHome } from '../helpers/home.ts'
import { fails, ok, runWeft, startDaemonProcess, type CliResult } from '../helpers/cli.ts'
import { phraseOfMasterKey } from '../../src/users/index.ts'

const SITE = 'k51qzi5uqu5dlvj2baxnqndepeb86cbk3ng7n3i46uzyxzyqj2xjonzllnv0v8'

/** BIP-39's 0x7f… test vector with its first two words swapped: every word on the list, the checksum wrong. */
const [FIRST, SECOND, ...REST] = phraseOfMasterKey(new Uint8Array(32).fill(0x7f)).split(' ')
const SWAPPED = [SECOND, FIRST, ...REST].join(' ')


test('CLI: `weft user recovery-phrase` prints 24 words with a warning; `weft user recover` reads them from stdin and gives the same ids', async t => {
  const a = { home: await tmpHome(t) }
  const b = { home: await tmpHome(t) }
  const c = { home: await tmpHome(t) }
  fails(await runWeft(['user', 'recovery-phrase'], a), 'ERR_REPO_NOT_A_HOME')
  const id = ok(await runWeft(['user', 'id', '--site', SITE], a)).out.trim()
  const shown = ok(await runWeft(['user', 'recovery-phrase'], a))
  const phrase = shown.out.trim()
  assert.equal(phrase.split(' ').length, 24)
  assert.match(shown.stderr, /identity on every site/)
  assert.equal(JSON.parse(ok(await runWeft(['user', 'recovery-phrase', '--json'], a)).out).phrase, phrase)

  // wrong phrases change nothing and make no home
  const words = phrase.split(' ')
  fails(await runWeft(['user', 'recover'], { ...b, input: [...words.slice(0, 23), 'weft'].join(' ') }), 'ERR_RECOVERY_PHRASE_INVALID', 2)
  // every word on the list, two swapped: the checksum catches it (a fixed phrase: a random one swapped passes its 8-bit checksum once in 256)
  fails(await runWeft(['user', 'recover'], { ...b, input: SWAPPED }), 'ERR_RECOVERY_PHRASE_INVALID', 2)
  assert.equal(existsSync(b.home), false, 'the failed recoveries made no home')
  // the phrase is never taken from the command line, where other users of the machine see it
  assert.notEqual((await runWeft(['user', 'recover', ...words], b)).code, 0)

  const recovered = ok(await runWeft(['user', 'recover'], { ...b, input: `${phrase}\n` }))
  assert.match(recovered.out, /^recovered the user key/)
  assert.match(recovered.stderr, /identity on every site/)
  assert.equal(ok(await runWeft(['user', 'id', '--site', SITE], b)).out.trim(), id)
  assert.deepEqual(JSON.parse(ok(await runWeft(['user', 'recover', '--json'], { ...b, input: phrase })).out), { outcome: 'same' })

  // a home with its own identity refuses unless forced
  const own = ok(await runWeft(['user', 'id', '--site', SITE], c)).out.trim()
  assert.match(fails(await runWeft(['user', 'recover'], { ...c, input: phrase }), 'ERR_USER_KEY_EXISTS'), /--force/)
  assert.equal(ok(await runWeft(['user', 'id', '--site', SITE], c)).out.trim(), own)
  assert.match(ok(await runWeft(['user', 'recover', '--force'], { ...c, input: phrase })).out, /old identity on every site is lost/)
  assert.equal(ok(await runWeft(['user', 'id', '--site', SITE], c)).out.trim(), id)
})

test('CLI: recovery-phrase and recover go through a running daemon', async t => {
  const daemon = await startDaemonProcess(t)
  const d = { home: daemon.home }
  const e = { home: await tmpHome(t) }
  const theirs = ok(await runWeft(['user', 'id', '--site', SITE], e)).out.trim()
  const phrase = ok(await runWeft(['user', 'recovery-phrase'], e)).out.trim()
  const mine = ok(await runWeft(['user', 'id', '--site', SITE], d)).out.trim()
  assert.notEqual(mine, theirs)
  fails(await runWeft(['user', 'recover'], { ...d, input: phrase }), 'ERR_USER_KEY_EXISTS')
  fails(await runWeft(['user', 'recover', '--force'], { ...d, input: 'not a phrase' }), 'ERR_RECOVERY_PHRASE_INVALID', 2)
  assert.equal(ok(await runWeft(['user', 'id', '--site', SITE], d)).out.trim(), mine)
  ok(await runWeft(['user', 'recover', '--force'], { ...d, input: phrase }))
  // the daemon answers with the recovered id at once
  assert.equal(ok(await runWeft(['user', 'id', '--site', SITE], d)).out.trim(), theirs)
  assert.equal(ok(await runWeft(['user', 'recovery-phrase'], d)).out.trim(), phrase)
})

test('CLI: `weft user link` prints a code on one daemon; `weft user link <code>` on another takes the key, once', async t => {
  const one = await startDaemonProcess(t)
  const two = await startDaemonProcess(t)
  const offline = { home: await tmpHome(t) }
  ok(await runWeft(['user', 'id', '--site', SITE], offline))
  fails(await runWeft(['user', 'link'], offline), 'ERR_OFFLINE')
  const id = ok(await runWeft(['user', 'id', '--site', SITE], { home: one.home })).out.trim()
  const issued = ok(await runWeft(['user', 'link'], { home: one.home }))
  assert.match(issued.stderr, /identity on every site/)
  const code = issued.out.trim()
  // the code carries the daemon's addresses: the two daemons never met
  assert.match(code, /^12D3Koo\w+\.[a-z2-7]{32}@\/ip4\/127\.0\.0\.1\/tcp\/\d+/)
  assert.match(ok(await runWeft(['user', 'link', code], { home: two.home })).out, /^linked/)
  assert.equal(ok(await runWeft(['user', 'id', '--site', SITE], { home: two.home })).out.trim(), id)
  assert.match(fails(await runWeft(['user', 'link', code, '--force'], { home: two.home }), 'ERR_LINK_CODE_INVALID'), /used/)
  const short = JSON.parse(ok(await runWeft(['user', 'link', '--short', '--json'], { home: one.home })).out) as { code: string, expires: number }
  assert.doesNotMatch(short.code, /@/)
  assert.ok(short.expires > Date.now())
})
