import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { hkdfSync } from 'node:crypto'
import { ed25519, x25519 } from '@noble/curves/ed25519.js'
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { lpStream } from '@libp2p/utils'
import { importPath } from '../../src/content/index.ts'
import { isWeftError } from '../../src/errors.ts'
import {
  messagesTopic, openEnvelope, MESSAGES_CATCH_UP_PROTOCOL, sealEnvelope, sealMessage, userKeyOf, x25519SecretOf, MAX_BODY_BYTES, MAX_ENVELOPE_BYTES
} from '../../src/private/index.ts'
import { createTestnet, createTestNode, type OnlineNode } from '../helpers/testnet.ts'
import { tmpDir, tmpHome } from '../helpers/home.ts'
import { until } from '../helpers/until.ts'

const text = (s: string): Uint8Array => new TextEncoder().encode(s)
const read = (b: Uint8Array): string => new TextDecoder().decode(b)

/** Publishes a plain site on `owner` and waits until `followers` follow it and hold it. */
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

/** Waits until `node` sees each of `peers` on the site's messages topic. */
async function onTopic (node: OnlineNode, site: string, peers: OnlineNode[]): Promise<void> {
  await until('peers on the messages topic', () => {
    const subscribers = node.libp2p.services.pubsub.getSubscribers(messagesTopic(site)).map(p => p.toString())
    return peers.every(p => subscribers.includes(p.libp2p.peerId.toString()))
  })
}

const rejected = (node: OnlineNode, site: string, reason: string): number => node.messages.info(site).rejections.find(r => r.reason === reason)?.count ?? 0

test('messages: A sends to B through a follower C while B is offline; B comes back, catches up from C and reads it; C cannot open it', async t => {
  const [a, c] = await createTestnet(t, 2)
  // B follows the site once, learns its id there, and goes offline
  const bHome = await tmpHome(t)
  let b = await createTestNode(t, { home: bHome })
  await b.libp2p.dial(a.libp2p.getMultiaddrs()[0])
  const site = await publishSite(t, a, [c, b])
  const bId = b.users.id(site)
  await b.stop()

  await onTopic(a, site, [c])
  const sent = await a.messages.send(site, bId, text('hello B, from A'))
  assert.equal(sent.from, a.users.id(site))
  assert.equal(sent.to, bId)
  assert.ok(sent.announced, 'C was on the topic')
  await until('C to carry the envelope', () => c.messages.info(site).held === 1)
  // the carrier cannot read it: it is sealed to B's key
  assert.deepEqual(c.messages.list(site), [])
  assert.deepEqual(a.messages.list(site), [], 'not even its sender can open it again')
  // the sender goes away too: only C has it now
  await a.stop()

  // B takes no pushes this time (a burst of 0): if C still had the envelope in the topic's recent
  // gossip, B would be offered it that way; what reaches B now comes by catch-up alone
  b = await createTestNode(t, { home: bHome, messages: { peerBurst: 0 } })
  await b.libp2p.dial(c.libp2p.getMultiaddrs()[0])
  await until('B to catch up and open the message', () => b.messages.list(site).length === 1, 30_000)
  const [got] = b.messages.list(site)
  assert.equal(got.from, sent.from)
  assert.equal(got.to, bId)
  assert.equal(got.sent, sent.sent)
  assert.equal(read(got.body), 'hello B, from A')
  assert.equal(got.id, sent.id)
  // asking C again brings only what C received since its last answer: nothing
  assert.equal(await b.messages.catchUp(site), 0)
  assert.equal(b.messages.list(site).length, 1)
})

test('messages: the envelope opens only with the recipient\'s key, and is bounded at 64 KiB', async t => {
  const site = (await generateKeyPair('Ed25519')).publicKey
  const siteName = (await import('../../src/users/index.ts')).userIdOfPublicKey(site)
  const [a, b, c] = await Promise.all([0, 1, 2].map(async () => await generateKeyPair('Ed25519')))
  const bId = (await import('../../src/users/index.ts')).userIdOfPublicKey(b.publicKey)
  const envelope = await sealMessage(a, siteName, bId, text('for B only'))
  const open = (key: typeof a): ReturnType<typeof openEnvelope> => openEnvelope(envelope, x25519SecretOf(key), ed25519.utils.toMontgomery(key.publicKey.raw))
  assert.equal(open(c), undefined, 'C cannot open what is sealed to B')
  assert.equal(open(a), undefined, 'nor can its sender')
  assert.equal(read(open(b)?.body ?? new Uint8Array()), 'for B only')
  // one flipped bit anywhere: it opens for no one
  for (const at of [0, 5, 40, 70, envelope.byteLength - 1]) {
    const bad = envelope.slice()
    bad[at] ^= 1
    assert.equal(openEnvelope(bad, x25519SecretOf(b), ed25519.utils.toMontgomery(b.publicKey.raw)), undefined, `a flip at byte ${at}`)
  }
  // the format is as messages.ts documents it: opened here with noble's X25519 and XChaCha20-Poly1305, by hand
  const ephemeral = envelope.subarray(1, 33)
  const nonce = envelope.subarray(33, 57)
  const bX = ed25519.utils.toMontgomery(b.publicKey.raw)
  const shared = x25519.getSharedSecret(x25519SecretOf(b), ephemeral)
  const key = new Uint8Array(hkdfSync('sha256', shared, 'weft/message/v1', Buffer.concat([ephemeral, bX]), 32))
  const plain = xchacha20poly1305(key, nonce, envelope.subarray(0, 57)).decrypt(envelope.subarray(57))
  assert.equal(envelope[0], 1)
  assert.deepEqual(plain.subarray(0, 32), a.publicKey.raw)
  assert.deepEqual(plain.subarray(32, 64), b.publicKey.raw)
  assert.equal(plain[72], siteName.length)
  assert.equal(read(plain.subarray(73, 73 + siteName.length)), siteName)
  const signature = plain.subarray(73 + siteName.length, 137 + siteName.length)
  assert.equal(read(plain.subarray(137 + siteName.length)), 'for B only')
  const signed = Buffer.concat([text('weft/message/v1/sig'), ephemeral, plain.subarray(0, 73 + siteName.length), plain.subarray(137 + siteName.length)])
  assert.ok(ed25519.verify(signature, signed, a.publicKey.raw), 'the signature covers what the format says')

  // the body limit is exact
  const full = await sealMessage(a, siteName, bId, new Uint8Array(MAX_BODY_BYTES))
  assert.equal(full.byteLength, MAX_ENVELOPE_BYTES)
  await assert.rejects(sealMessage(a, siteName, bId, new Uint8Array(MAX_BODY_BYTES + 1)), err => isWeftError(err, 'ERR_MESSAGE_TOO_LARGE'))
  await assert.rejects(sealMessage(a, siteName, 'not-a-user', text('x')), err => isWeftError(err, 'ERR_MESSAGE_REFUSED'))
  assert.deepEqual(userKeyOf(bId), b.publicKey.raw)
})

test('messages: a forged sender, a re-addressed letter, another site\'s letter and a replay are dropped and counted at the recipient', async t => {
  const [a, b, m] = await createTestnet(t, 3)
  const site = await publishSite(t, a, [b, m])
  await onTopic(m, site, [a, b])
  const push = async (envelope: Uint8Array): Promise<void> => { await m.libp2p.services.pubsub.publish(messagesTopic(site), envelope) }
  const aKey = a.userIdentity.key(site)
  const bKey = b.userIdentity.key(site)
  const mKey = m.userIdentity.key(site)
  const bId = b.users.id(site)

  // M claims to be A, but signs with its own key
  const forged = await sealEnvelope({ sender: aKey.publicKey.raw, recipient: bKey.publicKey.raw, sent: Date.now(), site, body: text('I am A, trust me') }, async bytes => await mKey.sign(bytes))
  await push(forged)
  await until('the forgery to be counted at B', () => rejected(b, site, 'bad-signature') === 1)
  assert.deepEqual(b.messages.list(site), [])

  // a real letter from A to B …
  const real = await a.messages.send(site, bId, text('only for B'))
  await until('B to open the real one', () => b.messages.list(site).some(x => x.id === real.id))
  const [inbox] = b.messages.list(site)
  assert.equal(inbox.from, a.users.id(site))
  // … which B (or anyone it leaks to) re-seals to M, as it is, addressed to B inside
  const letter = openEnvelope(await sealMessage(aKey, site, bId, text('pass it on')), x25519SecretOf(bKey), ed25519.utils.toMontgomery(bKey.publicKey.raw))
  assert.ok(letter !== undefined)
  const mX = ed25519.utils.toMontgomery(mKey.publicKey.raw)
  // sealEnvelope seals to the letter's recipient: to aim it at M while it still names B, swap the recipient only for sealing
  const reAimed = await sealEnvelopeTo(letter, mKey.publicKey.raw)
  assert.ok(openEnvelope(reAimed, x25519SecretOf(mKey), mX) !== undefined, 'it opens for M')
  await b.libp2p.services.pubsub.publish(messagesTopic(site), reAimed)
  await until('the re-aimed letter to be counted at M', () => rejected(m, site, 're-addressed') === 1)
  // … and with the recipient changed to M: A's signature covered B and the old ephemeral key
  await b.libp2p.services.pubsub.publish(messagesTopic(site), await sealEnvelope({ ...letter, recipient: mKey.publicKey.raw }, () => letter.signature))
  await until('the re-addressed letter to be counted at M', () => rejected(m, site, 'bad-signature') === 1)
  assert.deepEqual(m.messages.list(site), [])

  // a letter A signed for another site does not open into this one
  const other = (await import('../../src/users/index.ts')).userIdOfPublicKey((await generateKeyPair('Ed25519')).publicKey)
  await push(await sealEnvelope({ sender: aKey.publicKey.raw, recipient: bKey.publicKey.raw, sent: Date.now(), site: other, body: text('elsewhere') }, async bytes => await aKey.sign(bytes)))
  await until('the other site\'s letter to be counted at B', () => rejected(b, site, 'wrong-site') === 1)
  // an old letter (past the 30 days) kept and replayed is not news
  await push(await sealMessage(aKey, site, bId, text('ancient'), Date.now() - 31 * 24 * 3600_000))
  await until('the expired letter to be counted at B', () => rejected(b, site, 'expired') === 1)
  // the same envelope again is the same message: carried and shown once (the malformed push after it
  // travels the same stream, so once B counted that one, B has seen the replay)
  await push(await resend(b, site, real.id))
  // what is no envelope is refused, and its sender penalised
  const penalties = (): number => b.exchange.peerRecord(m.libp2p.peerId)?.offences['bad-record'] ?? 0
  await push(new Uint8Array(200).fill(7))
  await until('the malformed envelope to be counted', () => rejected(b, site, 'malformed') >= 1)
  await until('M to be penalised for it', () => penalties() > 0)
  assert.deepEqual(b.messages.list(site).map(x => read(x.body)), ['only for B'])
})

/** Seals an opened letter, unchanged, to another key than the one it names (what a leaking recipient would do). */
async function sealEnvelopeTo (letter: NonNullable<ReturnType<typeof openEnvelope>>, to: Uint8Array): Promise<Uint8Array> {
  return await sealEnvelope(letter, () => letter.signature, to)
}

/** The envelope bytes a node holds for an id (from the catch-up it serves). */
async function resend (node: OnlineNode, site: string, id: string): Promise<Uint8Array> {
  const { createHash } = await import('node:crypto')
  const row = node.repo.db.prepare('SELECT envelope FROM message_envelopes WHERE site = ?').all(site) as Array<{ envelope: Uint8Array }>
  const found = row.map(r => new Uint8Array(r.envelope)).find(e => createHash('sha256').update(e).digest('hex') === id)
  assert.ok(found !== undefined, 'the node holds the envelope')
  return found
}

test('messages: a flood from one peer is limited and the peer penalised; one sender cannot fill a recipient\'s inbox', async t => {
  const [a, b, m] = await createTestnet(t, 3, { messages: { peerBurst: 5, peerRate: 1, maxPerSender: 3 } })
  const site = await publishSite(t, a, [b, m])
  await onTopic(m, site, [a, b])
  const bId = b.users.id(site)
  const penalties = (): number => a.exchange.peerRecord(m.libp2p.peerId)?.offences['bad-record'] ?? 0
  // 40 letters at once from M's node to B
  for (let i = 0; i < 40; i++) await m.messages.send(site, bId, text(`flood ${i}`))
  await until('M to be penalised by A', () => penalties() > 0)
  await until('B to have taken what the limit let through', () => b.messages.list(site).length > 0)
  // the burst of 5 (and a token or so a second) gets through, not the 40
  assert.ok(a.messages.info(site).held <= 10, `A carries ${a.messages.info(site).held} of the flood`)
  // and of what reached B, at most 3 from one sender are kept
  assert.ok(b.messages.list(site).length <= 3, `B keeps ${b.messages.list(site).length} from M`)
  // a letter from someone else still gets in
  const fromA = await a.messages.send(site, bId, text('a real friend'))
  await until('A\'s letter to reach B', () => b.messages.list(site).some(x => x.id === fromA.id))
  assert.ok(b.messages.list(site).filter(x => x.from === m.users.id(site)).length <= 3)
})

test('messages: a peer whose catch-up answer holds what is no envelope is penalised, and nothing of it is kept', async t => {
  const [a, b, m] = await createTestnet(t, 3)
  // M answers catch-up with its clock and then junk
  await m.libp2p.unhandle(MESSAGES_CATCH_UP_PROTOCOL)
  await m.libp2p.handle(MESSAGES_CATCH_UP_PROTOCOL, async stream => {
    const lp = lpStream(stream)
    await lp.read()
    await lp.write(new Uint8Array(8))
    await lp.write(new Uint8Array(300).fill(7))
    await stream.close()
  })
  const site = await publishSite(t, a, [b, m])
  await onTopic(b, site, [m])
  await b.messages.catchUp(site)
  await until('B to penalise M', () => (b.exchange.peerRecord(m.libp2p.peerId)?.offences['bad-record'] ?? 0) > 0)
  assert.ok(rejected(b, site, 'malformed') >= 1)
  assert.equal(b.messages.info(site).held, 0)
})
