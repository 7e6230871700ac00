import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import { unixfs } from '@helia/unixfs'
import { CID } from 'multiformats/cid'
import { importPath, cat, parseContentPath } from '../../src/content/index.ts'
import { tmpDir } from '../helpers/home.ts'
import { createTestnet } from '../helpers/testnet.ts'
import { createLocalHelia } from '../helpers/helia.ts'

async function createHelia (t: TestContext) {
  const helia = await createLocalHelia()
  t.after(async () => { await helia.stop() })
  return helia
}

async function collect (iter: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = []
  for await (const p of iter) parts.push(p)
  return Buffer.concat(parts)
}

test('a stock Helia node fetches weft content over Bitswap', async t => {
  const [weft] = await createTestnet(t, 1)
  const helia = await createHelia(t)
  const dir = await tmpDir(t)
  const data = randomBytes(3 * 1024 * 1024 + 77)
  await mkdir(join(dir, 'site', 'sub'), { recursive: true })
  await writeFile(join(dir, 'site', 'data.bin'), data)
  await writeFile(join(dir, 'site', 'sub', 'page.html'), '<p>from weft</p>')
  const { root } = await importPath(weft.blocks, join(dir, 'site'))
  await helia.libp2p.dial(weft.libp2p.getMultiaddrs()[0])
  const fs = unixfs(helia)
  const signal = AbortSignal.timeout(30_000)
  assert.deepEqual(await collect(fs.cat(CID.parse(root.cid.toString()), { path: 'data.bin', signal })), data)
  assert.equal((await collect(fs.cat(CID.parse(root.cid.toString()), { path: 'sub/page.html', signal }))).toString(), '<p>from weft</p>')
})

test('weft fetches content that only a Helia node has, verified, over Bitswap', async t => {
  const [weft] = await createTestnet(t, 1)
  const helia = await createHelia(t)
  const data = randomBytes(3 * 1024 * 1024 + 12_345)
  const fs = unixfs(helia)
  const fileCid = await fs.addBytes(data, { profile: 'unixfs-v1-2025' } as never)
  const dirCid = await fs.cp(fileCid, await fs.addDirectory(), 'data.bin')
  await weft.libp2p.dial(helia.libp2p.getMultiaddrs()[0])
  const root = CID.parse(dirCid.toString())
  const result = await weft.exchange.fetch(root, { signal: AbortSignal.timeout(30_000) })
  assert.deepEqual(result.fromPeers, { bitswap: result.blocks }, 'no weft peer had it, so it came over Bitswap')
  assert.ok(result.blocks >= 5)
  assert.deepEqual(await collect(cat(weft.blocks, parseContentPath(`${root}/data.bin`))), data)
  assert.deepEqual((await weft.blocks.verify()).problems, [])
})
