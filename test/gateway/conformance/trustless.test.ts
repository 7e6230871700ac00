/**
 * Ported from ipfs/gateway-conformance tests/trustless_gateway_raw_test.go and
 * tests/trustless_gateway_car_test.go (pathing, dag-scope, entity-bytes, order and dups,
 * format precedence), with the suite's standard CAR headers (helpers/car.go) checked on
 * every CAR answer, asked both by `?format=car` and by the Accept header.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { startGateway, loadFixture, carBlocks, cidKeys, type Gateway, type Reply } from './harness.ts'

function assertImmutable (r: Reply): void {
  const directives = new Map((r.header('cache-control') ?? '').split(',').map(d => { const [k, v = ''] = d.trim().split('='); return [k, v] }))
  assert.ok(directives.has('public') && directives.has('immutable') && Number(directives.get('max-age')) >= 29030400, `Cache-Control ${r.header('cache-control')} is public, immutable, max-age >= 29030400`)
}

/** helpers/car.go carResponseHeaders. */
function assertCarHeaders (r: Reply): void {
  assert.equal(r.header('x-content-type-options'), 'nosniff')
  assert.equal(r.header('accept-ranges'), 'none', 'a CAR is streamed: no range requests')
  assert.match(r.header('content-type') ?? '', /application\/vnd\.ipld\.car/)
  assert.match(r.header('content-disposition') ?? '', /attachment; filename=".*\.car"/)
  assert.ok((r.header('etag') ?? '') !== '', 'an ETag')
}

/** One CAR request both ways (helpers/car.go checkBothFormatURLParameterAndAcceptHeaderCAR): every answer is checked. */
async function bothWays (gw: Gateway, path: string, query: string, check: (r: Reply) => Promise<void>): Promise<void> {
  const q = query === '' ? '' : `&${query}`
  await check(await gw.request(`${path}?format=car${q}`))
  await check(await gw.request(`${path}${query === '' ? '' : `?${query}`}`, { headers: { accept: 'application/vnd.ipld.car' } }))
}

async function assertCar (r: Reply, expected: CID[] | Array<CID | string>, options: { ordered?: boolean } = {}): Promise<void> {
  assert.equal(r.status, 200, r.body.toString().slice(0, 200))
  assert.equal(r.error, undefined)
  assertCarHeaders(r)
  const { blocks } = await carBlocks(r.body)
  if (options.ordered === false) assert.deepEqual(new Set(cidKeys(blocks)), new Set(cidKeys(expected)))
  else assert.deepEqual(cidKeys(blocks), cidKeys(expected))
}

test('trustless raw blocks (trustless_gateway_raw_test.go)', async t => {
  const gw = await startGateway(t)
  const f = await loadFixture('gateway-raw-block.car', gw.node)
  const dir = await f.cid('dir')
  const ascii = await f.cid('dir', 'ascii.txt')
  const asciiBytes = await f.bytes('dir', 'ascii.txt')

  await t.test('GET with format=raw param returns a raw block', async () => {
    const r = await gw.request(`/ipfs/${dir}?format=raw`)
    assert.equal(r.status, 200)
    assert.deepEqual(r.body, Buffer.from(await f.bytes('dir')))
  })
  await t.test('GET with application/vnd.ipld.raw header returns a raw block', async () => {
    const r = await gw.request(`/ipfs/${dir}`, { headers: { accept: 'application/vnd.ipld.raw' } })
    assert.equal(r.status, 200)
    assert.deepEqual(r.body, Buffer.from(await f.bytes('dir')))
  })
  await t.test('GET with application/vnd.ipld.raw header returns expected response headers', async () => {
    const r = await gw.request(`/ipfs/${ascii}`, { headers: { accept: 'application/vnd.ipld.raw' } })
    assert.equal(r.status, 200)
    assert.equal(r.header('content-type'), 'application/vnd.ipld.raw')
    assert.equal(r.header('content-length'), String(asciiBytes.byteLength))
    assert.match(r.header('content-disposition') ?? '', /attachment;/)
    assert.equal(r.header('x-content-type-options'), 'nosniff')
    assert.deepEqual(r.body, Buffer.from(asciiBytes))
  })
  await t.test('GET with application/vnd.ipld.raw header and filename param returns expected Content-Disposition header with custom filename', async () => {
    const r = await gw.request(`/ipfs/${ascii}?filename=foobar.bin`, { headers: { accept: 'application/vnd.ipld.raw' } })
    assert.equal(r.status, 200)
    assert.match(r.header('content-disposition') ?? '', /attachment;/)
    assert.match(r.header('content-disposition') ?? '', /filename="foobar\.bin/)
  })
  await t.test('GET with application/vnd.ipld.raw header returns expected caching headers', async () => {
    const r = await gw.request(`/ipfs/${ascii}`, { headers: { accept: 'application/vnd.ipld.raw' } })
    assert.ok((r.header('etag') ?? '') !== '')
    assert.equal(r.header('x-ipfs-path'), `/ipfs/${ascii}`)
    assert.ok((r.header('x-ipfs-roots') ?? '').includes(ascii.toString()), `X-Ipfs-Roots ${r.header('x-ipfs-roots')} names ${ascii}`)
    assertImmutable(r)
  })
  await t.test('GET with application/vnd.ipld.raw with range request includes correct bytes (TestTrustlessRawRanges)', async () => {
    // the suite lets a gateway answer 200 with the whole block; weft answers the range
    const r = await gw.request(`/ipfs/${ascii}`, { headers: { accept: 'application/vnd.ipld.raw', range: 'bytes=3-9' } })
    assert.equal(r.status, 206)
    assert.equal(r.header('content-range'), `bytes 3-9/${asciiBytes.byteLength}`)
    assert.deepEqual(r.body, Buffer.from(asciiBytes.subarray(3, 10)))
    const several = await gw.request(`/ipfs/${ascii}`, { headers: { accept: 'application/vnd.ipld.raw', range: 'bytes=3-9,12-15' } })
    assert.ok(several.status === 200 ? several.body.equals(Buffer.from(asciiBytes)) : several.header('content-range') === `bytes 3-9/${asciiBytes.byteLength}`, 'several ranges: the whole block or the first range')
  })
  await t.test('format=car takes precedence over Accept: raw, format=raw over Accept: car (TestTrustlessCarFormatPrecedence)', async () => {
    let r = await gw.request(`/ipfs/${dir}?format=car`, { headers: { accept: 'application/vnd.ipld.raw' } })
    assert.equal(r.status, 200)
    assert.match(r.header('content-type') ?? '', /application\/vnd\.ipld\.car/)
    r = await gw.request(`/ipfs/${dir}?format=raw`, { headers: { accept: 'application/vnd.ipld.car' } })
    assert.equal(r.status, 200)
    assert.equal(r.header('content-type'), 'application/vnd.ipld.raw')
  })
})

test('trustless CARs: pathing, dag-scope, entity-bytes (trustless_gateway_car_test.go)', async t => {
  const gw = await startGateway(t)
  const two = await loadFixture('trustless_gateway_car/subdir-with-two-single-block-files.car', gw.node)
  const hamt = await loadFixture('trustless_gateway_car/single-layer-hamt-with-multi-block-files.car', gw.node)
  const mixed = await loadFixture('trustless_gateway_car/subdir-with-mixed-block-files.car', gw.node)
  const missing = await loadFixture('trustless_gateway_car/file-3k-and-3-blocks-missing-block.car', gw.node)
  const twoRoot = await two.cid()
  const mixedRoot = await mixed.cid()
  const multiblock = await mixed.cid('subdir', 'multiblock.txt')
  const multiblockLeaves = await mixed.descendants('subdir', 'multiblock.txt')

  await t.test('GET default CAR response with pathing through UnixFS Directory', async () => {
    await bothWays(gw, `/ipfs/${twoRoot}/subdir/ascii.txt`, '', async r => { await assertCar(r, await two.pathCids('subdir', 'ascii.txt')) })
  })
  await t.test('GET default CAR response of UnixFS file on a path with HAMT-sharded directory', async () => {
    await bothWays(gw, `/ipfs/${await hamt.cid()}/685.txt`, '', async r => {
      await assertCar(r, [...await hamt.pathCids('685.txt'), ...await hamt.descendants('685.txt')])
    })
  })
  await t.test('GET default CAR response of UnixFS file on a path with DAG-CBOR as root CID', async () => {
    const withCbor = await loadFixture('trustless_gateway_car/dir-with-dag-cbor-with-links.car', gw.node)
    const document = await withCbor.cid('document')
    assert.equal(document.code, dagCbor.code)
    // the document's files.single link, read with @ipld/dag-cbor
    const value = dagCbor.decode(withCbor.blocks.get(document.toString()) as Uint8Array) as { files: { single: CID } }
    const single = CID.asCID(value.files.single) as CID
    assert.equal(single.code, 0x55, 'the fixture links a raw file: one block')
    await bothWays(gw, `/ipfs/${document}/files/single`, '', async r => { await assertCar(r, [document, single]) })
  })
  await t.test('GET CAR with dag-scope=entity of DAG-CBOR with Links', async () => {
    const withCbor = await loadFixture('trustless_gateway_car/dir-with-dag-cbor-with-links.car')
    await bothWays(gw, `/ipfs/${await withCbor.cid()}/document`, 'dag-scope=entity', async r => {
      await assertCar(r, [await withCbor.cid(), await withCbor.cid('document')])
    })
  })
  await t.test('GET default CAR response for non-existing file', async () => {
    await bothWays(gw, `/ipfs/${twoRoot}/subdir/i-do-not-exist`, '', async r => {
      // the suite allows a partial CAR up to the parent, or 404: weft checks the path first
      assert.equal(r.status, 404)
    })
  })
  await t.test('GET CAR with dag-scope=block of UnixFS directory on a path', async () => {
    await bothWays(gw, `/ipfs/${twoRoot}/subdir`, 'dag-scope=block', async r => { await assertCar(r, await two.pathCids('subdir')) })
  })
  await t.test('GET CAR with dag-scope=block of UnixFS file on a path', async () => {
    await bothWays(gw, `/ipfs/${twoRoot}/subdir/ascii.txt`, 'dag-scope=block', async r => { await assertCar(r, await two.pathCids('subdir', 'ascii.txt')) })
  })
  await t.test('GET CAR with dag-scope=block of UnixFS file on a path with sharded directory', async () => {
    await bothWays(gw, `/ipfs/${await hamt.cid()}/1.txt`, 'dag-scope=block', async r => { await assertCar(r, await hamt.pathCids('1.txt')) })
  })
  await t.test('GET CAR with dag-scope=entity of a UnixFS directory', async () => {
    await bothWays(gw, `/ipfs/${twoRoot}`, 'dag-scope=entity', async r => { await assertCar(r, [twoRoot]) })
  })
  await t.test('GET CAR with dag-scope=entity of a UnixFS sharded directory', async () => {
    await bothWays(gw, `/ipfs/${await hamt.cid()}`, 'dag-scope=entity', async r => { await assertCar(r, [await hamt.cid(), ...await hamt.shards()]) })
  })
  await t.test('GET CAR with dag-scope=entity of a UnixFS file', async () => {
    await bothWays(gw, `/ipfs/${mixedRoot}/subdir/ascii.txt`, 'dag-scope=entity', async r => { await assertCar(r, await mixed.pathCids('subdir', 'ascii.txt')) })
  })
  await t.test('GET CAR with dag-scope=entity of a chunked UnixFS file', async () => {
    await bothWays(gw, `/ipfs/${mixedRoot}/subdir/multiblock.txt`, 'dag-scope=entity', async r => {
      await assertCar(r, [...await mixed.pathCids('subdir', 'multiblock.txt'), ...multiblockLeaves])
    })
  })
  await t.test('GET CAR with dag-scope=all of UnixFS directory with multiple files', async () => {
    await bothWays(gw, `/ipfs/${mixedRoot}/subdir`, 'dag-scope=all', async r => {
      await assertCar(r, [...await mixed.pathCids('subdir'), ...await mixed.descendants('subdir')])
    })
  })
  await t.test('GET CAR with dag-scope=all of a chunked UnixFS file', async () => {
    await bothWays(gw, `/ipfs/${mixedRoot}/subdir/multiblock.txt`, 'dag-scope=all', async r => {
      await assertCar(r, [...await mixed.pathCids('subdir', 'multiblock.txt'), ...multiblockLeaves])
    })
  })

  await t.test('GET CAR with entity-bytes succeeds even if the gateway is missing a block after the requested range', async () => {
    await bothWays(gw, `/ipfs/${await missing.cid()}`, 'dag-scope=entity&entity-bytes=0:1000', async r => {
      await assertCar(r, [await missing.cid(), 'QmPKt7ptM2ZYSGPUc8PmPT2VBkLDK3iqpG9TBJY7PCE9rF'], { ordered: false })
    })
  })
  await t.test('GET CAR with entity-bytes succeeds even if the gateway is missing a block before the requested range', async () => {
    await bothWays(gw, `/ipfs/${await missing.cid()}`, 'dag-scope=entity&entity-bytes=2200:*', async r => {
      await assertCar(r, [await missing.cid(), 'QmWXY482zQdwecnfBsj78poUUuPXvyw2JAFAEMw4tzTavV'], { ordered: false })
    })
  })
  await t.test('GET CAR with entity-bytes of a full UnixFS file', async () => {
    await bothWays(gw, `/ipfs/${mixedRoot}/subdir/multiblock.txt`, 'dag-scope=entity&entity-bytes=0:*', async r => {
      await assertCar(r, [...await mixed.pathCids('subdir', 'multiblock.txt'), ...multiblockLeaves])
    })
  })
  await t.test('GET CAR with entity-bytes of a UnixFS directory', async () => {
    await bothWays(gw, `/ipfs/${await hamt.cid()}`, 'dag-scope=entity&entity-bytes=0:*', async r => { await assertCar(r, [await hamt.cid(), ...await hamt.shards()]) })
  })
  const ranges: Array<[string, string, CID[]]> = [
    ['equivalent to a HTTP Range Request from the middle of a file to the end', '512:*', multiblockLeaves.slice(2)],
    ['equivalent to a HTTP Range Request for the middle of a file', '512:1023', multiblockLeaves.slice(2, 4)],
    ['equivalent to a HTTP Range Request for the middle of a file (negative ending)', '512:-256', multiblockLeaves.slice(2, 4)],
    ['equivalent to HTTP Suffix Range Request for part of a file', '-5:*', multiblockLeaves.slice(3)],
    ['requesting a negative range bigger than the length of a file', '-9999:*', multiblockLeaves],
    ['requesting a range from the end of a file that is bigger than a file itself', '-9999:-3', multiblockLeaves.slice(0, 4)],
    ['requesting only the blocks for the first byte of a file', '0:0', multiblockLeaves.slice(0, 1)]
  ]
  for (const [name, bytes, leaves] of ranges) {
    await t.test(`GET CAR with entity-bytes ${name}`, async () => {
      await bothWays(gw, `/ipfs/${multiblock}`, `dag-scope=entity&entity-bytes=${bytes}`, async r => { await assertCar(r, [multiblock, ...leaves]) })
    })
  }
})

test('trustless CARs: order and duplicates, identity CIDs (TestTrustlessCarOrderAndDuplicates)', async t => {
  const gw = await startGateway(t)
  const f = await loadFixture('trustless_gateway_car/dir-with-duplicate-files.car', gw.node)
  const root = await f.cid()
  // defined by the spec's recipe, not by a library
  const multiblockCids = [
    'bafkreie5noke3mb7hqxukzcy73nl23k6lxszxi5w3dtmuwz62wnvkpsscm',
    'bafkreih4ephajybraj6wnxsbwjwa77fukurtpl7oj7t7pfq545duhot7cq',
    'bafkreigu7buvm3cfunb35766dn7tmqyh2um62zcio63en2btvxuybgcpue',
    'bafkreicll3huefkc3qnrzeony7zcfo7cr3nbx64hnxrqzsixpceg332fhe',
    'bafkreifst3pqztuvj57lycamoi7z34b4emf7gawxs74nwrc2c7jncmpaqm'
  ]
  const withDups = [root, await f.cid('ascii.txt'), await f.cid('ascii-copy.txt'), await f.cid('hello.txt'), await f.cid('multiblock.txt'), ...multiblockCids]
  const withoutDups = [root, await f.cid('ascii.txt'), await f.cid('hello.txt'), await f.cid('multiblock.txt'), ...multiblockCids]
  assert.equal((await f.cid('ascii.txt')).toString(), (await f.cid('ascii-copy.txt')).toString(), 'the fixture holds one file twice')

  const car = async (path: string, accept: string): Promise<Reply> => await gw.request(path, { headers: { accept } })
  const type = (r: Reply): string => r.header('content-type') ?? ''

  await t.test('GET CAR with order=dfs and dups=y of UnixFS Directory With Duplicate Files', async () => {
    const r = await car(`/ipfs/${root}`, 'application/vnd.ipld.car; version=1; order=dfs; dups=y')
    assert.match(type(r), /order=dfs/)
    assert.match(type(r), /dups=y/)
    await assertCar(r, withDups)
  })
  await t.test('GET CAR with order=dfs and dups=n of UnixFS Directory With Duplicate Files', async () => {
    const r = await car(`/ipfs/${root}`, 'application/vnd.ipld.car; version=1; order=dfs; dups=n')
    assert.match(type(r), /order=dfs/)
    assert.match(type(r), /dups=n/)
    await assertCar(r, withoutDups)
  })
  await t.test('GET CAR smoke-test with order=unk of UnixFS Directory', async () => {
    const r = await car(`/ipfs/${root}`, 'application/vnd.ipld.car; version=1; order=unk')
    assert.match(type(r), /order=/)
    await assertCar(r, withDups, { ordered: false })
  })
  await t.test('GET CAR with order=dfs and dups=y of identity CID', async () => {
    const r = await car('/ipfs/bafkqaf3imvwgy3zaneqgc3janfxgy2lomvscay3jmqfa', 'application/vnd.ipld.car; dups=y')
    assert.match(type(r), /dups=y/)
    await assertCar(r, [])
  })
  await t.test('GET CAR with ?format=car respects Accept header order and dups params', async () => {
    const r = await car(`/ipfs/${root}?format=car`, 'application/vnd.ipld.car; version=1; order=dfs; dups=y')
    assert.match(type(r), /order=dfs/)
    assert.match(type(r), /dups=y/)
    await assertCar(r, withDups)
  })
  await t.test('GET CAR with ?car-order=dfs takes precedence over order=unk in Accept', async () => {
    const r = await car(`/ipfs/${root}?format=car&car-order=dfs`, 'application/vnd.ipld.car; order=unk')
    assert.equal(r.status, 200)
    assert.match(type(r), /order=dfs/)
  })
  await t.test('GET CAR with ?car-dups=y takes precedence over dups=n in Accept', async () => {
    const r = await car(`/ipfs/${root}?format=car&car-dups=y`, 'application/vnd.ipld.car; dups=n')
    assert.equal(r.status, 200)
    assert.match(type(r), /dups=y/)
    await assertCar(r, withDups)
  })
})
