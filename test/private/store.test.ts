import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { dirname, join } from 'node:path'
import type { CID } from 'multiformats/cid'
import { createNode, type WeftNode } from '../../src/node/index.ts'
import { Operations } from '../../src/api/index.ts'
import { exportCar, importCar, importBytes } from '../../src/content/index.ts'
import { signRecord } from '../../src/sites/index.ts'
import { isWeftError } from '../../src/errors.ts'
import { privateKeysOf, sealFile, sealWithNonce, paddedSize, type PrivateIndex } from '../../src/private/index.ts'
import { tmpHome } from '../helpers/home.ts'

const SITE = 'k51qzi5uqu5dlvj2baxnqndepeb86cbk3ng7n3i46uzyxzyqj2xjonzllnv0v8'

/** An offline node whose user master key is `master` (two nodes with one master key are two devices of one person). */
async function device (t: TestContext, master: Uint8Array, home?: string): Promise<WeftNode> {
  const node = await createNode({ home: home ?? await tmpHome(t) })
  t.after(async () => { await node.stop() })
  mkdirSync(dirname(node.repo.paths.userKey), { recursive: true, mode: 0o700 })
  writeFileSync(node.repo.paths.userKey, master, { mode: 0o600 })
  return node
}

/** What sync's fetch does between nodes: brings the DAG under `cid` from one home into another (here as a CAR). */
function fetchFrom (from: WeftNode, into: WeftNode): (cid: CID) => Promise<void> {
  return async cid => { await importCar(into.blocks, exportCar(from.blocks, cid)) }
}

/** Every byte of a home's block packs. */
function packBytes (node: WeftNode): Buffer {
  const dir = node.repo.paths.blocks
  return Buffer.concat(readdirSync(dir).filter(f => f.endsWith('.pack')).map(f => readFileSync(join(dir, f))))
}

const tampered = (err: unknown): boolean => isWeftError(err, 'ERR_PRIVATE_TAMPERED')

test('put, get, list, rm and usage; the store holds only ciphertext; a restart keeps it all', async t => {
  const master = randomBytes(32)
  const home = await tmpHome(t)
  const node = await device(t, master, home)
  const store = node.private
  const marker = `private-marker-${randomBytes(8).toString('hex')}`
  const published: Array<{ site: string, record: Uint8Array }> = []
  store.addEventListener('published', e => { published.push((e as CustomEvent).detail) })

  const small = Buffer.from(`a note holding ${marker}`)
  const large = Buffer.concat([Buffer.from(marker), randomBytes(3 * 1024 * 1024), Buffer.from(marker)])
  assert.deepEqual(await store.put(SITE, 'notes/a.txt', small).then(e => ({ path: e.path, size: e.size })), { path: 'notes/a.txt', size: small.length })
  await store.put(SITE, 'big.bin', large)
  await store.put(SITE, 'empty', new Uint8Array())
  assert.deepEqual(Buffer.from(await store.get(SITE, 'notes/a.txt')), small)
  assert.deepEqual(Buffer.from(await store.get(SITE, 'big.bin')), large)
  assert.equal((await store.get(SITE, 'empty')).byteLength, 0)
  assert.deepEqual(store.list(SITE).map(e => [e.path, e.size]), [['big.bin', large.length], ['empty', 0], ['notes/a.txt', small.length]])
  assert.deepEqual(store.sites(), [SITE])
  assert.deepEqual((await new Operations(node).privateSites()).map(s => [s.site, s.files]), [[SITE, 3]])
  const usage = store.usage(SITE)
  assert.equal(usage.files, 3)
  assert.equal(usage.bytes, small.length + large.length)
  assert.ok(usage.stored >= 4096 + 4096 + 4 * 1024 * 1024, 'stored bytes are padded to buckets')

  assert.equal(published.length, 3)
  assert.ok(published.every(p => p.site === SITE))
  assert.deepEqual(published.at(-1)?.record, store.record(SITE))
  assert.match(store.indexName(SITE), /^k51/)
  assert.notEqual(store.indexName(SITE), node.userIdentity.id(SITE), 'the index is not named by the user\'s id on the site')

  // overwriting replaces; a removed file is gone
  await store.put(SITE, 'notes/a.txt', Buffer.from('second'))
  assert.equal(Buffer.from(await store.get(SITE, 'notes/a.txt')).toString(), 'second')
  await store.rm(SITE, 'empty')
  await assert.rejects(store.get(SITE, 'empty'), (err: unknown) => isWeftError(err, 'ERR_PRIVATE_NOT_FOUND'))
  await assert.rejects(store.get(SITE, 'never'), (err: unknown) => isWeftError(err, 'ERR_PRIVATE_NOT_FOUND'))
  await assert.rejects(store.rm(SITE, 'never'), (err: unknown) => isWeftError(err, 'ERR_PRIVATE_NOT_FOUND'))
  await assert.rejects(store.put(SITE, '../escape', small), (err: unknown) => isWeftError(err, 'ERR_USAGE'))
  await assert.rejects(store.put(SITE, '__proto__', small), (err: unknown) => isWeftError(err, 'ERR_USAGE'))
  assert.deepEqual(store.list(SITE).map(e => e.path), ['big.bin', 'notes/a.txt'])

  // names and contents are sealed: neither appears in the store
  await node.blocks.flush()
  const packs = packBytes(node)
  assert.ok(packs.length > large.length, 'the ciphertext is in the packs')
  assert.equal(packs.indexOf(marker), -1, 'the marker is nowhere in the store in clear')
  assert.equal(packs.indexOf('notes/a.txt'), -1, 'file names are sealed too')

  // gc keeps what the store holds, and frees a removed file's ciphertext
  const before = node.blocks.stat().bytes
  await node.blocks.gc()
  assert.deepEqual(Buffer.from(await store.get(SITE, 'big.bin')), large)
  await store.rm(SITE, 'big.bin')
  await node.blocks.gc()
  assert.ok(node.blocks.stat().bytes < before - 3 * 1024 * 1024, 'the removed file\'s ciphertext was collected')

  const sequence = store.record(SITE)
  await node.stop()
  const again = await createNode({ home })
  t.after(async () => { await again.stop() })
  assert.deepEqual(again.private.list(SITE).map(e => e.path), ['notes/a.txt'])
  assert.equal(Buffer.from(await again.private.get(SITE, 'notes/a.txt')).toString(), 'second')
  assert.deepEqual(again.private.record(SITE), sequence)
})

test('a second device with the same master key takes the index, reads the files, and its writes come back', async t => {
  const master = randomBytes(32)
  const a = await device(t, master)
  const b = await device(t, master)
  assert.equal(a.private.indexName(SITE), b.private.indexName(SITE), 'both derive the same index name')
  await a.private.put(SITE, 'drafts/one.md', Buffer.from('first draft'))
  const record = a.private.record(SITE) as Uint8Array
  assert.equal(await b.private.applyRemote(SITE, record, { fetch: fetchFrom(a, b) }), 'applied')
  assert.equal(Buffer.from(await b.private.get(SITE, 'drafts/one.md')).toString(), 'first draft')
  assert.deepEqual(b.private.record(SITE), record, 'nothing to merge: B holds A\'s record itself')
  assert.equal(await b.private.applyRemote(SITE, record, { fetch: fetchFrom(a, b) }), 'same')

  // B writes over A's file (it saw it): A fast-forwards, no conflict copy
  await b.private.put(SITE, 'drafts/one.md', Buffer.from('second draft'))
  assert.equal(await a.private.applyRemote(SITE, b.private.record(SITE) as Uint8Array, { fetch: fetchFrom(b, a) }), 'applied')
  assert.equal(Buffer.from(await a.private.get(SITE, 'drafts/one.md')).toString(), 'second draft')
  assert.deepEqual(a.private.list(SITE).map(e => e.path), ['drafts/one.md'])
})

test('concurrent writes on two devices: both keep both versions, the loser as a conflict copy, and converge', async t => {
  const master = randomBytes(32)
  const a = await device(t, master)
  const b = await device(t, master)
  await a.private.put(SITE, 'doc', Buffer.from('base'))
  await b.private.applyRemote(SITE, a.private.record(SITE) as Uint8Array, { fetch: fetchFrom(a, b) })
  await a.private.put(SITE, 'doc', Buffer.from('from a'))
  // B's write of doc comes after another of its own, so it carries the higher seq
  await b.private.put(SITE, 'other', Buffer.from('only on b'))
  await b.private.put(SITE, 'doc', Buffer.from('from b'))
  const published: Uint8Array[] = []
  a.private.addEventListener('published', e => { published.push((e as CustomEvent).detail.record) })
  // A takes B's index: the writes were concurrent, B's has the higher seq
  assert.equal(await a.private.applyRemote(SITE, b.private.record(SITE) as Uint8Array, { fetch: fetchFrom(b, a) }), 'applied')
  assert.equal(published.length, 1, 'the merge differs from what came, so A publishes it')
  const paths = a.private.list(SITE).map(e => e.path)
  assert.equal(paths.length, 3)
  assert.ok(paths.includes('other'))
  const copy = paths.find(p => p.startsWith('doc.conflict-')) as string
  assert.ok(copy !== undefined, 'the losing write is kept')
  assert.equal(Buffer.from(await a.private.get(SITE, 'doc')).toString(), 'from b')
  assert.equal(Buffer.from(await a.private.get(SITE, copy)).toString(), 'from a')
  // B takes A's merge and ends with the same files
  assert.equal(await b.private.applyRemote(SITE, published[0], { fetch: fetchFrom(a, b) }), 'applied')
  assert.deepEqual(b.private.list(SITE).map(e => e.path), paths)
  assert.equal(Buffer.from(await b.private.get(SITE, copy)).toString(), 'from a')
  assert.deepEqual(b.private.record(SITE), a.private.record(SITE), 'B holds A\'s merge as it came')
})

test('an older index replayed is refused, another user\'s index is refused, and nothing is written', async t => {
  const master = randomBytes(32)
  const a = await device(t, master)
  const b = await device(t, master)
  await a.private.put(SITE, 'one', Buffer.from('1'))
  const old = a.private.record(SITE) as Uint8Array
  await a.private.put(SITE, 'two', Buffer.from('2'))
  await b.private.applyRemote(SITE, a.private.record(SITE) as Uint8Array, { fetch: fetchFrom(a, b) })
  const held = b.private.record(SITE)
  assert.equal(await b.private.applyRemote(SITE, old, { fetch: fetchFrom(a, b) }), 'older')
  await assert.rejects(b.private.checkRemote(SITE, old), (err: unknown) => isWeftError(err, 'ERR_PRIVATE_ROLLBACK'))
  assert.deepEqual(b.private.record(SITE), held)
  assert.deepEqual(b.private.list(SITE).map(e => e.path), ['one', 'two'])

  const stranger = await device(t, randomBytes(32))
  await stranger.private.put(SITE, 'one', Buffer.from('not yours'))
  await assert.rejects(b.private.applyRemote(SITE, stranger.private.record(SITE) as Uint8Array, { fetch: fetchFrom(stranger, b) }),
    (err: unknown) => isWeftError(err, 'ERR_RECORD_INVALID'))
  // one site's index is not another's
  const other = 'k51qzi5uqu5dgutdk6i1ynyzgkqngpha5xpgia3a5qqp4jsh0u4csozksxel3r'
  await assert.rejects(b.private.applyRemote(other, a.private.record(SITE) as Uint8Array, { fetch: fetchFrom(a, b) }),
    (err: unknown) => isWeftError(err, 'ERR_RECORD_INVALID'))
  assert.deepEqual(b.private.record(SITE), held)
  assert.equal(Buffer.from(await b.private.get(SITE, 'one')).toString(), '1')
})

test('a tampered index (signed, but it does not open) is ERR_PRIVATE_TAMPERED with nothing written', async t => {
  const master = randomBytes(32)
  const b = await device(t, master)
  await b.private.put(SITE, 'one', Buffer.from('1'))
  const held = b.private.record(SITE)
  const keys = privateKeysOf(master, SITE)
  // whoever holds the signing key but not the index key: a block under another key, and one that is not a sealed index at all
  const forged = [
    sealWithNonce(randomBytes(32), Buffer.from(JSON.stringify({ v: 1, seq: 9, folders: {}, entries: {} }))),
    sealWithNonce(keys.indexKey, Buffer.from('{"v":1,"seq":9,"folders":{},"entries":{"x":{"cid":1}}}')),
    randomBytes(100)
  ]
  for (const block of forged) {
    const root = await importBytes(b.blocks, block)
    const record = await signRecord(keys.indexSigner, `/ipfs/${root.toString()}`, 9n, { validity: 60_000, ttl: 1000 })
    await assert.rejects(b.private.applyRemote(SITE, record.bytes, { fetch: async () => {} }), tampered)
    assert.deepEqual(b.private.record(SITE), held)
    assert.deepEqual(b.private.list(SITE).map(e => e.path), ['one'])
  }
})

test('a file whose ciphertext was swapped for another (valid blocks, wrong content) is ERR_PRIVATE_TAMPERED', async t => {
  const master = randomBytes(32)
  const a = await device(t, master)
  const b = await device(t, master)
  const keys = privateKeysOf(master, SITE)
  await a.private.put(SITE, 'one', Buffer.from('the real one'))
  // an index, sealed and signed with this person's keys, that pairs the file's wrapped key with another ciphertext
  const index = JSON.parse(readDbBody(a)) as PrivateIndex
  const foreign = await importBytes(b.blocks, sealFile(randomBytes(32), Buffer.from('something else'), paddedSize(12)))
  const entry = index.entries.one
  assert.ok(entry.deleted !== true)
  entry.cid = foreign.toString()
  index.seq += 1
  const { sealIndex } = await import('../../src/private/index.ts')
  const root = await importBytes(b.blocks, sealIndex(keys.indexKey, index))
  const record = await signRecord(keys.indexSigner, `/ipfs/${root.toString()}`, BigInt(index.seq), { validity: 60_000, ttl: 1000 })
  assert.equal(await b.private.applyRemote(SITE, record.bytes, { fetch: async () => {} }), 'applied')
  await assert.rejects(b.private.get(SITE, 'one'), tampered)
})

function readDbBody (node: WeftNode): string {
  const row = node.repo.db.prepare('SELECT body FROM private_indexes WHERE site = ?').get(SITE) as { body: string }
  return row.body
}

test('writes to one site at once all land, one index version each, and gc run meanwhile keeps every file', async t => {
  const node = await device(t, randomBytes(32))
  const files = Array.from({ length: 6 }, (_, i) => [`f${i}`, randomBytes(50_000 + i)] as const)
  const writes = Promise.all(files.map(async ([path, bytes]) => await node.private.put(SITE, path, bytes)))
  await node.blocks.gc()
  await writes
  await node.blocks.gc()
  assert.deepEqual(node.private.list(SITE).map(e => e.path), files.map(([p]) => p))
  for (const [path, bytes] of files) assert.deepEqual(Buffer.from(await node.private.get(SITE, path)), bytes)
  const index = JSON.parse(readDbBody(node)) as PrivateIndex
  assert.equal(index.seq, files.length)
})

test('rotateFolder: a new generation wraps the folder\'s file keys again (ciphertext kept); the other device takes it over its old wrapping, once', async t => {
  const master = randomBytes(32)
  const [one, two] = [await device(t, master), await device(t, master)]
  await one.private.put(SITE, 'notes/a.txt', Buffer.from('a'))
  await one.private.put(SITE, 'other/b.txt', Buffer.from('b'))
  await two.private.applyRemote(SITE, one.private.record(SITE) as Uint8Array, { fetch: fetchFrom(one, two) })
  const before = one.private.folderFiles(SITE, 'notes')
  assert.equal(before.generation, 0)

  assert.equal(await one.private.rotateFolder(SITE, 'notes'), 1)
  const after = one.private.folderFiles(SITE, 'notes')
  assert.equal(after.generation, 1)
  assert.deepEqual(after.files.map(f => [f.path, f.cid, Buffer.from(f.key).toString('hex')]), before.files.map(f => [f.path, f.cid, Buffer.from(f.key).toString('hex')]), 'same ciphertext, same file key')
  assert.equal(one.private.folderFiles(SITE, 'other').generation, 0, 'other folders keep theirs')
  assert.equal(Buffer.from(await one.private.get(SITE, 'notes/a.txt')).toString(), 'a')

  // the second device takes the rotation as written over its entries: no conflict copy, and no merge to send back
  const published: unknown[] = []
  two.private.addEventListener('published', e => { published.push(e) })
  assert.equal(await two.private.applyRemote(SITE, one.private.record(SITE) as Uint8Array, { fetch: fetchFrom(one, two) }), 'applied')
  assert.equal(published.length, 0)
  assert.deepEqual(two.private.list(SITE).map(e => e.path), ['notes/a.txt', 'other/b.txt'])
  assert.equal(two.private.folderFiles(SITE, 'notes').generation, 1)
  assert.equal(Buffer.from(await two.private.get(SITE, 'notes/a.txt')).toString(), 'a')
})

test('a replaced master key (a forced import) starts its own index: the other device\'s record applies, the old key\'s files stay apart, sealed, and come back with that key', async t => {
  const a = await device(t, randomBytes(32))
  const b = await device(t, randomBytes(32))
  await a.private.put(SITE, 'from-a', Buffer.from('a'))
  for (let i = 0; i < 5; i++) await b.private.put(SITE, `old${i}`, Buffer.from(`old ${i}`))
  const backup = await b.userIdentity.exportKey('old key')

  // B takes A's key over its own
  await b.userIdentity.importKey(await a.userIdentity.exportKey('pw'), 'pw', { force: true })
  assert.equal(b.private.indexName(SITE), a.private.indexName(SITE))
  assert.deepEqual(b.private.list(SITE), [], 'the old key\'s index is not the new key\'s')
  assert.equal(await b.private.applyRemote(SITE, a.private.record(SITE) as Uint8Array, { fetch: fetchFrom(a, b) }), 'applied')
  assert.deepEqual(b.private.list(SITE).map(e => e.path), ['from-a'])
  await b.private.put(SITE, 'from-b', Buffer.from('b'))
  assert.equal(await a.private.applyRemote(SITE, b.private.record(SITE) as Uint8Array, { fetch: fetchFrom(b, a) }), 'applied')
  assert.deepEqual(a.private.list(SITE).map(e => e.path), ['from-a', 'from-b'], 'nothing of the old key reached A')
  for (const path of ['from-a', 'from-b']) assert.equal(Buffer.from(await a.private.get(SITE, path)).toString(), path.slice(5))

  // the old key's row is kept, and with that key back, so are its files
  const rows = b.repo.db.prepare('SELECT COUNT(*) AS n FROM private_indexes WHERE site = ?').get(SITE) as { n: number }
  assert.equal(rows.n, 2)
  await b.userIdentity.importKey(backup, 'old key', { force: true })
  assert.deepEqual(b.private.list(SITE).map(e => e.path), ['old0', 'old1', 'old2', 'old3', 'old4'])
  assert.equal(Buffer.from(await b.private.get(SITE, 'old3')).toString(), 'old 3')
})

test('another record of the held sequence naming the same index (a second seal, a replay) is \'same\': nothing saved, nothing published', async t => {
  const master = randomBytes(32)
  const a = await device(t, master)
  const b = await device(t, master)
  await a.private.put(SITE, 'one', Buffer.from('1'))
  assert.equal(await b.private.applyRemote(SITE, a.private.record(SITE) as Uint8Array, { fetch: fetchFrom(a, b) }), 'applied')
  const held = b.private.record(SITE)
  // the same index sealed again (a fresh nonce, so another block) and signed at the same sequence
  const keys = privateKeysOf(master, SITE)
  const index = JSON.parse(readDbBody(b)) as PrivateIndex
  const { sealIndex } = await import('../../src/private/index.ts')
  const root = await importBytes(b.blocks, sealIndex(keys.indexKey, index))
  const twin = await signRecord(keys.indexSigner, `/ipfs/${root.toString()}`, BigInt(index.seq), { validity: 60_000, ttl: 1000 })
  const published: unknown[] = []
  b.private.addEventListener('published', e => { published.push(e) })
  const updated = (): number => (b.repo.db.prepare('SELECT updated FROM private_indexes WHERE site = ?').get(SITE) as { updated: number }).updated
  const before = updated()
  for (const record of [twin.bytes, held as Uint8Array, twin.bytes]) {
    assert.equal(await b.private.applyRemote(SITE, record, { fetch: async () => {} }), 'same')
  }
  assert.deepEqual(b.private.record(SITE), held)
  assert.equal(updated(), before)
  assert.equal(published.length, 0)
})

test('a draft saved 17 times and then removed on one device is not brought back by a device that held its first version', async t => {
  const master = randomBytes(32)
  const a = await device(t, master)
  const b = await device(t, master)
  await a.private.put(SITE, 'draft', Buffer.from('v0'))
  assert.equal(await b.private.applyRemote(SITE, a.private.record(SITE) as Uint8Array, { fetch: fetchFrom(a, b) }), 'applied')
  for (let i = 1; i <= 17; i++) await a.private.put(SITE, 'draft', Buffer.from(`v${i}`))
  await a.private.rm(SITE, 'draft')
  await b.private.put(SITE, 'other', Buffer.from('b'))
  // each takes the other's index: the writes to `other` and the draft's removal were concurrent, the draft's v0 was not
  assert.equal(await b.private.applyRemote(SITE, a.private.record(SITE) as Uint8Array, { fetch: fetchFrom(a, b) }), 'applied')
  assert.deepEqual(b.private.list(SITE).map(e => e.path), ['other'])
  assert.equal(await a.private.applyRemote(SITE, b.private.record(SITE) as Uint8Array, { fetch: fetchFrom(b, a) }), 'applied')
  assert.deepEqual(a.private.list(SITE).map(e => e.path), ['other'])
})
