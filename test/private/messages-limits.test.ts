import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ed25519 } from '@noble/curves/ed25519.js'
import { generateKeyPair, publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import { CID } from 'multiformats/cid'
import { base36 } from 'multiformats/bases/base36'
import { identity } from 'multiformats/hashes/identity'
import { importPath } from '../../src/content/index.ts'
import { createNode } from '../../src/node/index.ts'
import { nodeGateway } from '../../src/daemon/index.ts'
import { isWeftError } from '../../src/errors.ts'
import { messagesTopic, sealMessage, userKeyOf, MESSAGES_CATCH_UP_PROTOCOL } from '../../src/private/index.ts'
import { userIdOfPublicKey } from '../../src/users/index.ts'
import { createTestnet, type OnlineNode } from '../helpers/testnet.ts'
import { tmpDir, tmpHome } from '../helpers/home.ts'
import { until } from '../helpers/until.ts'

const text = (s: string): Uint8Array => new TextEncoder().encode(s)
const read = (b: Uint8Array): string => new TextDecoder().decode(b)
/** A rate so slow no token comes back while a test runs: what passes is the burst. */
const NO_REFILL = 1e-6

async function publishSite (t: TestContext, owner: OnlineNode, followers: OnlineNode[]): Promise<string> {
  const dir = await tmpDir(t)
  await writeFile(join(dir, 'index.html'), '<h1>a site with users</h1>')
  const { root } = await importPath(owner.blocks, dir, {})
  await owner.blocks.pin(root.cid, 'recursive')
  await owner.sites.create('site')
  const { name } = await owner.sites.publish('site', root.cid)
  for (const f of followers) {
    await f.sites.follow(name)
    await until('a follower to hold the site', async () => (await f.sites.following()).some(x => x.name === name && x.fetched))
  }
  return name
}

async function onTopic (node: OnlineNode, site: string, peers: OnlineNode[]): Promise<void> {
  await until('peers on the messages topic', () => {
    const subscribers = node.libp2p.services.pubsub.getSubscribers(messagesTopic(site)).map(p => p.toString())
    return peers.every(p => subscribers.includes(p.libp2p.peerId.toString()))
  })
}

const penalties = (judge: OnlineNode, peer: OnlineNode): number => judge.exchange.peerRecord(peer.libp2p.peerId)?.offences['bad-record'] ?? 0

/** `count` valid letters to `to`, each from a fresh sender key (which costs a flooder nothing). */
async function freshLetters (site: string, to: string, count: number): Promise<Array<{ key: PrivateKey, envelope: Uint8Array }>> {
  const out = []
  for (let i = 0; i < count; i++) {
    const key = await generateKeyPair('Ed25519')
    out.push({ key, envelope: await sealMessage(key, site, to, text(`flood ${i}`)) })
  }
  return out
}

test('messages flood: fresh gossipsub origins per message do not each get a burst; the delivering peer is limited and penalised', async t => {
  // a relay's refill is kept (a slow one) so A, which may relay some of what it let through, has tokens for its own letter later
  const limits = { peerBurst: 2, peerRate: NO_REFILL, relayBurst: 5, relayRate: 1, maxPerSender: 2, maxPerSite: 5 }
  const [a, b, m] = await createTestnet(t, 3, { messages: limits })
  const site = await publishSite(t, a, [b, m])
  await onTopic(m, site, [a, b])
  const bId = b.users.id(site)
  const flood = await freshLetters(site, bId, 50)
  const isFlood = (body: Uint8Array): boolean => read(body).startsWith('flood ')
  // M signs each push with a fresh key, as StrictSign lets anyone do: each is a new `from`
  const pubsub = m.libp2p.services.pubsub as unknown as { publishConfig: unknown }
  const own = pubsub.publishConfig
  t.after(() => { pubsub.publishConfig = own })
  for (const { key, envelope } of flood) {
    pubsub.publishConfig = { type: 0, author: peerIdFromPrivateKey(key), key: publicKeyToProtobuf(key.publicKey), privateKey: key }
    await m.libp2p.services.pubsub.publish(messagesTopic(site), envelope).catch(() => {})
  }
  pubsub.publishConfig = own
  await until('B to penalise M for the flood', () => penalties(b, m) > 0)
  // a letter from A still gets through, and by then B has long judged the flood
  const fromA = await a.messages.send(site, bId, text('a real friend'))
  await until('A\'s letter to reach B', () => b.messages.list(site).some(x => x.id === fromA.id))
  const taken = b.messages.list(site).filter(x => isFlood(x.body)).length
  // the relay's burst of 5 and a token a second while the flood lasted, not the 50
  assert.ok(taken <= 15, `B took ${taken} of 50 letters from one connected peer`)
  assert.equal(penalties(b, a), 0, 'A, relaying within the relay\'s limit, is not charged')
})

test('messages catch-up: an answer bringing more new envelopes than a site holds is cut off and its responder penalised', async t => {
  const [a, b, m] = await createTestnet(t, 3, { messages: { maxPerSender: 2, maxPerSite: 5 } })
  const site = await publishSite(t, a, [b, m])
  const bId = b.users.id(site)
  const flood = await freshLetters(site, bId, 50)
  // M answers every ask with its clock and fifty letters from fifty fresh senders
  await m.libp2p.unhandle(MESSAGES_CATCH_UP_PROTOCOL)
  await m.libp2p.handle(MESSAGES_CATCH_UP_PROTOCOL, async stream => {
    const lp = lpStream(stream)
    try {
      await lp.read()
      await lp.write(new Uint8Array(8))
      await lp.writeV(flood.map(f => f.envelope))
      await stream.close()
    } catch (err) {
      stream.abort(err as Error)
    }
  })
  await onTopic(b, site, [m])
  await b.messages.catchUp(site)
  await until('B to penalise M', () => penalties(b, m) > 0)
  const inbox = b.messages.list(site)
  assert.ok(inbox.length <= 6, `B took ${inbox.length} of 50 from one answer`)
})

test('messages inbox: at most so many letters and bytes per recipient, the oldest going first, and none past the expiry', async t => {
  const home = await tmpHome(t)
  let node = await createNode({ home, messages: { maxPerSender: 100, maxInbox: 3 } })
  t.after(async () => { await node.stop() })
  const site = (await node.sites.create('s')).name
  const me = node.users.id(site)
  // notes to oneself are the inbox's one sender offline: the per-sender cap is set high, so only the inbox cap bites
  for (const body of ['one', 'two', 'three', 'four', 'five']) await node.messages.send(site, me, text(body))
  assert.deepEqual(node.messages.list(site).map(x => read(x.body)).sort(), ['five', 'four', 'three'])

  await node.stop()
  node = await createNode({ home, messages: { maxPerSender: 100, maxInbox: 100, maxInboxBytes: 25 } })
  await node.messages.send(site, me, text('0123456789'))
  // 30 bytes with the three above (14 bytes): the oldest go until 25 or under
  const left = node.messages.list(site).map(x => read(x.body))
  assert.ok(left.includes('0123456789'))
  assert.ok(left.join('').length <= 25, `${left.join('').length} bytes of letters kept`)

  await node.stop()
  node = await createNode({ home, messages: { maxPerSender: 100, expiry: 100 } })
  const first = await node.messages.send(site, me, text('soon gone'))
  assert.ok(node.messages.list(site).some(x => x.id === first.id))
  await until('the letter to expire', () => Date.now() > first.sent + 150)
  await node.messages.send(site, me, text('fresh'))
  assert.deepEqual(node.messages.list(site).map(x => read(x.body)), ['fresh'], 'letters past the expiry went')
})

test('messages carried by a home with no user key make none, so a later link still works', async t => {
  const [a, b, c] = await createTestnet(t, 3)
  const site = await publishSite(t, a, [b, c])
  assert.equal(c.userIdentity.hasKey(), false, 'following a site makes no user key')
  await onTopic(a, site, [b, c])
  const sent = await a.messages.send(site, b.users.id(site), text('for B'))
  const held = (): number => Number((c.repo.db.prepare('SELECT COUNT(*) AS n FROM message_envelopes WHERE site = ?').get(site) as { n: number }).n)
  await until('C to carry the envelope', () => held() === 1)
  assert.equal(c.userIdentity.hasKey(), false, 'carrying a message made no user key')
  assert.equal(c.messages.info(site).held, 1)
  assert.deepEqual(c.messages.list(site), [])
  assert.equal(c.userIdentity.hasKey(), false, 'looking at the inbox made no user key')
  // B's person links C later: their key goes in without ERR_USER_KEY_EXISTS, and what C carried for them opens
  assert.equal(c.userIdentity.importMasterKey(b.userIdentity.masterKey()).outcome, 'added')
  await until('the carried letter to open on the linked device', () => c.messages.list(site).some(x => x.id === sent.id && read(x.body) === 'for B'))
})

test('messages: a user id whose key is no ed25519 point is refused, not an internal error', async t => {
  const valid = userIdOfPublicKey((await generateKeyPair('Ed25519')).publicKey)
  const proto = CID.parse(valid, base36).multihash.digest.slice()
  const notPoint = new Uint8Array(32)
  // y = 2 is no point on edwards25519 (no x squares to it)
  notPoint[0] = 2
  assert.throws(() => ed25519.Point.fromBytes(notPoint))
  proto.set(notPoint, proto.byteLength - 32)
  const bad = CID.createV1(0x72, identity.digest(proto)).toString(base36)
  assert.throws(() => userKeyOf(bad), err => isWeftError(err, 'ERR_MESSAGE_REFUSED'))
  const node = await createNode({ home: await tmpHome(t) })
  t.after(async () => { await node.stop() })
  const site = (await node.sites.create('s')).name
  await assert.rejects(node.messages.send(site, bad, text('hello')), err => isWeftError(err, 'ERR_MESSAGE_REFUSED'))
  // and through the site API: a 400 that says why, not a 500
  node.users.allow(site, true)
  const gateway = nodeGateway(node, { users: node.users, messages: node.messages })
  const origin = `http://${site}.ipns.localhost:8080`
  const url = `${origin}/.weft/messages/${bad}`
  const r = await gateway(new Request(url, { method: 'POST', headers: { host: new URL(url).host, origin, 'sec-fetch-site': 'same-origin', 'sec-fetch-mode': 'cors' }, body: 'hello' }))
  assert.equal(r.status, 400)
  assert.equal((await r.json()).error, 'ERR_MESSAGE_REFUSED')
})

test('messages catch-up server: a peer past so many asks a minute is refused', async t => {
  const [a, m] = await createTestnet(t, 2, { messages: { serveBurst: 2, servePerMinute: NO_REFILL, serveReadTimeout: 300 } })
  const site = await publishSite(t, a, [])
  await a.messages.send(site, userIdOfPublicKey((await generateKeyPair('Ed25519')).publicKey), text('held'))
  const ask = async (): Promise<boolean> => {
    const stream = await m.libp2p.dialProtocol(a.libp2p.getMultiaddrs()[0], MESSAGES_CATCH_UP_PROTOCOL)
    const lp = lpStream(stream)
    try {
      await lp.write(Buffer.concat([new Uint8Array(8), text(site)]))
      const clock = await lp.read({ signal: AbortSignal.timeout(10_000) })
      return clock.byteLength === 8
    } catch {
      return false
    } finally {
      stream.abort(new Error('done'))
    }
  }
  const answered: boolean[] = []
  for (let i = 0; i < 5; i++) answered.push(await ask())
  // M follows nothing, so its own node asked A nothing: the burst of 2 is all these asks'
  assert.deepEqual(answered, [true, true, false, false, false])
})

test('messages catch-up server: a stream that never carries an ask is dropped', async t => {
  // a stream that never carries an ask: A gives up on it instead of holding it open
  const [a2, q] = await createTestnet(t, 2, { messages: { serveReadTimeout: 300 } })
  const stream = await q.libp2p.dialProtocol(a2.libp2p.getMultiaddrs()[0], MESSAGES_CATCH_UP_PROTOCOL)
  const lp = lpStream(stream)
  const started = Date.now()
  await assert.rejects(lp.read({ signal: AbortSignal.timeout(10_000) }), (err: Error) => err.name !== 'TimeoutError' && err.name !== 'AbortError')
  assert.ok(Date.now() - started < 5_000)
})
