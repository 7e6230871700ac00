import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { createNode, type WeftNode } from '../../src/node/index.ts'
import { nodeGateway } from '../../src/daemon/index.ts'
import type { GatewayHandler } from '../../src/gateway/index.ts'
import { tmpHome } from '../helpers/home.ts'

const PORT = '8080'
const UI = `http://127.0.0.1:${PORT}`

interface Site { name: string, origin: string }

/** One real offline node with the gateway over it, and two of its sites (unpublished: the private routes need only the origin). */
async function setup (t: TestContext): Promise<{ node: WeftNode, gateway: GatewayHandler, a: Site, b: Site }> {
  const node = await createNode({ home: await tmpHome(t) })
  t.after(async () => { await node.stop() })
  const gateway = nodeGateway(node, { users: node.users })
  const site = async (label: string): Promise<Site> => {
    const { name } = await node.sites.create(label)
    return { name, origin: `http://${name}.ipns.localhost:${PORT}` }
  }
  return { node, gateway, a: await site('a'), b: await site('b') }
}

function request (gateway: GatewayHandler, url: string, init: { method?: string, headers?: Record<string, string>, body?: string | Uint8Array } = {}): Promise<Response> {
  const u = new URL(url)
  return gateway(new Request(url, { method: init.method ?? 'GET', headers: { host: u.host, ...init.headers }, body: init.body as BodyInit | undefined }))
}

/** What a browser sends from a page on `origin` to the same origin. */
function sameOrigin (origin: string): Record<string, string> {
  return { origin, 'sec-fetch-site': 'same-origin', 'sec-fetch-mode': 'cors' }
}

function noCors (r: Response): void {
  for (const [k] of r.headers) assert.ok(!k.startsWith('access-control-'), `no CORS header on the site API, got ${k}`)
}

test('site API: /.weft/private/ needs the person\'s consent, then puts, reads, lists and deletes this site\'s sealed files', async t => {
  const { node, gateway, a } = await setup(t)
  const url = `${a.origin}/.weft/private/drafts/post.md`
  let r = await request(gateway, url, { method: 'PUT', headers: sameOrigin(a.origin), body: 'a draft' })
  assert.equal(r.status, 403)
  const refused = await r.json()
  assert.equal(refused.error, 'ERR_SITE_NOT_ALLOWED')
  assert.equal(refused.allow, `${UI}/allow?site=${encodeURIComponent(a.name)}`)
  // reads need consent too: a page that reads private data can send it anywhere
  r = await request(gateway, `${a.origin}/.weft/private/`, { headers: sameOrigin(a.origin) })
  assert.equal(r.status, 403)
  assert.deepEqual(node.private.sites(), [], 'nothing was written')

  node.users.allow(a.name, true)
  const photo = randomBytes(100_000)
  r = await request(gateway, url, { method: 'PUT', headers: sameOrigin(a.origin), body: 'a draft' })
  assert.equal(r.status, 200)
  noCors(r)
  const put = await r.json()
  assert.deepEqual({ path: put.path, size: put.size }, { path: 'drafts/post.md', size: 7 })
  r = await request(gateway, `${a.origin}/.weft/private/photo%201.bin`, { method: 'PUT', headers: sameOrigin(a.origin), body: photo })
  assert.equal(r.status, 200)

  r = await request(gateway, url, { headers: sameOrigin(a.origin) })
  assert.equal(r.status, 200)
  assert.equal(r.headers.get('content-type'), 'application/octet-stream')
  assert.equal(r.headers.get('cache-control'), 'no-store')
  assert.equal(await r.text(), 'a draft')
  r = await request(gateway, `${a.origin}/.weft/private/photo%201.bin`, { headers: sameOrigin(a.origin) })
  assert.deepEqual(Buffer.from(await r.arrayBuffer()), photo)

  r = await request(gateway, `${a.origin}/.weft/private/`, { headers: sameOrigin(a.origin) })
  const listing = await r.json()
  assert.deepEqual(listing.files.map((f: { path: string, size: number }) => [f.path, f.size]), [['drafts/post.md', 7], ['photo 1.bin', photo.length]])
  assert.equal(listing.usage.files, 2)
  assert.ok(listing.usage.stored > photo.length)

  r = await request(gateway, url, { method: 'DELETE', headers: sameOrigin(a.origin) })
  assert.deepEqual(await r.json(), { path: 'drafts/post.md', deleted: true })
  r = await request(gateway, url, { headers: sameOrigin(a.origin) })
  assert.equal(r.status, 404)
  assert.equal((await r.json()).error, 'ERR_PRIVATE_NOT_FOUND')
  r = await request(gateway, `${a.origin}/.weft/private/`, { method: 'PUT', headers: sameOrigin(a.origin), body: 'x' })
  assert.equal(r.status, 400)
  r = await request(gateway, `${a.origin}/.weft/private/x`, { method: 'POST', headers: sameOrigin(a.origin), body: 'x' })
  assert.equal(r.status, 404)
  // an encoded slash cannot climb out
  r = await request(gateway, `${a.origin}/.weft/private/..%2Fx`, { method: 'PUT', headers: sameOrigin(a.origin), body: 'x' })
  assert.equal(r.status, 400)

  // withdrawing consent keeps the data sealed and out of the page's reach
  node.users.allow(a.name, false)
  r = await request(gateway, `${a.origin}/.weft/private/photo%201.bin`, { headers: sameOrigin(a.origin) })
  assert.equal(r.status, 403)
  assert.deepEqual(node.private.list(a.name).map(e => e.path), ['photo 1.bin'])
})

test('site API: site B\'s origin cannot read, list, write or delete site A\'s private data, nor can the UI origin or a cross-site page', async t => {
  const { node, gateway, a, b } = await setup(t)
  node.users.allow(a.name, true)
  node.users.allow(b.name, true)
  const secret = `secret-${randomBytes(8).toString('hex')}`
  await node.private.put(a.name, 'diary.txt', Buffer.from(secret))
  const aFile = `${a.origin}/.weft/private/diary.txt`

  // B's script calling A's origin: same-site by the browser's rules (both *.localhost), with B's Origin
  const strangers: Array<Record<string, string>> = [
    { origin: b.origin, 'sec-fetch-site': 'same-site', 'sec-fetch-mode': 'cors' },
    { origin: b.origin },
    { origin: UI, 'sec-fetch-site': 'same-site' },
    { 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'no-cors' }
  ]
  for (const headers of strangers) {
    for (const [method, url, body] of [['GET', aFile, undefined], ['GET', `${a.origin}/.weft/private/`, undefined], ['PUT', aFile, 'overwritten'], ['DELETE', aFile, undefined]] as const) {
      const r = await request(gateway, url, { method, headers, body })
      assert.equal(r.status, 403, `${method} ${url} with ${JSON.stringify(headers)}`)
      const text = await r.text()
      assert.equal(JSON.parse(text).error, 'ERR_SITE_API_FORBIDDEN')
      assert.ok(!text.includes(secret))
      noCors(r)
    }
  }
  // a write with no Origin at all (a form from nowhere) is refused too
  assert.equal((await request(gateway, aFile, { method: 'PUT', body: 'x' })).status, 403)
  // a preflight gets no CORS answer
  const preflight = await request(gateway, aFile, { method: 'OPTIONS', headers: { origin: b.origin, 'access-control-request-method': 'GET' } })
  assert.equal(preflight.status, 403)
  noCors(preflight)

  // B's own origin sees B's store only: the same path there is B's, and empty
  let r = await request(gateway, `${b.origin}/.weft/private/diary.txt`, { headers: sameOrigin(b.origin) })
  assert.equal(r.status, 404)
  r = await request(gateway, `${b.origin}/.weft/private/`, { headers: sameOrigin(b.origin) })
  assert.deepEqual((await r.json()).files, [])
  r = await request(gateway, `${b.origin}/.weft/private/diary.txt`, { method: 'PUT', headers: sameOrigin(b.origin), body: 'b\'s own' })
  assert.equal(r.status, 200)
  assert.equal(Buffer.from(await node.private.get(a.name, 'diary.txt')).toString(), secret, 'A\'s file is untouched')
  assert.equal(Buffer.from(await node.private.get(b.name, 'diary.txt')).toString(), 'b\'s own')
  // and A's own page still reads its own
  r = await request(gateway, aFile, { headers: sameOrigin(a.origin) })
  assert.equal(await r.text(), secret)
  // the /ipfs/ path gateway and the UI origin have no private routes
  r = await request(gateway, `${UI}/ipns/${a.name}/.weft/private/diary.txt`)
  assert.notEqual(r.status, 200)
})
