/**
 * The IPFS Pinning Service API a weft daemon serves (src/storage/pinning/), checked against
 * the spec's own schemas: test/fixtures/pinning-service/schemas.json is `components.schemas`
 * of ipfs-pinning-service.yaml at ipfs/pinning-services-api-spec bbfaa5896d9378c8c613f2ed18d227a7a18d2880
 * (v1.0.0, the frozen spec), turned into zod by zod's own JSON Schema reader (OpenAPI 3.0
 * target). Daemons run in this process on 127.0.0.1 (real libp2p, real SQLite, real HTTP).
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { z } from 'zod'
import type { CID } from 'multiformats/cid'
import { startDaemon, type Daemon } from '../../src/daemon/index.ts'
import { importBytes, cat, parseContentPath } from '../../src/content/index.ts'
import { createTestNode } from '../helpers/testnet.ts'
import { tmpHome } from '../helpers/home.ts'
import { until } from '../helpers/until.ts'

const spec = JSON.parse(await readFile(new URL('../fixtures/pinning-service/schemas.json', import.meta.url), 'utf8')) as { schemas: Record<string, unknown> }
const definitions = JSON.parse(JSON.stringify(spec.schemas).replaceAll('#/components/schemas/', '#/definitions/')) as Record<string, unknown>
const schemaOf = (name: string): z.ZodType => z.fromJSONSchema({ $ref: `#/definitions/${name}`, definitions } as never, { defaultTarget: 'openapi-3.0' })
const SPEC = { PinStatus: schemaOf('PinStatus'), PinResults: schemaOf('PinResults'), Failure: schemaOf('Failure') }

interface PinStatus { requestid: string, status: string, created: string, pin: { cid: string, name?: string, origins?: string[], meta?: Record<string, string> }, delegates: string[], info?: Record<string, string> }
interface PinResults { count: number, results: PinStatus[] }

/** Asserts `value` is what the spec's schema `name` allows; returns it typed. */
function conforms<T> (name: keyof typeof SPEC, value: unknown): T {
  const result = SPEC[name].safeParse(value)
  assert.ok(result.success, `not a ${name}: ${JSON.stringify(value).slice(0, 500)}: ${result.success ? '' : result.error.message}`)
  return value as T
}

async function startPinningDaemon (t: TestContext, home?: string, concurrency?: number): Promise<Daemon & { token: string, call: (method: string, path: string, body?: unknown, headers?: Record<string, string>) => Promise<Response> }> {
  const daemon = await startDaemon({
    home: home ?? await tmpHome(t),
    apiAddress: '/ip4/127.0.0.1/tcp/0',
    gatewayAddress: '/ip4/127.0.0.1/tcp/0',
    net: { listen: ['/ip4/127.0.0.1/tcp/0'], network: { name: 'testnet' }, bootstrap: [], mdns: false },
    exchange: { requestTimeout: 2_000 },
    reprovideInterval: 0,
    sites: { republishInterval: 0, pollInterval: 0 },
    // a CID nobody has fails in seconds here, not minutes
    pinning: { fetchTimeout: 4_000, retryDelay: 200, dialTimeout: 2_000, concurrency }
  })
  let stopped = false
  const stop = daemon.stop
  daemon.stop = async () => { if (!stopped) { stopped = true; await stop() } }
  t.after(async () => { await daemon.stop() })
  const token = (await readFile(`${daemon.node.repo.paths.home}/api.token`, 'utf8')).trim()
  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = { authorization: `Bearer ${token}` }): Promise<Response> =>
    await fetch(`${daemon.apiUrl}${path}`, {
      method,
      headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body)
    })
  return Object.assign(daemon, { token, call })
}

async function json<T> (response: Response, status: number, schema: keyof typeof SPEC): Promise<T> {
  const text = await response.text()
  assert.equal(response.status, status, text)
  return conforms<T>(schema, JSON.parse(text))
}

/** A failure answer: the status, and the spec's Failure body naming weft's code. */
async function failure (response: Response, status: number, reason: string): Promise<string> {
  const body = await json<{ error: { reason: string, details?: string } }>(response, status, 'Failure')
  assert.equal(body.error.reason, reason, JSON.stringify(body))
  return body.error.details ?? ''
}

async function statusOf (daemon: Awaited<ReturnType<typeof startPinningDaemon>>, requestid: string): Promise<PinStatus> {
  return await json<PinStatus>(await daemon.call('GET', `/pins/${requestid}`), 200, 'PinStatus')
}

async function collect (source: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Uint8Array[] = []
  for await (const chunk of source) chunks.push(chunk)
  return Buffer.concat(chunks)
}

test('a POST pins a DAG another node holds (dialling its origin), bytes read back; DELETE lets gc drop it but never a pin the user made', async t => {
  const holder = await createTestNode(t)
  const service = await startPinningDaemon(t)
  const data = randomBytes(3 * 1024 * 1024 + 5)
  const cid = await importBytes(holder.blocks, data)
  const other = randomBytes(1000)
  const otherCid = await importBytes(holder.blocks, other)
  const origin = holder.libp2p.getMultiaddrs()[0].toString()
  assert.equal(service.node.libp2p?.getConnections(holder.libp2p.peerId).length, 0, 'not connected before the request')

  const accepted = await json<PinStatus>(await service.call('POST', '/pins', { cid: cid.toString(), name: 'big.bin', origins: [origin], meta: { app: 'test' } }), 202, 'PinStatus')
  assert.equal(accepted.status, 'queued')
  assert.deepEqual(accepted.pin, { cid: cid.toString(), name: 'big.bin', origins: [origin], meta: { app: 'test' } })
  // delegates: the node's own addresses, each ending in its peer id
  const peerId = service.node.libp2p?.peerId.toString() ?? ''
  assert.ok(accepted.delegates.length > 0 && accepted.delegates.every(d => d.endsWith(`/p2p/${peerId}`) && d.startsWith('/ip4/127.0.0.1/tcp/')), accepted.delegates.join(' '))

  await until('the request is pinned', async () => (await statusOf(service, accepted.requestid)).status === 'pinned')
  const pinned = await statusOf(service, accepted.requestid)
  assert.equal(pinned.created, accepted.created)
  assert.match(pinned.info?.status_details ?? '', /^pinned: \d+ blocks/)
  // the bytes are here, verified, and survive a gc (the request holds them; no user pin does)
  assert.deepEqual(service.node.blocks.pins(), [])
  await service.node.blocks.gc()
  assert.deepEqual(await collect(cat(service.node.blocks, parseContentPath(cid.toString()))), data)

  // the user pins the other CID themselves; the service pins it too; removing the request keeps the user's pin
  const second = await json<PinStatus>(await service.call('POST', '/pins', { cid: otherCid.toString() }), 202, 'PinStatus')
  await until('the second request is pinned', async () => (await statusOf(service, second.requestid)).status === 'pinned')
  await service.node.blocks.pin(otherCid, 'recursive')
  assert.equal((await service.call('DELETE', `/pins/${second.requestid}`)).status, 202)
  await failure(await service.call('GET', `/pins/${second.requestid}`), 404, 'ERR_PIN_REQUEST_NOT_FOUND')
  await failure(await service.call('DELETE', `/pins/${second.requestid}`), 404, 'ERR_PIN_REQUEST_NOT_FOUND')
  assert.equal(service.node.blocks.pins().map(p => p.cid.toString()).join(), otherCid.toString())

  // DELETE of the first: gc may now drop its blocks, and does
  const del = await service.call('DELETE', `/pins/${accepted.requestid}`)
  assert.equal(del.status, 202)
  assert.equal(await del.text(), '')
  await service.node.blocks.gc()
  assert.equal(service.node.blocks.has(cid), false)
  assert.equal(service.node.blocks.has(otherCid), true)
})

test('a CID nobody has fails with the reason in info; a stopped daemon takes unfinished requests up again, and pins persist across the restart', async t => {
  const home = await tmpHome(t)
  let service = await startPinningDaemon(t, home)
  const holder = await createTestNode(t)
  // nobody holds this one: failed after the fetch timeout, its reason in info
  const missing = await importBytes({ put: async () => {}, has: () => false, get: async () => { throw new Error('none') } } as never, randomBytes(64))
  const lost = await json<PinStatus>(await service.call('POST', '/pins', { cid: missing.toString(), name: 'lost' }), 202, 'PinStatus')
  await until('the request for a CID nobody has fails', async () => (await statusOf(service, lost.requestid)).status === 'failed', 30_000)
  assert.match((await statusOf(service, lost.requestid)).info?.status_details ?? '', /^failed: no peer sent the whole DAG within 4 s \(ERR_FETCH_TIMEOUT\)$/)

  // one pinned before the restart
  const kept = randomBytes(2000)
  const keptCid = await importBytes(holder.blocks, kept)
  await service.node.libp2p?.dial(holder.libp2p.getMultiaddrs()[0])
  const done = await json<PinStatus>(await service.call('POST', '/pins', { cid: keptCid.toString(), meta: { round: '1' } }), 202, 'PinStatus')
  await until('pinned before the restart', async () => (await statusOf(service, done.requestid)).status === 'pinned')

  // one still fetching when the daemon stops: nobody has it yet
  const later = randomBytes(3000)
  const laterCid = await importBytes({ put: async () => {}, has: () => false } as never, later)
  const pending = await json<PinStatus>(await service.call('POST', '/pins', { cid: laterCid.toString(), name: 'later' }), 202, 'PinStatus')
  await until('the request is being fetched', async () => (await statusOf(service, pending.requestid)).status === 'pinning')
  await service.stop()

  service = await startPinningDaemon(t, home)
  // what the daemon held before is answered as it was
  const again = await statusOf(service, done.requestid)
  assert.equal(again.status, 'pinned')
  assert.equal(again.created, done.created)
  assert.deepEqual(again.pin.meta, { round: '1' })
  assert.equal((await statusOf(service, lost.requestid)).status, 'failed')
  // the holder gets the bytes now; the request taken up again at start finds them
  await importBytes(holder.blocks, later)
  await service.node.libp2p?.dial(holder.libp2p.getMultiaddrs()[0])
  await until('the unfinished request is pinned after the restart', async () => (await statusOf(service, pending.requestid)).status === 'pinned', 30_000)
  assert.deepEqual(await collect(cat(service.node.blocks, parseContentPath(laterCid.toString()))), later)
  // and a gc after the restart keeps what the requests hold
  await service.node.blocks.gc()
  assert.equal(service.node.blocks.has(keptCid), true)
})

test('requests wait queued behind the ones being fetched; a DELETE stops a fetch and the request never comes back', async t => {
  const service = await startPinningDaemon(t, undefined, 1)
  const nobodys = await importBytes({ put: async () => {} } as never, randomBytes(64))
  const here = await importBytes(service.node.blocks, randomBytes(64))
  const stuck = await json<PinStatus>(await service.call('POST', '/pins', { cid: nobodys.toString() }), 202, 'PinStatus')
  const waiting = await json<PinStatus>(await service.call('POST', '/pins', { cid: here.toString() }), 202, 'PinStatus')
  assert.equal((await statusOf(service, stuck.requestid)).status, 'pinning')
  assert.equal((await statusOf(service, waiting.requestid)).status, 'queued')
  const queued = await json<PinResults>(await service.call('GET', '/pins?status=queued'), 200, 'PinResults')
  assert.deepEqual(queued.results.map(r => r.requestid), [waiting.requestid])
  assert.equal((await service.call('DELETE', `/pins/${stuck.requestid}`)).status, 202)
  await until('the waiting request is pinned once the fetch before it stopped', async () => (await statusOf(service, waiting.requestid)).status === 'pinned')
  // the stopped fetch marked nothing: the request stays gone
  await failure(await service.call('GET', `/pins/${stuck.requestid}`), 404, 'ERR_PIN_REQUEST_NOT_FOUND')
  assert.equal((await json<PinResults>(await service.call('GET', '/pins?status=queued,pinning,pinned,failed'), 200, 'PinResults')).count, 1)
})

test('GET /pins filters by cid, name and match, status, before/after, meta, and pages by limit; replace gives a new requestid', async t => {
  const service = await startPinningDaemon(t)
  const blocks = service.node.blocks
  const cids: CID[] = []
  for (let i = 0; i < 6; i++) cids.push(await importBytes(blocks, randomBytes(100 + i)))
  const names = ['Report.pdf', 'report.pdf', 'annual-report', 'photo.jpg', 'Photo.JPG', 'notes']
  const made: PinStatus[] = []
  for (let i = 0; i < 6; i++) {
    made.push(await json<PinStatus>(await service.call('POST', '/pins', { cid: cids[i].toString(), name: names[i], meta: { app: i % 2 === 0 ? 'even' : 'odd', n: String(i) } }), 202, 'PinStatus'))
  }
  await until('every request is pinned', async () => (await json<PinResults>(await service.call('GET', '/pins?limit=1000'), 200, 'PinResults')).count === 6)
  // created is unique and grows: the spec pages by it
  assert.equal(new Set(made.map(m => m.created)).size, 6)
  const list = async (query: string): Promise<PinResults> => await json<PinResults>(await service.call('GET', `/pins${query}`), 200, 'PinResults')
  const namesOf = (r: PinResults): string[] => r.results.map(s => s.pin.name ?? '')

  // no filter: pinned only, newest first, at most 10
  assert.deepEqual(namesOf(await list('')), [...names].reverse())
  assert.deepEqual(namesOf(await list('?name=report.pdf')), ['report.pdf'])
  assert.deepEqual(namesOf(await list('?name=report.pdf&match=exact')), ['report.pdf'])
  assert.deepEqual(namesOf(await list('?name=report.pdf&match=iexact')), ['report.pdf', 'Report.pdf'])
  assert.deepEqual(namesOf(await list('?name=report&match=partial')), ['annual-report', 'report.pdf'])
  assert.deepEqual(namesOf(await list('?name=REPORT&match=ipartial')), ['annual-report', 'report.pdf', 'Report.pdf'])
  assert.deepEqual(namesOf(await list(`?cid=${cids[0].toString()},${cids[3].toString()}`)), ['photo.jpg', 'Report.pdf'])
  assert.deepEqual(namesOf(await list(`?meta=${encodeURIComponent(JSON.stringify({ app: 'odd' }))}`)), ['notes', 'photo.jpg', 'report.pdf'])
  assert.deepEqual(namesOf(await list(`?meta=${encodeURIComponent(JSON.stringify({ app: 'odd', n: '3' }))}`)), ['photo.jpg'])
  assert.equal((await list('?status=failed')).count, 0)
  assert.equal((await list('?status=queued,pinning,pinned,failed')).count, 6)
  // limit and count: the client sees there is more, and pages with before
  const first = await list('?limit=2')
  assert.equal(first.count, 6)
  assert.deepEqual(namesOf(first), ['notes', 'Photo.JPG'])
  const next = await list(`?limit=2&before=${encodeURIComponent(first.results[1].created)}`)
  assert.deepEqual(namesOf(next), ['photo.jpg', 'annual-report'])
  assert.equal(next.count, 4)
  assert.deepEqual(namesOf(await list(`?after=${encodeURIComponent(made[3].created)}`)), ['notes', 'Photo.JPG'])
  // an offset other than Z is a date-time too
  const shifted = new Date(Date.parse(made[3].created)).toISOString().replace('Z', '+00:00')
  assert.deepEqual(namesOf(await list(`?before=${encodeURIComponent(shifted)}`)), ['annual-report', 'report.pdf', 'Report.pdf'])

  // replace: a new requestid for a new Pin, the old one gone
  const replaced = await json<PinStatus>(await service.call('POST', `/pins/${made[5].requestid}`, { cid: cids[5].toString(), name: 'notes-v2' }), 202, 'PinStatus')
  assert.notEqual(replaced.requestid, made[5].requestid)
  await failure(await service.call('GET', `/pins/${made[5].requestid}`), 404, 'ERR_PIN_REQUEST_NOT_FOUND')
  await until('the replacement is pinned', async () => (await statusOf(service, replaced.requestid)).status === 'pinned')
  assert.deepEqual(namesOf(await list('?name=notes&match=partial')), ['notes-v2'])
  await failure(await service.call('POST', `/pins/${made[5].requestid}`, { cid: cids[5].toString() }), 404, 'ERR_PIN_REQUEST_NOT_FOUND')
})

test('bad tokens are 401, bad bodies and queries 400, unknown ids 404, oversized bodies 413: each the spec\'s Failure, and nothing is stored', async t => {
  const service = await startPinningDaemon(t)
  const cid = await importBytes(service.node.blocks, randomBytes(50))
  const good = { cid: cid.toString() }
  const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` })

  for (const headers of [{}, bearer('wrong'), bearer(service.token + 'x'), { authorization: service.token }]) {
    await failure(await service.call('GET', '/pins', undefined, headers), 401, 'ERR_API_UNAUTHORIZED')
    await failure(await service.call('POST', '/pins', good, headers), 401, 'ERR_API_UNAUTHORIZED')
    await failure(await service.call('DELETE', '/pins/x', undefined, headers), 401, 'ERR_API_UNAUTHORIZED')
  }

  const peer = service.node.libp2p?.peerId.toString() ?? ''
  const badBodies: Array<[unknown, RegExp]> = [
    ['not json', /JSON/],
    [[], /body/],
    [{}, /"cid"/],
    [{ cid: 'not-a-cid' }, /not a valid CID/],
    [{ cid: 42 }, /"cid"/],
    [{ ...good, name: 'x'.repeat(256) }, /"name"/],
    [{ ...good, origins: ['/ip4/127.0.0.1/tcp/1'] }, /"origins\.0"/],
    [{ ...good, origins: ['nonsense'] }, /"origins\.0"/],
    [{ ...good, origins: Array.from({ length: 21 }, (_, i) => `/ip4/127.0.0.1/tcp/${i + 1}/p2p/${peer}`) }, /"origins"/],
    [{ ...good, meta: { a: 1 } }, /"meta\.a"/],
    [{ ...good, meta: 'x' }, /"meta"/],
    [{ ...good, extra: true }, /extra/]
  ]
  for (const [body, details] of badBodies) {
    assert.match(await failure(await service.call('POST', '/pins', body), 400, body === badBodies[3][0] ? 'ERR_INVALID_CID' : 'ERR_USAGE'), details, JSON.stringify(body))
  }
  const badQueries = ['?limit=0', '?limit=1001', '?limit=ten', '?status=bogus', '?status=', '?status=pinned,pinned', `?cid=${Array.from({ length: 11 }, () => cid.toString()).join(',')}`,
    '?cid=nope', '?match=fuzzy', '?before=yesterday', '?after=2020-13-01T00:00:00Z', '?meta=%7Bnot', `?meta=${encodeURIComponent('{"a":1}')}`, '?colour=red', '?limit=1&limit=2']
  for (const query of badQueries) {
    await failure(await service.call('GET', `/pins${query}`), 400, query === '?cid=nope' ? 'ERR_INVALID_CID' : 'ERR_USAGE')
  }
  await failure(await service.call('GET', '/pins/no-such-request'), 404, 'ERR_PIN_REQUEST_NOT_FOUND')
  await failure(await service.call('POST', '/pins/no-such-request', good), 404, 'ERR_PIN_REQUEST_NOT_FOUND')
  await failure(await service.call('DELETE', '/pins/00000000-0000-0000-0000-000000000000'), 404, 'ERR_PIN_REQUEST_NOT_FOUND')
  await failure(await service.call('PUT', '/pins', good), 400, 'ERR_USAGE')
  await failure(await service.call('GET', '/pins/a/b'), 400, 'ERR_USAGE')
  // a body over 64 KiB is refused, by its length or while it is read
  await failure(await service.call('POST', '/pins', { ...good, meta: { big: 'x'.repeat(1000), ...Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, 'v'.repeat(1000)])) } }), 413, 'ERR_REQUEST_TOO_LARGE')
  // streamed, so no length says so first: 100 KiB of spaces
  let sent = 0
  const chunked = await fetch(`${service.apiUrl}/pins`, {
    method: 'POST',
    headers: bearer(service.token),
    body: new ReadableStream({
      pull (c) {
        if (sent >= 100 * 1024) { c.close(); return }
        sent += 16 * 1024
        c.enqueue(new Uint8Array(16 * 1024).fill(32))
      }
    }),
    duplex: 'half'
  } as RequestInit)
  await failure(chunked, 413, 'ERR_REQUEST_TOO_LARGE')
  // none of it made a request
  const all = await json<PinResults>(await service.call('GET', '/pins?status=queued,pinning,pinned,failed'), 200, 'PinResults')
  assert.equal(all.count, 0)
  // and the weft API beside it still answers
  assert.equal((await fetch(`${service.apiUrl}/api/weft/v1/id`, { method: 'POST', headers: bearer(service.token) })).status, 200)
})
