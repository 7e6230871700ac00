import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Operations } from '../../src/api/index.ts'
import { importPath } from '../../src/content/index.ts'
import { createTestNode, type OnlineNode } from '../helpers/testnet.ts'
import { tmpDir } from '../helpers/home.ts'
import { until } from '../helpers/until.ts'

async function collect (source: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Uint8Array[] = []
  for await (const c of source) chunks.push(c)
  return Buffer.concat(chunks)
}

test('a plain visit caches within the store\'s quota: when it is full, cached visits are evicted, and followed sites stay', async t => {
  const seeder = await createTestNode(t)
  const visitor = await createTestNode(t, { config: c => ({ ...c, datastore: { ...c.datastore, storageMax: 3 * 2 ** 20 } }) })
  await visitor.libp2p.dial(seeder.libp2p.getMultiaddrs()[0])
  const dir = await tmpDir(t)
  const make = async (owner: OnlineNode, name: string, bytes: number): Promise<{ path: string, data: Buffer }> => {
    const data = randomBytes(bytes)
    await mkdir(join(dir, name))
    await writeFile(join(dir, name, 'data.bin'), data)
    const { root } = await importPath(owner.blocks, join(dir, name), {})
    await owner.blocks.pin(root.cid, 'recursive')
    return { path: `/ipfs/${root.cid}/data.bin`, data }
  }
  // A small followed site, then two 1.5 MiB visits that do not both fit.
  const followed = await make(seeder, 'followed', 100 * 1024)
  await seeder.sites.create('small')
  const published = await seeder.sites.publish('small', (await importPath(seeder.blocks, join(dir, 'followed'), {})).root.cid)
  await visitor.sites.follow(published.name)
  await until('the visitor to hold the followed site', async () => (await visitor.sites.following())[0]?.fetched === true)

  const a = await make(seeder, 'a', 1.5 * 1024 * 1024)
  const b = await make(seeder, 'b', 1.5 * 1024 * 1024)
  const ops = new Operations(visitor)
  assert.deepEqual(await collect(ops.cat(a.path, { timeout: 20_000 })), a.data)
  assert.deepEqual(await collect(ops.cat(b.path, { timeout: 20_000 })), b.data)
  // a was evicted to make room for b; the followed site was not.
  await assert.rejects(collect(ops.cat(a.path, { offline: true })), { code: 'ERR_BLOCK_NOT_FOUND' })
  assert.deepEqual(await collect(ops.cat(`/ipns/${published.name}/data.bin`, { offline: true })), followed.data)
  assert.ok(visitor.blocks.stat().bytes <= 3 * 1024 * 1024)
  // Something larger than the whole quota still fails, cleanly.
  const huge = await make(seeder, 'huge', 4 * 1024 * 1024)
  await assert.rejects(collect(ops.cat(huge.path, { timeout: 20_000 })), { code: 'ERR_QUOTA_EXCEEDED' })
  assert.deepEqual(await collect(ops.cat(`/ipns/${published.name}/data.bin`, { offline: true })), followed.data)
})
