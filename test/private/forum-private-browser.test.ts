/**
 * Issue 13, item 6, end to end in Chromium: the sample forum (examples/forum) keeps drafts as
 * the person's private files and sends direct messages between users on two real daemons;
 * the web UI shows each site's private storage and withdraws a site's consent while the
 * data stays, sealed.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { fileURLToPath } from 'node:url'
import type { BrowserContext, Page } from 'playwright-core'
import { Operations } from '../../src/api/index.ts'
import type { Daemon } from '../../src/daemon/index.ts'
import { messagesTopic } from '../../src/private/message-service.ts'
import { usersTopic } from '../../src/users/index.ts'
import { launchBrowser, startTestDaemon } from '../helpers/browser.ts'
import { runWeft } from '../helpers/cli.ts'
import { until } from '../helpers/until.ts'

const FORUM = fileURLToPath(new URL('../../examples/forum', import.meta.url))
/** A site this node neither owns nor follows (test/private/store.test.ts's). */
const ELSEWHERE = 'k51qzi5uqu5dlvj2baxnqndepeb86cbk3ng7n3i46uzyxzyqj2xjonzllnv0v8'

function siteOrigin (daemon: Daemon, site: string): string {
  return `http://${site}.ipns.localhost:${new URL(daemon.gatewayUrl).port}`
}

/** The forum page on `daemon`'s own gateway, with its script errors collected. */
async function openForum (context: BrowserContext, daemon: Daemon, site: string, errors: string[]): Promise<Page> {
  const page = await context.newPage()
  page.on('pageerror', e => { errors.push(`${new URL(daemon.gatewayUrl).port}: ${e.message}`) })
  await page.goto(`${siteOrigin(daemon, site)}/`)
  await page.waitForSelector('#who:has-text("You are")')
  return page
}

/** The person at `page` allows the site once, on their node's confirmation page. */
async function allowOnce (context: BrowserContext, page: Page, daemon: Daemon, site: string): Promise<void> {
  const [popup] = await Promise.all([context.waitForEvent('page'), page.click('#allow')])
  await popup.waitForLoadState()
  await popup.check('#confirm')
  await popup.click('#allow')
  await popup.waitForSelector('#done')
  await popup.close()
  assert.equal(daemon.node.users.allowed(site), true)
}

async function draftTitles (page: Page): Promise<string[]> {
  return await page.locator('#drafts li.draft .title').allTextContents()
}

test('in Chromium on two nodes: a forum draft is sealed as it is typed, listed after a reload, reopened and dropped once posted; a "message" by an author\'s post reaches that author\'s inbox on their own node', async t => {
  const a = await startTestDaemon(t)
  const b = await startTestDaemon(t)
  await a.node.libp2p?.dial(b.node.libp2p?.getMultiaddrs()[0] ?? assert.fail('no address'))
  await a.node.sites.create('forum')
  const { name: site } = await new Operations(a.node).publish(FORUM, { site: 'forum' })
  await b.node.sites.follow(site)
  await until('B to hold the forum', async () => (await b.node.sites.following()).some(f => f.name === site && f.fetched))
  for (const [d, other] of [[a, b], [b, a]]) {
    await until('each node on the other\'s users and messages topics', () => {
      const pubsub = d.node.libp2p?.services.pubsub
      const peer = other.node.libp2p?.peerId.toString()
      return pubsub?.getSubscribers(usersTopic(site)).some(p => p.toString() === peer) === true &&
        pubsub.getSubscribers(messagesTopic(site)).some(p => p.toString() === peer)
    })
  }

  const browser = await launchBrowser(t)
  const errors: string[] = []
  const [contextA, contextB] = await Promise.all([browser.newContext(), browser.newContext()])
  let pageA = await openForum(contextA, a, site, errors)
  const pageB = await openForum(contextB, b, site, errors)
  assert.equal(await pageA.isVisible('#drafts-box'), false, 'no drafts before the site is allowed')
  await allowOnce(contextA, pageA, a, site)
  await allowOnce(contextB, pageB, b, site)

  // A types a post: the draft is sealed once typing pauses, without pressing anything
  await pageA.fill('input[name=title]', 'Half a thought')
  await pageA.fill('textarea[name=body]', 'typed, not posted')
  await until('the draft to be sealed on A\'s node', () => a.node.private.list(site).some(f => f.path.startsWith('drafts/')))
  assert.equal(b.node.private.list(site).length, 0, 'B keeps nothing of A\'s drafts')
  // and a second one, with the button
  await pageA.fill('input[name=title]', '')
  await pageA.fill('textarea[name=body]', '')
  await pageA.reload()
  await pageA.waitForSelector('#drafts li.draft .title:has-text("Half a thought")')
  await pageA.fill('input[name=title]', 'Saved by hand')
  await pageA.fill('textarea[name=body]', 'with the button')
  await pageA.click('#save-draft')
  await pageA.waitForSelector('#drafts li.draft .title:has-text("Saved by hand")')

  // a reload lists both (read back from the private store), newest first; one reopens into the form
  await pageA.close()
  pageA = await openForum(contextA, a, site, errors)
  await pageA.waitForSelector('#drafts li.draft')
  await until('both drafts listed', async () => (await draftTitles(pageA)).length === 2)
  assert.deepEqual(await draftTitles(pageA), ['Saved by hand', 'Half a thought'])
  assert.equal(await pageA.inputValue('input[name=title]'), '')
  await pageA.locator('#drafts li.draft', { hasText: 'Half a thought' }).locator('button.open').click()
  await pageA.waitForFunction(() => (document.querySelector('textarea[name=body]') as HTMLTextAreaElement).value === 'typed, not posted')
  assert.equal(await pageA.inputValue('input[name=title]'), 'Half a thought')

  // posting it drops its draft; the other stays
  await pageA.click('#new-post button[type=submit]')
  await pageA.waitForSelector('article.post h3:has-text("Half a thought")')
  await until('the posted draft to leave the list', async () => (await draftTitles(pageA)).join() === 'Saved by hand')
  assert.deepEqual(a.node.private.list(site).map(f => f.path).filter(p => p.startsWith('drafts/')).length, 1)

  // B posts; A's page shows it with a "message" link by its author, B's id on the site
  const bId = b.node.users.id(site)
  await pageB.fill('input[name=title]', 'Hello from B')
  await pageB.fill('textarea[name=body]', 'write to me')
  await pageB.click('#new-post button[type=submit]')
  const bPost = pageA.locator('article.post', { has: pageA.locator('h3:has-text("Hello from B")') })
  await bPost.waitFor()
  await bPost.locator('.meta button.message').first().click()
  assert.equal(await pageA.inputValue('#message-form input[name=to]'), bId)
  await pageA.fill('#message-form textarea[name=body]', 'a word for B alone')
  await pageA.click('#message-form button[type=submit]')
  await pageA.waitForSelector('#status:has-text("Message sent")')

  // B's page shows it in its inbox (live, on the message event), from A's id on the site
  const letter = pageB.locator('#inbox li.letter', { hasText: 'a word for B alone' })
  await letter.waitFor()
  assert.match(await letter.locator('.meta').textContent() ?? '', new RegExp(`from ${a.node.users.id(site)}`))
  assert.equal(await pageA.locator('#inbox li.letter').count(), 0, 'the sender\'s inbox holds no copy')
  assert.deepEqual(errors, [])
})

test('in Chromium: the web UI shows a site\'s private storage; withdrawing its consent makes the private API answer 403 while `weft private ls` still lists the data', async t => {
  const daemon = await startTestDaemon(t)
  const ops = new Operations(daemon.node)
  await daemon.node.sites.create('forum')
  const { name: site } = await ops.publish(FORUM, { site: 'forum' })
  daemon.node.users.allow(site, true)
  await ops.privatePut(site, 'drafts/one.json', new TextEncoder().encode(JSON.stringify({ title: 'kept', body: 'x'.repeat(5000), saved: Date.now() })))
  await ops.privatePut(site, 'settings.json', new TextEncoder().encode('{}'))
  const usage = daemon.node.private.usage(site)
  assert.equal(usage.files, 2)
  // a site neither owned nor followed that keeps private data here is listed too, its consent the person's to give or withdraw
  await daemon.node.private.put(ELSEWHERE, 'note.txt', new TextEncoder().encode('a note'))

  const browser = await launchBrowser(t)
  const context = await browser.newContext()
  const forum = await context.newPage()
  await forum.goto(`${siteOrigin(daemon, site)}/`)
  await forum.waitForSelector('#drafts li.draft .title:has-text("kept")')
  const privateStatus = async (): Promise<{ status: number, error?: string }> => await forum.evaluate(async () => {
    const r = await fetch('/.weft/private/')
    return { status: r.status, error: (await r.json()).error }
  })
  assert.deepEqual(await privateStatus(), { status: 200, error: undefined })

  const ui = await context.newPage()
  await ui.goto(daemon.uiUrl)
  const row = ui.locator(`[data-testid=consent-row][data-name="${site}"]`)
  await row.waitFor()
  await until('the storage use in the row', async () => (await row.locator('[data-testid=private-usage]').textContent()) === `2 files, ${(usage.bytes / 1000).toFixed(1)} kB`)
  assert.equal(await row.locator('.allowed').textContent(), 'yes')
  const elsewhere = ui.locator(`[data-testid=consent-row][data-name="${ELSEWHERE}"]`)
  assert.equal(await elsewhere.locator('[data-testid=private-usage]').textContent(), '1 file, 6 B')
  assert.equal(await elsewhere.locator('.allowed').textContent(), 'no')
  assert.match(await ui.locator('#consent-section').textContent() ?? '', /stays on your node, sealed/)
  const button = row.locator('[data-testid=consent-button]')
  assert.equal(await button.textContent(), 'Withdraw consent')
  await button.click()
  await until('the consent withdrawn', () => !daemon.node.users.allowed(site))
  await ui.waitForSelector(`[data-testid=consent-row][data-name="${site}"] .allowed:has-text("no")`)

  // the site's page can no longer reach the data; the data is still there, sealed, and the CLI lists it
  assert.deepEqual(await privateStatus(), { status: 403, error: 'ERR_SITE_NOT_ALLOWED' })
  const ls = await runWeft(['private', 'ls', '--site', site], { home: daemon.node.repo.paths.home })
  assert.equal(ls.code, 0, ls.stderr)
  assert.match(ls.out, /drafts\/one\.json/)
  assert.match(ls.out, /settings\.json/)
  assert.equal(await row.locator('[data-testid=private-usage]').textContent(), `2 files, ${(usage.bytes / 1000).toFixed(1)} kB`, 'the UI still shows what is kept')
})
