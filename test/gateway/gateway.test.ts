import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { CarBlockIterator } from '@ipld/car'
import { CID } from 'multiformats/cid'
import { base32 } from 'multiformats/bases/base32'
import { sha256 } from 'multiformats/hashes/sha2'
import { unmarshalIPNSRecord } from 'ipns'
import { importPath } from '../../src/content/index.ts'
import { createNode } from '../../src/node/index.ts'
import { nodeGateway } from '../../src/daemon/index.ts'
import { inlineDnsName, uninlineDnsName, subdomainName, type GatewayHandler } from '../../src/gateway/index.ts'
import { createTestNode } from '../helpers/testnet.ts'
import { tmpDir, tmpHome } from '../helpers/home.ts'

const PNG = Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000', 'hex')

/** A site folder with pages, a sniffable image, a big file, a folder without index, _redirects and 404.html. */
async function makeSite (dir: string): Promise<{ big: Buffer }> {
  const big = randomBytes(3 * 1024 * 1024 + 17)
  await mkdir(join(dir, 'docs', 'deep'), { recursive: true })
  await mkdir(join(dir, 'app'))
  await writeFile(join(dir, 'index.html'), '<!doctype html><title>home</title><p>hello from the root</p>')
  await writeFile(join(dir, 'style.css'), 'body { color: red }')
  await writeFile(join(dir, 'picture'), PNG)
  await writeFile(join(dir, 'big.bin'), big)
  await writeFile(join(dir, 'docs', 'a.txt'), 'a text file\n')
  await writeFile(join(dir, 'docs', 'deep', 'b.txt'), 'b\n')
  await writeFile(join(dir, 'app', 'index.html'), '<!doctype html><p>single page app</p>')
  await writeFile(join(dir, '404.html'), '<!doctype html><p>custom not found</p>')
  await writeFile(join(dir, '_redirects'), [
    '# rules',
    '/old-page  /index.html  301',
    '/app/*     /app/index.html  200',
    '/posts/:year/:slug  /docs/:slug.txt  200',
    '/gone  /404.html  410',
    '/elsewhere  https://example.invalid/x  302'
  ].join('\n') + '\n')
  return { big }
}

function get (gateway: GatewayHandler, url: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Response> {
  const u = new URL(url)
  return gateway(new Request(url, { method, headers: { host: u.host, ...headers } }))
}

test('the gateway serves a site: subdomains, path redirects, folders, types, ranges, ETags, _redirects, trustless answers', async t => {
  const node = await createNode({ home: await tmpHome(t) })
  t.after(async () => { await node.stop() })
  const dir = await tmpDir(t)
  const { big } = await makeSite(dir)
  const { root } = await importPath(node.blocks, dir, {})
  await node.blocks.pin(root.cid, 'recursive')
  const gateway = nodeGateway(node)
  const cid = root.cid.toV1().toString(base32)
  const site = `http://${cid}.ipfs.localhost:8080`

  // path forms redirect to the site's own origin
  let r = await get(gateway, `http://localhost:8080/ipfs/${cid}/docs/a.txt?x=1`)
  assert.equal(r.status, 301)
  assert.equal(r.headers.get('location'), `${site}/docs/a.txt?x=1`)
  const v0 = root.cid.toV0().toString()
  r = await get(gateway, `http://localhost:8080/ipfs/${v0}/`)
  assert.equal(r.headers.get('location'), `${site}/`, 'a CIDv0 becomes CIDv1 base32 in the subdomain')
  // on the UI's origin a browser navigation is sent away; a tool gets the bytes, sandboxed
  r = await get(gateway, `http://127.0.0.1:8080/ipfs/${cid}/docs/a.txt`, { 'sec-fetch-mode': 'navigate', accept: 'text/html' })
  assert.equal(r.status, 301)
  r = await get(gateway, `http://127.0.0.1:8080/ipfs/${cid}/docs/a.txt`)
  assert.equal(r.status, 200)
  assert.equal(await r.text(), 'a text file\n')
  assert.equal(r.headers.get('content-security-policy'), 'sandbox')
  // another spelling of the same CID in a subdomain redirects to the canonical one
  r = await get(gateway, `http://${CID.parse(cid).toString(base32).toUpperCase().toLowerCase()}.ipfs.localhost:8080/`)
  assert.equal(r.status, 200)

  // the site on its origin: index.html, types by extension and by sniffing
  r = await get(gateway, `${site}/`)
  assert.equal(r.status, 200)
  assert.match(await r.text(), /hello from the root/)
  assert.equal(r.headers.get('content-type'), 'text/html; charset=utf-8')
  assert.equal(r.headers.get('cache-control'), 'public, max-age=29030400, immutable')
  assert.equal(r.headers.get('x-ipfs-path'), `/ipfs/${cid}/`)
  r = await get(gateway, `${site}/style.css`)
  assert.equal(r.headers.get('content-type'), 'text/css; charset=utf-8')
  r = await get(gateway, `${site}/picture`)
  assert.equal(r.headers.get('content-type'), 'image/png')
  assert.deepEqual(Buffer.from(await r.arrayBuffer()), PNG)
  // a range's type is sniffed from the file's first block, not from the range's own bytes
  r = await get(gateway, `${site}/picture`, { range: 'bytes=0-1' })
  assert.equal(r.status, 206)
  assert.equal(r.headers.get('content-type'), 'image/png')
  await r.body?.cancel()
  // a folder: trailing slash first, then a listing when it has no index.html
  r = await get(gateway, `${site}/docs`)
  assert.equal(r.status, 301)
  assert.equal(r.headers.get('location'), '/docs/')
  r = await get(gateway, `${site}/docs/`)
  const listing = await r.text()
  assert.match(listing, /href="\/docs\/a\.txt">a\.txt</)
  assert.match(listing, /href="\/docs\/deep">deep<\/a>\//)
  assert.match(listing, /href="\/docs\/\.\.">\.\.</)
  assert.match(r.headers.get('etag') ?? '', /^"DirIndex-/)

  // big file: whole, ranges, HEAD, ETag and 304
  r = await get(gateway, `${site}/big.bin`)
  const etag = r.headers.get('etag') as string
  assert.equal(r.headers.get('content-length'), String(big.byteLength))
  assert.equal(r.headers.get('accept-ranges'), 'bytes')
  assert.deepEqual(Buffer.from(await r.arrayBuffer()), big)
  r = await get(gateway, `${site}/big.bin`, { range: 'bytes=1048570-1048585' })
  assert.equal(r.status, 206)
  assert.equal(r.headers.get('content-range'), `bytes 1048570-1048585/${big.byteLength}`)
  assert.deepEqual(Buffer.from(await r.arrayBuffer()), big.subarray(1048570, 1048586))
  r = await get(gateway, `${site}/big.bin`, { range: 'bytes=-10' })
  assert.deepEqual(Buffer.from(await r.arrayBuffer()), big.subarray(big.byteLength - 10))
  r = await get(gateway, `${site}/big.bin`, { range: `bytes=${big.byteLength + 5}-` })
  assert.equal(r.status, 416)
  assert.equal(r.headers.get('content-range'), `bytes */${big.byteLength}`)
  r = await get(gateway, `${site}/big.bin`, { range: 'bytes=0-1,5-6' })
  assert.equal(r.status, 200, 'several ranges get the whole file')
  await r.body?.cancel()
  r = await get(gateway, `${site}/big.bin`, {}, 'HEAD')
  assert.equal(r.status, 200)
  assert.equal(r.headers.get('content-length'), String(big.byteLength))
  assert.equal(r.body, null)
  r = await get(gateway, `${site}/big.bin`, { 'if-none-match': etag })
  assert.equal(r.status, 304)

  // _redirects (only where the path does not exist) and 404.html
  r = await get(gateway, `${site}/old-page`)
  assert.equal(r.status, 301)
  assert.equal(r.headers.get('location'), '/index.html')
  r = await get(gateway, `${site}/app/some/client/route`)
  assert.equal(r.status, 200)
  assert.match(await r.text(), /single page app/)
  r = await get(gateway, `${site}/posts/2026/a`)
  assert.equal(await r.text(), 'a text file\n')
  r = await get(gateway, `${site}/gone`)
  assert.equal(r.status, 410)
  r = await get(gateway, `${site}/elsewhere`)
  assert.equal(r.status, 302)
  r = await get(gateway, `${site}/no/such/page`)
  assert.equal(r.status, 404)
  assert.match(await r.text(), /custom not found/)
  r = await get(gateway, `${site}/style.css`)
  assert.equal(r.status, 200, 'an existing path is served, whatever the rules say')

  // trustless: one block, CARs by scope, entity-bytes
  r = await get(gateway, `http://127.0.0.1:8080/ipfs/${cid}/docs/a.txt?format=raw`)
  assert.equal(r.headers.get('content-type'), 'application/vnd.ipld.raw')
  const block = new Uint8Array(await r.arrayBuffer())
  const aCid = (await importPath(node.blocks, join(dir, 'docs', 'a.txt'), {})).root.cid
  assert.deepEqual(Buffer.from(block), Buffer.from(await node.blocks.get(aCid)))
  const readCar = async (res: Response): Promise<{ roots: CID[], cids: string[] }> => {
    const it = await CarBlockIterator.fromIterable((async function * () { yield new Uint8Array(await res.arrayBuffer()) })())
    const cids: string[] = []
    for await (const b of it) {
      assert.deepEqual((await sha256.digest(b.bytes)).digest, b.cid.multihash.digest, 'every CAR block hashes to its CID')
      cids.push(b.cid.toString())
    }
    return { roots: (await it.getRoots()) as unknown as CID[], cids }
  }
  r = await get(gateway, `http://127.0.0.1:8080/ipfs/${cid}/big.bin`, { accept: 'application/vnd.ipld.car' })
  assert.match(r.headers.get('content-type') ?? '', /^application\/vnd\.ipld\.car; version=1/)
  const all = await readCar(r)
  assert.equal(all.roots[0].toString(), root.cid.toString())
  assert.equal(all.cids.length, 2 + 4, 'the root folder, the file node and its 4 chunks')
  r = await get(gateway, `http://127.0.0.1:8080/ipfs/${cid}/big.bin?format=car&dag-scope=block`)
  assert.equal((await readCar(r)).cids.length, 2)
  r = await get(gateway, `http://127.0.0.1:8080/ipfs/${cid}/big.bin?format=car&dag-scope=entity&entity-bytes=1048576:1048577`)
  assert.equal((await readCar(r)).cids.length, 3, 'path, file node, and the one chunk holding those bytes')
  r = await get(gateway, `http://127.0.0.1:8080/ipfs/${cid}/big.bin?format=car&entity-bytes=-10:*`)
  assert.equal((await readCar(r)).cids.length, 3)

  // errors: statuses, HTML for browsers and text for tools
  r = await get(gateway, 'http://localhost:8080/ipfs/not-a-cid/')
  assert.equal(r.status, 400)
  assert.match(await r.text(), /ERR_INVALID_CID/)
  r = await get(gateway, `http://127.0.0.1:8080/ipfs/${cid}/nope?format=raw`, { accept: 'text/html' })
  assert.equal(r.status, 404)
  assert.match(r.headers.get('content-type') ?? '', /text\/html/)
  r = await get(gateway, `http://127.0.0.1:8080/ipfs/${cid}/nope?format=raw`)
  assert.match(r.headers.get('content-type') ?? '', /text\/plain/)
  r = await get(gateway, `http://127.0.0.1:8080/ipfs/${cid}/x?format=zip`)
  assert.equal(r.status, 400)
  const absent = CID.createV1(0x55, await sha256.digest(randomBytes(8)))
  r = await get(gateway, `http://127.0.0.1:8080/ipfs/${absent}?format=raw`)
  assert.equal(r.status, 504, 'a block neither here nor on the network in time')
  r = await get(gateway, `${site}/`, {}, 'POST')
  assert.equal(r.status, 405)
})

test('bad input: traversal, encoded slashes, foreign hosts, long URLs, broken _redirects', async t => {
  const node = await createNode({ home: await tmpHome(t) })
  t.after(async () => { await node.stop() })
  const dir = await tmpDir(t)
  await mkdir(join(dir, 'inner'))
  await writeFile(join(dir, 'inner', 'page.txt'), 'inner')
  await writeFile(join(dir, 'top.txt'), 'top')
  await writeFile(join(dir, '_redirects'), '/a b c d e\n')
  const { root } = await importPath(node.blocks, dir, {})
  const cid = root.cid.toV1().toString(base32)
  const inner = (await importPath(node.blocks, join(dir, 'inner'), {})).root.cid.toV1().toString(base32)
  const gateway = nodeGateway(node)
  // dot segments are resolved by the URL (as a browser does) and can never leave the root
  let r = await get(gateway, `http://${inner}.ipfs.localhost:8080/../../top.txt`)
  assert.equal(r.status, 404, 'the inner folder has no top.txt: no escape to its parent')
  r = await get(gateway, `http://${inner}.ipfs.localhost:8080/%2e%2e/%2E%2E/top.txt`)
  assert.equal(r.status, 404)
  r = await get(gateway, `http://${cid}.ipfs.localhost:8080/inner%2F..%2Ftop.txt`)
  assert.equal(r.status, 400)
  assert.match(await r.text(), /ERR_INVALID_PATH/)
  r = await get(gateway, `http://${cid}.ipfs.localhost:8080/inner%5C..%5Ctop.txt`)
  assert.equal(r.status, 400)
  r = await get(gateway, `http://${cid}.ipfs.localhost:8080/%E0%A4%A`)
  assert.equal(r.status, 400)
  // a broken _redirects is the site's error, reported with its line
  r = await get(gateway, `http://${cid}.ipfs.localhost:8080/missing`)
  assert.equal(r.status, 500)
  assert.match(await r.text(), /ERR_REDIRECTS_INVALID: could not parse _redirects: line 1/)
  // hosts the gateway does not serve (DNS rebinding to the UI, stray virtual hosts)
  for (const host of ['evil.example', 'localhost.evil.example', `${cid}.ipfs.evil.example`, 'a.b.ipfs.localhost', '127.0.0.1.nip.io']) {
    r = await gateway(new Request('http://127.0.0.1:8080/', { headers: { host } }))
    assert.equal(r.status, 400, host)
    assert.match(await r.text(), /ERR_GATEWAY_HOST/)
  }
  r = await get(gateway, `http://${cid}.ipfs.localhost:8080/${'a'.repeat(9000)}`)
  assert.equal(r.status, 414)
  r = await get(gateway, 'http://not-a-cid.ipfs.localhost:8080/')
  assert.equal(r.status, 400)
  r = await get(gateway, 'http://a--.ipns.localhost:8080/')
  assert.equal(r.status, 400, 'a label that spells the name "a-" is no name')
  assert.equal((await get(gateway, `http://${cid}.ipfs.localhost:8080/inner/page.txt`)).status, 200)
})

test('IPNS names: subdomains per site, the record\'s TTL as Cache-Control, the signed record as a trustless answer, DNS names inlined', async t => {
  const [owner, visitor] = [await createTestNode(t), await createTestNode(t)]
  await visitor.libp2p.dial(owner.libp2p.getMultiaddrs()[0])
  const dir = await tmpDir(t)
  await writeFile(join(dir, 'index.html'), '<p>version one</p>')
  const { root } = await importPath(owner.blocks, dir, {})
  await owner.blocks.pin(root.cid, 'recursive')
  await owner.sites.create('blog')
  const published = await owner.sites.publish('blog', root.cid, { ttl: 90_000 })
  const gateway = nodeGateway(visitor)
  const name = published.name
  let r = await get(gateway, `http://localhost:8080/ipns/${owner.sites.list()[0].name}/about?q=1`)
  assert.equal(r.status, 301)
  assert.equal(r.headers.get('location'), `http://${name}.ipns.localhost:8080/about?q=1`)
  const peerIdForm = (await import('@libp2p/peer-id')).peerIdFromString(name).toString()
  assert.equal(subdomainName(peerIdForm), name, 'a 12D3… name becomes its case-insensitive k51… form')

  // the visitor fetches the record and the content from the owner, through its gateway
  r = await get(gateway, `http://${name}.ipns.localhost:8080/`)
  assert.equal(r.status, 200)
  assert.equal(await r.text(), '<p>version one</p>')
  assert.equal(r.headers.get('cache-control'), 'public, max-age=90')
  assert.equal(r.headers.get('x-ipfs-path'), `/ipns/${name}/`)
  r = await get(gateway, `http://127.0.0.1:8080/ipns/${name}`, { accept: 'application/vnd.ipfs.ipns-record' })
  assert.equal(r.headers.get('content-type'), 'application/vnd.ipfs.ipns-record')
  const record = unmarshalIPNSRecord(new Uint8Array(await r.arrayBuffer()))
  assert.equal(record.value, `/ipfs/${root.cid}`)
  assert.equal(record.sequence, 0n)
  r = await get(gateway, `http://127.0.0.1:8080/ipfs/${root.cid}?format=ipns-record`)
  assert.equal(r.status, 400)

  // DNS names fit one label: - becomes --, then . becomes -
  assert.equal(inlineDnsName('en.wikipedia-on-ipfs.org'), 'en-wikipedia--on--ipfs-org')
  assert.equal(uninlineDnsName('en-wikipedia--on--ipfs-org'), 'en.wikipedia-on-ipfs.org')
  r = await get(gateway, 'http://localhost:8080/ipns/docs.example-site.eth/x')
  assert.equal(r.headers.get('location'), 'http://docs-example--site-eth.ipns.localhost:8080/x')
  // .eth is ENS's alone: with no ENS endpoint configured it is not found, and nothing is looked up in DNS
  r = await get(gateway, 'http://docs-example--site-eth.ipns.localhost:8080/')
  assert.equal(r.status, 404)
  assert.match(await r.text(), /ERR_NAME_NOT_FOUND/)
})

test('a visit from a peer: pages asked at once share their fetches, each block comes once, bytes match', async t => {
  const [seeder, visitor] = [await createTestNode(t), await createTestNode(t)]
  await visitor.libp2p.dial(seeder.libp2p.getMultiaddrs()[0])
  const dir = await tmpDir(t)
  const files = new Map<string, Buffer>()
  for (let i = 0; i < 8; i++) files.set(`page${i}.html`, Buffer.from(`<p>page ${i}</p>`.repeat(100 + i)))
  files.set('video.bin', randomBytes(5 * 1024 * 1024))
  for (const [name, data] of files) await writeFile(join(dir, name), data)
  const { root } = await importPath(seeder.blocks, dir, {})
  await seeder.blocks.pin(root.cid, 'recursive')
  const gateway = nodeGateway(visitor)
  const site = `http://${root.cid.toV1().toString(base32)}.ipfs.localhost:8080`
  const answers = await Promise.all([...files.keys()].map(async name => {
    const r = await get(gateway, `${site}/${name}`)
    return { name, status: r.status, body: Buffer.from(await r.arrayBuffer()) }
  }))
  for (const a of answers) {
    assert.equal(a.status, 200, `${a.name}: ${a.body.toString().slice(0, 300)}`)
    assert.ok(a.body.equals(files.get(a.name) as Buffer), a.name)
  }
  // 1 folder + 8 pages + the video's node and 5 chunks, each received once
  assert.equal(visitor.blocks.stat().blocks, 15)
  assert.equal(visitor.exchange.stats.blocksReceived, 15, `${visitor.exchange.stats.blocksReceived} blocks received for 15 distinct ones`)
})

test('a folder whose link lies about a file\'s size gets a cut response, never extra or missing bytes passed off as whole', async t => {
  const node = await createNode({ home: await tmpHome(t) })
  t.after(async () => { await node.stop() })
  const { UnixFS } = await import('ipfs-unixfs')
  const dagPb = await import('@ipld/dag-pb')
  const data = randomBytes(1000)
  const leaf = CID.createV1(0x55, await sha256.digest(data))
  await node.blocks.put(leaf, data)
  const dirBytes = dagPb.encode(dagPb.prepare({ Data: new UnixFS({ type: 'directory' }).marshal(), Links: [{ Name: 'f.bin', Hash: leaf, Tsize: 5000 }] }))
  const dir = CID.createV1(dagPb.code, await sha256.digest(dirBytes))
  await node.blocks.put(dir, dirBytes)
  const gateway = nodeGateway(node)
  const r = await get(gateway, `http://${dir.toString(base32)}.ipfs.localhost:8080/f.bin`)
  assert.equal(r.headers.get('content-length'), '5000', 'the folder said 5000')
  await assert.rejects(r.arrayBuffer(), 'the body fails instead of ending short')
})
