import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { importPath } from '../../src/content/index.ts'
import { launchBrowser, startTestDaemon } from '../helpers/browser.ts'
import { tmpDir } from '../helpers/home.ts'

const DOT_SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="30"><rect width="40" height="30" fill="#c33"/></svg>'

/** A small site: a page with a stylesheet, an image and a script that marks the page and uses localStorage. */
async function writeSite (dir: string, marker: string): Promise<void> {
  await mkdir(join(dir, 'img'), { recursive: true })
  await writeFile(join(dir, 'index.html'), `<!doctype html><html><head><meta charset="utf-8"><title>${marker}</title><link rel="stylesheet" href="style.css"></head>
<body><h1 id="title">${marker}</h1><img id="dot" src="img/dot.svg" alt="dot"><p id="script-status">script did not run</p>
<p id="stored"></p><script src="app.js"></script></body></html>`)
  await writeFile(join(dir, 'style.css'), 'h1 { color: rgb(200, 50, 50) }')
  await writeFile(join(dir, 'img', 'dot.svg'), DOT_SVG)
  await writeFile(join(dir, 'app.js'), `document.getElementById('script-status').textContent = 'script ran';
document.getElementById('stored').textContent = String(localStorage.getItem('secret'));
localStorage.setItem('secret', document.title);`)
}

test('in Chromium: a site renders on its own origin (text, style, image, script), and one site cannot read another\'s storage', async t => {
  const daemon = await startTestDaemon(t)
  const dir = await tmpDir(t)
  const roots: string[] = []
  for (const marker of ['site A', 'site B']) {
    await writeSite(join(dir, marker), marker)
    const { root } = await importPath(daemon.node.blocks, join(dir, marker), {})
    await daemon.node.blocks.pin(root.cid, 'recursive')
    roots.push(root.cid.toString())
  }
  const port = new URL(daemon.gatewayUrl).port
  const browser = await launchBrowser(t)
  const page = await browser.newPage()

  // the path form redirects to the site's origin, where it renders
  await page.goto(`http://localhost:${port}/ipfs/${roots[0]}/`)
  assert.equal(new URL(page.url()).host, `${roots[0]}.ipfs.localhost:${port}`)
  assert.equal(await page.textContent('#title'), 'site A')
  assert.equal(await page.textContent('#script-status'), 'script ran')
  assert.equal(await page.$eval('#title', e => getComputedStyle(e).color), 'rgb(200, 50, 50)')
  assert.equal(await page.$eval('#dot', e => (e as HTMLImageElement).complete && (e as HTMLImageElement).naturalWidth), 40)
  assert.equal(await page.textContent('#stored'), 'null', 'site A starts with empty storage')

  // site A stored its title; site B, on its own origin, cannot see it
  await page.goto(`http://${roots[1]}.ipfs.localhost:${port}/`)
  assert.equal(await page.textContent('#title'), 'site B')
  assert.equal(await page.textContent('#stored'), 'null', 'site B cannot read what site A stored')
  assert.equal(await page.evaluate(() => localStorage.getItem('secret')), 'site B')
  // and A still has its own
  await page.goto(`http://${roots[0]}.ipfs.localhost:${port}/`)
  assert.equal(await page.textContent('#stored'), 'site A')
  // nor can a site read the web UI's storage, where the API token lives
  await page.goto(daemon.uiUrl)
  await page.waitForSelector('#app:not([hidden])')
  assert.equal(await page.evaluate(() => sessionStorage.length > 0 || localStorage.length > 0), true, 'the UI keeps its token in its own storage')
  // A site's script posts to the UI's API: a simple POST (no preflight), so Chromium sends it,
  // and the script gets no answer it may read.
  await page.goto(`http://${roots[0]}.ipfs.localhost:${port}/`)
  const createSite = new URL('/api/weft/v1/site/create', daemon.gatewayUrl).href
  // the headers as Chromium put them on the wire (Playwright's own view of a refused request has no Origin)
  const cdp = await page.context().newCDPSession(page)
  await cdp.send('Network.enable')
  const sent = new Promise<Record<string, string>>(resolve => {
    // the two events of one request come in either order
    const posts = new Set<string>()
    const wire = new Map<string, Record<string, string>>()
    const settle = (id: string): void => { const h = wire.get(id); if (posts.has(id) && h !== undefined) resolve(h) }
    cdp.on('Network.requestWillBeSent', e => { if (e.request.url === createSite && e.request.method === 'POST') { posts.add(e.requestId); settle(e.requestId) } })
    cdp.on('Network.requestWillBeSentExtraInfo', e => { wire.set(e.requestId, e.headers); settle(e.requestId) })
  })
  const seen = await page.evaluate(async (url) => {
    try {
      return `answered ${(await fetch(url, { method: 'POST', body: JSON.stringify({ label: 'from-a-site' }) })).status}`
    } catch {
      return 'no answer the script may read'
    }
  }, createSite)
  assert.equal(seen, 'no answer the script may read')
  // A script that somehow held the token could not add it without a preflight, which the API
  // never grants; so Chromium's own request is sent again here with a valid token, and then
  // only the API's origin check stands between a site's script and a new site key.
  const headers = Object.fromEntries(Object.entries(await sent).map(([name, value]) => [name.toLowerCase(), value] as const)
    .filter(([name]) => !['host', 'connection', 'content-length', 'accept-encoding'].includes(name) && !name.startsWith(':')))
  assert.equal(headers.origin, `http://${roots[0]}.ipfs.localhost:${port}`, 'Chromium named the site as the request\'s origin')
  const token = new URL(daemon.uiUrl).hash.replace(/^#token=/, '')
  const replay = async (label: string, from: Record<string, string>): Promise<Response> =>
    await fetch(createSite, { method: 'POST', headers: { ...headers, ...from, authorization: `Bearer ${token}` }, body: JSON.stringify({ label }) })
  const refused = await replay('from-a-site', {})
  assert.equal(refused.status, 403)
  assert.equal((await refused.json() as { code: string }).code, 'ERR_API_FORBIDDEN')
  assert.deepEqual(daemon.node.sites.list().map(s => s.label), [], 'a site\'s request made the node create a site key')
  // the same request from the UI's own origin is done: the token and the call are good
  const done = await replay('from-the-ui', { origin: new URL(daemon.gatewayUrl).origin, 'sec-fetch-site': 'same-origin' })
  assert.equal(done.status, 200, await done.text())
  assert.deepEqual(daemon.node.sites.list().map(s => s.label), ['from-the-ui'])
})

test('in Chromium: publish a folder through the web UI, then see a followed site\'s update appear', async t => {
  const owner = await startTestDaemon(t)
  const visitor = await startTestDaemon(t)
  await visitor.node.libp2p?.dial((owner.node.libp2p as NonNullable<typeof owner.node.libp2p>).getMultiaddrs()[0])
  const browser = await launchBrowser(t)
  const dir = await tmpDir(t)
  await writeSite(join(dir, 'v1'), 'version one')
  await writeSite(join(dir, 'v2'), 'version two')

  // the owner creates a site and publishes a folder from its web UI
  const ui = await browser.newPage()
  await ui.goto(owner.uiUrl)
  assert.equal(new URL(ui.url()).hash, '', 'the token leaves the address bar')
  await ui.fill('[data-testid="create-label"]', 'blog')
  await ui.click('[data-testid="create-button"]')
  const row = ui.locator('[data-testid="site-row"]').first()
  await row.waitFor()
  await row.locator('[data-testid="folder-input"]').setInputFiles(join(dir, 'v1'))
  await row.locator('[data-testid="publish-button"]').click()
  await ui.waitForFunction(() => document.querySelector('[data-testid="publish-log"]')?.textContent?.includes('published version 0') === true, undefined, { timeout: 60_000 })
  const name = owner.node.sites.list()[0].name
  assert.equal(owner.node.sites.list()[0].name, name)

  // the visitor follows it from its own UI and opens it on its gateway
  const port = new URL(visitor.gatewayUrl).port
  const vui = await browser.newPage()
  await vui.goto(visitor.uiUrl)
  await vui.fill('[data-testid="follow-name"]', name)
  await vui.click('[data-testid="follow-button"]')
  const followed = vui.locator('[data-testid="followed-row"]').first()
  await followed.waitFor()
  const site = await browser.newPage()
  await site.goto(`http://${name}.ipns.localhost:${port}/`)
  assert.equal(await site.textContent('#title'), 'version one')

  // the owner publishes again from the UI; the visitor's UI shows version 1, and the site shows it
  await row.locator('[data-testid="folder-input"]').setInputFiles(join(dir, 'v2'))
  await row.locator('[data-testid="publish-button"]').click()
  await ui.waitForFunction(() => document.querySelector('[data-testid="publish-log"]')?.textContent?.includes('published version 1') === true, undefined, { timeout: 60_000 })
  await vui.waitForFunction(() => document.querySelector('[data-testid="followed-row"] .sequence')?.textContent === '1', undefined, { timeout: 30_000 })
  // until version 1 is wholly fetched the gateway serves version 0 (the UI says "updating")
  await vui.waitForFunction(() => document.querySelector('[data-testid="followed-state"]')?.textContent === 'held', undefined, { timeout: 30_000 })
  await site.reload()
  assert.equal(await site.textContent('#title'), 'version two')
})

test('in Chromium: a followed site whose update no peer can supply yet shows as updating in the UI, and its page stays on the version held', async t => {
  const owner = await startTestDaemon(t)
  const visitor = await startTestDaemon(t)
  const ownerNet = owner.node.libp2p as NonNullable<typeof owner.node.libp2p>
  const visitorNet = visitor.node.libp2p as NonNullable<typeof visitor.node.libp2p>
  await visitorNet.dial(ownerNet.getMultiaddrs()[0])
  const dir = await tmpDir(t)
  await writeSite(join(dir, 'v0'), 'version zero')
  await writeSite(join(dir, 'v1'), 'version one')
  const v0 = (await importPath(owner.node.blocks, join(dir, 'v0'), {})).root.cid
  await owner.node.blocks.pin(v0, 'recursive')
  await owner.node.sites.create('blog')
  const { name } = await owner.node.sites.publish('blog', v0)
  await visitor.node.sites.follow(name)

  const browser = await launchBrowser(t)
  const vui = await browser.newPage()
  await vui.goto(visitor.uiUrl)
  const state = async (text: string): Promise<void> => {
    await vui.waitForFunction(expected => document.querySelector('[data-testid="followed-state"]')?.textContent === expected, text, { timeout: 30_000 })
  }
  await state('held')

  // version 1's blocks are on a node no one is connected to
  const island = await startTestDaemon(t)
  const v1 = (await importPath(island.node.blocks, join(dir, 'v1'), {})).root.cid
  await island.node.blocks.pin(v1, 'recursive')
  await owner.node.sites.publish('blog', v1)
  await state('updating')
  const site = await browser.newPage()
  const answer = await site.goto(`http://${name}.ipns.localhost:${new URL(visitor.gatewayUrl).port}/`)
  assert.equal(await site.textContent('#title'), 'version zero')
  assert.equal(answer?.headers()['x-weft-sequence'], '0')
  assert.equal(answer?.headers()['x-weft-newest-sequence'], '1')

  // a peer with version 1 connects: the visitor fetches it by itself, and the page shows it
  await visitorNet.dial((island.node.libp2p as NonNullable<typeof island.node.libp2p>).getMultiaddrs()[0])
  await state('held')
  await site.reload()
  assert.equal(await site.textContent('#title'), 'version one')
})

test('in Chromium: the web UI says when a chain name was not proven before opening it, and opens a proven one at once', async t => {
  const { startReplayNode, nameShowAnswer, loadRecorded, syntheticName } = await import('../helpers/namecoin-fixtures.ts')
  let site = ''
  const recorded = loadRecorded()
  // d/weft-ui-unproven has no transaction behind it: the node cannot prove it
  const replay = await startReplayNode(t, (method, params) => method === 'name_show' && params[0] === 'd/weft-ui-unproven' ? nameShowAnswer('d/weft-ui-unproven', JSON.stringify({ txt: `dnslink=/ipns/${site}` })) : undefined, recorded)
  const daemon = await startTestDaemon(t, {}, c => ({ ...c, naming: { ...c.naming, namecoin: { ...c.naming.namecoin, rpc: replay.rpc, user: replay.user, password: replay.password, network: 'regtest' as const, acceptUnproven: true } } }))
  const dir = await tmpDir(t)
  await writeSite(dir, 'named site')
  const { root } = await importPath(daemon.node.blocks, dir, {})
  await daemon.node.blocks.pin(root.cid, 'recursive')
  await daemon.node.sites.create('named')
  site = (await daemon.node.sites.publish('named', root.cid)).name
  recorded.push(...syntheticName({ name: 'd/weft-ui-proven', value: JSON.stringify({ txt: `dnslink=/ipns/${site}` }), height: 600 }))

  const browser = await launchBrowser(t)
  const page = await browser.newPage()
  await page.goto(daemon.uiUrl)
  await page.waitForSelector('#app:not([hidden])')
  await page.fill('#open-input', 'weft-ui-unproven.bit')
  await page.click('#open-button')
  await page.waitForSelector('#open-note:not(:empty)')
  assert.match(await page.textContent('#open-note') ?? '', /weft-ui-unproven\.bit is not proven against its chain \(not proven: .*\).*Press Open again/)
  assert.equal(new URL(page.url()).host, new URL(daemon.gatewayUrl).host, 'the UI stays until told again')
  // a second Open opens it anyway, on the name's own origin, where the gateway marks it
  const unprovenPage = page.waitForResponse(r => r.url().includes('.ipns.localhost') && r.status() === 200)
  await page.click('#open-button')
  const response = await unprovenPage
  assert.equal(response.headers()['x-weft-name-proven'], 'false')
  assert.equal(await page.textContent('#title'), 'named site')

  // a proven name opens at once, with no note
  await page.goto(daemon.uiUrl)
  await page.waitForSelector('#app:not([hidden])')
  await page.fill('#open-input', 'weft-ui-proven.bit')
  const provenPage = page.waitForResponse(r => r.url().includes('.ipns.localhost') && r.status() === 200)
  await page.click('#open-button')
  assert.equal((await provenPage).headers()['x-weft-name-proven'], 'true')
  assert.equal(await page.textContent('#title'), 'named site')
})
