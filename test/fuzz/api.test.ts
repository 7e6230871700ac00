/**
 * Fuzzing the control API's JSON bodies through the real handler (createApiHandler, called
 * without a port). Every request either reaches its operation with the argument types the
 * operation declares, or is answered 400 ERR_USAGE with one line; never a 500.
 *
 * The fuzz runs the handler over operations that record their arguments instead of acting
 * (fuzzed paths such as "/" must not be imported, fuzzed outputs not written); the
 * regression cases at the end run the real operations of an offline node.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { Operations, createApiHandler } from '../../src/api/index.ts'
import { BODIES } from '../../src/api/bodies.ts'
import { createNode } from '../../src/node/index.ts'
import { tmpHome } from '../helpers/home.ts'
import { CaseCounter, mutatedJson, params } from './fuzz.ts'

const TOKEN = 'fuzz-token-0123456789abcdef0123456789'
const CID = 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'

/** What the CLI's ApiClient sends to each route (src/api/client.ts), as fuzzing's starting points. */
const VALID: Record<string, unknown> = {
  id: {},
  peers: {},
  connect: { address: '/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWHFrmLWTTDD4NodngtRMEVYgxrsDMp4F9iSwYntZ9WjHa' },
  add: { paths: ['/tmp/x'], options: { hidden: false, preserveMode: true, preserveMtime: false, pin: true } },
  fetch: { path: `/ipfs/${CID}`, offline: false, timeout: 30_000 },
  cat: { path: CID, offline: true, timeout: 1000, offset: 10, length: 20 },
  get: { path: CID, output: '/tmp/out', timeout: 5 },
  ls: { path: CID, offline: true },
  'pin/add': { args: [CID], direct: false },
  'pin/rm': { args: [CID] },
  'pin/ls': { type: 'recursive' },
  gc: {},
  'repo/stat': {},
  stats: {},
  'repo/verify': {},
  'config/get': { key: 'datastore.storageMax' },
  'config/set': { key: 'datastore.storageMax', json: '"10GB"' },
  'site/create': { label: 'blog' },
  'site/list': {},
  'site/export-key': { label: 'blog', passphrase: 'correct horse' },
  'site/import-key': { key: 'weft-site-key…', passphrase: 'correct horse', label: 'blog2' },
  'site/info': { name: 'blog' },
  publish: { path: '/tmp/site', site: 'blog', options: { site: 'blog', validity: 172_800_000, ttl: 300_000, hidden: false } },
  resolve: { name: 'k51qzi5uqu5dlvj2baxnqndepeb86cbk3ng7n3i46uzyxzyqj2xjonzllnv0v8', offline: true, timeout: 10_000, fresh: true },
  follow: { name: 'k51qzi5uqu5dlvj2baxnqndepeb86cbk3ng7n3i46uzyxzyqj2xjonzllnv0v8', keep: 3 },
  unfollow: { name: 'k51qzi5uqu5dlvj2baxnqndepeb86cbk3ng7n3i46uzyxzyqj2xjonzllnv0v8' },
  following: {},
  replicate: { target: 'k51qzi5uqu5dlvj2baxnqndepeb86cbk3ng7n3i46uzyxzyqj2xjonzllnv0v8', copies: 5, keep: 2 },
  replicas: { target: 'k51qzi5uqu5dlvj2baxnqndepeb86cbk3ng7n3i46uzyxzyqj2xjonzllnv0v8' },
  'name/set': { name: 'blog', value: '/ipns/k51qzi5uqu5dlvj2baxnqndepeb86cbk3ng7n3i46uzyxzyqj2xjonzllnv0v8' },
  'name/rm': { name: 'blog' },
  'name/ls': {},
  'name/resolve': { name: 'example.eth', timeout: 2000, fresh: false },
  'car/export': { path: CID, offline: true },
  'user/id': { site: 'k51qzi5uqu5dlvj2baxnqndepeb86cbk3ng7n3i46uzyxzyqj2xjonzllnv0v8' },
  'user/export-key': { passphrase: 'correct horse' },
  'user/import-key': { key: 'weft-user-key…', passphrase: 'correct horse', force: true },
  'user/recovery-phrase': {},
  'user/link': { addresses: true },
  'user/link-accept': { code: '12D3KooW….abcdefghijklmnopqrstuvwxyz234567', force: false },
  'user/recover': { phrase: 'abandon abandon …', force: false },
  'user/sites': {},
  'user/allow': { name: 'k51qzi5uqu5dlvj2baxnqndepeb86cbk3ng7n3i46uzyxzyqj2xjonzllnv0v8', allowed: true },
  'user/rm': { site: 'forum', file: 'posts.json' },
  'user/list': { site: 'forum' },
  'user/cat': { site: 'forum', user: 'k51qzi5uqu5dlvj2baxnqndepeb86cbk3ng7n3i46uzyxzyqj2xjonzllnv0v8', file: 'posts.json' },
  'private/get': { site: 'forum', path: 'drafts/a.md' },
  'private/ls': { site: 'forum' },
  'private/rm': { site: 'forum', path: 'drafts/a.md' },
  'private/sites': {},
  'private/share': { site: 'forum', folder: 'notes', to: 'k51qzi5uqu5dlvj2baxnqndepeb86cbk3ng7n3i46uzyxzyqj2xjonzllnv0v8' },
  'private/unshare': { site: 'forum', folder: 'notes', to: 'k51qzi5uqu5dlvj2baxnqndepeb86cbk3ng7n3i46uzyxzyqj2xjonzllnv0v8' },
  'private/shared': { site: 'forum' },
  'private/shared-ls': { site: 'forum', from: 'k51qzi5uqu5dlvj2baxnqndepeb86cbk3ng7n3i46uzyxzyqj2xjonzllnv0v8', folder: 'notes' },
  'private/shared-get': { site: 'forum', from: 'k51qzi5uqu5dlvj2baxnqndepeb86cbk3ng7n3i46uzyxzyqj2xjonzllnv0v8', folder: 'notes', path: 'a.md' },
  'message/ls': { site: 'forum' }
}

const isStr = (v: unknown): boolean => typeof v === 'string'
const isStrs = (v: unknown): boolean => Array.isArray(v) && v.every(isStr)
const isOptBool = (v: unknown): boolean => v === undefined || typeof v === 'boolean'
const isOptStr = (v: unknown): boolean => v === undefined || isStr(v)
const isOptCount = (v: unknown): boolean => v === undefined || (Number.isSafeInteger(v) && (v as number) >= 0)
/** What a timer takes: AbortSignal.timeout throws on anything else, or fires at once past 2^31-1 ms. */
const isOptTimeout = (v: unknown): boolean => v === undefined || (typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= 2 ** 31 - 1)
const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v)
const isNet = (v: unknown): boolean => isObject(v) && isOptBool(v.offline) && isOptTimeout(v.timeout)
const isAddOptions = (v: unknown): boolean => isObject(v) && ['hidden', 'preserveMode', 'preserveMtime', 'pin'].every(k => isOptBool(v[k]))

/** Per operation: does each argument have the type the operation declares? */
const SIGNATURES: Record<string, (args: unknown[]) => boolean> = {
  id: () => true,
  peers: () => true,
  connect: ([a]) => isStr(a),
  add: ([paths, options]) => isStrs(paths) && isAddOptions(options),
  fetch: ([path, net]) => isStr(path) && isNet(net),
  cat: ([path, o]) => isStr(path) && isNet(o) && isObject(o) && isOptCount(o.offset) && isOptCount(o.length),
  get: ([path, out, net]) => isStr(path) && isStr(out) && isNet(net),
  ls: ([path, net]) => isStr(path) && isNet(net),
  pinAdd: ([args, direct]) => isStrs(args) && typeof direct === 'boolean',
  pinRm: ([args]) => isStrs(args),
  pinLs: ([type]) => type === undefined || type === 'recursive' || type === 'direct',
  gc: () => true,
  repoStat: () => true,
  stats: () => true,
  repoVerify: () => true,
  configGet: ([key]) => isOptStr(key),
  configSet: ([key, json]) => isStr(key) && isStr(json),
  siteCreate: ([label]) => isStr(label),
  siteList: () => true,
  siteExportKey: ([label, pass]) => isStr(label) && isStr(pass),
  siteImportKey: ([key, pass, label]) => isStr(key) && isStr(pass) && isOptStr(label),
  siteInfo: ([name]) => isStr(name),
  publish: ([path, o]) => isStr(path) && isAddOptions(o) && isObject(o) && isStr(o.site) &&
    (o.validity === undefined || (Number.isSafeInteger(o.validity) && (o.validity as number) > 0)) && isOptCount(o.ttl),
  resolve: ([name, o]) => isStr(name) && isNet(o) && isObject(o) && isOptBool(o.fresh),
  follow: ([name, keep]) => isStr(name) && (keep === undefined || (Number.isInteger(keep) && (keep as number) >= 1)),
  unfollow: ([name]) => isStr(name),
  following: () => true,
  replicate: ([target, o]) => isStr(target) && isObject(o) && (o.copies === undefined || (Number.isInteger(o.copies) && (o.copies as number) >= 1)) && (o.keep === undefined || (Number.isInteger(o.keep) && (o.keep as number) >= 1)),
  replicas: ([target]) => isOptStr(target),
  nameSet: ([name, value]) => isStr(name) && isStr(value),
  nameRm: ([name]) => isStr(name),
  nameLs: () => true,
  nameResolve: ([name, o]) => isStr(name) && isObject(o) && isOptTimeout(o.timeout) && isOptBool(o.fresh),
  carExport: ([path, net]) => isStr(path) && isNet(net),
  userId: ([site]) => isStr(site),
  userExportKey: ([pass]) => isStr(pass),
  userImportKey: ([key, pass, force]) => isStr(key) && isStr(pass) && typeof force === 'boolean',
  userRecoveryPhrase: () => true,
  userLinkIssue: ([addresses]) => typeof addresses === 'boolean',
  userLinkAccept: ([code, force]) => isStr(code) && typeof force === 'boolean',
  userRecover: ([phrase, force]) => isStr(phrase) && typeof force === 'boolean',
  userSites: () => true,
  userAllow: ([name, allowed]) => isStr(name) && typeof allowed === 'boolean',
  userRm: ([site, file]) => isStr(site) && isStr(file),
  userList: ([site]) => isStr(site),
  userCat: ([site, user, file]) => isStr(site) && isStr(user) && isStr(file),
  userWrite: ([site, file, bytes]) => isStr(site) && isStr(file) && bytes instanceof Uint8Array,
  privateGet: ([site, path]) => isStr(site) && isStr(path),
  privateLs: ([site]) => isStr(site),
  privateRm: ([site, path]) => isStr(site) && isStr(path),
  privateSites: () => true,
  privateShare: ([site, folder, to]) => isStr(site) && isStr(folder) && isStr(to),
  privateUnshare: ([site, folder, to]) => isStr(site) && isStr(folder) && isStr(to),
  privateShared: ([site]) => isStr(site),
  privateSharedLs: ([site, from, folder]) => isStr(site) && isStr(from) && isStr(folder),
  privateSharedGet: ([site, from, folder, path]) => isStr(site) && isStr(from) && isStr(folder) && isStr(path),
  privatePut: ([site, path, bytes]) => isStr(site) && isStr(path) && bytes instanceof Uint8Array,
  messageList: ([site]) => isStr(site),
  messageSend: ([site, to, body]) => isStr(site) && isStr(to) && body instanceof Uint8Array
}

/** Operations that only check and record what they are called with. */
function recordingOperations (calls: Array<{ method: string, args: unknown[] }>): Operations {
  return new Proxy({}, {
    get (_target, method: string) {
      if (method === 'then') return undefined
      return (...args: unknown[]) => {
        calls.push({ method, args: args.filter(a => typeof a !== 'function') })
        if (method === 'cat' || method === 'carExport' || method === 'userCat' || method === 'privateGet' || method === 'privateSharedGet') return (async function * () { yield new Uint8Array([1]) })()
        return Promise.resolve({ ok: true })
      }
    }
  }) as unknown as Operations
}

async function post (handle: (r: Request) => Promise<Response>, route: string, body: string): Promise<Response> {
  return await handle(new Request(`http://127.0.0.1/api/weft/v1/${route}`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` }, body }))
}

async function assertCleanAnswer (response: Response, route: string, body: string): Promise<void> {
  const text = await response.text()
  if (response.status === 200) return
  assert.equal(response.status, 400, `${route} ${body.slice(0, 200)} → ${response.status} ${text.slice(0, 300)}`)
  const answer = JSON.parse(text) as { code: string, message: string }
  assert.equal(answer.code, 'ERR_USAGE', `${route} ${body.slice(0, 200)} → ${text.slice(0, 300)}`)
  assert.ok(answer.message.length > 0 && !answer.message.includes('\n'), `one line: ${answer.message}`)
}

test('fuzz: API bodies reach operations with the declared types, or are 400 ERR_USAGE', async () => {
  const calls: Array<{ method: string, args: unknown[] }> = []
  const handle = createApiHandler(recordingOperations(calls), TOKEN)
  const routes = Object.keys(VALID)
  assert.deepEqual(routes.sort(), Object.keys(BODIES).sort(), 'every JSON route has a starting body')

  // the valid bodies pass, so the mutations start from accepted requests
  for (const route of routes) {
    const r = await post(handle, route, JSON.stringify(VALID[route]))
    assert.equal(r.status, 200, `${route}: ${await r.text()}`)
  }

  const counter = new CaseCounter()
  const request = fc.oneof(
    { arbitrary: fc.constantFrom(...routes).chain(route => mutatedJson(VALID[route]).map(body => ({ route, body: JSON.stringify(body) ?? '' }))), weight: 6 },
    { arbitrary: fc.tuple(fc.constantFrom(...routes), fc.jsonValue({ maxDepth: 3 })).map(([route, body]) => ({ route, body: JSON.stringify(body) })), weight: 2 },
    { arbitrary: fc.tuple(fc.constantFrom(...routes, 'constructor', '__proto__', 'toString', 'hasOwnProperty', 'car/import/x', ''), fc.string({ maxLength: 40 })).map(([route, body]) => ({ route, body })), weight: 1 }
  )
  await fc.assert(fc.asyncProperty(request, async ({ route, body }) => {
    counter.tick()
    calls.length = 0
    const response = await post(handle, route, body)
    await assertCleanAnswer(response, route, body)
    for (const call of calls) {
      assert.ok(SIGNATURES[call.method]?.(call.args) === true, `${route} ${body.slice(0, 200)} called ${call.method}(${JSON.stringify(call.args).slice(0, 300)})`)
    }
  }), params(4_000))
  console.log(counter.report('API bodies'))
})

test('fuzz: user/write\'s query reaches userWrite as two strings and the body\'s bytes, or is 400 ERR_USAGE', async () => {
  const calls: Array<{ method: string, args: unknown[] }> = []
  const handle = createApiHandler(recordingOperations(calls), TOKEN)
  const counter = new CaseCounter()
  const key = fc.constantFrom('site', 'file', 'Site', 'pin', '')
  const query = fc.array(fc.tuple(key, fc.string({ maxLength: 20 })), { maxLength: 4 })
  await fc.assert(fc.asyncProperty(query, fc.uint8Array({ maxLength: 64 }), async (pairs, bytes) => {
    counter.tick()
    calls.length = 0
    const search = new URLSearchParams(pairs).toString()
    const response = await handle(new Request(`http://127.0.0.1/api/weft/v1/user/write?${search}`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` }, body: bytes }))
    await assertCleanAnswer(response, 'user/write', search)
    for (const call of calls) assert.ok(SIGNATURES[call.method]?.(call.args) === true, `user/write ?${search} called ${call.method}(${JSON.stringify(call.args).slice(0, 300)})`)
    if (response.status === 200) assert.deepEqual(Buffer.from(calls[0]?.args[2] as Uint8Array), Buffer.from(bytes))
  }), params(500))
  console.log(counter.report('user/write queries'))
})

test('regression: bodies that reached the real operations as the wrong types are 400 ERR_USAGE', async t => {
  // found by the fuzzer: each was a 500 ERR_INTERNAL ("a bug in weft") or ran with a wrong type
  const node = await createNode({ home: await tmpHome(t) })
  t.after(async () => { await node.stop() })
  const handle = createApiHandler(new Operations(node), TOKEN)
  const cases: Array<[string, string]> = [
    ['connect', 'null'], // a null body was read as an object: TypeError
    ['constructor', '{}'], // a name on Object.prototype was taken for a route
    ['name/resolve', JSON.stringify({ name: 'blog', timeout: 'soon' })], // AbortSignal.timeout('soon'): TypeError
    ['name/resolve', JSON.stringify({ name: 'blog', timeout: 1e12 })], // past a timer's range: fired at once
    ['pin/ls', JSON.stringify({ type: 'everything' })], // an unknown pin type listed nothing, silently
    ['follow', JSON.stringify({ name: 'k51qzi5uqu5dlvj2baxnqndepeb86cbk3ng7n3i46uzyxzyqj2xjonzllnv0v8', keep: 'all' })],
    ['config/get', JSON.stringify({ key: ['datastore'] })]
  ]
  for (const [route, body] of cases) {
    const r = await post(handle, route, body)
    const answer = await r.json() as { code: string, message: string }
    assert.equal(r.status, 400, `${route} ${body}: ${JSON.stringify(answer)}`)
    assert.equal(answer.code, 'ERR_USAGE')
    assert.ok(!answer.message.includes('\n'))
  }
})

test('user/write stops reading a body past 64 MiB (no site takes a larger file) and answers 403 ERR_CONTRIBUTION_REFUSED', async () => {
  const calls: Array<{ method: string, args: unknown[] }> = []
  const handle = createApiHandler(recordingOperations(calls), TOKEN)
  const MiB = new Uint8Array(1024 * 1024)
  let pulled = 0
  const body = new ReadableStream<Uint8Array>({
    pull (controller) {
      // far past the ceiling: a reader that does not stop would take it all
      if (++pulled > 200) controller.close()
      else controller.enqueue(MiB)
    }
  })
  const response = await handle(new Request('http://127.0.0.1/api/weft/v1/user/write?site=forum&file=big.png', { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` }, body, duplex: 'half' } as RequestInit))
  const answer = await response.json() as { code: string, message: string }
  assert.equal(response.status, 403)
  assert.equal(answer.code, 'ERR_CONTRIBUTION_REFUSED')
  assert.match(answer.message, /big\.png is over 67108864 bytes/)
  assert.ok(pulled <= 66, `read ${pulled} MiB`)
  assert.equal(calls.length, 0, 'nothing was written')
})

test('fuzz: private/put\'s query reaches privatePut as two strings and the body\'s bytes, or is 400 ERR_USAGE', async () => {
  const calls: Array<{ method: string, args: unknown[] }> = []
  const handle = createApiHandler(recordingOperations(calls), TOKEN)
  const counter = new CaseCounter()
  const key = fc.constantFrom('site', 'path', 'file', 'Path', '')
  const query = fc.array(fc.tuple(key, fc.string({ maxLength: 20 })), { maxLength: 4 })
  await fc.assert(fc.asyncProperty(query, fc.uint8Array({ maxLength: 64 }), async (pairs, bytes) => {
    counter.tick()
    calls.length = 0
    const search = new URLSearchParams(pairs).toString()
    const response = await handle(new Request(`http://127.0.0.1/api/weft/v1/private/put?${search}`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` }, body: bytes }))
    await assertCleanAnswer(response, 'private/put', search)
    for (const call of calls) assert.ok(SIGNATURES[call.method]?.(call.args) === true, `private/put ?${search} called ${call.method}(${JSON.stringify(call.args).slice(0, 300)})`)
    if (response.status === 200) assert.deepEqual(Buffer.from(calls[0]?.args[2] as Uint8Array), Buffer.from(bytes))
  }), params(500))
  console.log(counter.report('private/put queries'))
})
