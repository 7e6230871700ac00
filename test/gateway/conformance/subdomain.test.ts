/**
 * Ported from ipfs/gateway-conformance tests/subdomain_gateway_ipfs_test.go
 * (TestGatewaySubdomains, TestUnixFSDirectoryListingOnSubdomainGateway) and the listing group of
 * path_gateway_unixfs_test.go (TestUnixFSDirectoryListing), against a weft gateway on
 * 127.0.0.1. The suite's `example.com` is weft's `localhost:<port>` (the path gateway whose
 * paths redirect to subdomains); the path gateway served in place is `127.0.0.1:<port>`.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { peerIdFromString } from '@libp2p/peer-id'
import { base36 } from 'multiformats/bases/base36'
import { CID } from 'multiformats/cid'
import { startGateway, loadFixture } from './harness.ts'

test('directory listings on the path gateway and on a subdomain (TestUnixFSDirectoryListing, TestUnixFSDirectoryListingOnSubdomainGateway)', async t => {
  const gw = await startGateway(t)
  const f = await loadFixture('dir_listing/fixtures.car', gw.node)
  const root = await f.cid()
  const file = await f.cid('ą', 'ę', 'file-źł.txt')
  const gateway = `localhost:${gw.port}`
  const sub = `${root.toV1().toString()}.ipfs.localhost:${gw.port}`
  assert.equal(root.toString(), root.toV1().toString(), 'the fixture root is CIDv1, as the suite assumes')

  await t.test('path gw: backlink on root CID should be hidden', async () => {
    const r = await gw.request(`/ipfs/${root}/`)
    assert.match(r.body.toString(), /Index of/)
    assert.ok(!r.body.toString().includes(`<a href="/ipfs/${root}/">..</a>`))
  })
  await t.test('path gw: redirect dir listing to URL with trailing slash', async () => {
    const r = await gw.request(`/ipfs/${root}/%C4%85/%C4%99`)
    assert.equal(r.status, 301)
    assert.equal(r.header('location'), `/ipfs/${root}/%C4%85/%C4%99/`)
  })
  await t.test('path gw: dir listing HTML response', async () => {
    const r = await gw.request(`/ipfs/${root}/%C4%85/%C4%99/`)
    assert.match(r.header('etag') ?? '', /"DirIndex-/)
    const body = r.body.toString()
    assert.match(body, /Index of/)
    for (const part of [
      `/ipfs/<a href="/ipfs/${root}">${root}</a>/<a href="/ipfs/${root}/%C4%85">ą</a>/<a href="/ipfs/${root}/%C4%85/%C4%99">ę</a>`,
      `<a href="/ipfs/${root}/%C4%85/%C4%99/..">..</a>`,
      `<a href="/ipfs/${root}/%C4%85/%C4%99/file-%C5%BA%C5%82.txt">file-źł.txt</a>`,
      `<a class="ipfs-hash" translate="no" href="/ipfs/${file}?filename=file-%25C5%25BA%25C5%2582.txt">`
    ]) assert.ok(body.includes(part), `the listing holds ${part}`)
  })
  await t.test('GET for /ipfs/cid/file UnixFS file that does not exist returns 404', async () => {
    assert.equal((await gw.request(`/ipfs/${root}/i-do-not-exist`)).status, 404)
  })
  await t.test('subdomain: backlink on root CID should be hidden', async () => {
    const r = await gw.request('/', { host: sub })
    assert.match(r.body.toString(), /Index of/)
    assert.ok(!r.body.toString().includes('<a href="/">..</a>'))
  })
  await t.test('subdomain: redirect dir listing to URL with trailing slash', async () => {
    const r = await gw.request('/%C4%85/%C4%99', { host: sub })
    assert.equal(r.status, 301)
    assert.equal(r.header('location'), '/%C4%85/%C4%99/')
  })
  await t.test('subdomain: Regular dir listing HTML', async () => {
    const r = await gw.request('/%C4%85/%C4%99/', { host: sub })
    assert.match(r.header('etag') ?? '', /"DirIndex-/)
    const body = r.body.toString()
    assert.match(body, /Index of/)
    for (const part of [
      '<a href="/%C4%85/%C4%99/..">..</a>',
      `/ipfs/<a href="//${gateway}/ipfs/${root}">${root}</a>/<a href="//${gateway}/ipfs/${root}/%C4%85">ą</a>/<a href="//${gateway}/ipfs/${root}/%C4%85/%C4%99">ę</a>`,
      '<a href="/%C4%85/%C4%99/file-%C5%BA%C5%82.txt">file-źł.txt</a>',
      `<a class="ipfs-hash" translate="no" href="//${gateway}/ipfs/${file}?filename=file-%25C5%25BA%25C5%2582.txt">`
    ]) assert.ok(body.includes(part), `the listing holds ${part}`)
  })
})

test('the subdomain gateway (TestGatewaySubdomains)', async t => {
  const gw = await startGateway(t)
  const f = await loadFixture('subdomain_gateway/fixtures.car', gw.node)
  const percent = await loadFixture('path_gateway_unixfs/dir-with-percent-encoded-filename.car', gw.node)
  const gateway = `localhost:${gw.port}`
  const cidV1 = await f.cid('hello-CIDv1')
  const cidV0 = await f.cid('hello-CIDv0')
  const cidV0to1 = await f.cid('hello-CIDv0to1')
  const tooLong = await f.cid('hello-CIDv1_TOO_LONG')
  const dir = await f.cid('testdirlisting')
  const hello = (await f.content('hello-CIDv1')).toString()
  const on = (cid: { toString: () => string }): string => `${cid.toString()}.ipfs.${gateway}`

  await t.test('request for example.com/ipfs/{cid} redirects to {cid}.ipfs.example.com', async () => {
    const r = await gw.request(`/ipfs/${cidV1}/`, { host: gateway })
    assert.equal(r.status, 301)
    assert.ok((r.header('location') ?? '').includes(`http://${cidV1}.ipfs.${gateway}/`), r.header('location'))
  })
  await t.test('request for example.com/ipfs/{CIDv1}/{filename with percent encoding} redirects to subdomain', async () => {
    const root = await percent.cid()
    const r = await gw.request(`/ipfs/${root}/Portugal%252C+Espa%C3%B1a=Peninsula%20Ib%C3%A9rica.txt`, { host: gateway })
    assert.equal(r.status, 301)
    assert.equal(r.header('location'), `http://${root.toV1()}.ipfs.${gateway}/Portugal%252C+Espa%C3%B1a=Peninsula%20Ib%C3%A9rica.txt`)
  })
  await t.test('request for example.com/ipfs/{DirCID}/ redirects to subdomain', async () => {
    const r = await gw.request(`/ipfs/${dir}/`, { host: gateway })
    assert.equal(r.status, 301)
    assert.ok((r.header('location') ?? '').includes(`http://${dir}.ipfs.${gateway}/`))
  })
  await t.test('request for example.com/ipfs/{CIDv0} redirects to {CIDv1}.ipfs.example.com', async () => {
    assert.ok(cidV0.toString().startsWith('Qm'))
    const r = await gw.request(`/ipfs/${cidV0}/`, { host: gateway })
    assert.equal(r.status, 301)
    assert.ok((r.header('location') ?? '').includes(`http://${cidV0to1}.ipfs.${gateway}/`), r.header('location'))
  })
  await t.test('request for {CID}.ipfs.example.com should return expected payload', async () => {
    const r = await gw.request('/', { host: on(cidV1) })
    assert.equal(r.status, 200)
    assert.ok(r.body.toString().includes(hello))
  })
  await t.test('request for {CID}.ipfs.example.com/ipfs/{CID} should return HTTP 404', async () => {
    assert.equal((await gw.request(`/ipfs/${cidV1}/`, { host: on(cidV1) })).status, 404)
  })
  await t.test('request for {CID}.ipfs.example.com/ipfs/file.txt should return data from a file in CID content root', async () => {
    const r = await gw.request('/ipfs/file.txt', { host: on(dir) })
    assert.equal(r.status, 200)
    assert.match(r.body.toString(), /I am a txt file/)
  })
  await t.test('valid file and subdirectory paths in directory listing at {cid}.ipfs.example.com', async () => {
    const r = await gw.request('/', { host: on(dir) })
    assert.equal(r.status, 200)
    assert.ok(r.body.toString().includes('<a href="/hello">hello</a>'))
    assert.ok(r.body.toString().includes('<a href="/ipfs">ipfs</a>'))
  })
  await t.test('valid parent directory path in directory listing at {cid}.ipfs.example.com/sub/dir', async () => {
    const r = await gw.request('/ipfs/ipns/', { host: on(dir) })
    assert.equal(r.status, 200)
    assert.ok(r.body.toString().includes('<a href="/ipfs/ipns/..">..</a>'))
    assert.ok(r.body.toString().includes('<a href="/ipfs/ipns/bar">bar</a>'))
  })
  await t.test('request for deep path resource at {cid}.ipfs.example.com/sub/dir/file', async () => {
    const r = await gw.request('/ipfs/ipns/bar', { host: on(dir) })
    assert.equal(r.status, 200)
    assert.match(r.body.toString(), /text-file-content/)
  })
  await t.test('valid breadcrumb links in the header of directory listing at {cid}.ipfs.example.com/sub/dir', async () => {
    const r = await gw.request('/ipfs/ipns/', { host: on(dir) })
    assert.match(r.body.toString(), /Index of/)
    const crumbs = `/ipfs/<a href="//${gateway}/ipfs/${dir}">${dir}</a>/<a href="//${gateway}/ipfs/${dir}/ipfs">ipfs</a>/<a href="//${gateway}/ipfs/${dir}/ipfs/ipns">ipns</a>`
    assert.ok(r.body.toString().includes(crumbs))
  })
  await t.test('request for example.com/ipfs/{InvalidCID} produces useful error before redirect', async () => {
    const r = await gw.request('/ipfs/QmInvalidCID', { host: gateway })
    assert.equal(r.status, 400)
    assert.ok(r.body.toString().includes('invalid path "/ipfs/QmInvalidCID"'), r.body.toString())
  })
  await t.test('request for example.com/ipfs/?uri=ipfs%3A%2F%2F.. produces redirect to /ipfs/.. content path', async () => {
    const wiki = 'QmXoypizjW3WknFiJnKLwHCnL72vedxjQkDDP1mXWo6uco'
    const r = await gw.request(`/ipfs/?uri=${encodeURIComponent(`ipfs://${wiki}/wiki/Diego_Maradona.html`)}`, { host: gateway })
    assert.equal(r.status, 301)
    assert.equal(r.header('location'), `/ipfs/${wiki}/wiki/Diego_Maradona.html`)
  })
  await t.test('the API is not on the gateway: /api/ on a content origin is content, on example.com nothing (kubo sharness t0114, the fixture\'s "confusing /api dir")', async () => {
    let r = await gw.request('/api/file.txt', { host: on(dir) })
    assert.equal(r.status, 200)
    assert.match(r.body.toString(), /I am a txt file/)
    r = await gw.request('/api/v0/version', { host: on(dir) })
    assert.equal(r.status, 404)
    for (const method of ['GET', 'POST']) {
      r = await gw.request('/api/v0/version', { host: gateway, method })
      assert.ok(r.status === 404 || r.status === 405, `${method} /api/v0/version on the gateway: ${r.status}`)
      assert.doesNotMatch(r.body.toString(), /"Version"|"version"/)
    }
  })
  await t.test('request for a too long CID at example.com/ipfs/{CIDv1} returns human readable error', async () => {
    const r = await gw.request(`/ipfs/${tooLong}/`, { host: gateway })
    assert.equal(r.status, 400)
    assert.match(r.body.toString(), /CID incompatible with DNS label length limit of 63/)
  })
  await t.test('request for a too long CID at {CIDv1}.ipfs.example.com returns expected payload', async () => {
    const r = await gw.request('/', { host: on(tooLong) })
    assert.equal(r.status, 400)
    assert.match(r.body.toString(), /CID incompatible with DNS label length limit of 63/)
  })
})

test('IPNS names on the subdomain gateway (TestGatewaySubdomainAndIPNS)', async t => {
  const gw = await startGateway(t)
  const f = await loadFixture('subdomain_gateway/fixtures.car', gw.node)
  const payload = (await f.content('hello-CIDv1')).toString()
  const gateway = `localhost:${gw.port}`
  for (const [kind, id] of [['ed25519', '12D3KooWLQzUv2FHWGVPXTXSZpdHs7oHbXub2G5WC8Tx4NQhyd2d'], ['RSA', 'QmVujd5Vb7moysJj8itnGufN7MEtPRCNHkKpNuA4onsRa3']]) {
    const multihash = peerIdFromString(id).toMultihash()
    const idV1 = CID.createV1(0x72, multihash).toString(base36)
    const dagPbV1 = CID.createV1(0x70, multihash).toString(base36)
    await t.test(`${kind}: request for /ipns/{CIDv0} redirects to CIDv1 with libp2p-key multicodec in subdomain`, async () => {
      const r = await gw.request(`/ipns/${id}`, { host: gateway })
      assert.equal(r.status, 301)
      assert.equal(r.header('location'), `http://${idV1}.ipns.${gateway}/`)
    })
    await t.test(`${kind}: request for /ipns/{CIDv1} redirects to same CIDv1 on subdomain`, async () => {
      const r = await gw.request(`/ipns/${idV1}`, { host: gateway })
      assert.equal(r.status, 301)
      assert.equal(r.header('location'), `http://${idV1}.ipns.${gateway}/`)
    })
    await t.test(`${kind}: request for {CIDv1-dag-pb}.ipns.{gateway} redirects to CID with libp2p-key multicodec`, async () => {
      const r = await gw.request('/', { host: `${dagPbV1}.ipns.${gateway}` })
      assert.equal(r.status, 301)
      assert.equal(r.header('location'), `http://${idV1}.ipns.${gateway}/`)
    })
    if (kind === 'ed25519') {
      await t.test(`${kind}: request for {CIDv1-base36-libp2p-key}.ipns.{gateway} returns expected payload`, async () => {
        const bytes = await readFile(join(import.meta.dirname, '..', '..', 'fixtures', 'gateway-conformance', 'subdomain_gateway', `${id}.ipns-record`))
        assert.equal(await gw.node.sites.receive(idV1, bytes), 'new')
        const r = await gw.request('/', { host: `${idV1}.ipns.${gateway}` })
        assert.equal(r.status, 200)
        assert.equal(r.body.toString(), payload)
      })
    }
  }
  await t.test('request for a ED25519 libp2p-key at example.com/ipns/{b58mh} returns Location HTTP header for DNS-safe subdomain redirect in browsers', async () => {
    const id = '12D3KooWLQzUv2FHWGVPXTXSZpdHs7oHbXub2G5WC8Tx4NQhyd2d'
    const r = await gw.request(`/ipns/${id}`, { host: gateway })
    assert.equal(r.header('location'), `http://${CID.createV1(0x72, peerIdFromString(id).toMultihash()).toString(base36)}.ipns.${gateway}/`)
  })
})
