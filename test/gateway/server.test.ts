import { test } from 'node:test'
import assert from 'node:assert/strict'
import { request as httpRequest, Agent, type IncomingMessage } from 'node:http'
import { randomBytes } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import { CID } from 'multiformats/cid'
import { base32 } from 'multiformats/bases/base32'
import { sha256 } from 'multiformats/hashes/sha2'
import * as raw from 'multiformats/codecs/raw'
import { listen } from '../../src/http/index.ts'
import { importPath } from '../../src/content/index.ts'
import { createNode, type WeftNode } from '../../src/node/index.ts'
import { nodeGateway } from '../../src/daemon/index.ts'
import { AnswerCache } from '../../src/gateway/index.ts'
import { tmpDir, tmpHome } from '../helpers/home.ts'
import { until } from '../helpers/until.ts'

interface Served { port: number, close: () => Promise<void>, connections: () => Promise<number> }

async function serve (node: WeftNode): Promise<Served> {
  const { server, port } = await listen(nodeGateway(node), '127.0.0.1', 0)
  return {
    port,
    close: async () => { await new Promise<void>(resolve => { server.close(() => { resolve() }); server.closeAllConnections() }) },
    connections: async () => await new Promise<number>((resolve, reject) => { server.getConnections((err, n) => { if (err !== null) reject(err); else resolve(n) }) })
  }
}

function get (port: number, host: string, path: string, options: { agent?: Agent, headers?: Record<string, string>, method?: string } = {}): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method: options.method ?? 'GET', headers: { host, ...options.headers }, agent: options.agent ?? false }, resolve)
    req.once('error', reject)
    req.end()
  })
}

async function body (res: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const c of res) chunks.push(c as Buffer)
  return Buffer.concat(chunks)
}

/** A 1 GiB UnixFS file made of one 1 MiB zero chunk linked 1024 times: small to store, 1 GiB to stream. */
async function gibibyteFile (node: WeftNode): Promise<CID> {
  const chunk = new Uint8Array(1024 * 1024)
  const leaf = CID.createV1(raw.code, await sha256.digest(chunk))
  await node.blocks.put(leaf, chunk)
  const unixfs = new UnixFS({ type: 'file' })
  for (let i = 0; i < 1024; i++) unixfs.addBlockSize(BigInt(chunk.byteLength))
  const links = Array.from({ length: 1024 }, () => ({ Hash: leaf, Tsize: chunk.byteLength, Name: '' }))
  const bytes = dagPb.encode(dagPb.prepare({ Data: unixfs.marshal(), Links: links }))
  const root = CID.createV1(dagPb.code, await sha256.digest(bytes))
  await node.blocks.put(root, bytes)
  await node.blocks.flush()
  return root
}

test('a 1 GiB file streams through the gateway in bounded memory; a client that leaves mid-stream leaves nothing behind', async t => {
  const node = await createNode({ home: await tmpHome(t) })
  t.after(async () => { await node.stop() })
  const root = await gibibyteFile(node)
  const gateway = await serve(node)
  t.after(gateway.close)
  const host = `${root.toString(base32)}.ipfs.localhost:${gateway.port}`

  global.gc?.()
  const before = process.memoryUsage().rss
  let peak = before
  const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss) }, 20)
  const res = await get(gateway.port, host, '/')
  assert.equal(res.statusCode, 200)
  assert.equal(res.headers['content-length'], String(1024 ** 3))
  let bytes = 0
  let nonZero = 0
  const zeros = Buffer.alloc(1024 * 1024)
  for await (const c of res) {
    bytes += (c as Buffer).byteLength
    if (!(c as Buffer).equals(zeros.subarray(0, (c as Buffer).byteLength))) nonZero++
  }
  clearInterval(sampler)
  assert.equal(bytes, 1024 ** 3)
  assert.equal(nonZero, 0)
  const grew = (peak - before) / 1024 / 1024
  assert.ok(grew < 200, `memory grew by ${grew.toFixed(0)} MiB while 1 GiB went through`)

  // leave after 20 MiB: the server closes its side and goes on serving others
  const resources = process.getActiveResourcesInfo().length
  const partial = await get(gateway.port, host, '/')
  let read = 0
  await new Promise<void>(resolve => {
    partial.on('data', (c: Buffer) => {
      read += c.byteLength
      if (read > 20 * 1024 * 1024) { partial.destroy(); resolve() }
    })
  })
  await until('the abandoned response\'s connection to close', async () => await gateway.connections() === 0)
  const after = await get(gateway.port, host, '/', { headers: { range: 'bytes=0-9' } })
  assert.equal(after.statusCode, 206)
  assert.equal((await body(after)).byteLength, 10)
  const released = await until('the handles to be released', () => process.getActiveResourcesInfo().length <= resources).then(() => true, () => false)
  assert.ok(released, `handles before ${resources}, after ${process.getActiveResourcesInfo().length}`)
})

test('1,000 concurrent requests are all answered correctly; oversized headers and URLs are refused', async t => {
  const node = await createNode({ home: await tmpHome(t) })
  t.after(async () => { await node.stop() })
  const dir = await tmpDir(t)
  await mkdir(join(dir, 'files'))
  const files = await Promise.all(Array.from({ length: 10 }, async (_, i) => {
    const data = randomBytes(1000 + i * 20_000)
    await writeFile(join(dir, 'files', `f${i}.bin`), data)
    return data
  }))
  const { root } = await importPath(node.blocks, join(dir, 'files'), {})
  const gateway = await serve(node)
  t.after(gateway.close)
  const host = `${root.cid.toV1().toString(base32)}.ipfs.localhost:${gateway.port}`
  const agent = new Agent({ maxSockets: 1000, keepAlive: true })
  t.after(() => { agent.destroy() })
  const results = await Promise.all(Array.from({ length: 1000 }, async (_, i) => {
    const res = await get(gateway.port, host, `/f${i % 10}.bin`, { agent })
    return { status: res.statusCode, same: (await body(res)).equals(files[i % 10]) }
  }))
  assert.equal(results.filter(r => r.status === 200 && r.same).length, 1000)

  const big = await get(gateway.port, host, '/f1.bin', { headers: { 'x-padding': 'a'.repeat(20_000) } })
  assert.equal(big.statusCode, 431, 'node:http refuses headers past 16 KiB')
  const long = await get(gateway.port, host, `/${'a'.repeat(9_000)}`)
  assert.equal(long.statusCode, 414)
  assert.match((await body(long)).toString(), /ERR_URL_TOO_LONG/)
})

test('immutable answers are kept and sent again without the gateway; HEAD, If-None-Match and Range stay right', async t => {
  const node = await createNode({ home: await tmpHome(t) })
  t.after(async () => { await node.stop() })
  const dir = await tmpDir(t)
  const data = randomBytes(5000)
  await mkdir(join(dir, 'site'))
  await writeFile(join(dir, 'site', 'a.bin'), data)
  const { root } = await importPath(node.blocks, join(dir, 'site'), {})
  const gateway = nodeGateway(node)
  let calls = 0
  const { server, port } = await listen(async request => { calls++; return await gateway(request) }, '127.0.0.1', 0, new AnswerCache())
  t.after(() => { server.close(); server.closeAllConnections() })
  const host = `${root.cid.toV1().toString(base32)}.ipfs.localhost:${port}`
  const first = await get(port, host, '/a.bin')
  assert.ok((await body(first)).equals(data))
  assert.equal(calls, 1)
  const again = await get(port, host, '/a.bin')
  assert.ok((await body(again)).equals(data))
  assert.equal(again.headers.etag, first.headers.etag)
  assert.equal(again.headers['content-type'], first.headers['content-type'])
  assert.equal(calls, 1, 'the second answer came from the cache')
  const head = await get(port, host, '/a.bin', { method: 'HEAD' })
  assert.equal(head.statusCode, 200)
  assert.equal(head.headers['content-length'], String(data.byteLength))
  assert.equal((await body(head)).byteLength, 0)
  const notModified = await get(port, host, '/a.bin', { headers: { 'if-none-match': first.headers.etag as string } })
  assert.equal(notModified.statusCode, 304)
  assert.equal((await body(notModified)).byteLength, 0)
  const range = await get(port, host, '/a.bin', { headers: { range: 'bytes=0-9' } })
  assert.equal(range.statusCode, 206)
  assert.ok((await body(range)).equals(data.subarray(0, 10)))
  assert.equal(calls, 2, 'only the Range request reached the gateway')
  // another Accept is another answer (here a raw block), never the cached file
  const raw = await get(port, host, '/a.bin', { headers: { accept: 'application/vnd.ipld.raw' } })
  assert.equal(raw.headers['content-type'], 'application/vnd.ipld.raw')
  await body(raw)
  assert.equal(calls, 3)
})

test('a body that fails right after its first bytes still sends its status and those bytes, then cuts the reply', async t => {
  // the gateway's answer for a file whose second block fails at once (no peer has it): the status went out with the first block
  const { server, port } = await listen(async () => {
    let pulls = 0
    const stream = new ReadableStream<Uint8Array>({
      pull (controller) {
        if (pulls++ === 0) controller.enqueue(new Uint8Array(1024).fill(7))
        else controller.error(new Error('the second block is nowhere'))
      }
    }, { highWaterMark: 0 })
    return new Response(stream, { headers: { 'content-length': '3072' } })
  }, '127.0.0.1', 0)
  t.after(() => { server.close(); server.closeAllConnections() })
  const res = await get(port, '127.0.0.1', '/')
  assert.equal(res.statusCode, 200)
  let received = 0
  await assert.rejects(async () => { for await (const c of res) received += (c as Buffer).byteLength }, { code: 'ECONNRESET' })
  assert.equal(received, 1024, 'the bytes before the failure arrived')
  assert.equal(res.complete, false, 'the reply is cut, not passed off as whole')
})
