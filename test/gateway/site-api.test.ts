import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Operations } from '../../src/api/index.ts'
import { importPath } from '../../src/content/index.ts'
import { createNode, type WeftNode } from '../../src/node/index.ts'
import { nodeGateway } from '../../src/node/daemon.ts'
import { nameOfKey, newSiteKey } from '../../src/sites/keys.ts'
import { isWeftError } from '../../src/errors.ts'
import type { GatewayHandler, GatewayInit } from '../../src/gateway/index.ts'
import { StandInUsers } from '../helpers/users-stand-in.ts'
import { tmpDir, tmpHome } from '../helpers/home.ts'
import { until } from '../helpers/until.ts'

const FORUM = fileURLToPath(new URL('../../examples/forum', import.meta.url))
const PORT = '8080'
const UI = `http://127.0.0.1:${PORT}`

interface Setup {
  node: WeftNode
  users: StandInUsers
  gateway: GatewayHandler
  /** The forum (site A) and a plain site (B), own sites of the node, each with its origin. */
  a: { name: string, origin: string }
  b: { name: string, origin: string }
  me: string
}

async function setup (t: TestContext, init: GatewayInit = {}): Promise<Setup> {
  const node = await createNode({ home: await tmpHome(t) })
  t.after(async () => { await node.stop() })
  const me = nameOfKey(await newSiteKey())
  const users = new StandInUsers({ blocks: node.blocks, dir: await tmpDir(t), me })
  const gateway = nodeGateway(node, { users, init })
  const ops = new Operations(node)
  const sites: Array<{ name: string, origin: string }> = []
  const plain = await tmpDir(t)
  await writeFile(join(plain, 'index.html'), '<!doctype html><p>site B</p>')
  for (const [label, dir] of [['forum', FORUM], ['plain', plain]]) {
    await node.sites.create(label)
    const report = await ops.publish(dir, { site: label })
    sites.push({ name: report.name, origin: `http://${report.name}.ipns.localhost:${PORT}` })
  }
  return { node, users, gateway, a: sites[0], b: sites[1], me }
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
  const { gateway, a, me } = await setup(t)
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
  assert.equal(users.writes.length, 0, 'nothing was signed')

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
  r = await answer({ origin: a.origin, 'sec-fetch-site': 'same-site' }, { site: a.name, action: 'allow', nonce })
  assert.equal(r.status, 403)
  r = await answer({}, { site: a.name, action: 'allow', nonce })
  assert.equal(r.status, 403)
  assert.equal(users.allowed(a.name), false)
  // a refused answer from the site's origin does not burn the person's nonce; the page's own answer counts once
  r = await answer({ origin: UI, 'sec-fetch-site': 'same-origin' }, { site: a.name, action: 'allow', nonce })
  assert.equal(r.status, 200, await r.clone().text())
  assert.equal(users.allowed(a.name), true)
  users.allow(a.name, false)
  r = await answer({ origin: UI, 'sec-fetch-site': 'same-origin' }, { site: a.name, action: 'allow', nonce })
  assert.equal(r.status, 403, 'a nonce counts once')
  assert.equal(users.allowed(a.name), false)
  users.allow(a.name, true)

  // allowed: the write is signed, and served on the site's origin
  r = await request(gateway, `${a.origin}/.weft/user/files/posts.json`, { method: 'PUT', headers: sameOrigin(a.origin), body: posts })
  assert.equal(r.status, 200, await r.clone().text())
  const written = await r.json()
  assert.equal(written.user, me)
  assert.deepEqual(written.files, [{ path: 'posts.json', size: Buffer.byteLength(posts) }])
  assert.deepEqual(users.writes, [{ site: a.name, path: 'posts.json', removed: false }])
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
  assert.deepEqual((await r.json()).files, [])
  r = await request(gateway, `${a.origin}/users/${me}/posts.json`)
  assert.equal(r.status, 404)
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
  assert.equal(users.writes.length, 0, 'nothing was written on B')

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
  assert.deepEqual(users.writes, [{ site: b.name, path: 'x', removed: false }])

  // an /ipfs/ origin has no site API; the path gateway does not serve it either
  r = await request(gateway, `http://bafkqaaa.ipfs.localhost:${PORT}/.weft/user`)
  assert.equal(r.status, 404)
  r = await request(gateway, `${UI}/ipns/${b.name}/.weft/user`)
  assert.equal(r.status, 404)
  // a path with an encoded slash (to climb out of the user's folder) is refused before anything is written
  r = await request(gateway, `${b.origin}/.weft/user/files/..%2Fx`, { method: 'PUT', headers: sameOrigin(b.origin), body: 'x' })
  assert.equal(r.status, 400)
  assert.equal(users.writes.length, 1)
})

test('site API: /.weft/events streams this site\'s contributions, removals and versions only, with a bounded number of streams', async t => {
  const { gateway, users, node, a, b } = await setup(t, { siteApi: { maxStreams: 2, heartbeatMs: 50 } })
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
  const other = nameOfKey(await newSiteKey())
  await users.put(b.name, other, 'posts.json', Buffer.from('{"posts":[]}'))
  await users.put(a.name, other, 'posts.json', Buffer.from('{"posts":[]}'))
  users.drop(a.name, other, 'banned')
  await until('the contribution and removal events', () => text.includes('event: removed'))
  await until('a heartbeat', () => text.includes(': heartbeat'))
  const events = [...text.matchAll(/event: (\w+)\ndata: (.*)\n/g)].map(m => ({ type: m[1], data: JSON.parse(m[2]) }))
  assert.deepEqual(events.map(e => [e.type, e.data.site]), [['contribution', a.name], ['removed', a.name]], 'site B\'s contribution is not on A\'s stream')
  assert.equal(events[1].data.reason, 'banned')

  // a new version of the site: its own publish
  const dir = await tmpDir(t)
  await writeFile(join(dir, 'index.html'), 'v2')
  await mkdir(join(dir, 'more'))
  const { root } = await importPath(node.blocks, dir, {})
  await node.sites.publish('forum', root.cid)
  await until('the version event', () => text.includes('event: version'))
  assert.match(text, new RegExp(`event: version\ndata: .*"sequence":"1","root":"${root.cid.toString()}"`))

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

test('a name that points at a site has the site\'s users and API on its own origin; a name that points at no site has neither', async t => {
  const { node, gateway, users, a, me } = await setup(t)
  node.petnames.set('forum', a.name)
  const origin = `http://forum.ipns.localhost:${PORT}`
  users.allow(a.name, true)
  let r = await request(gateway, `${origin}/.weft/user/files/posts.json`, { method: 'PUT', headers: sameOrigin(origin), body: '{"posts":[]}' })
  assert.equal(r.status, 200, await r.clone().text())
  assert.deepEqual(users.writes, [{ site: a.name, path: 'posts.json', removed: false }], 'written for the site the name points at')
  r = await request(gateway, `${origin}/users/`)
  assert.deepEqual((await r.json()).users.map((u: { user: string }) => u.user), [me])
  r = await request(gateway, `${origin}/.weft/site`)
  assert.equal((await r.json()).name, a.name)
  // the key's origin is another origin: the name's page cannot write there
  r = await request(gateway, `${a.origin}/.weft/user/files/posts.json`, { method: 'PUT', headers: { origin, 'sec-fetch-site': 'same-site' }, body: '{}' })
  assert.equal(r.status, 403)

  const dir = await tmpDir(t)
  await writeFile(join(dir, 'x.txt'), 'x')
  const { root } = await importPath(node.blocks, dir, {})
  node.petnames.set('plainfolder', root.cid.toString())
  r = await request(gateway, `http://plainfolder.ipns.localhost:${PORT}/.weft/user`)
  assert.equal(r.status, 404)
  r = await request(gateway, `http://plainfolder.ipns.localhost:${PORT}/x.txt`)
  assert.equal(r.status, 200)
})
