import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { once } from 'node:events'
import * as dagPb from '@ipld/dag-pb'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import * as Digest from 'multiformats/hashes/digest'
import { importPath } from '../../src/content/index.ts'
import { createNode, type WeftNode } from '../../src/node/index.ts'
import { nodeGateway, startDaemon } from '../../src/daemon/index.ts'
import { isWeftError } from '../../src/errors.ts'
import { createTestnet } from '../helpers/testnet.ts'
import { tmpDir, tmpHome } from '../helpers/home.ts'
import { runWeft, startDaemonProcess } from '../helpers/cli.ts'
import { flipByte, storedBlock, storedBlocks } from '../helpers/damage.ts'
import type { TestContext } from 'node:test'
import { until } from '../helpers/until.ts'

const MiB = 1024 * 1024

const sha256Of = (bytes: Uint8Array): Buffer => createHash('sha256').update(bytes).digest()

/** A file of `size` random bytes, added to `node`; its root and its blocks' CIDs, leaves in order. */
async function addFile (t: TestContext, nodes: WeftNode[], data: Uint8Array): Promise<{ root: CID, leaves: CID[] }> {
  const dir = await tmpDir(t)
  await writeFile(join(dir, 'file.bin'), data)
  let root: CID | undefined
  for (const node of nodes) {
    const imported = await importPath(node.blocks, join(dir, 'file.bin'), {})
    root = imported.root.cid
    await node.blocks.pin(root, 'recursive')
  }
  const first = nodes[0]
  const leaves = (root as CID).code === dagPb.code ? dagPb.decode(await first.blocks.get(root as CID)).Links.map(l => l.Hash) : []
  return { root: root as CID, leaves }
}

const rejectsWith = async (p: Promise<unknown>, code: string): Promise<void> => {
  await assert.rejects(p, (err: unknown) => isWeftError(err) && err.code === code)
}

test('a block damaged on disk is never returned: ERR_BLOCK_CORRUPT, quarantined (has() false, out of stat), its bytes reclaimed at gc', async t => {
  const home = await tmpHome(t)
  const node = await createNode({ home })
  t.after(async () => { await node.stop() })
  const data = randomBytes(3 * MiB)
  const { root, leaves } = await addFile(t, [node], data)
  const before = node.blocks.stat()
  await flipByte(home, storedBlock(home, leaves[1].multihash.bytes), 1000)

  await rejectsWith(node.blocks.get(leaves[1]), 'ERR_BLOCK_CORRUPT')
  assert.equal(node.blocks.has(leaves[1]), false, 'quarantined: the store no longer claims it')
  await rejectsWith(node.blocks.get(leaves[1]), 'ERR_BLOCK_NOT_FOUND')
  assert.equal(node.blocks.stat().blocks, before.blocks - 1)
  assert.equal(node.blocks.stat().bytes, before.bytes - MiB)
  assert.equal(node.blocks.deletions(), 1)
  assert.deepEqual((await node.blocks.verify()).problems, [], 'what is left verifies')
  // the pin still names the root: gc keeps what is there and reclaims the damaged bytes
  await node.blocks.unpin(root)
  await node.blocks.pin(leaves[0], 'direct')
  const gc = await node.blocks.gc()
  assert.ok(gc.bytesReclaimed >= MiB, `reclaimed ${gc.bytesReclaimed}`)
  assert.equal(node.blocks.stat().packBytes, node.blocks.stat().bytes)

  // bytes in the read cache are checked too (here a caller scribbled on what it was given)
  const cached = await node.blocks.get(leaves[0])
  assert.ok(Buffer.from(cached).equals(data.subarray(0, MiB)))
  cached[5] ^= 1
  await rejectsWith(node.blocks.get(leaves[0]), 'ERR_BLOCK_CORRUPT')
  assert.equal(node.blocks.has(leaves[0]), false)
})

test('weft cat of damaged content exits 4 with ERR_BLOCK_CORRUPT instead of printing wrong bytes', async t => {
  const home = await tmpHome(t)
  const dir = await tmpDir(t)
  const data = randomBytes(300_000)
  await writeFile(join(dir, 'page.bin'), data)
  const added = await runWeft(['add', '-Q', join(dir, 'page.bin')], { home })
  assert.equal(added.code, 0, added.stderr)
  const cid = CID.parse(added.out.trim())
  await flipByte(home, storedBlock(home, cid.multihash.bytes), 12345)
  const cat = await runWeft(['cat', cid.toString()], { home })
  assert.equal(cat.code, 4, `exit ${cat.code}; stderr: ${cat.stderr}`)
  assert.match(cat.stderr, /ERR_BLOCK_CORRUPT|damaged/)
  assert.match(cat.stderr, new RegExp(cid.toString()))
  assert.equal(cat.stdout.byteLength, 0, 'no wrong bytes on stdout')
  const verify = await runWeft(['repo', 'verify'], { home })
  assert.equal(verify.code, 0, 'the damaged block was quarantined, so the rest verifies')
  const repair = await runWeft(['repo', 'verify', '--repair'], { home })
  assert.equal(repair.code, 1)
  assert.match(repair.stderr, /weft daemon/, 'repair needs the daemon and says so')
})

test('the gateway never answers 200 with a damaged block, as a file or ?format=raw', async t => {
  const home = await tmpHome(t)
  const node = await createNode({ home })
  t.after(async () => { await node.stop() })
  const one = await addFile(t, [node], randomBytes(5000))
  const two = await addFile(t, [node], randomBytes(6000))
  await flipByte(home, storedBlock(home, one.root.multihash.bytes), 10)
  await flipByte(home, storedBlock(home, two.root.multihash.bytes), 10)
  const gateway = nodeGateway(node)
  const file = await gateway(new Request(`http://127.0.0.1:8080/ipfs/${one.root}`, { headers: { host: '127.0.0.1:8080' } }))
  assert.equal(file.status, 502)
  assert.doesNotMatch(file.headers.get('cache-control') ?? '', /immutable/)
  assert.match(await file.text(), /ERR_BLOCK_CORRUPT/)
  const block = await gateway(new Request(`http://127.0.0.1:8080/ipfs/${two.root}?format=raw`, { headers: { host: '127.0.0.1:8080' } }))
  assert.notEqual(block.status, 200)
  await block.arrayBuffer()
})

test('online, a damaged block is fetched again from a peer: get, the gateway and ?format=raw answer the right bytes; a peer that asks the damaged node gets the block elsewhere and bans no one', async t => {
  const [a, b, c] = await createTestnet(t, 3, { requestTimeout: 2_000 })
  const home = a.repo.paths.home
  const big = randomBytes(4 * MiB + 7)
  const file = await addFile(t, [a, b], big)
  const small = await addFile(t, [a, b], randomBytes(4000))
  const rawOne = await addFile(t, [a, b], randomBytes(4100))
  for (const cid of [file.leaves[0], file.leaves[1], file.leaves[2], small.root, rawOne.root]) {
    await flipByte(home, storedBlock(home, cid.multihash.bytes), 77)
  }

  // c asks a first: a finds the damage as it reads, says it lacks the block, and repairs itself
  await c.exchange.fetch(file.leaves[0], { recursive: false, providers: [a.libp2p.peerId] })
  assert.ok(Buffer.from(await c.blocks.get(file.leaves[0])).equals(big.subarray(0, MiB)), 'c got the good block (from b)')
  assert.equal(c.exchange.isBanned(a.libp2p.peerId.toString()), false, 'c does not ban the honest node')
  assert.equal(c.exchange.peerRecord(a.libp2p.peerId)?.offences['bad-block'] ?? 0, 0, 'nor charges it for a bad block')
  await until('a repaired the block it found damaged while serving', () => a.blocks.has(file.leaves[0]))

  // a's own read repairs and returns the good bytes
  assert.ok(Buffer.from(await a.blocks.get(file.leaves[1])).equals(big.subarray(MiB, 2 * MiB)))

  // the gateway: a whole file over a damaged leaf, a small file, a raw block
  const gateway = nodeGateway(a)
  const get = async (path: string): Promise<Response> => await gateway(new Request(`http://127.0.0.1:8080${path}`, { headers: { host: '127.0.0.1:8080' } }))
  const whole = await get(`/ipfs/${file.root}`)
  assert.equal(whole.status, 200)
  assert.ok(Buffer.from(await whole.arrayBuffer()).equals(big))
  const page = await get(`/ipfs/${small.root}`)
  assert.equal(page.status, 200)
  assert.ok(Buffer.from(await page.arrayBuffer()).equals(Buffer.from(await b.blocks.get(small.root))))
  const block = await get(`/ipfs/${rawOne.root}?format=raw`)
  assert.equal(block.status, 200)
  const bytes = Buffer.from(await block.arrayBuffer())
  assert.ok(sha256Of(bytes).equals(rawOne.root.multihash.digest), '?format=raw sends a block whose hash is its CID')
  assert.deepEqual((await a.blocks.verify()).problems, [], 'a is whole again')
})

test('the daemon\'s answer cache drops answers once gc or a quarantine removed the blocks they came from', async t => {
  const daemon = await startDaemon({
    home: await tmpHome(t),
    apiAddress: '/ip4/127.0.0.1/tcp/0',
    gatewayAddress: '/ip4/127.0.0.1/tcp/0',
    net: { listen: ['/ip4/127.0.0.1/tcp/0'], network: { name: 'testnet' }, bootstrap: [], mdns: false },
    exchange: { requestTimeout: 1_000 },
    reprovideInterval: 0,
    sites: { republishInterval: 0, pollInterval: 0 }
  })
  t.after(async () => { await daemon.stop() })
  const node = daemon.node
  const home = node.repo.paths.home
  const dir = await tmpDir(t)
  await mkdir(join(dir, 'site'))
  await writeFile(join(dir, 'site', 'gone.txt'), 'collected by gc\n')
  await writeFile(join(dir, 'site', 'bad.txt'), 'damaged on disk\n')
  const root = (await importPath(node.blocks, join(dir, 'site'), {})).root.cid
  const ask = async (name: string): Promise<{ status: number, body: string }> => {
    const response = await fetch(`${daemon.gatewayUrl}/ipfs/${root}/${name}`, { signal: AbortSignal.timeout(30_000) })
    return { status: response.status, body: await response.text() }
  }
  assert.deepEqual(await ask('gone.txt'), { status: 200, body: 'collected by gc\n' })
  assert.deepEqual(await ask('bad.txt'), { status: 200, body: 'damaged on disk\n' })

  const removed = await node.blocks.gc()
  assert.ok(removed.blocks >= 3, 'nothing pins the site, so gc removed it')
  assert.notEqual((await ask('gone.txt')).status, 200, 'no answer outlives the blocks it came from')

  const again = await importPath(node.blocks, join(dir, 'site'), {})
  await node.blocks.pin(again.root.cid)
  assert.equal((await ask('bad.txt')).status, 200)
  const bad = CID.createV1(raw.code, Digest.create(0x12, sha256Of(Buffer.from('damaged on disk\n'))))
  await flipByte(home, storedBlock(home, bad.multihash.bytes), 3)
  // the damage is on disk (the store's read cache still holds good bytes); verify finds it
  const report = await node.blocks.verify({ repair: true })
  assert.deepEqual(report.problems.map(p => [p.cid.multihash.bytes, p.repaired]), [[bad.multihash.bytes, false]], 'no peer to repair from')
  assert.notEqual((await ask('bad.txt')).status, 200, 'the quarantine dropped the kept answer')
})

test('weft repo verify --repair quarantines damaged blocks and fetches them from a peer through the daemon; weft cat through it answers the right bytes', async t => {
  const a = await startDaemonProcess(t)
  const b = await startDaemonProcess(t)
  const dir = await tmpDir(t)
  const data = randomBytes(3 * MiB + 11)
  await writeFile(join(dir, 'data.bin'), data)
  let root = ''
  for (const d of [a, b]) {
    const added = await runWeft(['add', '-Q', join(dir, 'data.bin')], { home: d.home })
    assert.equal(added.code, 0, added.stderr)
    root = added.out.trim()
  }
  // (again before each step: on a loaded machine a quiet connection may be closed meanwhile)
  const connect = async (): Promise<void> => {
    const connected = await runWeft(['connect', b.address], { home: a.home })
    assert.equal(connected.code, 0, connected.stderr)
  }
  const leaves = storedBlocks(a.home).filter(s => s.len === MiB)
  assert.equal(leaves.length, 3)
  await flipByte(a.home, leaves[0], 1)
  await flipByte(a.home, leaves[1], 2)

  await connect()
  const repaired = await runWeft(['repo', 'verify', '--repair'], { home: a.home })
  assert.equal(repaired.code, 0, `${repaired.stderr}; ${a.state()}; ${b.state()}`)
  assert.match(repaired.out, /2 damaged: 2 repaired, 0 still missing/)
  assert.equal((await runWeft(['repo', 'verify'], { home: a.home })).code, 0)

  await flipByte(a.home, storedBlocks(a.home).filter(s => s.len === MiB)[2], 3)
  await connect()
  const cat = await runWeft(['cat', root], { home: a.home })
  assert.equal(cat.code, 0, cat.stderr)
  assert.ok(cat.stdout.equals(data), 'weft cat printed the right bytes')

  // b stops: nothing can repair a new damage, and the report says so with exit 4
  b.child.kill('SIGTERM')
  await once(b.child, 'exit')
  await flipByte(a.home, storedBlocks(a.home).filter(s => s.len === MiB)[0], 4)
  const left = await runWeft(['repo', 'verify', '--repair'], { home: a.home })
  assert.equal(left.code, 4, left.stderr)
  assert.match(left.out, /1 damaged: 0 repaired, 1 still missing/)
})
