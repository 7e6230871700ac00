import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createUserIdentity } from '../../src/users/index.ts'
import { masterKeyOfPhrase, phraseOfMasterKey, RECOVERY_PHRASE_WORDS } from '../../src/users/recovery.ts'
import { repoPaths } from '../../src/repo/index.ts'
import { isWeftError } from '../../src/errors.ts'
import { tmpDir } from '../helpers/home.ts'

const SITE = 'k51qzi5uqu5dlvj2baxnqndepeb86cbk3ng7n3i46uzyxzyqj2xjonzllnv0v8'
const code = (c: string) => (err: unknown): boolean => { assert.ok(isWeftError(err), String(err)); assert.equal(err.code, c, err.message); return true }

test('the phrase is BIP-39 of the master key itself (the spec\'s 256-bit test vectors), and converts back', () => {
  assert.equal(phraseOfMasterKey(new Uint8Array(32)), `${'abandon '.repeat(23)}art`)
  const legal = 'legal winner thank year wave sausage worth useful '.repeat(3).trim().replace(/useful$/, 'title')
  assert.equal(phraseOfMasterKey(new Uint8Array(32).fill(0x7f)), legal)
  assert.deepEqual(masterKeyOfPhrase(legal), new Uint8Array(32).fill(0x7f))
  // copied from paper: case, spaces and line breaks are forgiven
  assert.deepEqual(masterKeyOfPhrase(`  ${legal.toUpperCase().replaceAll(' ', '\n  ')}\n`), new Uint8Array(32).fill(0x7f))
  const random = crypto.getRandomValues(new Uint8Array(32))
  const phrase = phraseOfMasterKey(random)
  assert.equal(phrase.split(' ').length, RECOVERY_PHRASE_WORDS)
  assert.deepEqual(masterKeyOfPhrase(phrase), random)
})

test('a wrong word, a wrong count or a failed checksum is ERR_RECOVERY_PHRASE_INVALID', () => {
  const words = phraseOfMasterKey(new Uint8Array(32).fill(0x7f)).split(' ')
  assert.throws(() => masterKeyOfPhrase([...words.slice(0, 23), 'weft'].join(' ')), code('ERR_RECOVERY_PHRASE_INVALID'))
  assert.throws(() => masterKeyOfPhrase(words.slice(0, 23).join(' ')), code('ERR_RECOVERY_PHRASE_INVALID'))
  // a 12-word phrase is valid BIP-39 but holds 128 bits, not a master key
  assert.throws(() => masterKeyOfPhrase(`${'abandon '.repeat(11)}about`), code('ERR_RECOVERY_PHRASE_INVALID'))
  // two words swapped: every word is on the list, the checksum catches it
  const swapped = [...words]
  ;[swapped[0], swapped[1]] = [swapped[1], swapped[0]]
  assert.throws(() => masterKeyOfPhrase(swapped.join(' ')), code('ERR_RECOVERY_PHRASE_INVALID'))
  assert.throws(() => masterKeyOfPhrase(''), code('ERR_RECOVERY_PHRASE_INVALID'))
})

test('recover restores the same ids; over a different key it needs force, as import-key does', async t => {
  const a = createUserIdentity({ path: repoPaths(await tmpDir(t)).userKey })
  const b = createUserIdentity({ path: repoPaths(await tmpDir(t)).userKey })
  const phrase = a.recoveryPhrase()
  assert.equal(a.hasKey(), true)
  assert.equal(b.hasKey(), false)
  assert.deepEqual(await b.recover(phrase), { outcome: 'added' })
  assert.equal(b.id(SITE), a.id(SITE))
  assert.deepEqual(await b.recover(phrase), { outcome: 'same' })

  const c = createUserIdentity({ path: repoPaths(await tmpDir(t)).userKey })
  const own = c.id(SITE)
  await assert.rejects(c.recover(phrase), code('ERR_USER_KEY_EXISTS'))
  assert.equal(c.id(SITE), own, 'the refused recovery changed nothing')
  await assert.rejects(c.recover(`${phrase} extra`, { force: true }), code('ERR_RECOVERY_PHRASE_INVALID'))
  assert.equal(c.id(SITE), own)
  assert.deepEqual(await c.recover(phrase, { force: true }), { outcome: 'replaced' })
  assert.equal(c.id(SITE), a.id(SITE))
  assert.equal(c.recoveryPhrase(), phrase)
})
