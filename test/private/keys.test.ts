import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { privateKeysOf } from '../../src/private/index.ts'

const SITE_A = 'k51qzi5uqu5dlvj2baxnqndepeb86cbk3ng7n3i46uzyxzyqj2xjonzllnv0v8'
const SITE_B = 'k51qzi5uqu5dgutdk6i1ynyzgkqngpha5xpgia3a5qqp4jsh0u4csozksxel3r'

test('private keys are deterministic per master key and site, and differ between sites, folders and generations', () => {
  const master = randomBytes(32)
  const a = privateKeysOf(master, SITE_A)
  const again = privateKeysOf(Uint8Array.from(master), `/ipns/${SITE_A}`)
  assert.deepEqual(again.indexKey, a.indexKey)
  assert.deepEqual(again.folderKey('notes', 0), a.folderKey('notes', 0))
  assert.equal(again.indexName, a.indexName)
  const b = privateKeysOf(master, SITE_B)
  assert.notDeepEqual(b.indexKey, a.indexKey)
  assert.notDeepEqual(b.folderKey('notes', 0), a.folderKey('notes', 0))
  assert.notEqual(b.indexName, a.indexName)
  assert.notDeepEqual(a.folderKey('notes', 1), a.folderKey('notes', 0))
  assert.notDeepEqual(a.folderKey('', 0), a.folderKey('notes', 0))
  assert.notDeepEqual(privateKeysOf(randomBytes(32), SITE_A).indexKey, a.indexKey)
  assert.throws(() => privateKeysOf(randomBytes(16), SITE_A))
})
