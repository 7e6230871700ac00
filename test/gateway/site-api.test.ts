import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Operations } from '../../src/api/index.ts'
import { importPath } from '../../src/content/index.ts'
import { createNode, type WeftNode } from '../../src/node/index.ts'
import { nodeGateway } from '../../src/daemon/index.ts'
import { nameOfKey, newSiteKey } from '../../src/sites/keys.ts'
import { isWeftError } from '../../src/errors.ts'
import type { GatewayHandler, GatewayInit } from '../../src/gateway/index.ts'
import { usersTopic, type Users } from '../../src/users/index.ts'
import { createTestnet } from '../helpers/testnet.ts'
import { tmpDir, tmpHome } from '../helpers/home.ts'
import { until } from '../helpers/until.ts'

const FORUM = fileURLToPath(new URL('../../examples/forum', import.meta.url))
const PORT = '8080'
const UI = `http://127.0.0.1:${PORT}`
/** Site B's rules: one file, `x`, and no database. */
const PLAIN_RULES = { files: ['x'], maxBytes: 1024, maxFiles: 1 }

interface Site { name: string, origin: string }

interface Setup {
  node: WeftNode
  users: Users
  gateway: GatewayHandler
  /** The forum (site A) and a plain site taking one file per user (B), own sites of the node, each with its origin. */
  a: Site
  b: Site
  /** This node's person's id on the forum (each site gets its own). */
  me: string
}

/** Publishes the forum (A) and a plain site (B) on `node`. */
async function publishSites (t: TestContext, node: WeftNode): Promise<{ a: Site, b: Site }> {
  const ops = new Operations(node)
  const sites: Site[] = []
  const plain = await tmpDir(t)
  await writeFile(join(plain, 'index.html'), '<!doctype html><p>site B</p>')
  await writeFile(join(plain, 'weft.json'), JSON.stringify({ title: 'site B', users: PLAIN_RULES }))
  for (const [label, dir] of [['forum', FORUM], ['plain', plain]]) {
    await node.sites.create(label)
    const report = await ops.publish(dir, { site: label })
    sites.push({ name: report.name, origin: `http://${report.name}.ipns.localhost:${PORT}` })
  }
  return { a: sites[0], b: sites[1] }
}

/** One real node, offline (its own sites need no peers), with the gateway over it and its users service. */
async function setup (t: TestContext, init: GatewayInit = {}): Promise<Setup> {
  const node = await createNode({ home: await tmpHome(t) })
  t.after(async () => { await node.stop() })
  const gateway = nodeGateway(node, { users: node.users, init })
  const { a, b } = await publishSites(t, node)
  return { node, users: node.users, gateway, a, b, me: node.users.id(a.name) }
}

/** What the node signed on a site: each accepted contribution's user and file paths. */
function written (users: Users, site: string): Array<[string, string[]]> {
  return users.contributions(site).map(c => [c.user, c.files.map(f => f.path)])
}

function request (gateway: GatewayHandler, url: string, init: { method?: string, headers?: Record<string, string>, body?: string | Uint8Array, signal?: AbortSignal } = {}): Promise<Response> {
  const u = new URL(url)
  return gateway(new Request(url, { method: init.method ?? 'GET', headers: { host: u.host, ...init.headers }, body: init.body as BodyInit | undefined, signal: init.signal }))
}

/** What a browser sends from a page on `origin` to the same origin. */
function sameOrigin (origin: string): Record<string, string> {
  return { origin, 'sec-fetch-site': 'same-origin', 'sec-fetch-mode': 'cors' }
}

function noCors (r: Response): void {
  for (const [k] of r.headers) assert.ok(!k.startsWith('access-control-'), `no CORS header on the site API, got ${k}`)
}

test('site API: /.weft/site and /.weft/user answer the site\'s own origin with its rules, schema and the user\'s id', async t => {
  const { gateway, users, a, b, me } = await setup(t)
  // a person's id differs per site, so two sites cannot tell one person uses both
  assert.notEqual(users.id(b.name), me)
  let r = await request(gateway, `${a.origin}/.weft/site`, { headers: { 'sec-fetch-site': 'same-origin' } })
  assert.equal(r.status, 200)
  assert.equal(r.headers.get('cache-control'), 'no-store')
  const site = await r.json()
  assert.equal(site.name, a.name)
  assert.equal(site.address, `/ipns/${a.name}`)
  assert.equal(site.sequence, '0')
  assert.deepEqual(site.users.files, ['posts.json'])
  assert.deepEqual(site.db.tables.posts.indexes, [['date'], ['reply_to', 'date']])
  r = await request(gateway, `${a.origin}/.weft/user`)
  assert.deepEqual(await r.json(), { id: me, allowed: false, canWrite: false, allow: `${UI}/allow?site=${a.name}` })
  r = await request(gateway, `${a.origin}/.weft/client.js`)
  assert.equal(r.status, 200)
  assert.match(r.headers.get('content-type') ?? '', /^text\/javascript/)
  assert.match(await r.text(), /export async function query/)
  r = await request(gateway, `${a.origin}/.weft/nothing-here`)
  assert.equal(r.status, 404)
  assert.equal((await r.json()).error, 'ERR_DAG_PATH_NOT_FOUND')
})

test('site API: a write is refused until the person allows the site on the confirmation page; then it is signed and served under /users/', async t => {
  const { gateway, users, a, me } = await setup(t)
  const posts = JSON.stringify({ posts: [{ id: 'p1', title: 'hello', body: 'first', date: 1, reply_to: null }] })
  let r = await request(gateway, `${a.origin}/.weft/user/files/posts.json`, { method: 'PUT', headers: sameOrigin(a.origin), body: posts })
  assert.equal(r.status, 403)
  assert.deepEqual(await r.json(), { error: 'ERR_SITE_NOT_ALLOWED', message: 'this site may not write as you until you allow it once on the confirmation page', allow: `${UI}/allow?site=${a.name}` })
  assert.deepEqual(users.info(a.name).contributions, [], 'nothing was signed')

  // the confirmation page: unframeable, no script
  r = await request(gateway, `${UI}/allow?site=${a.name}`)
  assert.equal(r.status, 200)
  assert.equal(r.headers.get('x-frame-options'), 'DENY')
  const csp = r.headers.get('content-security-policy') ?? ''
  assert.match(csp, /frame-ancestors 'none'/)
  assert.match(csp, /default-src 'none'/)
  assert.match(csp, /form-action 'self'/)
  assert.doesNotMatch(csp, /script-src/)
  const html = await r.text()
  assert.ok(html.includes(me), 'the page names the id the site will write as')
  const nonce = /name="nonce" value="([^"]+)"/.exec(html)?.[1] as string
  assert.ok(nonce !== undefined)
  const answer = (headers: Record<string, string>, form: Record<string, string>) => request(gateway, `${UI}/allow`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(form).toString() })

  // without the nonce, from the site's origin, or from nowhere: refused, and the site stays not allowed
  r = await answer({ origin: UI, 'sec-fetch-site': 'same-origin' }, { site: a.name, action: 'allow' })
  assert.equal(r.status, 403)
  assert.match(await r.text(), /ERR_CONSENT_INVALID/)
  r = await answer({ origin: a.origin, 'sec-fetch-site': 'same-site' }, { site: a.name, action: 'allow', nonce, confirm: 'yes' })
  assert.equal(r.status, 403)
  r = await answer({}, { site: a.name, action: 'allow', nonce, confirm: 'yes' })
  assert.equal(r.status, 403)
  assert.equal(users.allowed(a.name), false)
  // the page asks for a box to be ticked (the browser will not submit without it); an answer without it is refused, and keeps the nonce
  assert.match(html, /<input type="checkbox" name="confirm" value="yes" id="confirm" required>/)
  assert.match(html, /@keyframes weft-arm\{from,to\{pointer-events:none/, 'the form takes no click for its first second')
  r = await answer({ origin: UI, 'sec-fetch-site': 'same-origin' }, { site: a.name, action: 'allow', nonce })
  assert.equal(r.status, 403)
  assert.match(await r.text(), /tick/)
  assert.equal(users.allowed(a.name), false)
  // a refused answer from the site's origin does not burn the person's nonce; the page's own answer counts once
  r = await answer({ origin: UI, 'sec-fetch-site': 'same-origin' }, { site: a.name, action: 'allow', nonce, confirm: 'yes' })
  assert.equal(r.status, 200, await r.clone().text())
  assert.equal(users.allowed(a.name), true)
  users.allow(a.name, false)
  r = await answer({ origin: UI, 'sec-fetch-site': 'same-origin' }, { site: a.name, action: 'allow', nonce, confirm: 'yes' })
  assert.equal(r.status, 403, 'a nonce counts once')
  assert.equal(users.allowed(a.name), false)
  users.allow(a.name, true)

  // allowed: the write is signed, and served on the site's origin
  r = await request(gateway, `${a.origin}/.weft/user/files/posts.json`, { method: 'PUT', headers: sameOrigin(a.origin), body: posts })
  assert.equal(r.status, 200, await r.clone().text())
  const answer1 = await r.json()
  assert.equal(answer1.user, me)
  assert.equal(answer1.sequence, '0')
  assert.deepEqual(answer1.files, [{ path: 'posts.json', size: Buffer.byteLength(posts) }])
  assert.deepEqual(written(users, a.name), [[me, ['posts.json']]])
  r = await request(gateway, `${a.origin}/users/`)
  assert.equal(r.status, 200)
  const listing = await r.json()
  assert.equal(listing.site, a.name)
  assert.deepEqual(listing.users.map((u: { user: string }) => u.user), [me])
  assert.deepEqual(listing.users[0].files, [{ path: 'posts.json', size: Buffer.byteLength(posts) }])
  r = await request(gateway, `${a.origin}/users/${me}/posts.json`)
  assert.equal(r.status, 200)
  assert.equal(await r.text(), posts)
  assert.match(r.headers.get('content-type') ?? '', /^application\/json/)
  assert.equal(r.headers.get('content-security-policy'), 'sandbox', 'a contributed file runs nothing as the site')
  const etag = r.headers.get('etag') as string
  r = await request(gateway, `${a.origin}/users/${me}/posts.json`, { headers: { 'if-none-match': etag } })
  assert.equal(r.status, 304)
  r = await request(gateway, `${a.origin}/users/${me}/posts.json`, { headers: { range: 'bytes=2-6' } })
  assert.equal(r.status, 206)
  assert.equal(await r.text(), posts.slice(2, 7))
  // not accepted: 404
  r = await request(gateway, `${a.origin}/users/${me}/other.json`)
  assert.equal(r.status, 404)
  r = await request(gateway, `${a.origin}/users/${nameOfKey(await newSiteKey())}/posts.json`)
  assert.equal(r.status, 404)

  // the database answers SQL, validated
  r = await request(gateway, `${a.origin}/.weft/db/query`, { method: 'POST', headers: sameOrigin(a.origin), body: JSON.stringify({ sql: 'SELECT id, title, user FROM posts WHERE id = ?', params: ['p1'] }) })
  assert.equal(r.status, 200)
  assert.deepEqual(await r.json(), { rows: [{ id: 'p1', title: 'hello', user: me }] })
  for (const bad of ['not json', JSON.stringify({ sql: 1 }), JSON.stringify({ sql: 'SELECT 1', params: [{}] }), JSON.stringify({ sql: 'SELECT 1', extra: true })]) {
    r = await request(gateway, `${a.origin}/.weft/db/query`, { method: 'POST', headers: sameOrigin(a.origin), body: bad })
    assert.equal(r.status, 400, bad)
    assert.equal((await r.json()).error, 'ERR_USAGE')
  }

  // DELETE removes the file
  r = await request(gateway, `${a.origin}/.weft/user/files/posts.json`, { method: 'DELETE', headers: sameOrigin(a.origin) })
  assert.equal(r.status, 200)
  const removed = await r.json()
  assert.deepEqual(removed.files, [])
  assert.equal(removed.sequence, '1', 'the removal is a new signed version')
  r = await request(gateway, `${a.origin}/users/${me}/posts.json`)
  assert.equal(r.status, 404)
  r = await request(gateway, `${a.origin}/.weft/db/query`, { method: 'POST', headers: sameOrigin(a.origin), body: JSON.stringify({ sql: 'SELECT count(*) AS n FROM posts' }) })
  assert.deepEqual(await r.json(), { rows: [{ n: 0 }] }, 'its rows left the database')
})

test('consent: pages loaded for other sites (say as images, 300 of them) or for the same site do not push out the nonce of the page the person has open; a nonce counts only for its own site', async t => {
  const { gateway, users, a, b } = await setup(t)
  const nonceOf = async (site: string): Promise<string> => {
    const r = await request(gateway, `${UI}/allow?site=${site}`, { headers: { 'sec-fetch-site': 'cross-site', 'sec-fetch-dest': 'image' } })
    return /name="nonce" value="([^"]+)"/.exec(await r.text())?.[1] as string
  }
  const open = await nonceOf(a.name)
  for (let i = 0; i < 300; i++) await nonceOf(i % 2 === 0 ? b.name : nameOfKey(await newSiteKey()))
  for (let i = 0; i < 20; i++) await nonceOf(a.name)
  const answer = (form: Record<string, string>) => request(gateway, `${UI}/allow`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', origin: UI, 'sec-fetch-site': 'same-origin' }, body: new URLSearchParams({ action: 'allow', confirm: 'yes', ...form }).toString() })
  // B's nonce says nothing for A, nor a forged or altered one
  let r = await answer({ site: a.name, nonce: await nonceOf(b.name) })
  assert.equal(r.status, 403)
  const [expires, salt, tag] = open.split('.')
  for (const forged of [`${Number(expires) + 60_000}.${salt}.${tag}`, `${expires}.x${salt}.${tag}`, `${expires}.${salt}`, 'x', '']) {
    r = await answer({ site: a.name, nonce: forged })
    assert.equal(r.status, 403, forged)
  }
  assert.equal(users.allowed(a.name), false)
  r = await answer({ site: a.name, nonce: open })
  assert.equal(r.status, 200, await r.clone().text())
  assert.equal(users.allowed(a.name), true)
})

test('consent: a page\'s nonce stops counting when it expires', async t => {
  const { gateway, users, a } = await setup(t, { consent: { nonceTtl: 50 } })
  const r0 = await request(gateway, `${UI}/allow?site=${a.name}`)
  const nonce = /name="nonce" value="([^"]+)"/.exec(await r0.text())?.[1] as string
  const expires = Number(nonce.split('.')[0])
  await until('the nonce to expire', () => Date.now() > expires)
  const r = await request(gateway, `${UI}/allow`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', origin: UI, 'sec-fetch-site': 'same-origin' }, body: new URLSearchParams({ site: a.name, action: 'allow', confirm: 'yes', nonce }).toString() })
  assert.equal(r.status, 403)
  assert.equal(users.allowed(a.name), false)
})

test('site API: site A\'s page, the UI origin and cross-site requests cannot use site B\'s API; no CORS, no preflight', async t => {
  const { gateway, users, a, b } = await setup(t)
  users.allow(a.name, true)
  users.allow(b.name, true)
  const put = (headers: Record<string, string>) => request(gateway, `${b.origin}/.weft/user/files/x`, { method: 'PUT', headers, body: 'x' })

  // site A's script calling B's API: same-site by the browser's rules (both *.localhost), and A's Origin
  let r = await put({ origin: a.origin, 'sec-fetch-site': 'same-site', 'sec-fetch-mode': 'cors' })
  assert.equal(r.status, 403)
  assert.equal((await r.json()).error, 'ERR_SITE_API_FORBIDDEN')
  noCors(r)
  // even with the fetch metadata stripped (an older browser), A's Origin is not B's
  r = await put({ origin: a.origin })
  assert.equal(r.status, 403)
  // the web UI's origin is not the site either
  r = await put({ origin: UI, 'sec-fetch-site': 'same-site' })
  assert.equal(r.status, 403)
  r = await put({ origin: UI })
  assert.equal(r.status, 403)
  // no Origin at all (a form from nowhere, a tool): a write needs the site's own
  r = await put({})
  assert.equal(r.status, 403)
  assert.deepEqual(users.info(b.name).contributions, [], 'nothing was written on B')

  // reads across sites are refused too, and a preflight gets no CORS answer
  r = await request(gateway, `${b.origin}/.weft/user`, { headers: { origin: a.origin, 'sec-fetch-site': 'same-site' } })
  assert.equal(r.status, 403)
  noCors(r)
  r = await request(gateway, `${b.origin}/.weft/events`, { headers: { 'sec-fetch-site': 'cross-site' } })
  assert.equal(r.status, 403)
  r = await request(gateway, `${b.origin}/.weft/db/query`, { method: 'OPTIONS', headers: { origin: a.origin, 'access-control-request-method': 'POST' } })
  assert.equal(r.status, 403)
  noCors(r)
  r = await request(gateway, `${b.origin}/.weft/db/query`, { method: 'POST', headers: { origin: a.origin }, body: JSON.stringify({ sql: 'SELECT 1' }) })
  assert.equal(r.status, 403)

  // B's own page may
  r = await put(sameOrigin(b.origin))
  assert.equal(r.status, 200)
  noCors(r)
  assert.deepEqual(written(users, b.name), [[users.id(b.name), ['x']]])

  // an /ipfs/ origin has no site API; the path gateway does not serve it either
  r = await request(gateway, `http://bafkqaaa.ipfs.localhost:${PORT}/.weft/user`)
  assert.equal(r.status, 404)
  r = await request(gateway, `${UI}/ipns/${b.name}/.weft/user`)
  assert.equal(r.status, 404)
  // a path with an encoded slash (to climb out of the user's folder) is refused before anything is written
  r = await request(gateway, `${b.origin}/.weft/user/files/..%2Fx`, { method: 'PUT', headers: sameOrigin(b.origin), body: 'x' })
  assert.equal(r.status, 400)
  assert.equal(users.contribution(b.name, users.id(b.name))?.sequence, 0n, 'nothing more was signed')
})

test('site API: /.weft/events streams this site\'s contributions, removals and versions only, with a bounded number of streams', async t => {
  // another person is needed: a second node that follows both sites and writes on them
  const [node, other] = await createTestnet(t, 2)
  const users = node.users
  const gateway = nodeGateway(node, { users, init: { siteApi: { maxStreams: 2, heartbeatMs: 50 } } })
  const { a, b } = await publishSites(t, node)
  for (const site of [a, b]) {
    await other.sites.follow(site.name)
    await until('the other node to hold the site', async () => (await other.sites.following()).some(f => f.name === site.name && f.fetched))
    await until('each node on the other\'s users topic', () => [node, other].every(n => n.libp2p.services.pubsub.getSubscribers(usersTopic(site.name)).length === 1))
  }
  const controller = new AbortController()
  t.after(() => { controller.abort() })
  const r = await request(gateway, `${a.origin}/.weft/events`, { headers: { 'sec-fetch-site': 'same-origin' }, signal: controller.signal })
  assert.equal(r.status, 200)
  assert.match(r.headers.get('content-type') ?? '', /^text\/event-stream/)
  let text = ''
  const reader = (r.body as ReadableStream<Uint8Array>).getReader()
  const reading = (async () => {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) return
      text += Buffer.from(value).toString('utf8')
    }
  })()
  const events = (): Array<{ type: string, data: Record<string, string> }> => [...text.matchAll(/event: (\w+)\ndata: (.*)\n/g)].map(m => ({ type: m[1], data: JSON.parse(m[2]) }))

  // the other person writes on B, then on A; then this node's own person writes on A
  const them = other.users.id(a.name)
  await other.users.write(b.name, 'x', Buffer.from('x'))
  await until('their contribution on B to arrive', () => users.contribution(b.name, other.users.id(b.name)) !== undefined)
  await other.users.write(a.name, 'posts.json', Buffer.from(JSON.stringify({ posts: [{ id: 't1', title: 'theirs', body: '', date: 1, reply_to: null }] })))
  await until('their contribution on A', () => events().length === 1)
  await users.write(a.name, 'posts.json', Buffer.from(JSON.stringify({ posts: [{ id: 'm1', title: 'mine', body: '', date: 2, reply_to: null }] })))
  await until('this person\'s contribution on A', () => events().length === 2)
  await until('a heartbeat', () => text.includes(': heartbeat'))

  // the owner bans the other person: a new version of the forum, whose rules every contribution is checked against again
  const dir = await tmpDir(t)
  await cp(FORUM, dir, { recursive: true })
  const weftJson = JSON.parse(await readFile(join(dir, 'weft.json'), 'utf8')) as { users: { banned: string[] } }
  weftJson.users.banned = [them]
  await writeFile(join(dir, 'weft.json'), JSON.stringify(weftJson))
  const ban = await new Operations(node).publish(dir, { site: 'forum' })
  await until('the removal and version events', () => text.includes('event: removed') && text.includes('event: version'))
  // every contribution checked again, and the stream past that (a heartbeat after it)
  await users.settled()
  const seen = text.length
  await until('a heartbeat after the checks', () => text.slice(seen).includes(': heartbeat'))

  const all = events()
  assert.ok(all.every(e => e.data.site === a.name), 'site B\'s contribution is not on A\'s stream')
  assert.deepEqual(all.slice(0, 2).map(e => [e.type, e.data.user]), [['contribution', them], ['contribution', users.id(a.name)]])
  // this person's unchanged contribution, checked again under the new rules, is no news: only the removal and the version are
  assert.deepEqual(all.slice(2).map(e => e.type).sort(), ['removed', 'version'])
  const removed = all.find(e => e.type === 'removed')
  assert.deepEqual([removed?.data.user, removed?.data.reason], [them, 'banned'])
  assert.match(text, new RegExp(`event: version\ndata: .*"sequence":"${ban.sequence}","root":"${ban.root}"`))
  assert.deepEqual((await users.query(a.name, 'SELECT title FROM posts')).map(p => p.title), ['mine'], 'their rows left the database')

  // two streams at most: the third is refused, and a closed one frees its place
  const second = new AbortController()
  const r2 = await request(gateway, `${a.origin}/.weft/events`, { signal: second.signal })
  assert.equal(r2.status, 200)
  const r3 = await request(gateway, `${a.origin}/.weft/events`)
  assert.equal(r3.status, 429)
  assert.equal((await r3.json()).error, 'ERR_SITE_API_BUSY')
  second.abort()
  await r2.body?.cancel().catch(() => {})
  const r4 = await request(gateway, `${a.origin}/.weft/events`)
  assert.equal(r4.status, 200)
  await r4.body?.cancel()
  controller.abort()
  await reading.catch(() => {})
})

test('a site cannot publish users/ or .weft/, and a users/ folder in its content is never served', async t => {
  const { node, gateway, a } = await setup(t)
  const ops = new Operations(node)
  const dir = await tmpDir(t)
  await mkdir(join(dir, 'users', 'k51fake'), { recursive: true })
  await writeFile(join(dir, 'users', 'k51fake', 'posts.json'), '{"posts":[{"title":"forged"}]}')
  await writeFile(join(dir, 'index.html'), 'site')
  await assert.rejects(ops.publish(dir, { site: 'forum' }), (err: unknown) => isWeftError(err, 'ERR_SITE_RESERVED_PATH'))
  const dot = await tmpDir(t)
  await mkdir(join(dot, '.weft'))
  await writeFile(join(dot, '.weft', 'user'), '{"id":"forged"}')
  await assert.rejects(ops.publish(dot, { site: 'forum', hidden: true }), (err: unknown) => isWeftError(err, 'ERR_SITE_RESERVED_PATH'))

  // signed anyway, bypassing publish's check: the node's routes still answer, not the folder
  const { root } = await importPath(node.blocks, dir, {})
  await node.sites.publish('forum', root.cid)
  let r = await request(gateway, `${a.origin}/users/k51fake/posts.json`)
  assert.equal(r.status, 404)
  r = await request(gateway, `${a.origin}/users/`)
  assert.deepEqual((await r.json()).users, [])
})

test('a name that points at a site has the site\'s public /users/ on its origin but no site API (403 pointing at the key origin); a name that points at no site serves its own users/ and .weft/', async t => {
  const { node, gateway, users, a, me } = await setup(t)
  users.allow(a.name, true)
  await request(gateway, `${a.origin}/.weft/user/files/posts.json`, { method: 'PUT', headers: sameOrigin(a.origin), body: '{"posts":[]}' })
  assert.deepEqual(written(users, a.name), [[me, ['posts.json']]])

  // a name whose DNSLink (TTL 0) first serves the attacker's page, then points at the site the person allowed
  const page = await tmpDir(t)
  await writeFile(join(page, 'index.html'), '<!doctype html><script type="module">fetch("/.weft/user")</script>')
  const { root: attackerRoot } = await importPath(node.blocks, page, {})
  node.petnames.set('evil', attackerRoot.cid.toString())
  const origin = `http://evil.ipns.localhost:${PORT}`
  let r = await request(gateway, `${origin}/`)
  assert.equal(r.status, 200)
  assert.match(await r.text(), /fetch\("\/\.weft\/user"\)/)
  node.petnames.set('evil', a.name)
  r = await request(gateway, `${origin}/users/`)
  assert.equal(r.status, 200, 'the site\'s public contributions stay readable on the name')
  assert.equal((await r.json()).site, a.name)
  for (const [method, path, body] of [['GET', 'user', undefined], ['GET', 'site', undefined], ['GET', 'events', undefined], ['PUT', 'user/files/posts.json', '{"posts":[{"id":"forged"}]}'], ['DELETE', 'user/files/posts.json', undefined], ['POST', 'db/query', '{"sql":"SELECT user FROM posts"}']] as const) {
    r = await request(gateway, `${origin}/.weft/${path}`, { method, headers: sameOrigin(origin), body })
    assert.equal(r.status, 403, `${method} /.weft/${path}`)
    const text = await r.text()
    assert.equal(JSON.parse(text).error, 'ERR_SITE_API_FORBIDDEN')
    assert.ok(text.includes(a.origin), 'the refusal points at the site\'s key origin')
    assert.ok(!text.includes(me), 'the person\'s id on the site is not revealed')
  }
  assert.deepEqual(written(users, a.name), [[me, ['posts.json']]], 'nothing was written as the person')
  assert.equal(users.contribution(a.name, me)?.sequence, 0n)
  // client.js loads, so a page on the name can show the API's refusal
  r = await request(gateway, `${origin}/.weft/client.js`)
  assert.equal(r.status, 200)
  // on the key origin everything still answers
  r = await request(gateway, `${a.origin}/.weft/user`, { headers: sameOrigin(a.origin) })
  assert.equal((await r.json()).id, me)

  // a folder (an /ipfs/ site, a DNSLink to one) is no weft site: its own users/ and .weft/ are its content
  const dir = await tmpDir(t)
  await mkdir(join(dir, 'users'))
  await mkdir(join(dir, '.weft'))
  await writeFile(join(dir, 'users', 'list.txt'), 'own users')
  await writeFile(join(dir, '.weft', 'user'), 'own dot weft')
  await writeFile(join(dir, 'x.txt'), 'x')
  const { root } = await importPath(node.blocks, dir, { hidden: true })
  node.petnames.set('plainfolder', root.cid.toString())
  for (const base of [`http://plainfolder.ipns.localhost:${PORT}`, `http://${root.cid.toString()}.ipfs.localhost:${PORT}`]) {
    r = await request(gateway, `${base}/.weft/user`)
    assert.equal(r.status, 200, base)
    assert.equal(await r.text(), 'own dot weft')
    r = await request(gateway, `${base}/users/list.txt`)
    assert.equal(r.status, 200, base)
    assert.equal(await r.text(), 'own users')
    r = await request(gateway, `${base}/x.txt`)
    assert.equal(await r.text(), 'x')
    r = await request(gateway, `${base}/.weft/user/files/posts.json`, { method: 'PUT', headers: sameOrigin(base), body: '{}' })
    assert.equal(r.status, 405, 'content takes no writes')
  }
})
