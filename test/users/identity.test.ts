import { test } from 'node:test'
import assert from 'node:assert/strict'
import { hkdfSync } from 'node:crypto'
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { createUserIdentity, siteUserKey, userIdOf, exportUserKey, unsealUserKey, USER_KEY_HEADER } from '../../src/users/index.ts'
import { repoPaths } from '../../src/repo/index.ts'
import { parseSiteName } from '../../src/sites/index.ts'
import { isWeftError } from '../../src/errors.ts'
import { tmpDir } from '../helpers/home.ts'

const SITE_A = 'k51qzi5uqu5dlvj2baxnqndepeb86cbk3ng7n3i46uzyxzyqj2xjonzllnv0v8'
const SITE_B = 'k51qzi5uqu5dg9okqe4n260dgjf6lx6e0bw0jkk2xlm1ux9ktmsb8asc3twj4n'
const PASSPHRASE = 'correct horse battery staple'

async function keyPath (t: Parameters<typeof tmpDir>[0]): Promise<string> {
  return repoPaths(await tmpDir(t)).userKey
}

const code = (c: string) => (err: unknown): boolean => { assert.ok(isWeftError(err), String(err)); assert.equal(err.code, c, err.message); return true }

test('a site key is the spec\'s HKDF-SHA256 seed made into ed25519: deterministic per (master, site)', async () => {
  const master = new Uint8Array(32).fill(7)
  const key = siteUserKey(master, SITE_A)
  const seed = new Uint8Array(hkdfSync('sha256', master, 'weft/user-key/v1', SITE_A, 32))
  assert.ok(key.equals(await generateKeyPairFromSeed('Ed25519', seed)))
  assert.ok(key.equals(siteUserKey(new Uint8Array(32).fill(7), SITE_A)))
  // any spelling of the site's name is the same site
  assert.ok(key.equals(siteUserKey(master, `/ipns/${SITE_A}`)))
  assert.ok(key.equals(siteUserKey(master, parseSiteName(SITE_A).peerId.toString())))
  // the id is the key's IPNS name, the same form as a site's
  const id = userIdOf(key)
  assert.match(id, /^k51[0-9a-z]+$/)
  assert.equal(parseSiteName(id).peerId.toString(), key.publicKey.toString())
  const signature = await key.sign(new TextEncoder().encode('hello'))
  assert.ok(await key.publicKey.verify(new TextEncoder().encode('hello'), signature))
})

test('the keys of one master on two sites share nothing; two masters on one site differ', () => {
  const master = new Uint8Array(32).fill(1)
  const a = siteUserKey(master, SITE_A)
  const b = siteUserKey(master, SITE_B)
  assert.notEqual(userIdOf(a), userIdOf(b))
  const ra = a.raw
  const rb = b.raw
  // no seed byte and no public key byte run in common beyond chance: compare whole halves
  assert.notDeepEqual(ra.subarray(0, 32), rb.subarray(0, 32))
  assert.notDeepEqual(ra.subarray(32), rb.subarray(32))
  let same = 0
  for (let i = 0; i < 32; i++) if (ra[i] === rb[i]) same++
  assert.ok(same < 8, `${same} of 32 seed bytes equal`)
  assert.notEqual(userIdOf(siteUserKey(new Uint8Array(32).fill(2), SITE_A)), userIdOf(a))
  assert.throws(() => siteUserKey(new Uint8Array(16), SITE_A), code('ERR_KEY_INVALID'))
  assert.throws(() => siteUserKey(master, 'not a site'), code('ERR_INVALID_NAME'))
})

test('the master key is made on first use: 32 bytes, 0600, in a 0700 keys folder, and the same afterwards', async t => {
  const path = await keyPath(t)
  const identity = createUserIdentity({ path })
  const id = identity.id(SITE_A)
  const bytes = readFileSync(path)
  assert.equal(bytes.byteLength, 32)
  assert.equal(statSync(path).mode & 0o777, 0o600)
  assert.equal(statSync(join(path, '..')).mode & 0o777, 0o700)
  assert.equal(userIdOf(siteUserKey(bytes, SITE_A)), id)
  // another process opening the home later finds the same identity
  assert.equal(createUserIdentity({ path }).id(SITE_A), id)
  assert.notEqual(createUserIdentity({ path: await keyPath(t) }).id(SITE_A), id)
})

test('a damaged master key file is refused, not replaced', async t => {
  const path = await keyPath(t)
  mkdirSync(join(path, '..'), { recursive: true })
  writeFileSync(path, new Uint8Array(31), { mode: 0o600 })
  assert.throws(() => createUserIdentity({ path }).id(SITE_A), code('ERR_REPO_INVALID'))
  assert.equal(readFileSync(path).byteLength, 31)
})

test('export → import on a second home gives the same ids; the export names no id', async t => {
  const a = createUserIdentity({ path: await keyPath(t) })
  const exported = await a.exportKey(PASSPHRASE)
  assert.equal(exported.split('\n')[0], USER_KEY_HEADER)
  for (const site of [SITE_A, SITE_B]) assert.ok(!exported.includes(a.id(site)))
  const pathB = await keyPath(t)
  const b = createUserIdentity({ path: pathB })
  assert.deepEqual(await b.importKey(exported, PASSPHRASE), { outcome: 'added' })
  assert.equal(b.id(SITE_A), a.id(SITE_A))
  assert.equal(b.id(SITE_B), a.id(SITE_B))
  assert.equal(statSync(pathB).mode & 0o777, 0o600)
  // importing the same key again changes nothing
  assert.deepEqual(await b.importKey(exported, PASSPHRASE), { outcome: 'same' })
  // a third home opened afterwards reads the imported key
  assert.equal(createUserIdentity({ path: pathB }).id(SITE_A), a.id(SITE_A))
})

test('a wrong passphrase, a damaged export, another kind of export and an empty passphrase are refused', async t => {
  const master = new Uint8Array(32).fill(9)
  const exported = await exportUserKey(master, PASSPHRASE)
  await assert.rejects(unsealUserKey(exported, 'wrong horse'), code('ERR_KEY_INVALID'))
  const [header, body] = exported.trim().split('\n')
  // one changed character of the ciphertext: GCM's tag no longer matches
  const fields = JSON.parse(Buffer.from(body, 'base64').toString()) as Record<string, string>
  const ct = Buffer.from(fields.ciphertext, 'base64')
  ct[0] ^= 1
  const flipped = `${header}\n${Buffer.from(JSON.stringify({ ...fields, ciphertext: ct.toString('base64') })).toString('base64')}\n`
  await assert.rejects(unsealUserKey(flipped, PASSPHRASE), code('ERR_KEY_INVALID'))
  await assert.rejects(unsealUserKey(`${header}\n${body.slice(0, 40)}\n`, PASSPHRASE), code('ERR_KEY_INVALID'))
  await assert.rejects(unsealUserKey(`${header}\n!!!not base64!!!\n`, PASSPHRASE), code('ERR_KEY_INVALID'))
  await assert.rejects(unsealUserKey(exported.replace(USER_KEY_HEADER, 'weft-site-key-v1'), PASSPHRASE), code('ERR_KEY_INVALID'))
  await assert.rejects(unsealUserKey('', PASSPHRASE), code('ERR_KEY_INVALID'))
  await assert.rejects(exportUserKey(master, ''), code('ERR_USAGE'))
  // a home's import of a damaged export leaves the home without a key
  const path = await keyPath(t)
  await assert.rejects(createUserIdentity({ path }).importKey(flipped, PASSPHRASE), code('ERR_KEY_INVALID'))
  assert.throws(() => statSync(path), /ENOENT/)
})

test('importing over a different master key refuses unless forced; forced, the old ids are gone', async t => {
  const theirs = createUserIdentity({ path: await keyPath(t) })
  const exported = await theirs.exportKey(PASSPHRASE)
  const path = await keyPath(t)
  const mine = createUserIdentity({ path })
  const before = mine.id(SITE_A)
  await assert.rejects(mine.importKey(exported, PASSPHRASE), (err: unknown) => {
    code('ERR_USER_KEY_EXISTS')(err)
    assert.match((err as Error).message, /loses your identity on every site/)
    return true
  })
  assert.equal(mine.id(SITE_A), before)
  assert.equal(createUserIdentity({ path }).id(SITE_A), before)
  assert.deepEqual(await mine.importKey(exported, PASSPHRASE, { force: true }), { outcome: 'replaced' })
  assert.equal(mine.id(SITE_A), theirs.id(SITE_A))
  assert.equal(createUserIdentity({ path }).id(SITE_A), theirs.id(SITE_A))
  assert.equal(statSync(path).mode & 0o777, 0o600)
})

test('a damaged master key file can be replaced from a backup with force', async t => {
  const backup = await createUserIdentity({ path: await keyPath(t) }).exportKey(PASSPHRASE)
  const path = await keyPath(t)
  mkdirSync(join(path, '..'), { recursive: true })
  writeFileSync(path, 'garbage', { mode: 0o600 })
  const identity = createUserIdentity({ path })
  await assert.rejects(identity.importKey(backup, PASSPHRASE), code('ERR_USER_KEY_EXISTS'))
  assert.deepEqual(await identity.importKey(backup, PASSPHRASE, { force: true }), { outcome: 'replaced' })
  assert.equal(readFileSync(path).byteLength, 32)
})
