import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { Operations } from '../../src/api/index.ts'
import { createNode, type WeftNode } from '../../src/node/index.ts'
import { nodeGateway } from '../../src/daemon/index.ts'
import type { GatewayHandler } from '../../src/gateway/index.ts'
import { MAX_BODY_BYTES } from '../../src/private/index.ts'
import { userIdOfPublicKey } from '../../src/users/index.ts'
import { createTestnet } from '../helpers/testnet.ts'
import { tmpDir, tmpHome } from '../helpers/home.ts'
import { until } from '../helpers/until.ts'

const PORT = '8080'
const UI = `http://127.0.0.1:${PORT}`

interface Site { name: string, origin: string }

async function publishSite (t: TestContext, node: WeftNode, label: string): Promise<Site> {
  const dir = await tmpDir(t)
  await writeFile(join(dir, 'index.html'), `<!doctype html><p>${label}</p>`)
  await node.sites.create(label)
  const report = await new Operations(node).publish(dir, { site: label })
  return { name: report.name, origin: `http://${report.name}.ipns.localhost:${PORT}` }
}

function request (gateway: GatewayHandler, url: string, init: { method?: string, headers?: Record<string, string>, body?: string | Uint8Array } = {}): Promise<Response> {
  const u = new URL(url)
  return gateway(new Request(url, { method: init.method ?? 'GET', headers: { host: u.host, ...init.headers }, body: init.body as BodyInit | undefined }))
}

/** What a browser sends from a page on `origin` to the same origin. */
function sameOrigin (origin: string): Record<string, string> {
  return { origin, 'sec-fetch-site': 'same-origin', 'sec-fetch-mode': 'cors' }
}

test('site API messages: refused until the person allows the site; then sent (sealed) and listed, on the site\'s own origin only', async t => {
  const node = await createNode({ home: await tmpHome(t) })
  t.after(async () => { await node.stop() })
  const gateway = nodeGateway(node, { users: node.users, messages: node.messages })
  const a = await publishSite(t, node, 'a')
  const b = await publishSite(t, node, 'b')
  const me = node.users.id(a.name)
  const someone = userIdOfPublicKey((await generateKeyPair('Ed25519')).publicKey)

  // before the person allows the site: neither sending nor reading
  let r = await request(gateway, `${a.origin}/.weft/messages/${someone}`, { method: 'POST', headers: sameOrigin(a.origin), body: 'hi' })
  assert.equal(r.status, 403)
  assert.deepEqual(await r.json(), { error: 'ERR_SITE_NOT_ALLOWED', message: 'this site may not send or read messages as you until you allow it once on the confirmation page', allow: `${UI}/allow?site=${a.name}` })
  r = await request(gateway, `${a.origin}/.weft/messages`, { headers: sameOrigin(a.origin) })
  assert.equal(r.status, 403)
  assert.equal(node.messages.info(a.name).held, 0, 'nothing was sealed')

  node.users.allow(a.name, true)
  r = await request(gateway, `${a.origin}/.weft/messages/${someone}`, { method: 'POST', headers: sameOrigin(a.origin), body: 'hello someone' })
  assert.equal(r.status, 200)
  const sent = await r.json()
  assert.equal(sent.from, me)
  assert.equal(sent.to, someone)
  assert.equal(sent.announced, false, 'offline: it waits in the home')
  assert.equal(r.headers.get('cache-control'), 'no-store')
  // a note to oneself opens here; the letter to someone else does not
  r = await request(gateway, `${a.origin}/.weft/messages/${me}`, { method: 'POST', headers: sameOrigin(a.origin), body: new Uint8Array([0xff, 0xfe, 0]) })
  assert.equal(r.status, 200)
  r = await request(gateway, `${a.origin}/.weft/messages/${me}`, { method: 'POST', headers: sameOrigin(a.origin), body: 'note to self' })
  assert.equal(r.status, 200)
  r = await request(gateway, `${a.origin}/.weft/messages`, { headers: sameOrigin(a.origin) })
  assert.equal(r.status, 200)
  const listed = (await r.json()).messages as Array<{ from: string, body: string, encoding: string, sent: number }>
  assert.deepEqual(listed.map(m => [m.from, m.body, m.encoding]).sort(), [[me, '//4A', 'base64'], [me, 'note to self', 'utf8']])
  assert.equal(node.messages.info(a.name).held, 3)

  // the site API's own refusals: too large, not a user id, empty
  r = await request(gateway, `${a.origin}/.weft/messages/${someone}`, { method: 'POST', headers: sameOrigin(a.origin), body: new Uint8Array(MAX_BODY_BYTES + 1) })
  assert.equal(r.status, 413)
  assert.equal((await r.json()).error, 'ERR_MESSAGE_TOO_LARGE')
  r = await request(gateway, `${a.origin}/.weft/messages/not-a-user`, { method: 'POST', headers: sameOrigin(a.origin), body: 'x' })
  assert.equal(r.status, 400)
  assert.equal((await r.json()).error, 'ERR_MESSAGE_REFUSED')
  r = await request(gateway, `${a.origin}/.weft/messages/${someone}`, { method: 'POST', headers: sameOrigin(a.origin), body: '' })
  assert.equal((await r.json()).error, 'ERR_MESSAGE_REFUSED')

  // same origin only: another site's page, a cross-site context, no Origin on a POST, a preflight
  const refusals: Array<[string, string, Record<string, string>]> = [
    ['POST', `${a.origin}/.weft/messages/${someone}`, sameOrigin(b.origin)],
    ['POST', `${a.origin}/.weft/messages/${someone}`, {}],
    ['POST', `${a.origin}/.weft/messages/${someone}`, { origin: a.origin, 'sec-fetch-site': 'same-site' }],
    ['GET', `${a.origin}/.weft/messages`, sameOrigin(b.origin)],
    ['GET', `${a.origin}/.weft/messages`, { 'sec-fetch-site': 'cross-site' }],
    ['GET', `${a.origin}/.weft/messages`, { 'sec-fetch-site': 'same-site' }],
    ['OPTIONS', `${a.origin}/.weft/messages`, { origin: b.origin }]
  ]
  for (const [method, url, headers] of refusals) {
    r = await request(gateway, url, { method, headers, body: method === 'POST' ? 'forged' : undefined })
    assert.equal(r.status, 403, `${method} ${url} with ${JSON.stringify(headers)}`)
    assert.equal((await r.json()).error, 'ERR_SITE_API_FORBIDDEN')
    for (const [k] of r.headers) assert.ok(!k.startsWith('access-control-'), 'no CORS header')
  }
  assert.equal(node.messages.info(a.name).held, 3, 'nothing more was sealed')

  // site B, even allowed, sees only what was sent to the person's id on B (another id)
  node.users.allow(b.name, true)
  r = await request(gateway, `${b.origin}/.weft/messages`, { headers: sameOrigin(b.origin) })
  assert.deepEqual((await r.json()).messages, [])

  // on a name's origin the API points at the key origin and reveals nothing
  node.petnames.set('friendly', a.name)
  const named = `http://friendly.ipns.localhost:${PORT}`
  for (const [method, path] of [['GET', 'messages'], ['POST', `messages/${someone}`]] as const) {
    r = await request(gateway, `${named}/.weft/${path}`, { method, headers: sameOrigin(named), body: method === 'POST' ? 'via a name' : undefined })
    assert.equal(r.status, 403)
    const text = await r.text()
    assert.equal(JSON.parse(text).error, 'ERR_SITE_API_FORBIDDEN')
    assert.ok(!text.includes('note to self'))
  }
  assert.equal(node.messages.info(a.name).held, 3)
})

test('site API messages: a letter posted on one node\'s site origin reaches the recipient\'s node and its GET', async t => {
  const [owner, friend] = await createTestnet(t, 2)
  const dir = await tmpDir(t)
  await writeFile(join(dir, 'index.html'), '<p>shared</p>')
  await owner.sites.create('s')
  const { name } = await new Operations(owner).publish(dir, { site: 's' })
  await friend.sites.follow(name)
  await until('the friend to hold the site', async () => (await friend.sites.following())[0]?.fetched === true)
  const origin = `http://${name}.ipns.localhost:${PORT}`
  const ownerGateway = nodeGateway(owner, { users: owner.users, messages: owner.messages })
  const friendGateway = nodeGateway(friend, { users: friend.users, messages: friend.messages })
  owner.users.allow(name, true)
  friend.users.allow(name, true)
  const friendId = friend.users.id(name)
  await until('the friend on the messages topic', () => owner.libp2p.services.pubsub.getSubscribers(`/weft/site-messages/${name}`).length > 0)
  const r = await request(ownerGateway, `${origin}/.weft/messages/${friendId}`, { method: 'POST', headers: sameOrigin(origin), body: 'see you on weft' })
  assert.equal(r.status, 200)
  assert.equal((await r.json()).announced, true)
  await until('the letter in the friend\'s GET', async () => {
    const answer = await request(friendGateway, `${origin}/.weft/messages`, { headers: sameOrigin(origin) })
    return ((await answer.json()).messages ?? []).some((m: { body: string }) => m.body === 'see you on weft')
  })
  const answer = await (await request(friendGateway, `${origin}/.weft/messages`, { headers: sameOrigin(origin) })).json()
  assert.equal(answer.messages[0].from, owner.users.id(name))

  // a page of the site hears of a letter as it opens (who and when, not what), while the site is allowed
  const controller = new AbortController()
  t.after(() => { controller.abort() })
  const stream = await friendGateway(new Request(`${origin}/.weft/events`, { headers: { host: new URL(origin).host, 'sec-fetch-site': 'same-origin' }, signal: controller.signal }))
  let events = ''
  void (async () => {
    const reader = (stream.body as ReadableStream<Uint8Array>).getReader()
    for (;;) {
      const { done, value } = await reader.read().catch(() => ({ done: true, value: undefined }))
      if (done === true || value === undefined) return
      events += Buffer.from(value).toString('utf8')
    }
  })()
  const heard = (): Array<Record<string, unknown>> => [...events.matchAll(/event: message\ndata: (.*)\n/g)].map(m => JSON.parse(m[1]))
  const ping = await owner.messages.send(name, friendId, new TextEncoder().encode('ping'))
  await until('the friend\'s page to hear of it', () => heard().length === 1)
  assert.deepEqual(heard()[0], { id: ping.id, from: owner.users.id(name), sent: ping.sent })
  assert.ok(!events.includes('ping'), 'the event does not carry the body')
  friend.users.allow(name, false)
  const quiet = await owner.messages.send(name, friendId, new TextEncoder().encode('unheard'))
  await until('the second letter in the friend\'s inbox', () => friend.messages.list(name).some(m => m.id === quiet.id))
  // (the event would have been written as the letter opened, before the inbox showed it)
  assert.equal(heard().length, 1, 'a site no longer allowed hears nothing')
  friend.users.allow(name, true)
  controller.abort()

  // the site's pages use client.js: it calls the same routes (fetch here goes to the friend's gateway, as a page on the origin would)
  const realFetch = globalThis.fetch
  globalThis.fetch = (async (input: string, init: RequestInit = {}) => await friendGateway(new Request(`${origin}${input}`, {
    ...init, headers: { ...(init.headers as Record<string, string>), host: new URL(origin).host, ...sameOrigin(origin) }
  }))) as typeof fetch
  t.after(() => { globalThis.fetch = realFetch })
  // (a URL, not a specifier: client.js is plain browser JavaScript without types)
  const client = await import(new URL('../../src/gateway/site-api/client.js', import.meta.url).href)
  const reply = await client.sendMessage(owner.users.id(name), 'and you too')
  assert.equal(reply.from, friendId)
  await until('the reply in the owner\'s inbox', () => owner.messages.list(name).some(m => new TextDecoder().decode(m.body) === 'and you too'))
  assert.deepEqual((await client.messages()).map((m: { body: string }) => m.body), ['unheard', 'ping', 'see you on weft'])
  friend.users.allow(name, false)
  await assert.rejects(client.messages(), (err: Error & { code?: string, allow?: string }) => err.code === 'ERR_SITE_NOT_ALLOWED' && err.allow === `${UI}/allow?site=${name}`)
})
