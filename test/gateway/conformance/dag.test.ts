/**
 * Ported from ipfs/gateway-conformance tests/path_gateway_dag_test.go, the parts about UnixFS
 * JSON files and DAG-CBOR (TestGatewayJsonCbor, TestCodecMismatchReturns406, TestPathing,
 * TestNativeDag and TestGatewayJSONCborAndIPNS for DAG-CBOR), against a weft gateway on
 * 127.0.0.1. The DAG-JSON, plain JSON and plain CBOR codecs and the HTML previews do not apply
 * (docs/gateway.md says why).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { startGateway, loadFixture } from './harness.ts'

const FIXTURES = join(import.meta.dirname, '..', '..', 'fixtures', 'gateway-conformance')

test('UnixFS JSON files, and codecs a block is not (TestGatewayJsonCbor, TestCodecMismatchReturns406)', async t => {
  const gw = await startGateway(t)
  const unixfs = await loadFixture('path_gateway_dag/gateway-json-cbor.car', gw.node)
  const cbor = await loadFixture('path_gateway_dag/dag-cbor-traversal.car', gw.node)
  const json = await unixfs.cid('ą', 'ę', 't.json')
  const jsonBytes = await unixfs.content('ą', 'ę', 't.json')
  const file = await unixfs.cid('ą', 'ę', 'file-źł.txt')
  const cborRoot = cbor.roots[0]

  await t.test('GET UnixFS file with JSON bytes is returned with application/json Content-Type - without headers', async () => {
    const r = await gw.request(`/ipfs/${await unixfs.cid()}/%C4%85/%C4%99/t.json`)
    assert.equal(r.status, 200)
    assert.equal(r.header('content-type'), 'application/json')
    assert.deepEqual(r.body, jsonBytes)
  })
  await t.test('GET UnixFS file with JSON bytes is returned with application/json Content-Type - with headers', async () => {
    const r = await gw.request(`/ipfs/${await unixfs.cid()}/%C4%85/%C4%99/t.json`, { headers: { accept: 'application/json' } })
    assert.equal(r.status, 200)
    assert.equal(r.header('content-type'), 'application/json')
    assert.deepEqual(r.body, jsonBytes)
  })
  await t.test('GET raw block with JSON bytes prefers format over Accept header', async () => {
    const r = await gw.request(`/ipfs/${json}?format=json`, { headers: { accept: 'application/vnd.ipld.raw' } })
    assert.equal(r.status, 200)
    assert.equal(r.header('content-type'), 'application/json')
    assert.deepEqual(r.body, jsonBytes)
  })
  const mismatches: Array<[string, string, Record<string, string>]> = [
    ['GET UnixFS (dag-pb) file with format=dag-json returns 406 Not Acceptable', `/ipfs/${file}?format=dag-json`, {}],
    ['GET UnixFS (dag-pb) file with format=dag-cbor returns 406 Not Acceptable', `/ipfs/${file}?format=dag-cbor`, {}],
    ['GET UnixFS (dag-pb) file with Accept: application/vnd.ipld.dag-json returns 406 Not Acceptable', `/ipfs/${file}`, { accept: 'application/vnd.ipld.dag-json' }],
    ['GET DAG-CBOR block with format=dag-json returns 406 Not Acceptable', `/ipfs/${cborRoot}?format=dag-json`, {}],
    ['GET DAG-CBOR block with Accept: application/vnd.ipld.dag-json returns 406 Not Acceptable', `/ipfs/${cborRoot}`, { accept: 'application/vnd.ipld.dag-json' }]
  ]
  for (const [name, path, headers] of mismatches) {
    await t.test(name, async () => {
      const r = await gw.request(path, { headers })
      assert.equal(r.status, 406)
      assert.match(r.body.toString(), /ERR_NOT_ACCEPTABLE/)
    })
  }
  await t.test('?format=json of a file that is not JSON is 406 too (weft)', async () => {
    assert.equal((await gw.request(`/ipfs/${file}?format=json`)).status, 406)
  })
})

test('DAG-CBOR: pathing and native answers (TestPathing, TestNativeDag, TestGatewayJSONCborAndIPNS)', async t => {
  const gw = await startGateway(t)
  const f = await loadFixture('path_gateway_dag/dag-cbor-traversal.car', gw.node)
  const cid = f.roots[0]
  const raw = Buffer.from(f.blocks.get(cid.toString()) as Uint8Array)
  const missing = CID.createV1(0x71, await sha256.digest(Buffer.from('not in any fixture')))

  await t.test('GET DAG-CBOR traversal returns 501 if there is path remainder', async () => {
    const r = await gw.request(`/ipfs/${cid}/foo?format=dag-cbor`)
    assert.equal(r.status, 501)
    assert.match(r.body.toString(), /ERR_DAG_PATH_INTO_DATA/)
  })
  await t.test('GET DAG-CBOR traverses multiple links', async () => {
    const r = await gw.request(`/ipfs/${cid}/foo/link/bar?format=dag-cbor`)
    assert.equal(r.status, 200)
    // CBOR bytes for {"hello": "this is not a link"}, as the suite spells them
    assert.deepEqual(r.body, Buffer.from('a16568656c6c6f7274686973206973206e6f742061206c696e6b', 'hex'))
  })
  await t.test('GET DAG-CBOR returns 404 on non-existing link', async () => {
    assert.equal((await gw.request(`/ipfs/${cid}/foo/i-do-not-exist`)).status, 404)
  })
  const same: Array<[string, string, Record<string, string>, string]> = [
    ['GET plain CBOR codec from /ipfs without explicit format returns the same payload as the raw block', `/ipfs/${cid}`, {}, 'application/vnd.ipld.dag-cbor'],
    ['GET plain CBOR codec from /ipfs with format=dag-cbor returns the same payload as the raw block', `/ipfs/${cid}?format=dag-cbor`, {}, 'application/vnd.ipld.dag-cbor'],
    ['GET plain CBOR codec from /ipfs with application/vnd.ipld.dag-cbor returns the same payload as the raw block', `/ipfs/${cid}`, { accept: 'application/vnd.ipld.dag-cbor' }, 'application/vnd.ipld.dag-cbor'],
    ['GET plain CBOR codec with format=cbor returns same payload as format=dag-cbor but with plain Content-Type', `/ipfs/${cid}?format=cbor`, {}, 'application/cbor'],
    ['GET plain CBOR codec with Accept: application/cbor returns same payload as application/vnd.ipld.dag-cbor but with plain Content-Type', `/ipfs/${cid}`, { accept: 'application/cbor' }, 'application/cbor']
  ]
  for (const [name, path, headers, type] of same) {
    await t.test(name, async () => {
      const r = await gw.request(path, { headers })
      assert.equal(r.status, 200)
      assert.equal(r.header('content-type'), type)
      assert.deepEqual(r.body, raw)
    })
  }
  await t.test('GET response for application/vnd.ipld.dag-cbor has expected Content-Type', async () => {
    const r = await gw.request(`/ipfs/${cid}`, { headers: { accept: 'application/vnd.ipld.dag-cbor' } })
    assert.equal(r.header('content-type'), 'application/vnd.ipld.dag-cbor')
    assert.equal(r.header('content-length'), String(raw.byteLength))
    assert.ok((r.header('content-disposition') ?? '').includes(`attachment; filename="${cid}.cbor"`), r.header('content-disposition'))
  })
  await t.test('GET for application/vnd.ipld.dag-cbor with query filename includes Content-Disposition with custom filename', async () => {
    const r = await gw.request(`/ipfs/${cid}?filename=foobar.cbor`, { headers: { accept: 'application/vnd.ipld.dag-cbor' } })
    assert.ok((r.header('content-disposition') ?? '').includes('attachment; filename="foobar.cbor"'))
  })
  await t.test('GET for application/vnd.ipld.dag-cbor with ?download=true forces Content-Disposition: attachment', async () => {
    const r = await gw.request(`/ipfs/${cid}?filename=foobar.cbor&download=true`, { headers: { accept: 'application/vnd.ipld.dag-cbor' } })
    assert.ok((r.header('content-disposition') ?? '').includes('attachment; filename="foobar.cbor"'))
  })
  await t.test('Cache control HTTP headers (cbor)', async () => {
    const r = await gw.request(`/ipfs/${cid}`, { headers: { accept: 'application/vnd.ipld.dag-cbor' } })
    assert.ok((r.header('etag') ?? '').includes(`${cid}.dag-cbor`))
    assert.ok(r.header('x-ipfs-path') !== undefined)
    assert.ok(r.header('x-ipfs-roots') !== undefined)
    assert.ok((r.header('cache-control') ?? '').includes('public, max-age=29030400, immutable'))
  })
  await t.test('HEAD plain CBOR codec with no explicit format returns HTTP 200', async () => {
    const r = await gw.request(`/ipfs/${cid}`, { method: 'HEAD' })
    assert.equal(r.status, 200)
    assert.match(r.header('content-type') ?? '', /application\/vnd\.ipld\.dag-cbor/)
    assert.equal(r.header('content-length'), String(raw.byteLength))
  })
  await t.test('HEAD plain CBOR codec with an explicit format returns HTTP 200', async () => {
    const r = await gw.request(`/ipfs/${cid}?format=dag-cbor`, { method: 'HEAD' })
    assert.equal(r.status, 200)
    assert.ok((r.header('etag') ?? '').includes(`${cid}.dag-cbor`))
    assert.match(r.header('content-type') ?? '', /application\/vnd\.ipld\.dag-cbor/)
    assert.ok(r.header('content-length') !== undefined)
  })
  await t.test('HEAD plain CBOR codec with only-if-cached for missing block returns HTTP 412 Precondition Failed', async () => {
    const r = await gw.request(`/ipfs/${missing}`, { method: 'HEAD', headers: { 'cache-control': 'only-if-cached' } })
    assert.equal(r.status, 412)
  })
  await t.test('a range of a DAG-CBOR block (the suite\'s random range tests)', async () => {
    const r = await gw.request(`/ipfs/${cid}`, { headers: { range: 'bytes=2-9' } })
    assert.equal(r.status, 206)
    assert.equal(r.header('content-range'), `bytes 2-9/${raw.byteLength}`)
    assert.deepEqual(r.body, raw.subarray(2, 10))
  })

  const name = 'k51qzi5uqu5dghjous0agrwavl8vzl64xckoqzwqeqwudfr74kfd11zcyk3b7l'
  assert.equal(await gw.node.sites.receive(name, await readFile(join(FIXTURES, 'path_gateway_dag', `${name}.ipns-record`))), 'new')
  await t.test('GET plain CBOR codec from /ipns without explicit format returns the same payload as /ipfs', async () => {
    assert.deepEqual((await gw.request(`/ipns/${name}`)).body, (await gw.request(`/ipfs/${cid}`)).body)
  })
  await t.test('GET plain CBOR codec from /ipns with explicit format returns the same payload as /ipfs', async () => {
    const r = await gw.request(`/ipns/${name}?format=dag-cbor`)
    assert.equal(r.status, 200)
    assert.deepEqual(r.body, (await gw.request(`/ipfs/${cid}?format=dag-cbor`)).body)
  })
  await t.test('GET plain CBOR codec from /ipns with explicit application/vnd.ipld.dag-cbor has expected headers', async () => {
    const r = await gw.request(`/ipns/${name}`, { headers: { accept: 'application/vnd.ipld.dag-cbor' } })
    assert.equal(r.header('content-type'), 'application/vnd.ipld.dag-cbor')
    assert.equal(r.header('etag'), `"${cid}.dag-cbor"`)
    assert.ok((r.header('x-ipfs-path') ?? '') !== '')
    assert.ok((r.header('x-ipfs-roots') ?? '') !== '')
  })
})
