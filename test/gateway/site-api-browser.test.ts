import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { performance } from 'node:perf_hooks'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Operations } from '../../src/api/index.ts'
import { startDaemon, type Daemon } from '../../src/daemon/index.ts'
import { nameOfKey, newSiteKey } from '../../src/sites/keys.ts'
import { launchBrowser } from '../helpers/browser.ts'
import { tmpDir, tmpHome } from '../helpers/home.ts'
import type { Users } from '../../src/users/index.ts'
import { until } from '../helpers/until.ts'

const FORUM = fileURLToPath(new URL('../../examples/forum', import.meta.url))

/** A daemon with its own users service (src/users/), on a network of its own. */
async function daemonWithUsers (t: TestContext): Promise<{ daemon: Daemon, users: Users, port: string }> {
  const daemon = await startDaemon({
    home: await tmpHome(t),
    apiAddress: '/ip4/127.0.0.1/tcp/0',
    gatewayAddress: '/ip4/127.0.0.1/tcp/0',
    net: { listen: ['/ip4/127.0.0.1/tcp/0'], network: { name: 'testnet' }, bootstrap: [], mdns: false },
    reprovideInterval: 0,
    sites: { republishInterval: 0, pollInterval: 0 }
  })
  t.after(async () => { await daemon.stop() })
  return { daemon, users: daemon.node.users, port: new URL(daemon.gatewayUrl).port }
}

test('in Chromium: a site that frames the confirmation page does not get it rendered; opened on its own, its Allow button allows the site', async t => {
  const { daemon, users, port } = await daemonWithUsers(t)
  const ops = new Operations(daemon.node)
  await daemon.node.sites.create('framer')
  const dir = await tmpDir(t)
  // the site's name is known once created; its page frames the node's confirmation page for itself
  const name = daemon.node.sites.list()[0].name
  const allowUrl = `http://127.0.0.1:${port}/allow?site=${name}`
  await writeFile(join(dir, 'index.html'), `<!doctype html><meta charset="utf-8"><title>framer</title><iframe id="f" name="f" src="${allowUrl}" width="600" height="400"></iframe>`)
  await ops.publish(dir, { site: 'framer' })
  const browser = await launchBrowser(t)
  const context = await browser.newContext()
  const page = await context.newPage()
  const answers: Array<{ url: string, status: number }> = []
  page.on('response', r => { answers.push({ url: r.url(), status: r.status() }) })
  await page.goto(`http://${name}.ipns.localhost:${port}/`)
  await until('the frame\'s request', () => answers.some(a => a.url === allowUrl))
  const frame = page.frames().find(f => f !== page.mainFrame())
  assert.ok(frame !== undefined, 'the iframe exists')
  // Chromium refuses to render it (X-Frame-Options: DENY, frame-ancestors 'none'): an error page, or no document at all
  const content = await frame.content().catch((err: Error) => `unreadable: ${err.message}`)
  assert.doesNotMatch(content, /Allow this site to write as you/, 'the framed confirmation page rendered')
  assert.equal(await frame.$('#allow').catch(() => null), null, 'the Allow button is not reachable in the frame')
  assert.equal(users.allowed(name), false)

  // on its own, top-level, the page renders; a double-click landing on it as it opens (a site navigating its opener here) does nothing
  const own = await context.newPage()
  const opening = performance.now()
  await own.goto(allowUrl)
  const openMs = performance.now() - opening
  const centre = async (selector: string): Promise<[number, number]> => {
    const box = await own.locator(selector).boundingBox()
    assert.ok(box !== null, selector)
    return [box.x + box.width / 2, box.y + box.height / 2]
  }
  const [box, button] = [await centre('#confirm'), await centre('#allow')]
  // ms the form has been unarmed for (undefined: armed already)
  const unarmedFor = async (): Promise<number | undefined> => await own.evaluate(() => {
    const running = document.getAnimations().find(a => a.playState === 'running')
    return running === undefined ? undefined : Number(running.currentTime)
  })
  const before = await unarmedFor()
  // a page that opened well within the second must still be unarmed
  if (performance.now() - opening < 500) assert.notEqual(before, undefined, `the form takes clicks as soon as it opens (it opened in ${Math.round(openMs)} ms)`)
  // one click on the box (a double-click would tick and untick it, proving nothing), then a double-click on the button
  if (before !== undefined && before < 500) {
    await own.mouse.click(...box)
    await own.mouse.dblclick(...button)
  }
  // only clicks made while the form was unarmed prove anything (a slow machine may take the second to get here)
  if (before !== undefined && before < 500 && await unarmedFor() !== undefined) {
    assert.equal(await own.isChecked('#confirm'), false, 'a click in the page\'s first second ticks nothing')
    assert.equal(await own.$('#done'), null)
  } else {
    t.diagnostic('the page was armed before the clicks ended; the unarmed check was skipped')
    await own.goto(allowUrl)
  }
  // with the box unticked the browser does not submit
  await until('the form to be armed', async () => await unarmedFor() === undefined)
  await own.mouse.click(...button)
  assert.equal(await own.$('#done'), null)
  assert.equal(users.allowed(name), false)
  // the person ticks the box and allows (the form's POST carries the UI origin)
  await own.check('#confirm')
  await own.click('#allow')
  await own.waitForSelector('#done')
  assert.equal(users.allowed(name), true)
})

test('in Chromium: the sample forum on the site API: a post is refused until the site is allowed once, then a post and a reply (other users\' posts arriving and leaving: test/users/forum-browser.test.ts)', async t => {
  const { daemon, users, port } = await daemonWithUsers(t)
  const ops = new Operations(daemon.node)
  await daemon.node.sites.create('forum')
  const { name } = await ops.publish(FORUM, { site: 'forum' })
  const browser = await launchBrowser(t)
  const context = await browser.newContext()
  const page = await context.newPage()
  const errors: string[] = []
  page.on('pageerror', e => { errors.push(e.message) })
  await page.goto(`http://${name}.ipns.localhost:${port}/`)
  await page.waitForSelector('text=No posts yet')
  assert.match(await page.textContent('#who') ?? '', new RegExp(users.id(name)))
  assert.equal(await page.isVisible('#allow-box'), true, 'the page offers to allow the site')

  // a post before allowing is refused by the node, and nothing is signed
  await page.fill('input[name=title]', 'too early')
  await page.fill('textarea[name=body]', 'not allowed yet')
  await page.click('#new-post button')
  await page.waitForSelector('#status:has-text("allow it once")')
  assert.equal(users.info(name).contributions.length, 0, 'nothing was signed')

  // Allow opens the node's confirmation page in a window of its own
  const [popup] = await Promise.all([context.waitForEvent('page'), page.click('#allow')])
  await popup.waitForLoadState()
  assert.equal(new URL(popup.url()).host, `127.0.0.1:${port}`)
  await popup.check('#confirm')
  await popup.click('#allow')
  await popup.waitForSelector('#done')
  assert.equal(users.allowed(name), true)
  await popup.close()

  await page.fill('input[name=title]', 'Hello forum')
  await page.fill('textarea[name=body]', 'the first post')
  await page.click('#new-post button')
  await page.waitForSelector('article.post h3:has-text("Hello forum")')
  assert.deepEqual(users.contributions(name).map(c => c.files.map(f => f.path)), [['posts.json']])

  // a reply to it, under it
  await page.fill('article.post .reply-form textarea', 'a reply')
  await page.click('article.post .reply-form button')
  await page.waitForSelector('article.post .reply .body:has-text("a reply")')
  const mine = JSON.parse(Buffer.from(await (await fetch(`${daemon.gatewayUrl}/ipns/${name}/users/${users.id(name)}/posts.json`)).arrayBuffer()).toString()) as { posts: Array<{ id: string, reply_to: string | null }> }
  assert.deepEqual(mine.posts.map(p => p.reply_to), [null, mine.posts[0].id], 'posts.json holds the post and the reply, appended')
  assert.deepEqual(errors, [])
})

test('in Chromium: the web UI lists one\'s sites with whether each may write as the user, and allows and revokes', async t => {
  const { daemon, users } = await daemonWithUsers(t)
  const site = await daemon.node.sites.create('blog')
  const browser = await launchBrowser(t)
  const page = await browser.newPage()
  await page.goto(daemon.uiUrl)
  const row = page.locator(`[data-testid=consent-row][data-name="${site.name}"]`)
  await row.waitFor()
  assert.equal(await row.locator('.allowed').textContent(), 'no')
  assert.equal(await row.locator('.user-id').getAttribute('title'), users.id(site.name))
  await row.locator('[data-testid=consent-button]').click()
  await until('the site to be allowed', () => users.allowed(site.name))
  await page.waitForSelector(`[data-testid=consent-row][data-name="${site.name}"] .allowed:has-text("yes")`)
  await row.locator('[data-testid=consent-button]').click()
  await until('the site to be revoked', () => !users.allowed(site.name))
})
