import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { ed25519 } from '@noble/curves/ed25519.js'
import { CID } from 'multiformats/cid'
import { importPath, readFile } from '../../src/content/index.ts'
import { isWeftError } from '../../src/errors.ts'
import {
  decodeShareFile, encodeShareFile, openGrant, openListing, sealGrant, sharePath, shareTag, x25519PrivateKey, x25519SecretOf, type Grant
} from '../../src/private/index.ts'
import { nodeGateway } from '../../src/daemon/index.ts'
import { Operations } from '../../src/api/index.ts'
import type { GatewayHandler } from '../../src/gateway/index.ts'
import { createTestnet, type OnlineNode } from '../helpers/testnet.ts'
import { tmpDir } from '../helpers/home.ts'
import { until } from '../helpers/until.ts'

// the owner's rules know nothing of shares: `.weft-shares/` is allowed whatever `files` says
const RULES = { files: ['posts.json'], maxBytes: 256 * 1024, maxFiles: 8, banned: [] as string[], moderators: [] as string[] }
const text = (s: string): Uint8Array => new TextEncoder().encode(s)

async function publishSite (t: TestContext, owner: OnlineNode, followers: OnlineNode[]): Promise<string> {
  const dir = await tmpDir(t)
  await writeFile(join(dir, 'index.html'), '<h1>site</h1>')
  await writeFile(join(dir, 'weft.json'), JSON.stringify({ title: 'site', users: RULES }))
  const { root } = await importPath(owner.blocks, dir, {})
  await owner.blocks.pin(root.cid, 'recursive')
  await owner.sites.create('site')
  const published = await owner.sites.publish('site', root.cid)
  for (const f of followers) {
    await f.sites.follow(published.name)
    await until('a follower to hold the site', async () => (await f.sites.following()).some(x => x.name === published.name && x.fetched))
  }
  return published.name
}

/** Waits until `node` holds `user`'s contribution at the version `writer` holds of it. */
async function caughtUp (node: OnlineNode, writer: OnlineNode, site: string): Promise<void> {
  const user = writer.users.id(site)
  const root = writer.users.contribution(site, user)?.root
  await until(`${user}'s contribution ${root} to reach the node`, async () => node.users.contribution(site, user)?.root === root)
}

async function rejects (p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => isWeftError(err, code as 'ERR_USAGE'))
}

/** The share file of `folder` in `sharer`'s contribution, as anyone following the site holds it. */
async function shareFileOf (reader: OnlineNode, sharer: OnlineNode, site: string, folder: string): Promise<Uint8Array> {
  const path = sharePath(shareTag(sharer.userIdentity.privateKeys(site).indexKey, folder))
  const file = reader.users.contribution(site, sharer.users.id(site))?.files.find(f => f.path === path)
  assert.ok(file !== undefined, `the share file ${path} is in the contribution`)
  const chunks: Uint8Array[] = []
  for await (const chunk of readFile(reader.blocks, CID.parse(file.cid))) chunks.push(chunk)
  return Buffer.concat(chunks)
}

/** Trial-opens every box of a share file with `node`'s key on the site. */
async function grantsFor (node: OnlineNode, site: string, bytes: Uint8Array): Promise<Array<Grant | 'bad-signature' | undefined>> {
  const key = node.userIdentity.key(site)
  const secret = x25519PrivateKey(x25519SecretOf(key))
  const decoded = decodeShareFile(bytes)
  assert.ok(decoded !== undefined)
  return await Promise.all(decoded.boxes.map(async box => await openGrant(box, secret, ed25519.utils.toMontgomery(key.publicKey.raw))))
}

test('shares: A shares a folder with B, who reads it; C cannot open it; after A revokes B, what A writes is C\'s to read and not B\'s', async t => {
  const [a, b, c] = await createTestnet(t, 3)
  const site = await publishSite(t, a, [b, c])
  const [idA, idB, idC] = [a, b, c].map(n => n.users.id(site))

  await a.private.put(site, 'notes/plan.md', text('the plan'))
  await a.private.put(site, 'notes/deep/more.md', text('more'))
  await a.private.put(site, 'diary/secret.md', text('not shared'))
  const shared = await a.shares.share(site, 'notes', idB)
  assert.deepEqual(shared, { site, folder: 'notes', generation: 0, recipients: [idB] })
  assert.deepEqual((await a.shares.mine(site)).map(s => [s.folder, s.recipients]), [['notes', [idB]]])
  // the contribution passed the owner's rules, whose patterns name no share file
  await caughtUp(b, a, site)
  await caughtUp(c, a, site)

  assert.deepEqual(await b.shares.received(site), [{ from: idA, folder: 'notes', generation: 0, files: 2 }])
  assert.deepEqual((await b.shares.list(site, idA, 'notes')).map(f => [f.path, f.size]), [['deep/more.md', 4], ['plan.md', 8]])
  assert.equal(Buffer.from(await b.shares.get(site, idA, 'notes', 'plan.md')).toString(), 'the plan')
  assert.equal(Buffer.from(await b.shares.get(site, idA, 'notes', 'deep/more.md')).toString(), 'more')
  await rejects(b.shares.get(site, idA, 'notes', 'missing.md'), 'ERR_PRIVATE_NOT_FOUND')
  await rejects(b.shares.list(site, idA, 'diary'), 'ERR_SHARE_NOT_FOUND')

  // C holds the same share file, but its box is addressed to someone else: nothing opens
  assert.deepEqual(await c.shares.received(site), [])
  await rejects(c.shares.get(site, idA, 'notes', 'plan.md'), 'ERR_SHARE_NOT_FOUND')
  assert.deepEqual(await grantsFor(c, site, await shareFileOf(c, a, site, 'notes')), [undefined])
  assert.deepEqual(c.shares.refused(site), {}, 'a box for someone else is not a refusal, just not ours')

  // B keeps the generation-0 grant (as a recipient who kept what it fetched would)
  const oldGrant = (await grantsFor(b, site, await shareFileOf(b, a, site, 'notes')))[0] as Grant
  assert.equal(oldGrant.generation, 0)

  await a.shares.share(site, 'notes', idC)
  await caughtUp(c, a, site)
  assert.deepEqual(await c.shares.received(site), [{ from: idA, folder: 'notes', generation: 0, files: 2 }])

  // revoke B: the folder moves to generation 1 and only C's box is left
  const revoked = await a.shares.unshare(site, 'notes', idB)
  assert.deepEqual(revoked, { site, folder: 'notes', generation: 1, recipients: [idC] })
  await a.private.put(site, 'notes/after.md', text('written after B was revoked'))
  // the listing is written again for the new file (the store's 'published'), and carried to C
  await until('C to see the file written after the revoke', async () => {
    return (await c.shares.list(site, idA, 'notes').catch(() => [])).some(f => f.path === 'after.md')
  })
  assert.equal(Buffer.from(await c.shares.get(site, idA, 'notes', 'after.md')).toString(), 'written after B was revoked')
  assert.deepEqual(await c.shares.received(site), [{ from: idA, folder: 'notes', generation: 1, files: 3 }])
  await caughtUp(b, a, site)
  assert.deepEqual(await b.shares.received(site), [], 'B\'s share is gone')
  await rejects(b.shares.get(site, idA, 'notes', 'after.md'), 'ERR_SHARE_NOT_FOUND')
  // and the generation-0 key B kept opens neither the new listing nor any box in it
  const now = await shareFileOf(b, a, site, 'notes')
  assert.deepEqual(await grantsFor(b, site, now), [undefined])
  const decoded = decodeShareFile(now)
  assert.ok(decoded !== undefined)
  assert.throws(() => openListing(oldGrant, decoded.listing), (err: unknown) => isWeftError(err, 'ERR_PRIVATE_TAMPERED'))
  assert.throws(() => openListing({ ...oldGrant, generation: 1 }, decoded.listing), (err: unknown) => isWeftError(err, 'ERR_PRIVATE_TAMPERED'))
  // A's own store reads everything, under the new generation
  assert.equal(Buffer.from(await a.private.get(site, 'notes/plan.md')).toString(), 'the plan')
  assert.equal(a.private.folderFiles(site, 'notes').generation, 1)

  // revoking the last recipient removes the share file
  await a.shares.unshare(site, 'notes', idC)
  assert.deepEqual(await a.shares.mine(site), [])
  await caughtUp(c, a, site)
  assert.deepEqual(await c.shares.received(site), [])
  await rejects(a.shares.unshare(site, 'notes', idC), 'ERR_SHARE_NOT_FOUND')
})

test('shares: tampered, forged or moved share files are refused; bad arguments are refused before anything is written', async t => {
  const [a, b, c] = await createTestnet(t, 3)
  const site = await publishSite(t, a, [b, c])
  const [idA, idB] = [a, b].map(n => n.users.id(site))
  await a.private.put(site, 'notes/plan.md', text('the plan'))

  await rejects(a.shares.share(site, 'notes', 'not-a-user'), 'ERR_USAGE')
  await rejects(a.shares.share(site, 'notes', idA), 'ERR_USAGE')
  await rejects(a.shares.share(site, 'notes/plan.md', idB), 'ERR_USAGE')
  await rejects(a.shares.share(site, 'empty', idB), 'ERR_PRIVATE_NOT_FOUND')
  assert.equal(a.users.contribution(site, idA), undefined, 'nothing was written')

  await a.shares.share(site, 'notes', idB)
  await caughtUp(b, a, site)
  const good = await shareFileOf(b, a, site, 'notes')
  const decoded = decodeShareFile(good)
  assert.ok(decoded !== undefined)
  const path = sharePath(shareTag(a.userIdentity.privateKeys(site).indexKey, 'notes'))

  // C copies A's share file into its own contribution: B's box opens, but A did not put it there
  await c.users.write(site, path, good)
  await caughtUp(b, c, site)
  assert.deepEqual((await b.shares.received(site)).map(s => s.from), [idA])
  assert.equal(b.shares.refused(site).moved, 1)

  // C forges a grant in A's name (signed by C's key) for a folder key of its own
  const forged = await sealGrant({ site, sharer: idA, recipient: idB, folder: 'notes', generation: 0, tag: shareTag(a.userIdentity.privateKeys(site).indexKey, 'notes'), key: new Uint8Array(32) }, c.userIdentity.key(site))
  await c.users.write(site, path, encodeShareFile({ listing: decoded.listing, boxes: [forged], own: decoded.own }))
  await caughtUp(b, c, site)
  assert.deepEqual((await b.shares.received(site)).map(s => s.from), [idA])
  assert.equal(b.shares.refused(site)['bad-signature'], 1)

  // A's share file altered (a listing byte flipped; then a box byte): B refuses it
  const listing = Buffer.from(decoded.listing)
  listing[listing.byteLength - 1] ^= 1
  await a.users.write(site, path, encodeShareFile({ listing, boxes: decoded.boxes, own: decoded.own }))
  await caughtUp(b, a, site)
  await rejects(b.shares.list(site, idA, 'notes'), 'ERR_PRIVATE_TAMPERED')
  await rejects(b.shares.get(site, idA, 'notes', 'plan.md'), 'ERR_PRIVATE_TAMPERED')
  assert.equal(b.shares.refused(site).tampered, 1)
  const box = Buffer.from(decoded.boxes[0])
  box[box.byteLength - 1] ^= 1
  await a.users.write(site, path, encodeShareFile({ listing: decoded.listing, boxes: [box], own: decoded.own }))
  await caughtUp(b, a, site)
  assert.deepEqual(await b.shares.received(site), [], 'an altered box opens for no one')
  await rejects(b.shares.get(site, idA, 'notes', 'plan.md'), 'ERR_SHARE_NOT_FOUND')

  // a share file that is not one
  await a.users.write(site, path, text('{"v":2}'))
  await caughtUp(b, a, site)
  assert.deepEqual(await b.shares.received(site), [])
  assert.equal(b.shares.refused(site).malformed, 1)

  // A shares again: the file is replaced whole, and B reads
  await a.shares.share(site, 'notes', idB)
  await caughtUp(b, a, site)
  assert.equal(Buffer.from(await b.shares.get(site, idA, 'notes', 'plan.md')).toString(), 'the plan')
})

function request (gateway: GatewayHandler, url: string, init: { method?: string, headers?: Record<string, string> } = {}): Promise<Response> {
  const u = new URL(url)
  return gateway(new Request(url, { method: init.method ?? 'GET', headers: { host: u.host, ...init.headers } }))
}

test('shares on the site API: refused until the person allows the site; then shared, listed, read and revoked from the site\'s own page only', async t => {
  const [a, b] = await createTestnet(t, 2)
  const site = await publishSite(t, a, [b])
  const [idA, idB] = [a, b].map(n => n.users.id(site))
  const origin = `http://${site}.ipns.localhost:8080`
  const same = { origin, 'sec-fetch-site': 'same-origin', 'sec-fetch-mode': 'cors' }
  const [ga, gb] = [a, b].map(n => nodeGateway(n, { users: n.users }))
  await a.private.put(site, 'notes/plan.md', text('the plan'))

  let r = await request(ga, `${origin}/.weft/sharing/notes/${idB}`, { method: 'PUT', headers: same })
  assert.equal(r.status, 403)
  assert.equal((await r.json()).error, 'ERR_SITE_NOT_ALLOWED')
  r = await request(gb, `${origin}/.weft/shared/`, { headers: same })
  assert.equal(r.status, 403)
  assert.equal(a.users.contribution(site, idA), undefined, 'nothing was shared')

  a.users.allow(site, true)
  b.users.allow(site, true)
  r = await request(ga, `${origin}/.weft/sharing/notes/${idB}`, { method: 'PUT', headers: same })
  assert.equal(r.status, 200, await r.clone().text())
  assert.deepEqual(await r.json(), { folder: 'notes', generation: 0, recipients: [idB] })
  r = await request(ga, `${origin}/.weft/sharing/`, { headers: same })
  assert.deepEqual(await r.json(), { mine: [{ folder: 'notes', generation: 0, recipients: [idB] }] })
  // another site's page cannot share this one's folders (cross-site is refused before anything)
  r = await request(ga, `${origin}/.weft/sharing/notes/${idB}`, { method: 'DELETE', headers: { ...same, origin: 'http://k51other.ipns.localhost:8080', 'sec-fetch-site': 'same-site' } })
  assert.equal(r.status, 403)

  await caughtUp(b, a, site)
  r = await request(gb, `${origin}/.weft/shared/`, { headers: same })
  assert.deepEqual(await r.json(), { me: idB, shared: [{ from: idA, folder: 'notes', generation: 0, files: 1 }] })
  r = await request(gb, `${origin}/.weft/shared/${idA}/notes/`, { headers: same })
  assert.deepEqual((await r.json()).files.map((f: { path: string }) => f.path), ['plan.md'])
  r = await request(gb, `${origin}/.weft/shared/${idA}/notes/plan.md`, { headers: same })
  assert.equal(r.status, 200)
  assert.equal(r.headers.get('cache-control'), 'no-store')
  assert.equal(await r.text(), 'the plan')
  // the control API's operations (what the CLI calls) read the same share
  const ops = new Operations(b)
  const report = await ops.privateShared(site)
  assert.deepEqual({ me: report.me, shared: report.shared, mine: report.mine }, { me: idB, shared: [{ from: idA, folder: 'notes', generation: 0, files: 1 }], mine: [] })
  assert.deepEqual((await ops.privateSharedLs(site, idA, 'notes')).files.map(f => f.path), ['plan.md'])
  const chunks: Uint8Array[] = []
  for await (const chunk of ops.privateSharedGet(site, idA, 'notes', 'plan.md')) chunks.push(chunk)
  assert.equal(Buffer.concat(chunks).toString(), 'the plan')
  r = await request(gb, `${origin}/.weft/shared/${idA}/diary/x.md`, { headers: same })
  assert.equal(r.status, 404)
  assert.equal((await r.json()).error, 'ERR_SHARE_NOT_FOUND')

  r = await request(ga, `${origin}/.weft/sharing/notes/${idB}`, { method: 'DELETE', headers: same })
  assert.deepEqual(await r.json(), { folder: 'notes', generation: 1, recipients: [] })
  await caughtUp(b, a, site)
  r = await request(gb, `${origin}/.weft/shared/${idA}/notes/plan.md`, { headers: same })
  assert.equal(r.status, 404)
})

test('shares: the sharer\'s second device sees what the first shares, and a write there lists the new file for the recipient', async t => {
  const [a1, a2, b] = await createTestnet(t, 3)
  const master = randomBytes(32)
  for (const node of [a1, a2]) {
    mkdirSync(dirname(node.repo.paths.userKey), { recursive: true, mode: 0o700 })
    writeFileSync(node.repo.paths.userKey, master, { mode: 0o600 })
  }
  const site = await publishSite(t, a1, [a2, b])
  const idA = a1.users.id(site)
  assert.equal(a2.users.id(site), idA, 'one person, two devices')
  const idB = b.users.id(site)

  await a1.private.put(site, 'notes/one.md', text('from the first device'))
  await a1.shares.share(site, 'notes', idB)
  await caughtUp(a2, a1, site)
  // the index as sync hands it over (src/private/sync.ts), here directly
  await a2.private.applyRemote(site, a1.private.record(site) as Uint8Array, { fetch: async cid => { await a2.exchange.fetch(cid, { recursive: true, signal: AbortSignal.timeout(10_000) }) } })
  assert.deepEqual(a2.private.list(site).map(e => e.path), ['notes/one.md'])
  assert.deepEqual((await a2.shares.mine(site)).map(s => [s.folder, s.recipients]), [['notes', [idB]]])

  await a2.private.put(site, 'notes/two.md', text('from the second device'))
  await until('B to see the file written on the second device', async () => (await b.shares.list(site, idA, 'notes').catch(() => [])).some(f => f.path === 'two.md'))
  assert.equal(Buffer.from(await b.shares.get(site, idA, 'notes', 'two.md')).toString(), 'from the second device')
  assert.equal(Buffer.from(await b.shares.get(site, idA, 'notes', 'one.md')).toString(), 'from the first device')
})
