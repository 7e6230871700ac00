/**
 * Ported from ipfs/gateway-conformance tests/path_gateway_ipns_test.go, the /ipns/ part of
 * path_gateway_unixfs_test.go (TestGatewayCacheWithIPNS) and trustless_gateway_ipns_test.go,
 * against a weft gateway on 127.0.0.1. The suite's gateway finds the fixture records through
 * its routing; here each is handed to the node as a peer would push it (sites.receive), which
 * checks it as any record from the network: the broken ones are refused there, and the
 * gateway then has no record to serve (a 5XX, as the suite asks).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { unmarshalIPNSRecord } from 'ipns'
import { ipnsValidator } from 'ipns/validator'
import { multihashToIPNSRoutingKey } from 'ipns'
import { peerIdFromString } from '@libp2p/peer-id'
import { CID } from 'multiformats/cid'
import { startGateway, loadFixture, type Gateway } from './harness.ts'

const FIXTURES = join(import.meta.dirname, '..', '..', 'fixtures', 'gateway-conformance')

async function record (file: string): Promise<{ name: string, bytes: Uint8Array }> {
  const name = /(k51[a-z0-9]+)/.exec(file)?.[1] as string
  return { name, bytes: await readFile(join(FIXTURES, file)) }
}

/** An identity CID's bytes (the suite's mustBytesFromRawCID): the records point at content held in their CIDs. */
function identityBytes (path: string): Buffer {
  return Buffer.from(CID.parse(path.replace(/^\/ipfs\//, '')).multihash.digest)
}

async function give (gw: Gateway, file: string): Promise<{ name: string, value: string, bytes: Uint8Array }> {
  const r = await record(file)
  assert.equal(await gw.node.sites.receive(r.name, r.bytes), 'new')
  return { ...r, value: unmarshalIPNSRecord(r.bytes).value }
}

test('IPNS records: V1 and V2 signatures (TestGatewayIPNSPath), canonical names (TestRedirectCanonicalIPNS)', async t => {
  const gw = await startGateway(t)
  const refused: Array<[string, string]> = [
    ['V1-only signature', 'ipns_records/k51qzi5uqu5dm4tm0wt8srkg9h9suud4wuiwjimndrkydqm81cqtlb5ak6p7ku_v1.ipns-record'],
    ['valid V1+V2 signatures with V1-vs-V2 value mismatch', 'ipns_records/k51qzi5uqu5dlmit2tuwdvnx4sbnyqgmvbxftl0eo3f33wwtb9gr7yozae9kpw_v1-v2-broken-v1-value.ipns-record'],
    ['valid V1 and broken V2 signature', 'ipns_records/k51qzi5uqu5diamp7qnnvs1p1gzmku3eijkeijs3418j23j077zrkok63xdm8c_v1-v2-broken-signature-v2.ipns-record']
  ]
  for (const [what, file] of refused) {
    await t.test(`GET for /ipns/name with ${what} MUST fail with 5XX`, async () => {
      const r = await record(file)
      await assert.rejects(gw.node.sites.receive(r.name, r.bytes), { code: 'ERR_RECORD_INVALID' })
      const answer = await gw.request(`/ipns/${r.name}`)
      assert.ok(answer.status >= 500 && answer.status <= 599, `status ${answer.status}`)
    })
  }
  const served: Array<[string, string]> = [
    ['valid V2 and broken V1 signature', 'ipns_records/k51qzi5uqu5dilgf7gorsh9vcqqq4myo6jd4zmqkuy9pxyxi5fua3uf7axph4y_v1-v2-broken-signature-v1.ipns-record'],
    ['valid V1+V2 signatures', 'ipns_records/k51qzi5uqu5dlkw8pxuw9qmqayfdeh4kfebhmreauqdc6a7c3y7d5i9fi8mk9w_v1-v2.ipns-record'],
    ['valid V2-only signature', 'ipns_records/k51qzi5uqu5dit2ku9mutlfgwyz8u730on38kd10m97m36bjt66my99hb6103f_v2.ipns-record']
  ]
  for (const [what, file] of served) {
    await t.test(`GET for /ipns/name with ${what} succeeds`, async () => {
      const r = await give(gw, file)
      const answer = await gw.request(`/ipns/${r.name}`)
      assert.equal(answer.status, 200)
      assert.deepEqual(answer.body, identityBytes(r.value))
    })
  }
  await t.test('GET for /ipns/{b58-multihash-of-ed25519-key} redirects to /ipns/{cidv1-libp2p-key-base36}', async () => {
    const r = await gw.request('/ipns/12D3KooWRBy97UB99e3J6hiPesre1MZeuNQvfan4gBziswrRJsNK/root2/')
    assert.equal(r.status, 302)
    assert.equal(r.header('location'), '/ipns/k51qzi5uqu5dlvj2baxnqndepeb86cbk3ng7n3i46uzyxzyqj2xjonzllnv0v8/root2/')
  })
  await t.test('GET for /ipns/{cidv0-like-b58-multihash-of-rsa-key} redirects to /ipns/{cidv1-libp2p-key-base36}', async () => {
    const r = await gw.request('/ipns/QmcJM7PRfkSbcM5cf1QugM5R37TLRKyJGgBEhXjLTB8uA2/root2/')
    assert.equal(r.status, 302)
    assert.equal(r.header('location'), '/ipns/k2k4r8ol4m8kkcqz509c1rcjwunebj02gcnm5excpx842u736nja8ger/root2/')
  })
})

test('/ipns/ caching headers and a record whose value has a sub-path (TestGatewayCacheWithIPNS, TestGatewayIPNSRecordWithSubpath)', async t => {
  const gw = await startGateway(t)
  const f = await loadFixture('gateway-cache/fixtures.car', gw.node)
  const { name } = await give(gw, 'gateway-cache/k51qzi5uqu5dlxdsdu5fpuu7h69wu4ohp32iwm9pdt9nq3y5rpn3ln9j12zfhe.ipns-record')
  const roots = async (...path: string[]): Promise<string> => (await f.pathCids(...path)).join(',')
  const maxAge = (v: string | undefined): boolean => v === undefined || /^public, max-age=/.test(v)

  await t.test('GET for /ipns/ unixfs dir listing succeeds', async () => {
    const r = await gw.request(`/ipns/${name}/root2/root3/`)
    assert.equal(r.status, 200)
    assert.equal(r.header('x-ipfs-path'), `/ipns/${name}/root2/root3/`)
    assert.equal(r.header('x-ipfs-roots'), await roots('root2', 'root3'))
    assert.match(r.header('etag') ?? '', new RegExp(`DirIndex-.*_CID-${await f.cid('root2', 'root3')}`))
    assert.ok(maxAge(r.header('cache-control')), r.header('cache-control'))
  })
  await t.test('GET for /ipns/ unixfs dir with index.html succeeds', async () => {
    const r = await gw.request(`/ipns/${name}/root2/root3/root4/`)
    assert.equal(r.status, 200)
    assert.equal(r.header('x-ipfs-path'), `/ipns/${name}/root2/root3/root4/`)
    assert.equal(r.header('x-ipfs-roots'), await roots('root2', 'root3', 'root4'))
    assert.equal(r.header('etag'), `"${await f.cid('root2', 'root3', 'root4')}"`)
    assert.ok(maxAge(r.header('cache-control')), r.header('cache-control'))
  })
  await t.test('GET for /ipns/ unixfs file succeeds', async () => {
    const r = await gw.request(`/ipns/${name}/root2/root3/root4/index.html`)
    assert.equal(r.status, 200)
    assert.equal(r.header('x-ipfs-path'), `/ipns/${name}/root2/root3/root4/index.html`)
    assert.equal(r.header('x-ipfs-roots'), await roots('root2', 'root3', 'root4', 'index.html'))
    assert.equal(r.header('etag'), `"${await f.cid('root2', 'root3', 'root4', 'index.html')}"`)
    assert.ok(maxAge(r.header('cache-control')), r.header('cache-control'))
  })
  await t.test('GET for /ipns/ unixfs dir as raw block succeeds', async () => {
    const r = await gw.request(`/ipns/${name}/root2/root3/root4/?format=raw`)
    assert.equal(r.status, 200)
    assert.deepEqual(r.body, Buffer.from(await f.bytes('root2', 'root3', 'root4')))
    assert.ok(maxAge(r.header('cache-control')), r.header('cache-control'))
  })
  await t.test('GET for /ipns/ file with matching Etag in If-None-Match returns 304 Not Modified', async () => {
    const r = await gw.request(`/ipns/${name}/root2/root3/root4/index.html`, { headers: { 'if-none-match': `"${await f.cid('root2', 'root3', 'root4', 'index.html')}"` } })
    assert.equal(r.status, 304)
  })
  await t.test('GET /ipns/{key}/root3/root4/index.html returns file when IPNS record Value has sub-path', async () => {
    const sub = await give(gw, 'gateway-cache/k51qzi5uqu5djokp3m1keo36hoxtd6u3a1d2rg1camf6al7p3huy63dojlm57c.ipns-record')
    assert.match(sub.value, /\/root2$/)
    const r = await gw.request(`/ipns/${sub.name}/root3/root4/index.html`)
    assert.equal(r.status, 200)
    assert.equal(r.body.toString(), 'hello\n')
  })
})

test('IPNS records as trustless answers (TestGatewayIPNSRecord)', async t => {
  const gw = await startGateway(t)
  const v1v2 = await give(gw, 'ipns_records/k51qzi5uqu5dlkw8pxuw9qmqayfdeh4kfebhmreauqdc6a7c3y7d5i9fi8mk9w_v1-v2.ipns-record')
  const v2 = await give(gw, 'ipns_records/k51qzi5uqu5dit2ku9mutlfgwyz8u730on38kd10m97m36bjt66my99hb6103f_v2.ipns-record')
  for (const [label, r] of [['V1+V2', v1v2], ['V2', v2]] as const) {
    for (const how of ['format=ipns-record', '\'Accept: application/vnd.ipfs.ipns-record\'']) {
      await t.test(`GET IPNS Record (${label}) with ${how} has expected HTTP headers and valid key`, async () => {
        const answer = how.startsWith('format')
          ? await gw.request(`/ipns/${r.name}?format=ipns-record`)
          : await gw.request(`/ipns/${r.name}`, { headers: { accept: 'application/vnd.ipfs.ipns-record' } })
        assert.equal(answer.status, 200)
        assert.match(answer.header('content-disposition') ?? '', /attachment;/)
        assert.match(answer.header('content-type') ?? '', /application\/vnd\.ipfs\.ipns-record/)
        assert.ok((answer.header('cache-control') ?? '').includes('public, max-age=1800'), answer.header('cache-control'))
        // IsIPNSRecord(key).IsValid().PointsTo(value), checked with the ipns library
        await ipnsValidator(multihashToIPNSRoutingKey(peerIdFromString(r.name).toMultihash()), answer.body)
        assert.equal(unmarshalIPNSRecord(answer.body).value, r.value)
      })
    }
  }
  await t.test('GET IPNS Record with explicit ?filename= succeeds with modified Content-Disposition header', async () => {
    const answer = await gw.request(`/ipns/${v1v2.name}?format=ipns-record&filename=${encodeURIComponent('testтест.ipns-record')}`)
    assert.ok((answer.header('content-disposition') ?? '').includes('attachment; filename="test____.ipns-record"; filename*=UTF-8\'\'test%D1%82%D0%B5%D1%81%D1%82.ipns-record'), answer.header('content-disposition'))
  })
})
