/**
 * Ported from ipfs/gateway-conformance tests/redirects_file_test.go (TestRedirectsFileSupport,
 * TestRedirectsFileWithIfNoneMatchHeader's subdomain part): `_redirects` on a CID's own origin
 * (`<cid>.ipfs.localhost`), against a weft gateway on 127.0.0.1.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startGateway, loadFixture } from './harness.ts'

const IMMUTABLE = 'public, max-age=29030400, immutable'

test('_redirects on a subdomain origin (TestRedirectsFileSupport)', async t => {
  const gw = await startGateway(t)
  const f = await loadFixture('redirects_file/redirects.car', gw.node)
  const origin = async (dir: string): Promise<string> => `${(await f.cid(dir)).toV1().toString()}.ipfs.localhost:${gw.port}`
  const examples = await origin('examples')
  const at = async (host: string, path: string, headers: Record<string, string> = {}) => await gw.request(path, { host, headers })

  const redirects: Array<[string, number, string]> = [
    ['/redirect-one', 301, '/one.html'],
    ['/301-redirect-one', 301, '/one.html'],
    ['/302-redirect-two', 302, '/two.html'],
    ['/posts/2022/01/01/hello-world', 301, '/articles/2022/01/01/hello-world'],
    ['/splat/one.html', 301, '/redirected-splat/one.html']
  ]
  for (const [path, status, location] of redirects) {
    await t.test(`request for {cid}.ipfs.example.com${path} redirects with ${status}, per _redirects file`, async () => {
      const r = await at(examples, path)
      assert.equal(r.status, status)
      assert.equal(r.header('location'), location)
    })
  }
  for (const path of ['/200-index', '/catch-all']) {
    await t.test(`request for {cid}.ipfs.example.com${path} returns 200, per _redirects file`, async () => {
      const r = await at(examples, path)
      assert.equal(r.status, 200)
      assert.match(r.body.toString(), /my index/)
    })
  }
  const pages: Array<[string, number, string]> = [
    ['/not-found/has-no-redirects-entry', 404, '404.html'],
    ['/gone/has-no-redirects-entry', 410, '410.html'],
    ['/unavail/has-no-redirects-entry', 451, '451.html']
  ]
  for (const [path, status, page] of pages) {
    await t.test(`request for {cid}.ipfs.example.com${path} returns custom ${status}, per _redirects file`, async () => {
      const r = await at(examples, path)
      assert.equal(r.status, status)
      // the answer for a path of an /ipfs/ CID never changes, whatever its status
      assert.equal(r.header('cache-control'), IMMUTABLE)
      assert.equal(r.header('etag'), `"${await f.cid('examples', page)}"`)
      assert.ok(r.body.includes(await f.content('examples', page)), `the body is ${page}`)
    })
  }
  await t.test('invalid file: request for $INVALID_REDIRECTS_DIR_HOSTNAME/not-found returns error about invalid redirects file', async () => {
    const r = await at(await origin('forced'), '/not-found')
    assert.equal(r.status, 500)
    assert.match(r.body.toString(), /could not parse _redirects:/)
    assert.match(r.body.toString(), /ERR_REDIRECTS_INVALID/)
  })
  await t.test('invalid file: request for $TOO_LARGE_REDIRECTS_DIR_HOSTNAME/not-found returns error about too large redirects file', async () => {
    const r = await at(await origin('too-large'), '/not-found')
    assert.equal(r.status, 500)
    assert.match(r.body.toString(), /could not parse _redirects:/)
    assert.match(r.body.toString(), /redirects file size cannot exceed/)
  })
  await t.test('newline: request for $NEWLINE_REDIRECTS_DIR_HOSTNAME/redirect-one redirects with default of 301, per _redirects file', async () => {
    const r = await at(await origin('newlines'), '/redirect-one')
    assert.equal(r.status, 301)
    assert.equal(r.header('location'), '/one.html')
  })
  await t.test('good codes: request for $GOOD_REDIRECTS_DIR_HOSTNAME/redirect-one redirects with default of 301, per _redirects file', async () => {
    const r = await at(await origin('good-codes'), '/a301')
    assert.equal(r.status, 301)
    assert.equal(r.header('location'), '/b301')
  })
  await t.test('bad codes: request for $BAD_REDIRECTS_DIR_HOSTNAME/found.html doesn\'t return error about bad code', async () => {
    const r = await at(await origin('bad-codes'), '/found.html')
    assert.equal(r.status, 200)
    assert.match(r.body.toString(), /my found/)
    assert.doesNotMatch(r.body.toString(), /unsupported redirect status/)
  })
})

test('_redirects rewrite with If-None-Match (TestRedirectsFileWithIfNoneMatchHeader, SubdomainIPFS)', async t => {
  const gw = await startGateway(t)
  const f = await loadFixture('redirects_file/redirects-spa.car', gw.node)
  const host = `${(await f.cid()).toV1().toString()}.ipfs.localhost:${gw.port}`
  const first = await gw.request('/missing-page', { host, headers: { accept: 'text/html' } })
  assert.equal(first.status, 200)
  assert.deepEqual(first.body, await f.content('index.html'))
  const etag = first.header('etag') ?? ''
  assert.notEqual(etag, '')
  const again = await gw.request('/missing-page', { host, headers: { accept: 'text/html', 'if-none-match': etag } })
  assert.equal(again.status, 304)
})
