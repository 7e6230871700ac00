import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { importPath, cat, parseContentPath } from '../../src/content/index.ts'
import { tmpDir } from '../helpers/home.ts'
import { createTestnet } from '../helpers/testnet.ts'

async function readAll (iter: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = []
  for await (const p of iter) parts.push(p)
  return Buffer.concat(parts)
}

test('a node fetches a DAG from a peer, verified, and can then read it offline', async t => {
  const [seeder, leecher] = await createTestnet(t, 2)
  const dir = await tmpDir(t)
  const data = randomBytes(20 * 1024 * 1024 + 123)
  await writeFile(join(dir, 'file.bin'), data)
  const { root } = await importPath(seeder.blocks, join(dir, 'file.bin'))
  const started = performance.now()
  const result = await leecher.exchange.fetch(root.cid)
  const ms = performance.now() - started
  t.diagnostic(`fetched ${result.blocks} blocks in ${ms.toFixed(0)} ms (${(data.length / 1048576 / (ms / 1000)).toFixed(0)} MiB/s)`)
  assert.equal(result.blocks, 22)
  assert.deepEqual(Object.values(result.fromPeers), [22])
  assert.deepEqual(await readAll(cat(leecher.blocks, parseContentPath(root.cid.toString()))), data)
  assert.equal(seeder.exchange.stats.blocksSent, 22)
})
