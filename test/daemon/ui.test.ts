import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdir, readFile, readdir, utimes, writeFile } from 'node:fs/promises'
import { join, relative } from 'node:path'
import { randomBytes } from 'node:crypto'
import { createUi } from '../../src/daemon/index.ts'
import { Operations } from '../../src/api/index.ts'
import { listen } from '../../src/http/index.ts'
import { nodeGateway } from '../../src/daemon/index.ts'
import { createNode } from '../../src/node/index.ts'
import { createTestnet } from '../helpers/testnet.ts'
import { tmpDir, tmpHome } from '../helpers/home.ts'
import { launchBrowser, startTestDaemon } from '../helpers/browser.ts'

const TOKEN = 'ui-test-token-0123456789abcdef0123456789'
const BASE = 'http://127.0.0.1:8080'

type Handler = (request: Request) => Promise<Response>

function apiRequest (route: string, init: { body?: BodyInit, method?: string, token?: string | null, headers?: Record<string, string> } = {}): Request {
  const headers: Record<string, string> = { ...init.headers }
  if (init.token !== null) headers.authorization = `Bearer ${init.token ?? TOKEN}`
  return new Request(`${BASE}/api/weft/v1/${route}`, { method: init.method ?? 'POST', headers, body: init.body, duplex: 'half' } as RequestInit)
}

async function json (ui: Handler, route: string, body?: unknown): Promise<any> {
  const response = await ui(apiRequest(route, { body: body === undefined ? undefined : JSON.stringify(body) }))
  assert.equal(response.status, 200, `${route}: ${await response.clone().text()}`)
  return await response.json()
}

async function upload (ui: Handler, id: string, path: string, body: BodyInit | null, token?: string | null): Promise<Response> {
  return await ui(apiRequest(`ui/upload?id=${encodeURIComponent(id)}&path=${encodeURIComponent(path)}`, { method: 'PUT', body: body ?? undefined, token }))
}

/** The NDJSON lines of a progress answer. */
async function progressLines (response: Response): Promise<any[]> {
  assert.equal(response.headers.get('content-type'), 'application/x-ndjson')
  return (await response.text()).trim().split('\n').map(line => JSON.parse(line))
}

function assertNoCors (response: Response): void {
  for (const [name] of response.headers) assert.ok(!name.startsWith('access-control-'), `no CORS header, got ${name}`)
}

/** Every file under `dir`, as relative paths. */
async function listFiles (dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true })
  return entries.map(e => relative(dir, join(e.parentPath, e.name)) + (e.isDirectory() ? '/' : '')).sort()
}

async function offlineUi (t: import('node:test').TestContext) {
  const node = await createNode({ home: await tmpHome(t) })
  t.after(async () => { await node.stop() })
  const ops = new Operations(node)
  const base = await tmpDir(t)
  const uploads = join(base, 'tmp')
  return { node, ops, base, uploads, ui: createUi({ ops, token: TOKEN, tmpDir: uploads }) }
}

test('the page and its assets are served with a strict CSP, nosniff and no-cache; anything else is 404', async t => {
  const { ui } = await offlineUi(t)
  const page = await ui(new Request(`${BASE}/`))
  assert.equal(page.status, 200)
  assert.equal(page.headers.get('content-type'), 'text/html; charset=utf-8')
  const csp = page.headers.get('content-security-policy') ?? ''
  for (const directive of ["default-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "img-src 'self' data:"]) assert.ok(csp.includes(directive), `CSP has ${directive}: ${csp}`)
  assert.equal(page.headers.get('x-content-type-options'), 'nosniff')
  assert.equal(page.headers.get('cache-control'), 'no-cache')
  const html = await page.text()
  // Nothing comes from elsewhere: every script and stylesheet is one of the UI's own files.
  const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map(m => m[1])
  assert.ok(refs.includes('/ui/app.js') && refs.includes('/ui/style.css'))
  for (const ref of refs) assert.ok(ref.startsWith('/ui/') || ref === 'data:,', `local reference ${ref}`)
  for (const id of ['create-label', 'create-button', 'follow-name', 'follow-button', 'open-input', 'open-button', 'status-peers', 'status-storage']) {
    assert.ok(html.includes(`id="${id}" data-testid="${id}"`), `the page has #${id}`)
  }

  const types: Record<string, string> = { 'app.js': 'text/javascript; charset=utf-8', 'addresses.js': 'text/javascript; charset=utf-8', 'style.css': 'text/css; charset=utf-8', 'index.html': 'text/html; charset=utf-8' }
  for (const [file, type] of Object.entries(types)) {
    const response = await ui(new Request(`${BASE}/ui/${file}`))
    assert.equal(response.status, 200, file)
    assert.equal(response.headers.get('content-type'), type)
    assert.equal(response.headers.get('cache-control'), 'no-cache')
    assert.equal(response.headers.get('x-content-type-options'), 'nosniff')
    assert.ok(response.headers.get('content-security-policy')?.includes("default-src 'self'"))
    assert.equal(await response.text(), await readFile(new URL(`../../src/daemon/ui/${file}`, import.meta.url), 'utf8'))
  }
  // The script loads nothing from the internet either.
  const app = await (await ui(new Request(`${BASE}/ui/app.js`))).text()
  assert.doesNotMatch(app, /import .* from '(?!\.\/)/)
  assert.doesNotMatch(app, /https?:\/\/(?!\$\{)/)

  const head = await ui(new Request(`${BASE}/`, { method: 'HEAD' }))
  assert.equal(head.status, 200)
  assert.equal(await head.text(), '')
  for (const path of ['/ui/nope.js', '/ui/', '/ui/ui.ts', '/ui/..%2fui.ts', '/favicon.ico', '/index.html', '/ipfs-like/thing']) {
    const response = await ui(new Request(`${BASE}${path}`))
    assert.equal(response.status, 404, path)
    assert.ok(response.headers.get('content-security-policy') !== null)
  }
  assert.equal((await ui(new Request(`${BASE}/`, { method: 'POST' }))).status, 405)
})

test('the API on the UI origin: token required, foreign origins and other methods refused, never a CORS header', async t => {
  const { ui, node } = await offlineUi(t)
  const noToken = await ui(apiRequest('id', { token: null }))
  assert.equal(noToken.status, 401)
  assert.equal((await noToken.json()).code, 'ERR_API_UNAUTHORIZED')
  assert.equal((await ui(apiRequest('id', { token: 'wrong' }))).status, 401)

  const ok = await ui(apiRequest('id'))
  assert.equal(ok.status, 200)
  assertNoCors(ok)
  assert.equal((await ok.json()).id, node.repo.peerId)
  const sameOrigin = await ui(apiRequest('id', { headers: { origin: BASE, 'sec-fetch-site': 'same-origin' } }))
  assert.equal(sameOrigin.status, 200)

  const refusals: Array<[string, Request]> = [
    ['a foreign origin', apiRequest('id', { headers: { origin: 'http://evil.example' } })],
    ['a site on the gateway', apiRequest('id', { headers: { origin: 'http://bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi.ipfs.localhost:8080' } })],
    ['the same host on another port', apiRequest('id', { headers: { origin: 'http://127.0.0.1:8081' } })],
    ['an opaque origin', apiRequest('id', { headers: { origin: 'null' } })],
    ['a cross-site fetch', apiRequest('id', { headers: { 'sec-fetch-site': 'cross-site' } })],
    ['GET', apiRequest('id', { method: 'GET' })],
    ['DELETE', apiRequest('id', { method: 'DELETE' })],
    ['a foreign upload', apiRequest('ui/upload?id=abcdefgh&path=a', { method: 'PUT', body: 'x', headers: { origin: 'http://evil.example' } })],
    ['a foreign publish', apiRequest('ui/publish', { body: '{}', headers: { origin: 'http://evil.example' } })]
  ]
  for (const [what, request] of refusals) {
    const response = await ui(request)
    assert.equal(response.status, 403, what)
    assertNoCors(response)
    const body = await response.json()
    assert.equal(body.code, 'ERR_API_FORBIDDEN', what)
    assert.equal(typeof body.message, 'string')
  }
  // Refused before the token is even looked at.
  assert.equal((await ui(apiRequest('id', { token: null, headers: { origin: 'http://evil.example' } }))).status, 403)

  assert.deepEqual(await json(ui, 'stats'), { bytesSent: 0, blocksSent: 0, bytesReceived: 0, blocksReceived: 0 })
  const repo = await json(ui, 'repo/stat')
  assert.equal(typeof repo.bytes, 'number')
  assert.equal(typeof repo.storageMax, 'number')
})

test('a folder uploaded file by file and published from the browser becomes the site\'s next version', async t => {
  const { ui, node, ops, base, uploads } = await offlineUi(t)
  await json(ui, 'site/create', { label: 'blog' })
  const before = await json(ui, 'site/list')
  assert.equal(before[0].sequence, undefined)

  const files: Record<string, Uint8Array<ArrayBuffer>> = {
    'index.html': new TextEncoder().encode('<h1>from the browser</h1>'),
    'assets/style.css': new TextEncoder().encode('h1 { color: teal }'),
    'assets/img/big.bin': new Uint8Array(randomBytes(3 * 1024 * 1024 + 17))
  }
  const id = 'a1b2c3d4-0000-4000-8000-123456789abc'
  for (const [path, bytes] of Object.entries(files)) {
    // The big file arrives as a stream of small chunks, as a browser sends it.
    const body = bytes.byteLength < 1024
      ? bytes
      : new ReadableStream<Uint8Array>({
        start (controller) {
          for (let i = 0; i < bytes.byteLength; i += 64 * 1024) controller.enqueue(bytes.subarray(i, i + 64 * 1024))
          controller.close()
        }
      })
    const response = await upload(ui, id, path, body)
    assert.equal(response.status, 200, await response.clone().text())
    assertNoCors(response)
    assert.deepEqual(await response.json(), { path, bytes: bytes.byteLength })
  }
  // Uploading a path again replaces it; an empty file is a file.
  assert.equal((await upload(ui, id, 'assets/empty.txt', null)).status, 200)
  assert.equal((await upload(ui, id, 'index.html', files['index.html'])).status, 200)
  assert.deepEqual(await listFiles(join(uploads, `upload-${id}`)), ['assets/', 'assets/empty.txt', 'assets/img/', 'assets/img/big.bin', 'assets/style.css', 'index.html'])
  // A path that clashes with an uploaded file is refused.
  const clash = await upload(ui, id, 'index.html/inner', 'x')
  assert.equal(clash.status, 400)
  assert.equal((await clash.json()).code, 'ERR_USAGE')

  const lines = await progressLines(await ui(apiRequest('ui/publish', { body: JSON.stringify({ upload: id, site: 'blog' }) })))
  const last = lines.at(-1)
  assert.equal(last.error, undefined, JSON.stringify(last))
  assert.equal(last.result.sequence, '0')
  assert.equal(last.result.changed, true)
  for (const line of lines.slice(0, -1)) assert.equal(line.progress.type, 'content:import:bytes')

  // The site's record points at a root that holds exactly these files.
  const site = node.sites.list()[0]
  const record = await node.sites.resolve(site.name, { offline: true })
  assert.equal(record.root, last.result.root)
  const disk = join(base, 'same-folder')
  for (const [path, bytes] of Object.entries({ ...files, 'assets/empty.txt': new Uint8Array() })) {
    await mkdir(join(disk, path, '..'), { recursive: true })
    await writeFile(join(disk, path), bytes)
  }
  const added = await ops.add([disk], { pin: false })
  assert.equal(added.roots[0].cid, record.root, 'the same root as adding the folder from disk')
  for (const [path, bytes] of Object.entries(files)) {
    const chunks: Uint8Array[] = []
    for await (const chunk of ops.cat(`/ipns/${site.name}/${path}`, { offline: true })) chunks.push(chunk)
    assert.deepEqual(new Uint8Array(Buffer.concat(chunks)), new Uint8Array(bytes), path)
  }
  const listed = await json(ui, 'site/list')
  assert.equal(listed[0].sequence, '0')
  assert.equal(listed[0].root, record.root)

  // The upload folder is gone; publishing it again finds nothing.
  assert.deepEqual(await readdir(uploads), [])
  const gone = await ui(apiRequest('ui/publish', { body: JSON.stringify({ upload: id, site: 'blog' }) }))
  assert.equal(gone.status, 404)
  assert.equal((await gone.json()).code, 'ERR_PATH_NOT_FOUND')

  // A failed publish (no such site) removes its upload folder too.
  assert.equal((await upload(ui, 'bbbbbbbb-1', 'a.txt', 'a')).status, 200)
  const failed = await progressLines(await ui(apiRequest('ui/publish', { body: JSON.stringify({ upload: 'bbbbbbbb-1', site: 'nope' }) })))
  assert.equal(failed.at(-1).error.code, 'ERR_SITE_NOT_FOUND')
  assert.deepEqual(await readdir(uploads), [])
  assert.equal((await ui(apiRequest('ui/publish', { body: JSON.stringify({ upload: 'bbbbbbbb-2', site: 'blog' }), token: 'wrong' }))).status, 401)
  assert.equal((await ui(apiRequest('ui/publish', { body: '{' }))).status, 400)
  assert.equal((await ui(apiRequest('ui/publish', { method: 'PUT', body: '{}' }))).status, 400)
})

test('unsafe upload paths and ids are refused and nothing is written outside the upload folder', async t => {
  const { ui, base, uploads } = await offlineUi(t)
  assert.equal((await upload(ui, 'cccccccc', 'ok.txt', 'fine')).status, 200)
  const snapshot = await listFiles(base)
  const badPaths = ['../escape.txt', 'a/../../escape.txt', '..', '.', './a', 'a/./b', '/etc/escape', '//escape', 'a//b', 'a/', 'a\\..\\..\\escape', 'a\0b', '', '..%2fescape'.replace('%2f', '/')]
  for (const path of badPaths) {
    const response = await upload(ui, 'cccccccc', path, 'evil')
    assert.equal(response.status, 400, JSON.stringify(path))
    assert.equal((await response.json()).code, 'ERR_USAGE')
  }
  const badIds = ['short', 'UPPER-CASE-ID', '../../../../tmp', 'abcdefgh/../..', 'abcdefgh.x', 'a'.repeat(65), '']
  for (const id of badIds) {
    const response = await upload(ui, id, 'x.txt', 'evil')
    assert.equal(response.status, 400, JSON.stringify(id))
    assert.equal((await response.json()).code, 'ERR_USAGE')
    const publish = await ui(apiRequest('ui/publish', { body: JSON.stringify({ upload: id, site: 'blog' }) }))
    assert.equal(publish.status, 400, JSON.stringify(id))
  }
  // Without the token nothing is written either.
  assert.equal((await upload(ui, 'dddddddd', 'x.txt', 'evil', null)).status, 401)
  assert.equal((await upload(ui, 'dddddddd', 'x.txt', 'evil', 'wrong')).status, 401)
  assert.equal((await ui(apiRequest('ui/upload?id=dddddddd&path=x.txt', { body: 'evil' }))).status, 400, 'POST is not an upload')
  assert.deepEqual(await listFiles(base), snapshot)
  assert.equal(await readFile(join(uploads, 'upload-cccccccc', 'ok.txt'), 'utf8'), 'fine')
})

test('over HTTP behind the gateway: the UI origin serves the page and the API, uploads stream through, other origins are refused', async t => {
  const { node, ui, uploads } = await offlineUi(t)
  const { server, port } = await listen(nodeGateway(node, { ui }), '127.0.0.1', 0)
  t.after(() => { server.closeAllConnections(); server.close() })
  const origin = `http://127.0.0.1:${port}`
  const page = await fetch(`${origin}/`)
  assert.equal(page.status, 200)
  assert.equal(page.headers.get('x-content-type-options'), 'nosniff')
  assert.match(await page.text(), /<script type="module" src="\/ui\/app.js">/)
  const call = async (path: string, init: RequestInit & { origin?: string } = {}): Promise<Response> => await fetch(`${origin}/api/weft/v1/${path}`, {
    method: 'POST',
    ...init,
    headers: { authorization: `Bearer ${TOKEN}`, origin: init.origin ?? origin, 'sec-fetch-site': 'same-origin', ...init.headers as Record<string, string> }
  })
  // The browser's Origin carries the port; the adapter's request.url does not.
  const id = await call('id')
  assert.equal(id.status, 200)
  assertNoCors(id)
  await call('site/create', { body: JSON.stringify({ label: 'web' }) })
  const big = new Uint8Array(randomBytes(2 * 1024 * 1024))
  assert.equal((await call('ui/upload?id=eeeeeeee-1&path=docs/big.bin', { method: 'PUT', body: big })).status, 200)
  assert.equal((await call('ui/upload?id=eeeeeeee-1&path=index.html', { method: 'PUT', body: '<p>hi</p>' })).status, 200)
  const lines = (await (await call('ui/publish', { body: JSON.stringify({ upload: 'eeeeeeee-1', site: 'web' }) })).text()).trim().split('\n').map(l => JSON.parse(l))
  assert.equal(lines.at(-1).result.sequence, '0')
  assert.deepEqual(await readdir(uploads), [])
  const foreign = await call('id', { origin: `http://localhost:${port}` })
  assert.equal(foreign.status, 403)
  assertNoCors(foreign)
  assert.equal((await call('id', { origin: 'http://127.0.0.1:1' })).status, 403)
  // A site's origin on this gateway cannot reach the UI's API.
  const fromSite = await fetch(`${origin}/api/weft/v1/id`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, origin: `http://${lines.at(-1).result.name}.ipns.localhost:${port}` } })
  assert.equal(fromSite.status, 403)
})

test('upload folders older than an hour are removed when the UI is created', async t => {
  const node = await createNode({ home: await tmpHome(t) })
  t.after(async () => { await node.stop() })
  const uploads = join(await tmpDir(t), 'tmp')
  await mkdir(join(uploads, 'upload-old-old-old', 'sub'), { recursive: true })
  await writeFile(join(uploads, 'upload-old-old-old', 'sub', 'f'), 'x')
  await writeFile(join(uploads, 'partial-0123456789abcdef'), 'cut')
  await mkdir(join(uploads, 'upload-fresh-fresh'))
  await writeFile(join(uploads, 'keep-me'), 'not an upload')
  const hoursAgo = new Date(Date.now() - 2 * 3600_000)
  await utimes(join(uploads, 'upload-old-old-old'), hoursAgo, hoursAgo)
  await utimes(join(uploads, 'partial-0123456789abcdef'), hoursAgo, hoursAgo)
  await utimes(join(uploads, 'keep-me'), hoursAgo, hoursAgo)
  const ui = createUi({ ops: new Operations(node), token: TOKEN, tmpDir: uploads })
  // The sweep finishes before the first API request is answered.
  await json(ui, 'stats')
  assert.deepEqual((await readdir(uploads)).sort(), ['keep-me', 'upload-fresh-fresh'])
})

test('the stats route counts what the exchange sent and received', async t => {
  const [a, b] = await createTestnet(t, 2)
  const uiA = createUi({ ops: new Operations(a), token: TOKEN, tmpDir: join(await tmpDir(t), 'tmp') })
  const uiB = createUi({ ops: new Operations(b), token: TOKEN, tmpDir: join(await tmpDir(t), 'tmp') })
  const dir = await tmpDir(t)
  const bytes = randomBytes(2 * 1024 * 1024 + 5)
  await writeFile(join(dir, 'data.bin'), bytes)
  const { roots } = await new Operations(a).add([join(dir, 'data.bin')], {})
  assert.equal((await json(uiB, 'peers')).length, 1)
  await new Operations(b).fetch(roots[0].cid, { timeout: 20_000 })
  const sent = await json(uiA, 'stats')
  const received = await json(uiB, 'stats')
  assert.equal(received.blocksReceived, 4, 'three 1 MiB leaves and their root')
  assert.ok(received.bytesReceived > bytes.byteLength, JSON.stringify(received))
  assert.equal(sent.blocksSent, received.blocksReceived)
  assert.equal(sent.bytesSent, received.bytesReceived)
  assert.equal(received.bytesSent, 0)
  assert.equal(sent.bytesReceived, 0)
})

test('the page opens CIDs, paths and names on their subdomain origins', async () => {
  const { openUrl, siteUrl } = await import(new URL('../../src/daemon/ui/addresses.js', import.meta.url).href)
  const cid = 'bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi'
  const name = 'k51qzi5uqu5dlmqya6ozq1a277mrftuh8mnxlrmeinlmzrmmptlgoaqk3uwy69'
  const cases: Array<[string, string]> = [
    [cid, `http://${cid}.ipfs.localhost:8080/`],
    [` ${cid}/docs/a.html `, `http://${cid}.ipfs.localhost:8080/docs/a.html`],
    [`/ipfs/${cid}/docs/?q=1#top`, `http://${cid}.ipfs.localhost:8080/docs/?q=1#top`],
    [`ipfs://${cid}/x`, `http://${cid}.ipfs.localhost:8080/x`],
    [`/ipfs/${cid.toUpperCase()}`, `http://${cid}.ipfs.localhost:8080/`],
    [name, `http://${name}.ipns.localhost:8080/`],
    [`/ipns/${name}/about`, `http://${name}.ipns.localhost:8080/about`],
    [`ipns://${name}`, `http://${name}.ipns.localhost:8080/`],
    ['QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG/readme', 'http://localhost:8080/ipfs/QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG/readme'],
    ['/ipns/example.eth/page', 'http://localhost:8080/ipns/example.eth/page'],
    // names typed bare: a petname, an ENS name, a DNS name; the gateway resolves them
    ['blog', 'http://localhost:8080/ipns/blog/'],
    ['mysite.eth/about', 'http://localhost:8080/ipns/mysite.eth/about'],
    ['docs.example.org', 'http://localhost:8080/ipns/docs.example.org/']
  ]
  for (const [input, url] of cases) assert.equal(openUrl(input, '8080'), url, input)
  assert.equal(openUrl(cid, ''), `http://${cid}.ipfs.localhost/`)
  for (const bad of ['', 'hello world', '/ipfs/', '/ipns/', 'javascript:alert(1)', '/ipfs/<script>', 'http://evil.example/']) {
    assert.throws(() => openUrl(bad, '8080'), /not a CID/, bad)
  }
  assert.equal(siteUrl(name, '8080'), `http://${name}.ipns.localhost:8080/`)
})

test('the page finds the human-readable name in what is typed (asked before opening, to say whether it was proven)', async () => {
  const { nameIn } = await import(new URL('../../src/daemon/ui/addresses.js', import.meta.url).href)
  const cid = 'bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi'
  const key = 'k51qzi5uqu5dlmqya6ozq1a277mrftuh8mnxlrmeinlmzrmmptlgoaqk3uwy69'
  const names: Array<[string, string | undefined]> = [
    ['Blog.BIT', 'blog.bit'], [' mysite.eth/about ', 'mysite.eth'], ['/ipns/docs.example.org/x', 'docs.example.org'], ['ipns://weft.bit', 'weft.bit'], ['blog', 'blog'],
    [cid, undefined], [`/ipfs/${cid}`, undefined], [key, undefined], [`/ipns/${key}/a`, undefined], ['hello world', undefined]
  ]
  for (const [input, name] of names) assert.equal(nameIn(input), name, input)
})

test('in Chromium: the daemon\'s #token= link, pasted while the token prompt shows, opens the UI', async t => {
  const daemon = await startTestDaemon(t)
  const browser = await launchBrowser(t)
  const page = await browser.newPage()
  await page.goto(`${daemon.gatewayUrl}/`)
  await page.locator('#token-section').waitFor({ state: 'visible' })
  // Pasted into the address bar of the same tab: only the hash changes, the page stays.
  await page.goto(daemon.uiUrl)
  await page.locator('#app').waitFor({ state: 'visible', timeout: 10_000 })
  assert.equal(await page.locator('#token-section').isHidden(), true)
  assert.equal(new URL(page.url()).hash, '', 'the token leaves the address bar')
  await page.waitForFunction(() => /\d/.test(document.getElementById('status-peers')?.textContent ?? ''), undefined, { timeout: 10_000 })

  // The whole link pasted into the prompt's field works as well.
  await page.locator('#forget-token').click()
  await page.locator('#token-section').waitFor({ state: 'visible' })
  await page.locator('#token-input').fill(daemon.uiUrl)
  await page.locator('#token-input').press('Enter')
  await page.locator('#app').waitFor({ state: 'visible', timeout: 10_000 })
  assert.equal(await page.evaluate(() => sessionStorage.getItem('weft-token')), new URL(daemon.uiUrl).hash.slice('#token='.length))
})
