import { test } from 'node:test'
import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import { generateKeyPair, publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { marshalIPNSRecord, unmarshalIPNSRecord } from 'ipns'
import type { PrivateKey } from '@libp2p/interface'
import { importPath } from '../../src/content/index.ts'
import { signUserRecord, userIdOfPublicKey, usersTopic } from '../../src/users/index.ts'
import { buildFolder } from '../../src/users/folder.ts'
import { encodePush } from '../../src/users/push.ts'
import type { CID } from 'multiformats/cid'
import { createTestnet, createTestNode, type OnlineNode } from '../helpers/testnet.ts'
import { tmpDir } from '../helpers/home.ts'
import { until } from '../helpers/until.ts'

const HOUR = 3_600_000
const FORUM_RULES = { files: ['posts.json', 'img/*.png'], maxBytes: 4096, maxFiles: 3, banned: [] as string[], moderators: [] as string[] }
const FORUM_DB = {
  version: 1,
  tables: { posts: { columns: { id: 'TEXT', title: 'TEXT', date: 'INTEGER' }, indexes: [['date']] } },
  maps: [{ file: 'posts.json', table: 'posts', key: 'posts' }]
}

/** Publishes (or updates) the owner's forum site with these rules; returns its name once `followers` hold that version. */
async function publishForum (t: TestContext, owner: OnlineNode, rules: typeof FORUM_RULES | undefined, followers: OnlineNode[] = []): Promise<string> {
  const dir = await tmpDir(t)
  await writeFile(join(dir, 'index.html'), '<h1>forum</h1>')
  await writeFile(join(dir, 'weft.json'), JSON.stringify({ title: 'forum', users: rules, db: FORUM_DB }))
  const { root } = await importPath(owner.blocks, dir, {})
  await owner.blocks.pin(root.cid, 'recursive')
  if (owner.sites.list().find(s => s.label === 'forum') === undefined) await owner.sites.create('forum')
  const published = await owner.sites.publish('forum', root.cid)
  for (const f of followers) {
    await until(`a follower to hold sequence ${published.sequence}`, async () => (await f.sites.following()).some(x => x.name === published.name && x.sequence === published.sequence && x.fetched))
  }
  return published.name
}

const posts = (...titles: string[]): Uint8Array =>
  new TextEncoder().encode(JSON.stringify({ posts: titles.map((title, i) => ({ id: `${title}-${i}`, title, date: i })) }))

async function titles (node: OnlineNode, site: string): Promise<string[]> {
  const rows = await node.users.query(site, 'SELECT title FROM posts ORDER BY title')
  return rows.map(r => String(r.title))
}

test('contributions: a follower writes, every follower checks, holds and queries it; a follower that was offline catches up', async t => {
  const [owner, alice, bob] = await createTestnet(t, 3)
  const site = await publishForum(t, owner, FORUM_RULES)
  await Promise.all([alice, bob].map(async f => { await f.sites.follow(site) }))
  await until('followers to hold the forum', async () => (await Promise.all([alice, bob].map(async f => (await f.sites.following())[0]?.fetched === true))).every(Boolean))

  const written = await alice.users.write(site, 'posts.json', posts('hello from alice'))
  assert.equal(written.user, alice.users.id(site))
  assert.equal(written.sequence, 0n)
  assert.deepEqual(written.files.map(f => f.path), ['posts.json'])
  // the user's id differs per site and per person
  assert.notEqual(alice.users.id(site), bob.users.id(site))

  for (const node of [owner, bob]) {
    await until('the contribution to arrive', async () => node.users.contribution(site, written.user)?.sequence === 0n)
    await until('the post in the database', async () => (await titles(node, site)).includes('hello from alice'))
  }
  // two writes at once: one after the other, and neither loses the other's file
  const [w1, w2] = await Promise.all([alice.users.write(site, 'img/a.png', new Uint8Array(10)), alice.users.write(site, 'img/b.png', new Uint8Array(10))])
  assert.deepEqual([w1.sequence, w2.sequence].sort(), [1n, 2n])
  assert.deepEqual(alice.users.contribution(site, written.user)?.files.map(f => f.path), ['img/a.png', 'img/b.png', 'posts.json'])
  assert.deepEqual(alice.users.info(site).equivocations, [])
  await alice.users.write(site, 'img/a.png', undefined)
  await alice.users.write(site, 'img/b.png', undefined)

  // a second version replaces the first's rows
  await alice.users.write(site, 'posts.json', posts('edited', 'second'))
  await until('the new version in bob\'s database', async () => JSON.stringify(await titles(bob, site)) === JSON.stringify(['edited', 'second']))

  // a node that was not there follows later and catches up from the others
  const late = await createTestNode(t)
  await late.libp2p.dial(owner.libp2p.getMultiaddrs()[0])
  await late.libp2p.dial(bob.libp2p.getMultiaddrs()[0])
  await late.sites.follow(site)
  await until('the late follower to hold the forum', async () => (await late.sites.following())[0]?.fetched === true)
  await until('the late follower to catch up', async () => JSON.stringify(await titles(late, site)) === JSON.stringify(['edited', 'second']))
  assert.deepEqual(late.users.contributions(site).map(c => c.user), [written.user])
  // held: gc keeps the folder
  assert.ok(late.users.heldRoots().some(r => r.toString() === late.users.contribution(site, written.user)?.root))
})

/** Signs a user record for `site` by hand (a hostile or foreign user), with a folder built into `node`'s store. */
async function handMade (node: OnlineNode, key: PrivateKey, site: string, files: Record<string, string | Uint8Array>, sequence: bigint): Promise<Uint8Array> {
  const map = new Map(Object.entries(files).map(([p, v]) => [p, typeof v === 'string' ? new TextEncoder().encode(v) : v]))
  const folder = await buildFolder(node.blocks, map)
  return (await signUserRecord(key, site, folder.root, sequence, { validity: HOUR, ttl: 60_000 })).bytes
}

test('contributions under the owner\'s rules: outside the pattern, over the limits, forged, for another site, replayed, equivocating, banned (by the owner and by a moderator)', async t => {
  const [owner, mallory] = await createTestnet(t, 2)
  let site = await publishForum(t, owner, FORUM_RULES)
  const receive = async (bytes: Uint8Array): Promise<void> => {
    await mallory.libp2p.services.pubsub.publish(usersTopic(site), bytes).catch(() => {})
  }
  await mallory.sites.follow(site)
  await until('mallory to hold the forum', async () => (await mallory.sites.following())[0]?.fetched === true)
  await until('mallory on the users topic', async () => owner.libp2p.services.pubsub.getSubscribers(usersTopic(site)).length > 0)

  const row = (user: string) => owner.users.info(site).contributions.find(c => c.user === user)
  const state = (user: string): string | undefined => row(user)?.state
  const reason = (user: string): string | undefined => row(user)?.reason
  const keys = await Promise.all(Array.from({ length: 6 }, async () => await generateKeyPair('Ed25519')))

  // outside the pattern, too many files, too many bytes: each refused by the owner's node, none in its database
  await receive(await handMade(mallory, keys[0], site, { 'evil.js': 'alert(1)' }, 0n))
  await receive(await handMade(mallory, keys[1], site, { 'posts.json': '[]', 'img/a.png': 'a', 'img/b.png': 'b', 'img/c.png': 'c' }, 0n))
  await receive(await handMade(mallory, keys[2], site, { 'posts.json': 'x'.repeat(5000) }, 0n))
  const ids = keys.map(k => userIdOfPublicKey(k.publicKey))
  await until('three refusals by reason', async () => reason(ids[0]) === 'pattern' && reason(ids[1]) === 'too-many-files' && reason(ids[2]) === 'too-large')
  assert.deepEqual(owner.users.contributions(site), [])
  assert.deepEqual(await titles(owner, site), [])

  // a record signed for another site is refused, and its sender penalised
  const penalties = (): number => owner.exchange.peerRecord(mallory.libp2p.peerId)?.offences['bad-record'] ?? 0
  const before = penalties()
  await receive(await handMade(mallory, keys[3], 'k51qzi5uqu5dlvj2baxnqndepeb86cbk3ng7n3i46uzyxzyqj2xjonzllnv0v8', { 'posts.json': posts('x') as any }, 0n))
  await until('the wrong-site record to be counted', async () => owner.users.info(site).rejections.some((r: any) => r.reason === 'wrong-site'))
  assert.ok(penalties() > before, 'the sender of a record for another site is penalised')

  // forged: a signature with one bit flipped; and a record naming one user's key but signed by another's
  const forged = unmarshalIPNSRecord(await handMade(mallory, keys[3], site, { 'posts.json': '{"posts":[]}' }, 0n))
  forged.signatureV2[5] ^= 0x01
  await receive(marshalIPNSRecord(forged))
  const borrowed = unmarshalIPNSRecord(await handMade(mallory, keys[3], site, { 'posts.json': '{"posts":[]}' }, 0n))
  await receive(marshalIPNSRecord({ ...borrowed, pubKey: publicKeyToProtobuf(keys[0].publicKey) }))
  await until('both forgeries to be counted', () => owner.users.info(site).rejections.find(r => r.reason === 'bad-signature')?.count === 2)
  assert.equal(row(ids[3]), undefined, 'no forged contribution is kept')

  // a good contribution, then a replay of an older version and an equivocating one
  const good1 = await handMade(mallory, keys[4], site, { 'posts.json': new TextDecoder().decode(posts('one')) }, 1n)
  await receive(good1)
  await until('the good contribution', async () => state(ids[4]) === 'accepted')
  await receive(await handMade(mallory, keys[4], site, { 'posts.json': new TextDecoder().decode(posts('zero')) }, 0n))
  await receive(await handMade(mallory, keys[4], site, { 'posts.json': new TextDecoder().decode(posts('other one')) }, 1n))
  await until('the equivocation to be kept', async () => owner.users.info(site).equivocations.length === 1)
  await until('the replay to be refused', async () => owner.users.info(site).rejections.some((r: any) => r.reason === 'stale'))
  assert.deepEqual(await titles(owner, site), ['one'])

  // the owner bans that user: a new version of the rules removes the rows on every follower
  site = await publishForum(t, owner, { ...FORUM_RULES, banned: [ids[4]] }, [mallory])
  await until('the ban to apply', async () => state(ids[4]) === 'refused' && reason(ids[4]) === 'banned')
  assert.deepEqual(await titles(owner, site), [])
  await until('the ban to reach the follower\'s database', async () => (await titles(mallory, site)).length === 0)

  // a moderator's signed bans count like the owner's
  const moderator = keys[5]
  site = await publishForum(t, owner, { ...FORUM_RULES, banned: [], moderators: [userIdOfPublicKey(moderator.publicKey)] }, [mallory])
  await until('the unbanned user back', async () => state(ids[4]) === 'accepted')
  await receive(await handMade(mallory, moderator, site, { 'bans.json': JSON.stringify({ banned: [ids[4]] }) }, 0n))
  await until('the moderator\'s ban to apply', async () => state(ids[4]) === 'refused')
  assert.deepEqual(await titles(owner, site), [])

  // a version whose weft.json drops the users section takes no contributions: the held ones leave
  site = await publishForum(t, owner, undefined, [mallory])
  await until('every contribution to leave', async () => owner.users.contributions(site).length === 0)
  assert.ok(owner.users.info(site).contributions.every(c => c.state === 'refused'))
})

test('a flood of user records from one peer is limited per peer and per user, and the peer is penalised', async t => {
  // a peer bucket of 100 refilling at 10 a second: 240 records overflow it unless they take 14 s to arrive, which even a loaded
  // machine's loop of publishes does not (at the default 200 and 50 a second, 240 records spread over 0.8 s got no penalty)
  const [owner, mallory] = await createTestnet(t, 2, { users: { peerBurst: 100, peerRate: 10 } })
  const site = await publishForum(t, owner, FORUM_RULES)
  await mallory.sites.follow(site)
  await until('mallory on the users topic', async () => owner.libp2p.services.pubsub.getSubscribers(usersTopic(site)).length > 0)
  // one user, many versions at once; then many users at once
  const one = await generateKeyPair('Ed25519')
  const records: Uint8Array[] = []
  for (let i = 0; i < 40; i++) records.push(await handMade(mallory, one, site, { 'posts.json': new TextDecoder().decode(posts(`v${i}`)) }, BigInt(i)))
  for (let i = 0; i < 200; i++) records.push(await handMade(mallory, await generateKeyPair('Ed25519'), site, { 'posts.json': '{"posts":[]}' }, 0n))
  for (const r of records) await mallory.libp2p.services.pubsub.publish(usersTopic(site), r).catch(() => {})
  await until('mallory to be penalised', async () => (owner.exchange.peerRecord(mallory.libp2p.peerId)?.offences['bad-record'] ?? 0) > 0)
  await owner.users.settled()
  const info = owner.users.info(site)
  // far fewer than were sent got in: the per-user bucket held one user to a few versions, the per-peer bucket the rest
  assert.ok(info.contributions.length < 200, `${info.contributions.length} of 201 users got in`)
  const flooder = info.contributions.find(c => c.user === userIdOfPublicKey(one.publicKey))
  assert.ok(flooder === undefined || flooder.sequence < 39n, 'the flooding user did not get every version in')
})

test('a push carries a small folder: readers hold it with no peer able to serve it; a carried block that does not hash right is refused and its sender penalised', async t => {
  const [owner, mallory] = await createTestnet(t, 2)
  const site = await publishForum(t, owner, FORUM_RULES)
  await mallory.sites.follow(site)
  await until('mallory on the users topic', async () => owner.libp2p.services.pubsub.getSubscribers(usersTopic(site)).length > 0)
  // a folder built outside every node's store: only the push itself can bring it to the owner
  const built = new Map<string, { cid: CID, bytes: Uint8Array }>()
  const aside = {
    put: async (cid: CID, bytes: Uint8Array) => { built.set(cid.toString(), { cid, bytes }) },
    get: async (cid: CID) => { const b = built.get(cid.toString()); if (b === undefined) throw new Error('absent'); return b.bytes },
    flush: async () => {}
  }
  const carried = async (key: PrivateKey, title: string): Promise<{ record: Uint8Array, root: CID, blocks: Array<{ cid: CID, bytes: Uint8Array }> }> => {
    built.clear()
    const folder = await buildFolder(aside, new Map([['posts.json', posts(title)]]))
    const record = (await signUserRecord(key, site, folder.root, 0n, { validity: HOUR, ttl: 60_000 })).bytes
    return { record, root: folder.root, blocks: [...built.values()] }
  }
  const alice = await generateKeyPair('Ed25519')
  const push = await carried(alice, 'carried')
  assert.equal(mallory.blocks.has(push.root), false)
  await mallory.libp2p.services.pubsub.publish(usersTopic(site), encodePush(push.record, push.blocks))
  await until('the carried contribution accepted', async () => owner.users.contribution(site, userIdOfPublicKey(alice.publicKey)) !== undefined)
  assert.deepEqual(await titles(owner, site), ['carried'])
  assert.ok(owner.blocks.has(push.root))

  // the same kind of push with one block's bytes swapped for others: refused whole, the sender penalised
  const bob = await generateKeyPair('Ed25519')
  const bad = await carried(bob, 'tampered')
  const forged = bad.blocks.map((b, i) => i === bad.blocks.length - 1 ? { cid: b.cid, bytes: posts('swapped') } : b)
  await mallory.libp2p.services.pubsub.publish(usersTopic(site), encodePush(bad.record, forged))
  await until('mallory to be penalised for the tampered block', async () => (owner.exchange.peerRecord(mallory.libp2p.peerId)?.offences['bad-record'] ?? 0) > 0)
  assert.equal(owner.users.info(site).contributions.find(c => c.user === userIdOfPublicKey(bob.publicKey)), undefined)
  assert.equal(owner.blocks.has(bad.root), false)
})
