/**
 * Replicas on real nodes (libp2p on 127.0.0.1): placement on the closest peers that offer
 * storage, holders that serve with the publisher gone, audits that catch a cheating holder
 * and forged answers, repair, and a holder's limits (offer, quota, flood penalties).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import * as Digest from 'multiformats/hashes/digest'
import { importBytes, importPath } from '../../src/content/index.ts'
import { isWeftError } from '../../src/errors.ts'
import { byKadDistance } from '../../src/routing/index.ts'
import { STORAGE_PROTOCOL, proofOf, requestOver, serveRequest, type StorageAnswer, type StorageRequest } from '../../src/storage/index.ts'
import type { Config } from '../../src/repo/index.ts'
import { tmpDir } from '../helpers/home.ts'
import { createTestnet, type OnlineNode } from '../helpers/testnet.ts'
import { until } from '../helpers/until.ts'

const offering = (storage: Partial<Config['storage']>) => (config: Config): Config => ({
  ...config,
  storage: { ...config.storage, offer: 1e9, auditInterval: 0, ...storage }
})

async function addBytes (node: OnlineNode, size: number): Promise<CID> {
  const root = await importBytes(node.blocks, randomBytes(size))
  await node.blocks.flush()
  await node.blocks.pin(root, 'recursive')
  return root
}

const ask = async (from: OnlineNode, to: OnlineNode, request: StorageRequest): Promise<StorageAnswer> =>
  await requestOver(async (p, signal) => await from.libp2p.dialProtocol(p, STORAGE_PROTOCOL, { signal }), to.libp2p.peerId, request, { signal: AbortSignal.timeout(10_000) })

/** Replaces a node's storage handler with `answer` (a holder that cheats on audits). */
async function cheat (node: OnlineNode, answer: (request: StorageRequest) => Promise<StorageAnswer>): Promise<{ audits: Map<string, number> }> {
  const seen = { audits: new Map<string, number>() }
  await node.libp2p.unhandle(STORAGE_PROTOCOL)
  await node.libp2p.handle(STORAGE_PROTOCOL, (stream, connection) => {
    serveRequest(stream, async request => {
      const from = connection.remotePeer.toString()
      if (request.t === 'audit') seen.audits.set(from, (seen.audits.get(from) ?? 0) + 1)
      return await answer(request)
    }, { signal: AbortSignal.timeout(10_000) }).catch(() => {})
  }, { maxInboundStreams: 8 })
  return seen
}

test('replicate a CID to the 3 closest of 6 nodes offering storage; they hold it and serve it with the publisher stopped', async t => {
  const nodes = await createTestnet(t, 6, { config: offering({}) })
  const [publisher, ...others] = nodes
  const root = await addBytes(publisher, 3 * 1024 * 1024 + 12_345)

  const result = await publisher.storage.replicate(root.toString(), { copies: 3 })
  assert.equal(result.holders.length, 3)
  // the holders are the closest by XOR to the CID among the peers offering storage
  const closest = byKadDistance(root, others.map(n => n.libp2p.peerId)).slice(0, 3).map(p => p.toString())
  assert.deepEqual([...result.holders].sort(), [...closest].sort())

  const holders = others.filter(n => result.holders.includes(n.libp2p.peerId.toString()))
  for (const h of holders) {
    await until(`${h.libp2p.peerId} holds the replica`, () => h.storage.held().some(x => x.target === root.toString() && x.state === 'held'), 60_000)
    assert.ok(h.storage.heldRoots().some(c => c.equals(root)), 'gc keeps what a holder holds for others')
    const gc = await h.blocks.gc()
    assert.equal(gc.blocks, 0, 'gc removed nothing held for another peer')
  }
  // the reciprocal ledger: bytes each side
  const report = publisher.storage.replicas(root.toString())
  assert.equal(report.holders.length, 3)
  for (const h of report.holders) assert.equal(h.heldByPeer, result.bytes)
  const holderLedger = holders[0].storage.ledger().find(e => e.peer === publisher.libp2p.peerId.toString())
  assert.equal(holderLedger?.heldForPeer, result.bytes)

  // an audit round passes every holder
  const audits = await publisher.storage.audit()
  assert.deepEqual(audits.map(a => a.result), ['pass', 'pass', 'pass'])
  assert.ok(publisher.storage.replicas(root.toString()).holders.every(h => h.lastResult === 'pass' && h.lastAudit !== undefined))

  await publisher.stop()
  const visitor = others.find(n => !result.holders.includes(n.libp2p.peerId.toString())) as OnlineNode
  const fetched = await visitor.exchange.fetch(root, { signal: AbortSignal.timeout(60_000) })
  assert.ok(fetched.blocks >= 4)
  for (const peer of Object.keys(fetched.fromPeers)) assert.ok(result.holders.includes(peer), `${peer} served it and is a holder`)
})

test('a replicated site is followed by its holders (newest versions), found again by name', async t => {
  const nodes = await createTestnet(t, 4, { config: offering({}) })
  const [owner] = nodes
  const dir = await tmpDir(t)
  await mkdir(join(dir, 'css'))
  await writeFile(join(dir, 'index.html'), '<h1>kept</h1>')
  await writeFile(join(dir, 'css', 'a.css'), 'body{}')
  const site = await owner.sites.create('kept')
  const { root } = await importPath(owner.blocks, dir, {})
  await owner.blocks.pin(root.cid, 'recursive')
  await owner.sites.publish('kept', root.cid)

  const result = await owner.storage.replicate(site.name, { copies: 2, keep: 2 })
  assert.equal(result.kind, 'site')
  assert.equal(result.holders.length, 2)
  const holders = nodes.filter(n => result.holders.includes(n.libp2p.peerId.toString()))
  for (const h of holders) {
    await until('the holder follows the site', () => h.storage.held().some(x => x.target === site.name && x.state === 'held'), 60_000)
    assert.ok(h.sites.followedNames().includes(site.name))
    assert.ok(h.blocks.has(root.cid))
  }
  assert.deepEqual((await owner.storage.audit(site.name)).map(a => a.result), ['pass', 'pass'])
  // a release unfollows what the hold followed
  const holder = holders[0]
  assert.deepEqual(await ask(owner, holder, { t: 'release', target: site.name }), { t: 'released' })
  assert.ok(!holder.sites.followedNames().includes(site.name))
})

test('a holder that silently drops half the blocks is caught and replaced within 3 audit rounds, and repair recruits another', async t => {
  const nodes = await createTestnet(t, 6, { config: offering({ auditInterval: 400, auditTimeout: 3000, auditFailures: 2, auditSample: 16 }) })
  const [publisher, ...others] = nodes
  const root = await addBytes(publisher, 8 * 1024 * 1024)
  const result = await publisher.storage.replicate(root.toString(), { copies: 2 })
  assert.equal(result.holders.length, 2)
  const [cheaterId, honestId] = result.holders
  const cheater = others.find(n => n.libp2p.peerId.toString() === cheaterId) as OnlineNode
  await until('the holders hold it', () => others.filter(n => result.holders.includes(n.libp2p.peerId.toString())).every(n => n.storage.held().some(h => h.state === 'held')), 60_000)

  // it answers for half the blocks (those whose CID hashes odd) and null for the rest, as a holder that dropped them would
  const dropped = (text: string): boolean => (createHash('sha256').update(text).digest()[0] & 1) === 1
  const seen = await cheat(cheater, async request => {
    if (request.t !== 'audit') return { t: 'accepted' }
    const nonce = Buffer.from(request.nonce, 'base64')
    return { t: 'proof', hashes: await Promise.all(request.cids.map(async text => dropped(text) ? null : proofOf(nonce, await cheater.blocks.get(CID.parse(text))))) }
  })
  const auditsBefore = publisher.storage.replicas(root.toString()).holders.find(h => h.holder === cheaterId)?.failures ?? 0
  assert.equal(auditsBefore, 0)
  await until('the cheater is replaced', () => publisher.storage.replicas(root.toString()).holders.some(h => h.holder === cheaterId && h.state === 'replaced'), 60_000)
  const rounds = seen.audits.get(publisher.libp2p.peerId.toString()) ?? 0
  assert.ok(rounds >= 2 && rounds <= 3, `caught within 3 audit rounds (it answered ${rounds})`)
  await until('repair is back to 2 holders', () => publisher.storage.replicas(root.toString()).holders.filter(h => h.state === 'holding').length === 2, 60_000)
  const holding = publisher.storage.replicas(root.toString()).holders.filter(h => h.state === 'holding').map(h => h.holder)
  assert.ok(holding.includes(honestId))
  assert.ok(!holding.includes(cheaterId))
})

test('forged answers and answers from another DAG\'s blocks fail the audit', async t => {
  const nodes = await createTestnet(t, 4, { config: offering({ auditFailures: 10 }) })
  const [publisher, ...others] = nodes
  const root = await addBytes(publisher, 2 * 1024 * 1024 + 7)
  const result = await publisher.storage.replicate(root.toString(), { copies: 2 })
  assert.equal(result.holders.length, 2)
  const [forgerId, otherDagId] = result.holders
  const forger = others.find(n => n.libp2p.peerId.toString() === forgerId) as OnlineNode
  const otherDag = others.find(n => n.libp2p.peerId.toString() === otherDagId) as OnlineNode
  const decoy = await addBytes(otherDag, 2 * 1024 * 1024 + 7)
  const decoyCids: CID[] = []
  const { walkDag } = await import('../../src/blocks/index.ts')
  await walkDag(otherDag.blocks, decoy, cid => { decoyCids.push(cid) })

  await cheat(forger, async request => request.t === 'audit' ? { t: 'proof', hashes: request.cids.map(() => randomBytes(32).toString('base64')) } : { t: 'accepted' })
  await cheat(otherDag, async request => {
    if (request.t !== 'audit') return { t: 'accepted' }
    const nonce = Buffer.from(request.nonce, 'base64')
    return { t: 'proof', hashes: await Promise.all(request.cids.map(async (_, j) => proofOf(nonce, await otherDag.blocks.get(decoyCids[j % decoyCids.length])))) }
  })
  const audits = await publisher.storage.audit()
  assert.equal(audits.length, 2)
  for (const a of audits) assert.match(a.result, /^failed: 0 missing, [1-9]\d* wrong/)
  // a proof list of the wrong length is malformed
  await cheat(forger, async request => request.t === 'audit' ? { t: 'proof', hashes: [] } : { t: 'accepted' })
  const again = await publisher.storage.audit()
  assert.equal(again.find(a => a.holder === forgerId)?.result, 'malformed answer')
})

test('a request for more than is offered, or than one peer may place, is refused with the reason', async t => {
  const [requester, small] = await createTestnet(t, 2, { config: offering({}) })
  const root = await addBytes(requester, 3 * 1024 * 1024)
  const bytes = 3 * 1024 * 1024 + 1
  const over = await ask(requester, small, { t: 'hold', kind: 'cid', target: root.toString(), keep: 1, bytes: 2e9 })
  assert.equal(over.t, 'refused')
  assert.equal(over.t === 'refused' && over.code, 'over-offer')
  const offer = await requester.storage.offer(small.libp2p.peerId)
  assert.equal(offer.free, 1e9)
  assert.equal(offer.quota, 1e9, 'perPeer (2GB) is past the offer, so the offer bounds it')
  const taken = await ask(requester, small, { t: 'hold', kind: 'cid', target: root.toString(), keep: 1, bytes })
  assert.deepEqual(taken, { t: 'accepted' })
  assert.equal((await requester.storage.offer(small.libp2p.peerId)).free, 1e9 - bytes)
  assert.equal((await ask(requester, small, { t: 'hold', kind: 'cid', target: 'not-a-cid', keep: 1, bytes: 1 })).t, 'refused')
})

test('per-peer quota: a peer may place perPeer, plus what it holds for the holder', async t => {
  const [a, b] = await createTestnet(t, 2, { config: offering({ perPeer: 4e6 }) })
  const rootA = await addBytes(a, 3 * 1024 * 1024)
  const big = await ask(a, b, { t: 'hold', kind: 'cid', target: rootA.toString(), keep: 1, bytes: 5_000_000 })
  assert.equal(big.t === 'refused' && big.code, 'over-quota')
  // b places 3 MB on a; a may then place 4 MB + 3 MB on b
  const rootB = await addBytes(b, 3 * 1024 * 1024)
  const placed = await b.storage.replicate(rootB.toString(), { copies: 1 })
  assert.deepEqual(placed.holders, [a.libp2p.peerId.toString()])
  assert.equal((await a.storage.offer(b.libp2p.peerId)).quota, 4_000_000 + placed.bytes)
  assert.deepEqual(await ask(a, b, { t: 'hold', kind: 'cid', target: rootA.toString(), keep: 1, bytes: 5_000_000 }), { t: 'accepted' })
})

test('replicate with no peer able to take it fails with ERR_STORAGE_NO_HOLDERS and the refusals', async t => {
  const [requester] = await createTestnet(t, 3, { config: offering({ offer: 1e6 }) })
  const root = await addBytes(requester, 3 * 1024 * 1024)
  await assert.rejects(requester.storage.replicate(root.toString(), { copies: 2 }), err => isWeftError(err, 'ERR_STORAGE_NO_HOLDERS') && /over-offer/.test(err.message))
  await assert.rejects(requester.storage.replicate(randomCid(), { copies: 2 }), err => isWeftError(err, 'ERR_STORAGE_NOT_HELD'))
  assert.throws(() => requester.storage.replicas(randomCid()), err => isWeftError(err, 'ERR_STORAGE_NOT_REPLICATED'))
})

test('flooding storage requests is refused past the rate and penalised until the peer is banned; a malformed frame is penalised', async t => {
  const [holder, flooder, breaker] = await createTestnet(t, 3, { config: offering({}) })
  const answers: string[] = []
  for (let n = 0; n < 40 && !holder.exchange.isBanned(flooder.libp2p.peerId.toString()); n++) {
    try {
      const a = await ask(flooder, holder, { t: 'offer' })
      answers.push(a.t === 'refused' ? a.code : a.t)
    } catch {
      answers.push('hung up')
    }
  }
  assert.ok(answers.includes('rate'), `some were refused for rate: ${answers.join(',')}`)
  assert.ok((holder.exchange.peerRecord(flooder.libp2p.peerId)?.offences['storage-flood'] ?? 0) >= 1)
  assert.ok(holder.exchange.isBanned(flooder.libp2p.peerId.toString()), 'the flooder is banned')

  const { lpStream } = await import('@libp2p/utils')
  const stream = await breaker.libp2p.dialProtocol(holder.libp2p.peerId, STORAGE_PROTOCOL)
  await lpStream(stream).write(new TextEncoder().encode('{"t":"hold","bytes":"lots"}'))
  await until('the breaker is penalised', () => (holder.exchange.peerRecord(breaker.libp2p.peerId)?.offences.malformed ?? 0) >= 1)
  // the holder still serves
  assert.ok(holder.storage.offering)
})

/** A CID no node holds. */
function randomCid (): string {
  return CID.createV1(raw.code, Digest.create(sha256.code, createHash('sha256').update(randomBytes(16)).digest())).toString()
}

test('a requester that declares fewer bytes than it places: the holder\'s fetch stops past them and the hold fails', async t => {
  const [requester, holder] = await createTestnet(t, 2, { config: offering({}) })
  const root = await addBytes(requester, 4 * 1024 * 1024)
  assert.deepEqual(await ask(requester, holder, { t: 'hold', kind: 'cid', target: root.toString(), keep: 1, bytes: 1000 }), { t: 'accepted' })
  await holder.storage.settled()
  const held = holder.storage.held().find(h => h.target === root.toString())
  assert.equal(held?.state, 'failed')
  assert.match(held?.reason ?? '', /larger than the 1000 bytes declared/)
  assert.ok(!holder.storage.heldRoots().some(c => c.equals(root)), 'gc keeps nothing for a failed hold')
  assert.equal((await requester.storage.offer(holder.libp2p.peerId)).free, 1e9, 'a failed hold uses none of the offer')
})

test('a follower with storage.auditFollowed audits the holders of a site it follows: honest ones pass, one that dropped half the blocks fails; it replaces no one', async t => {
  // every node has the setting (off by default): the owner audits as the requester, the holders as holders, only the follower as a follower
  const nodes = await createTestnet(t, 5, { config: offering({ auditTimeout: 3000, auditFollowed: true }) })
  const [owner] = nodes
  const dir = await tmpDir(t)
  await writeFile(join(dir, 'index.html'), '<h1>watched</h1>')
  await writeFile(join(dir, 'big.bin'), randomBytes(1024 * 1024))
  const site = await owner.sites.create('watched')
  const { root } = await importPath(owner.blocks, dir, {})
  await owner.blocks.pin(root.cid, 'recursive')
  await owner.sites.publish('watched', root.cid)
  const result = await owner.storage.replicate(site.name, { copies: 2 })
  const holders = nodes.filter(n => result.holders.includes(n.libp2p.peerId.toString()))
  assert.equal(holders.length, 2)
  const follower = nodes.find(n => n !== owner && !holders.includes(n)) as OnlineNode
  for (const h of holders) await until('the holder holds the site', () => h.storage.held().some(x => x.target === site.name && x.state === 'held'), 60_000)
  await until('the holders provide the root', async () => {
    let n = 0
    for await (const p of follower.routing.findProviders(root.cid, { signal: AbortSignal.timeout(5_000) })) if (result.holders.includes(p.toString())) n++
    return n >= 2
  }, 60_000, 500)

  await follower.sites.follow(site.name)
  await until('the follower holds the site', async () => (await follower.sites.following()).some(f => f.name === site.name && f.fetched), 60_000)
  const watcher = follower
  const first = await watcher.storage.audit()
  assert.deepEqual(first.map(r => r.holder).sort(), [...result.holders].sort(), 'the holders, and only they (not the owner, which offers storage but holds the site for no one)')
  assert.ok(first.every(r => r.result === 'pass' && !r.replaced), JSON.stringify(first))

  const [cheater] = holders
  const dropped = (text: string): boolean => (createHash('sha256').update(text).digest()[0] & 1) === 1
  await cheat(cheater, async request => {
    if (request.t !== 'audit') return { t: 'accepted' }
    const nonce = Buffer.from(request.nonce, 'base64')
    return { t: 'proof', hashes: await Promise.all(request.cids.map(async text => dropped(text) ? null : proofOf(nonce, await cheater.blocks.get(CID.parse(text))))) }
  })
  const second = await watcher.storage.audit()
  const caught = second.find(r => r.holder === cheater.libp2p.peerId.toString())
  assert.match(caught?.result ?? '', /^failed: \d+ missing, 0 wrong of \d+ blocks$/, JSON.stringify(second))
  assert.equal(caught?.replaced, false, 'a follower replaces no one')
  assert.equal(second.find(r => r.holder !== cheater.libp2p.peerId.toString())?.result, 'pass')
  const kept = watcher.storage.followedAudits()
  assert.equal(kept.length, 1)
  assert.equal(kept[0].target, site.name)
  assert.deepEqual(kept[0].results, second)
})
