import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Key } from 'interface-datastore'
import { SqliteDatastore } from '../../src/net/index.ts'
import { openRepo } from '../../src/repo/index.ts'
import { tmpHome } from '../helpers/home.ts'

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s)
const text = (b: Uint8Array): string => new TextDecoder().decode(b)

test('libp2p\'s datastore in the home db: put, get, has, delete, queries by prefix across pages, and it outlives the process', async t => {
  const home = await tmpHome(t)
  let repo = await openRepo(home)
  let ds = new SqliteDatastore(repo.db)

  await ds.put(new Key('/peers/a'), bytes('A'))
  assert.equal(text(await ds.get(new Key('/peers/a'))), 'A')
  assert.equal(await ds.has(new Key('/peers/a')), true)
  await ds.delete(new Key('/peers/a'))
  assert.equal(await ds.has(new Key('/peers/a')), false)
  // libp2p tells "absent" from a failure by the error's name
  await assert.rejects(async () => await ds.get(new Key('/peers/a')), { name: 'NotFoundError' })

  // 600 keys under one prefix (more than a page), neighbours that must not match, and a
  // reader that deletes as it goes, as libp2p's peer store does with expired peers
  for (let i = 0; i < 600; i++) await ds.put(new Key(`/dht/provider/${String(i).padStart(4, '0')}`), bytes(String(i)))
  await ds.put(new Key('/dht/providers'), bytes('not under /dht/provider/'))
  await ds.put(new Key('/dht/record/x'), bytes('x'))
  const seen: string[] = []
  for await (const { key, value } of ds.query({ prefix: '/dht/provider/' })) {
    seen.push(key.toString())
    assert.equal(text(value), String(Number(key.toString().slice(-4))))
    if (seen.length % 2 === 0) await ds.delete(key)
  }
  assert.equal(seen.length, 600)
  assert.equal(new Set(seen).size, 600)
  const keys: string[] = []
  for await (const key of ds.queryKeys({ prefix: '/dht/provider/' })) keys.push(key.toString())
  assert.equal(keys.length, 300)
  let all = 0
  for await (const _ of ds.query({})) all++
  assert.equal(all, 302)
  let limited = 0
  for await (const _ of ds.query({ prefix: '/dht/', limit: 5 })) limited++
  assert.equal(limited, 5)

  // written at the latest when the node stops (flush), read again by the next process
  await ds.put(new Key('/peers/b'), bytes('B'))
  ds.flush()
  repo.close()
  repo = await openRepo(home)
  t.after(() => { repo.close() })
  ds = new SqliteDatastore(repo.db)
  assert.equal(text(await ds.get(new Key('/peers/b'))), 'B')
  assert.equal(text(await ds.get(new Key('/dht/record/x'))), 'x')
})
