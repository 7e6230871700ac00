import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { dirname } from 'node:path'
import type { CID } from 'multiformats/cid'
import { isWeftError } from '../../src/errors.ts'
import { createTestnet, type OnlineNode } from '../helpers/testnet.ts'

const SITE = 'k51qzi5uqu5dlvj2baxnqndepeb86cbk3ng7n3i46uzyxzyqj2xjonzllnv0v8'

function useMaster (node: OnlineNode, master: Uint8Array): void {
  mkdirSync(dirname(node.repo.paths.userKey), { recursive: true, mode: 0o700 })
  writeFileSync(node.repo.paths.userKey, master, { mode: 0o600 })
}

test('online: a second device takes the index over the exchange, and fetches a file it lacks when it is read', async t => {
  const [a, b, stranger] = await createTestnet(t, 3)
  const master = randomBytes(32)
  useMaster(a, master)
  useMaster(b, master)
  const big = randomBytes(3 * 1024 * 1024 + 5)
  await a.private.put(SITE, 'notes/small.txt', Buffer.from('a small note'))
  await a.private.put(SITE, 'big.bin', big)
  const record = a.private.record(SITE) as Uint8Array

  // the index (and here nothing else) over the network, verified block by block
  const fetched: string[] = []
  const fetchIndexOnly = async (cid: CID): Promise<void> => {
    fetched.push(cid.toString())
    if (fetched.length === 1) await b.exchange.fetch(cid, { recursive: true, signal: AbortSignal.timeout(10_000) })
  }
  assert.equal(await b.private.applyRemote(SITE, record, { fetch: fetchIndexOnly, signal: AbortSignal.timeout(20_000) }), 'applied')
  assert.equal(fetched.length, 3, 'the index, then each file new to this device')
  assert.deepEqual(b.private.list(SITE).map(e => e.path), ['big.bin', 'notes/small.txt'])
  // the files were not brought in: reading them fetches their blocks from A through the exchange
  assert.deepEqual(Buffer.from(await b.private.get(SITE, 'big.bin', { signal: AbortSignal.timeout(20_000) })), big)
  assert.equal(Buffer.from(await b.private.get(SITE, 'notes/small.txt')).toString(), 'a small note')

  // a stranger (another master key) fetching the same blocks holds ciphertext it cannot open
  await stranger.exchange.fetch(b.private.heldRoots()[0], { recursive: true, signal: AbortSignal.timeout(10_000) })
  await assert.rejects(stranger.private.applyRemote(SITE, record, { fetch: async () => {} }), (err: unknown) => isWeftError(err, 'ERR_RECORD_INVALID'))
  assert.deepEqual(stranger.private.list(SITE), [])
})
