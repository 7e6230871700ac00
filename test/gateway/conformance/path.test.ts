/**
 * Ported from ipfs/gateway-conformance tests/path_gateway_unixfs_test.go (TestGatewayCache's
 * /ipfs/ part, TestPathGatewayRange, TestPathGatewayMiscellaneous), path_gateway_raw_test.go and
 * path_gateway_cors_test.go, against a weft gateway on 127.0.0.1 (the path gateway, served in
 * place to a client that is not a browser). The missing-block file also gets weft's own
 * answers beyond the suite: a range or a whole file that needs the missing block is a 504.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startGateway, loadFixture, type Reply } from './harness.ts'

const IMMUTABLE = 'public, max-age=29030400, immutable'

function assertCors (r: Reply): void {
  const list = (name: string): string[] => (r.header(name) ?? '').split(',').map(s => s.trim().toLowerCase())
  assert.equal(r.header('access-control-allow-origin'), '*')
  for (const m of ['GET', 'HEAD', 'OPTIONS']) assert.ok(list('access-control-allow-methods').includes(m.toLowerCase()), `Allow-Methods has ${m}`)
  for (const h of ['Content-Type', 'Range', 'User-Agent', 'X-Requested-With']) assert.ok(list('access-control-allow-headers').includes(h.toLowerCase()), `Allow-Headers has ${h}`)
  for (const h of ['Content-Range', 'Content-Length', 'X-Ipfs-Path', 'X-Ipfs-Roots', 'X-Chunked-Output', 'X-Stream-Output']) {
    assert.ok(list('access-control-expose-headers').includes(h.toLowerCase()), `Expose-Headers has ${h}`)
  }
}

test('path gateway caching headers, only-if-cached and If-None-Match (TestGatewayCache)', async t => {
  const gw = await startGateway(t)
  const f = await loadFixture('gateway-cache/fixtures.car', gw.node)
  const root = await f.cid()
  const roots = async (...path: string[]): Promise<string> => (await f.pathCids(...path)).join(',')
  const indexCid = await f.cid('root2', 'root3', 'root4', 'index.html')
  const root4 = await f.cid('root2', 'root3', 'root4')

  await t.test('GET for /ipfs/ unixfs dir listing succeeds', async () => {
    const r = await gw.request(`/ipfs/${root}/root2/root3/`)
    assert.equal(r.status, 200)
    assert.equal(r.header('x-ipfs-path'), `/ipfs/${root}/root2/root3/`)
    assert.equal(r.header('x-ipfs-roots'), await roots('root2', 'root3'))
    assert.match(r.header('etag') ?? '', new RegExp(`DirIndex-.*_CID-${await f.cid('root2', 'root3')}`))
    // generated HTML, which may change: either no Cache-Control or the spec's suggestion
    assert.ok([undefined, 'public, max-age=604800, stale-while-revalidate=2678400'].includes(r.header('cache-control')), `Cache-Control ${r.header('cache-control')}`)
  })
  await t.test('GET for /ipfs/ unixfs dir with index.html succeeds', async () => {
    const r = await gw.request(`/ipfs/${root}/root2/root3/root4/`)
    assert.equal(r.status, 200)
    assert.equal(r.header('cache-control'), IMMUTABLE)
    assert.equal(r.header('x-ipfs-path'), `/ipfs/${root}/root2/root3/root4/`)
    assert.equal(r.header('x-ipfs-roots'), await roots('root2', 'root3', 'root4'))
    assert.equal(r.header('etag'), `"${root4}"`)
  })
  await t.test('GET for /ipfs/ unixfs file succeeds', async () => {
    const r = await gw.request(`/ipfs/${root}/root2/root3/root4/index.html`)
    assert.equal(r.status, 200)
    assert.equal(r.header('cache-control'), IMMUTABLE)
    assert.equal(r.header('x-ipfs-path'), `/ipfs/${root}/root2/root3/root4/index.html`)
    assert.equal(r.header('x-ipfs-roots'), await roots('root2', 'root3', 'root4', 'index.html'))
    assert.equal(r.header('etag'), `"${indexCid}"`)
  })
  await t.test('GET for /ipfs/ unixfs dir as raw block succeeds', async () => {
    const r = await gw.request(`/ipfs/${root}/root2/root3/root4/?format=raw`)
    assert.equal(r.status, 200)
    assert.equal(r.header('cache-control'), IMMUTABLE)
    // the suite's bytes, spelled out there
    assert.deepEqual(r.body, Buffer.from('1234' + '0a2401551220' + '5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03' + '120a' + Buffer.from('index.html').toString('hex') + '1806' + '0a020801', 'hex'))
  })
  for (const method of ['HEAD', 'GET']) {
    await t.test(`${method} for /ipfs/ with only-if-cached succeeds when in local datastore`, async () => {
      const r = await gw.request(`/ipfs/${root}/root2/root3/root4/?format=raw`, { method, headers: { 'cache-control': 'only-if-cached' } })
      assert.equal(r.status, 200)
    })
    await t.test(`${method} for /ipfs/ with only-if-cached fails when not in local datastore`, async () => {
      const r = await gw.request('/ipfs/QmYzfKSE55XCjD1MW128RfciAf2DViABhEiXfgVFMabSjN', { method, headers: { 'cache-control': 'only-if-cached' } })
      assert.equal(r.status, 412)
      if (method === 'GET') assert.match(r.body.toString(), /ERR_NOT_CACHED/)
    })
  }
  const matches: Array<[string, string, string]> = [
    ['file with matching Etag', 'root2/root3/root4/index.html', `"${indexCid}"`],
    ['dir with index.html file with matching Etag', 'root2/root3/root4/', `"${root4}"`],
    ['file with matching third Etag', 'root2/root3/root4/index.html', `"fakeEtag1", "fakeEtag2", "${indexCid}"`],
    ['file with matching weak Etag', 'root2/root3/root4/index.html', `W/"${indexCid}"`],
    ['file with wildcard Etag', 'root2/root3/root4/index.html', '*']
  ]
  for (const [name, path, tag] of matches) {
    await t.test(`GET for /ipfs/ ${name} in If-None-Match returns 304 Not Modified`, async () => {
      const r = await gw.request(`/ipfs/${root}/${path}`, { headers: { 'if-none-match': tag } })
      assert.equal(r.status, 304)
    })
  }
  await t.test('GET for /ipfs/ dir listing with matching strong and weak Etag in If-None-Match returns 304 Not Modified', async () => {
    const first = await gw.request(`/ipfs/${root}/root2/root3/`)
    const etag = (first.header('etag') ?? '').replace(/^"|"$/g, '')
    assert.notEqual(etag, '')
    assert.equal((await gw.request(`/ipfs/${root}/root2/root3/`, { headers: { 'if-none-match': `"${etag}"` } })).status, 304)
    assert.equal((await gw.request(`/ipfs/${root}/root2/root3/`, { headers: { 'if-none-match': `W/"${etag}"` } })).status, 304)
  })
})

test('path gateway ranges, and a file with a missing block (TestPathGatewayRange)', async t => {
  const gw = await startGateway(t)
  const f = await loadFixture('path_gateway_unixfs/dir-with-files.car', gw.node)
  const missing = await loadFixture('trustless_gateway_car/file-3k-and-3-blocks-missing-block.car', gw.node)
  const root = await f.cid()
  // ascii.txt is one block: its bytes are the raw leaf's
  const ascii = Buffer.from(await f.bytes('ascii.txt'))
  assert.equal(ascii.byteLength, 31)

  await t.test('GET for /ipfs/ file includes Accept-Ranges header', async () => {
    const r = await gw.request(`/ipfs/${root}/ascii.txt`)
    assert.equal(r.status, 200)
    assert.equal(r.header('accept-ranges'), 'bytes')
    assert.deepEqual(r.body, ascii)
  })
  await t.test('GET for /ipfs/ file with single range request includes correct bytes', async () => {
    const r = await gw.request(`/ipfs/${root}/ascii.txt`, { headers: { range: 'bytes=6-16' } })
    assert.equal(r.status, 206)
    assert.equal(r.header('content-range'), 'bytes 6-16/31')
    assert.deepEqual(r.body, ascii.subarray(6, 17))
  })
  await t.test('GET for /ipfs/ file with suffix range request includes correct bytes from the end of file', async () => {
    const r = await gw.request(`/ipfs/${root}/ascii.txt`, { headers: { range: 'bytes=-3' } })
    assert.equal(r.status, 206)
    assert.equal(r.header('content-range'), 'bytes 28-30/31')
    assert.deepEqual(r.body, ascii.subarray(28, 31))
  })
  await t.test('GET for /ipfs/ file with multiple range request returns correct bytes', async () => {
    const r = await gw.request(`/ipfs/${root}/ascii.txt`, { headers: { range: 'bytes=6-16,0-4' } })
    // the suite allows the first range alone or a multipart answer; RFC 9110 also lets a server send the whole (weft does)
    assert.ok((r.status === 206 && r.header('content-range') === 'bytes 6-16/31' && r.body.equals(ascii.subarray(6, 17))) || (r.status === 200 && r.body.equals(ascii)), `status ${r.status}`)
  })
  await t.test('GET Range of file succeeds even if the gateway is missing a block AFTER the requested range', async () => {
    const r = await gw.request(`/ipfs/${await missing.cid()}`, { headers: { range: 'bytes=997-1000' } })
    assert.equal(r.status, 206)
    assert.equal(r.header('content-range'), 'bytes 997-1000/3072')
    assert.equal(r.body.byteLength, 4)
  })
  await t.test('GET Range of file succeeds even if the gateway is missing a block BEFORE the requested range', async () => {
    const r = await gw.request(`/ipfs/${await missing.cid()}`, { headers: { range: 'bytes=2200-2201' } })
    assert.equal(r.status, 206)
    assert.equal(r.header('content-range'), 'bytes 2200-2201/3072')
    assert.equal(r.body.byteLength, 2)
  })
  await t.test('HEAD of a file with a missing block answers from its first block (weft)', async () => {
    const r = await gw.request(`/ipfs/${await missing.cid()}`, { method: 'HEAD' })
    assert.equal(r.status, 200)
    assert.equal(r.header('content-length'), '3072')
  })
  await t.test('a range inside the missing block is a 504 with its code, before any byte (weft)', async () => {
    const r = await gw.request(`/ipfs/${await missing.cid()}`, { headers: { range: 'bytes=1500-1600' } })
    assert.equal(r.error, undefined)
    assert.equal(r.status, 504)
    assert.match(r.body.toString(), /ERR_BLOCK_NOT_FOUND/)
  })
  await t.test('a whole-file GET of that file is a 504 with its code, not a reply cut short (weft)', async () => {
    const r = await gw.request(`/ipfs/${await missing.cid()}`)
    assert.equal(r.error, undefined)
    assert.equal(r.status, 504)
    assert.match(r.body.toString(), /ERR_BLOCK_NOT_FOUND/)
  })
})

test('path gateway raw blocks, file names, percent-encoded names and CORS (path_gateway_raw_test.go, _cors_test.go, TestPathGatewayMiscellaneous)', async t => {
  const gw = await startGateway(t)
  const f = await loadFixture('gateway-raw-block.car', gw.node)
  const root = await f.cid()
  const dir = Buffer.from(await f.bytes('dir'))

  await t.test('GET with application/vnd.ipld.raw with single range request includes correct bytes', async () => {
    const r = await gw.request(`/ipfs/${root}/dir`, { headers: { accept: 'application/vnd.ipld.raw', range: 'bytes=6-16' } })
    assert.equal(r.status, 206)
    assert.equal(r.header('content-type'), 'application/vnd.ipld.raw')
    assert.equal(r.header('content-range'), `bytes 6-16/${dir.byteLength}`)
    assert.equal(dir.byteLength, 57)
    assert.deepEqual(r.body, dir.subarray(6, 17))
  })
  await t.test('GET with application/vnd.ipld.raw header and filename param returns expected Content-Disposition header with custom filename', async () => {
    const r = await gw.request(`/ipfs/${root}/dir/ascii.txt?filename=foobar.bin`, { headers: { accept: 'application/vnd.ipld.raw' } })
    assert.equal(r.status, 200)
    assert.match(r.header('content-disposition') ?? '', /attachment;/)
    assert.match(r.header('content-disposition') ?? '', /filename="foobar\.bin/)
  })
  await t.test('GET with application/vnd.ipld.raw header returns expected caching headers', async () => {
    const r = await gw.request(`/ipfs/${root}/dir/ascii.txt`, { headers: { accept: 'application/vnd.ipld.raw' } })
    assert.ok((r.header('etag') ?? '') !== '')
    assert.equal(r.header('x-ipfs-path'), `/ipfs/${root}/dir/ascii.txt`)
    assert.equal(r.header('x-ipfs-roots'), (await f.pathCids('dir', 'ascii.txt')).join(','))
    assert.equal(r.header('cache-control'), IMMUTABLE)
  })
  await t.test('?filename= names a file inline, ?download=true as an attachment, non-ASCII in filename* (weft, as the tar and IPNS record groups spell it)', async () => {
    let r = await gw.request(`/ipfs/${root}/dir/ascii.txt?filename=notes.txt`)
    assert.equal(r.header('content-disposition'), 'inline; filename="notes.txt"')
    r = await gw.request(`/ipfs/${root}/dir/ascii.txt?filename=${encodeURIComponent('testтест.txt')}&download=true`)
    assert.equal(r.header('content-disposition'), 'attachment; filename="test____.txt"; filename*=UTF-8\'\'test%D1%82%D0%B5%D1%81%D1%82.txt')
    r = await gw.request(`/ipfs/${root}/dir/ascii.txt?filename=${encodeURIComponent('a"b.car')}&format=car`)
    assert.equal(r.header('content-disposition'), 'attachment; filename="a_b.car"; filename*=UTF-8\'\'a%22b.car')
  })

  await t.test('GET for /ipfs/ file whose filename contains percentage-encoded characters works', async () => {
    const p = await loadFixture('path_gateway_unixfs/dir-with-percent-encoded-filename.car', gw.node)
    const r = await gw.request(`/ipfs/${await p.cid()}/Portugal%252C+Espa%C3%B1a=Peninsula%20Ib%C3%A9rica.txt`)
    assert.equal(r.status, 200)
    assert.deepEqual(r.body, Buffer.from(await p.bytes('Portugal%2C+España=Peninsula Ibérica.txt')))
  })

  const symlinks = await loadFixture('path_gateway_unixfs/symlink.car', gw.node)
  await t.test('Test the directory listing (TestGatewaySymlink)', async () => {
    const r = await gw.request(`/ipfs/${await symlinks.cid()}/`)
    assert.equal(r.status, 200)
    assert.match(r.body.toString(), />foo</)
    assert.match(r.body.toString(), />bar</)
  })
  await t.test('Test the directory raw query (TestGatewaySymlink)', async () => {
    const r = await gw.request(`/ipfs/${await symlinks.cid()}?format=raw`)
    assert.equal(r.status, 200)
    assert.deepEqual(r.body, Buffer.from(await symlinks.bytes()))
  })
  await t.test('Test the symlink (TestGatewaySymlink): its target as bytes, not followed', async () => {
    const r = await gw.request(`/ipfs/${await symlinks.cid()}/bar`)
    assert.equal(r.status, 200)
    assert.equal(r.body.toString(), 'foo')
    assert.equal(r.header('x-content-type-options'), 'nosniff')
  })

  const hello = 'bafkqabtimvwgy3yk'
  await t.test('GET Responses from Gateway should include CORS headers allowing JS from other origins to read the data cross-origin.', async () => {
    const r = await gw.request(`/ipfs/${hello}/`)
    assert.equal(r.status, 200)
    assert.equal(r.body.toString(), 'hello\n')
    assertCors(r)
  })
  await t.test('OPTIONS to Gateway succeeds', async () => {
    const r = await gw.request(`/ipfs/${hello}/`, { method: 'OPTIONS' })
    assert.ok(r.status >= 200 && r.status < 300, `status ${r.status}`)
    assertCors(r)
  })
  await t.test('trustless answers and errors carry the CORS headers too (weft)', async () => {
    assertCors(await gw.request(`/ipfs/${root}?format=car`))
    assertCors(await gw.request(`/ipfs/${root}/dir?format=raw`))
    const r = await gw.request(`/ipfs/${root}/nothing-here`)
    assert.equal(r.status, 404)
    assertCors(r)
  })
})
