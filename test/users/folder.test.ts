import { test } from 'node:test'
import assert from 'node:assert/strict'
import * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { buildFolder, walkFolder, maxWalkBlocks, WALK_BATCH } from '../../src/users/folder.ts'

/** An in-memory block map, and a `get` that counts what a walk asked for. */
function memory (): { blocks: Map<string, Uint8Array>, put: (cid: CID, bytes: Uint8Array) => Promise<void>, get: (cid: CID) => Promise<Uint8Array>, flush: () => Promise<void>, asked: () => number } {
  const blocks = new Map<string, Uint8Array>()
  let asked = 0
  return {
    blocks,
    put: async (cid, bytes) => { blocks.set(cid.toString(), bytes) },
    get: async cid => {
      asked++
      const b = blocks.get(cid.toString())
      if (b === undefined) throw new Error(`no ${cid}`)
      return b
    },
    flush: async () => {},
    asked: () => asked
  }
}

async function rawBlock (store: ReturnType<typeof memory>, bytes: Uint8Array): Promise<CID> {
  const cid = CID.createV1(raw.code, await sha256.digest(bytes))
  await store.put(cid, bytes)
  return cid
}

async function pbNode (store: ReturnType<typeof memory>, type: 'directory' | 'file', links: dagPb.PBLink[]): Promise<CID> {
  const bytes = dagPb.encode(dagPb.prepare({ Data: new UnixFS({ type }).marshal(), Links: links }))
  const cid = CID.createV1(dagPb.code, await sha256.digest(bytes))
  await store.put(cid, bytes)
  return cid
}

test('a contribution folder built here walks back to the same files', async () => {
  const store = memory()
  const files = new Map([['posts.json', new TextEncoder().encode('{"posts":[]}')], ['img/a.png', new Uint8Array(3000)]])
  const built = await buildFolder(store, files)
  const walked = await walkFolder(store.get, built.root, { maxFiles: 4, maxBytes: 10_000 })
  assert.deepEqual(walked, built.files)
})

test('a folder of thousands of entries is refused after its one block, not after fetching them', async () => {
  const store = memory()
  const leaf = await rawBlock(store, new Uint8Array(100))
  const links = Array.from({ length: 5000 }, (_, i) => ({ Name: `f${i}`, Hash: leaf, Tsize: 100 }))
  const root = await pbNode(store, 'directory', links)
  await assert.rejects(walkFolder(store.get, root, { maxFiles: 16, maxBytes: 1024 * 1024 }), { name: 'FolderRefused', reason: 'too-many-files' })
  assert.equal(store.asked(), 1)
})

test('a walk stops within a batch of passing the byte limit, and aborts what it asked for', async () => {
  const store = memory()
  const links = await Promise.all(Array.from({ length: 16 }, async (_, i) => ({ Name: `f${i}`, Hash: await rawBlock(store, new Uint8Array(60_000).fill(i)), Tsize: 60_000 })))
  const root = await pbNode(store, 'directory', links)
  let aborted = 0
  const get = async (cid: CID, signal: AbortSignal): Promise<Uint8Array> => {
    signal.addEventListener('abort', () => { aborted++ })
    return await store.get(cid)
  }
  await assert.rejects(walkFolder(get, root, { maxFiles: 16, maxBytes: 100_000 }), { name: 'FolderRefused', reason: 'too-large' })
  assert.ok(store.asked() <= 1 + WALK_BATCH, `${store.asked()} blocks asked for`)
  assert.ok(aborted > 0, 'the blocks in flight were told to stop')
})

test('a file that is a long chain of one-link nodes is refused at a few levels, not walked block by block', async () => {
  const store = memory()
  let cid = await rawBlock(store, new Uint8Array(10))
  for (let i = 0; i < 2000; i++) cid = await pbNode(store, 'file', [{ Name: '', Hash: cid, Tsize: 10 }])
  const root = await pbNode(store, 'directory', [{ Name: 'posts.json', Hash: cid, Tsize: 10 }])
  await assert.rejects(walkFolder(store.get, root, { maxFiles: 16, maxBytes: 64 * 1024 }), { name: 'FolderRefused', reason: 'malformed' })
  assert.ok(store.asked() < 10, `${store.asked()} blocks asked for`)
})

test('tiny blocks cannot make a walk long: past maxWalkBlocks it is refused', async () => {
  const store = memory()
  const leaves = await Promise.all(Array.from({ length: 1000 }, async (_, i) => ({ Name: '', Hash: await rawBlock(store, new Uint8Array([i % 256, i >> 8])), Tsize: 2 })))
  const file = await pbNode(store, 'file', leaves)
  const root = await pbNode(store, 'directory', [{ Name: 'posts.json', Hash: file, Tsize: 2000 }])
  const limits = { maxFiles: 4, maxBytes: 64 * 1024 }
  await assert.rejects(walkFolder(store.get, root, limits), { name: 'FolderRefused', reason: 'too-large' })
  assert.ok(store.asked() <= maxWalkBlocks(limits) + WALK_BATCH, `${store.asked()} blocks asked for`)
})
