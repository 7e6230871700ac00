import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { create, globSource } from 'kubo-rpc-client'
import { CID } from 'multiformats/cid'
import { KUBO_COMMANDS } from '../../src/api/index.ts'
import { tmpDir } from '../helpers/home.ts'
import { ok, runWeft, startDaemonProcess } from '../helpers/cli.ts'

const collect = async (source: AsyncIterable<Uint8Array>): Promise<Buffer> => {
  const chunks: Uint8Array[] = []
  for await (const chunk of source) chunks.push(chunk)
  return Buffer.concat(chunks)
}

/** Unpacks a tar with the system's tar, so the archive is checked by a reader weft did not write. */
async function untar (archive: Uint8Array, into: string): Promise<void> {
  const child = spawn('tar', ['-x', '-f', '-', '-C', into], { stdio: ['pipe', 'ignore', 'pipe'] })
  let errors = ''
  child.stderr.on('data', (b: Buffer) => { errors += b.toString() })
  child.stdin.end(archive)
  const [code] = await once(child, 'exit')
  assert.equal(code, 0, errors)
}

async function kuboClient (home: string) {
  const url = (await readFile(join(home, 'api'), 'utf8')).trim()
  const token = (await readFile(join(home, 'api.token'), 'utf8')).trim()
  return { url, token, ipfs: create({ url: `${url}/api/v0`, headers: { authorization: `Bearer ${token}` } }) }
}

test('the README lists exactly the kubo commands weft answers', async () => {
  const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8')
  const at = readme.indexOf('Calls answered:')
  assert.ok(at >= 0, 'the README has "Calls answered:"')
  // `pin add|rm|ls` is three commands; what is in parentheses is options
  const text = readme.slice(at, readme.indexOf('; `offline`', at)).replace(/\([^)]*\)/g, '')
  const listed = [...text.matchAll(/`([^`]+)`/g)].flatMap(([, span]) => {
    const [group, subs] = span.split(' ')
    return subs === undefined ? [group] : subs.split('|').map(s => `${group}/${s}`)
  })
  assert.deepEqual(listed.sort(), [...KUBO_COMMANDS].sort())
})

test('kubo-rpc-client drives a weft daemon: id, version, add (file, folder), cat, ls, pins, blocks, dag, keys, names, swarm, routing, repo', async t => {
  const a = await startDaemonProcess(t)
  const b = await startDaemonProcess(t)
  const { url, ipfs } = await kuboClient(a.home)
  const dir = await tmpDir(t)

  // the token guards the RPC API as it guards weft's own; a missing one is kubo's error body
  const denied = await fetch(`${url}/api/v0/id`, { method: 'POST' })
  assert.equal(denied.status, 401)
  assert.deepEqual(Object.keys(await denied.json()).sort(), ['Code', 'Message', 'Type'])
  const noToken = create({ url: `${url}/api/v0` })
  await assert.rejects(noToken.id(), /missing or wrong API token/)
  // a refused upload is read only so far: an endless body without a token gets its 401 (or a
  // reset) after at most 16 MiB, not after the client gives up
  const endless = await refusedUpload(`${url}/api/v0/add`, 256 * 1024 * 1024)
  assert.ok(endless.sent < 64 * 1024 * 1024, `the node read ${endless.sent} bytes of a refused upload`)
  assert.ok(endless.status === 401 || endless.status === 'reset', `answer: ${endless.status}`)
  // kubo takes POST only; weft's own routes moved to /api/weft/v1/
  assert.equal((await fetch(`${url}/api/v0/version`, { headers: { authorization: `Bearer ${(await kuboClient(a.home)).token}` } })).status, 400)

  const id = await ipfs.id()
  assert.equal(id.id.toString(), a.id)
  assert.ok(id.addresses.some(ma => ma.toString() === a.address), `addresses: ${id.addresses.join(' ')}`)
  assert.match(id.agentVersion, /^weft\//)
  assert.ok(id.protocols.length > 0)
  const version = await ipfs.version()
  assert.equal(version.version, JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')).version)

  // add of one file: the CID is weft add's, and cat gives the bytes back (whole and a range)
  const data = randomBytes(3 * 1024 * 1024 + 17)
  await writeFile(join(dir, 'data.bin'), data)
  const added = await ipfs.add({ path: 'data.bin', content: data })
  const weftCid = ok(await runWeft(['add', '-Q', join(dir, 'data.bin')], { home: a.home })).out.trim()
  assert.equal(added.cid.toString(), weftCid)
  assert.equal(added.path, 'data.bin')
  assert.equal(added.cid.version, 1)
  assert.deepEqual(await collect(ipfs.cat(added.cid)), data)
  assert.deepEqual(await collect(ipfs.cat(added.cid, { offset: 1024 * 1024 - 5, length: 100 })), data.subarray(1024 * 1024 - 5, 1024 * 1024 + 95))
  // bare bytes are named by their CID, as kubo names them
  const bare = await ipfs.add(new TextEncoder().encode('hello weft\n'))
  assert.equal(bare.path, bare.cid.toString())
  assert.equal(Buffer.from(await collect(ipfs.cat(bare.cid))).toString(), 'hello weft\n')

  // a folder through globSource: same root as weft add of the folder, every entry reported
  const site = join(dir, 'site')
  await mkdir(join(site, 'css'), { recursive: true })
  await writeFile(join(site, 'index.html'), '<h1>hi</h1>')
  await writeFile(join(site, 'css', 'style.css'), 'h1 { color: red }')
  const entries = []
  for await (const e of ipfs.addAll(globSource(dir, 'site/**'))) entries.push(e)
  const weftRoot = ok(await runWeft(['add', '-Q', site], { home: a.home })).out.trim()
  const root = entries.find(e => e.path === 'site')
  assert.equal(root?.cid.toString(), weftRoot, JSON.stringify(entries))
  assert.deepEqual(entries.map(e => e.path).sort(), ['site', 'site/css', 'site/css/style.css', 'site/index.html'])
  // quieter: only the root
  const quiet = []
  for await (const e of ipfs.addAll(globSource(dir, 'site/**'), { quieter: true } as never)) quiet.push(e)
  assert.deepEqual(quiet.map(e => e.cid.toString()), [weftRoot])
  // what weft cannot honour is refused, not ignored
  await assert.rejects(ipfs.add(data, { cidVersion: 0 }), /cid-version=0/)
  await assert.rejects(ipfs.add(data, { rawLeaves: false }), /raw-leaves=false/)
  const refused = await fetch(`${url}/api/v0/add?cid-version=0`, { method: 'POST', headers: { authorization: `Bearer ${(await kuboClient(a.home)).token}` } })
  assert.equal(refused.status, 400)
  assert.match((await refused.json()).Message, /CIDv0 .*\(ERR_USAGE\)$/)
  // the README's example: a string as content
  await writeFile(join(dir, 'hello.txt'), 'hello')
  assert.equal((await ipfs.add({ path: 'hello.txt', content: 'hello' } as never)).cid.toString(), ok(await runWeft(['add', '-Q', join(dir, 'hello.txt')], { home: a.home })).out.trim())
  await writeFile(join(dir, 'small.bin'), data.subarray(0, 100))
  assert.equal((await ipfs.add(data.subarray(0, 100), { cidVersion: 1, rawLeaves: true })).cid.toString(),
    ok(await runWeft(['add', '-Q', join(dir, 'small.bin')], { home: a.home })).out.trim())

  const listed = []
  for await (const e of ipfs.ls(weftRoot)) listed.push(e)
  assert.deepEqual(listed.map(e => [e.name, e.type]).sort(), [['css', 'dir'], ['index.html', 'file']])
  assert.equal(listed.find(e => e.name === 'index.html')?.size, 11)
  // a file lists as itself, by CID or by path
  for (const path of [added.cid.toString(), `/ipfs/${weftRoot}/index.html`]) {
    const self = []
    for await (const e of ipfs.ls(path)) self.push(e)
    assert.equal(self.length, 1, path)
    assert.equal(self[0].type, 'file', path)
  }
  const inner = []
  for await (const e of ipfs.ls(`/ipfs/${weftRoot}/css`)) inner.push(e)
  assert.deepEqual(inner.map(e => [e.name, e.type]), [['style.css', 'file']])

  // pins: the add pinned its roots; rm and add again
  const pinned = []
  for await (const p of ipfs.pin.ls()) pinned.push(p.cid.toString())
  assert.ok(pinned.includes(weftRoot) && pinned.includes(added.cid.toString()), pinned.join(' '))
  assert.equal((await ipfs.pin.rm(weftRoot)).toString(), weftRoot)
  const afterRm = []
  for await (const p of ipfs.pin.ls({ type: 'recursive' })) afterRm.push(p.cid.toString())
  assert.ok(!afterRm.includes(weftRoot))
  assert.equal((await ipfs.pin.add(weftRoot)).toString(), weftRoot)
  const one = []
  for await (const p of ipfs.pin.ls({ paths: [CID.parse(weftRoot)] })) one.push(p)
  assert.deepEqual(one.map(p => [p.cid.toString(), p.type]), [[weftRoot, 'recursive']])

  // get: a tar that the system's tar unpacks into the folder added, and a file under its CID
  const unpacked = join(dir, 'unpacked')
  await mkdir(unpacked)
  await untar(await collect(ipfs.get(weftRoot)), unpacked)
  assert.equal(await readFile(join(unpacked, weftRoot, 'css', 'style.css'), 'utf8'), 'h1 { color: red }')
  assert.equal(await readFile(join(unpacked, weftRoot, 'index.html'), 'utf8'), '<h1>hi</h1>')
  await untar(await collect(ipfs.get(`/ipfs/${weftRoot}/index.html`)), unpacked)
  assert.equal(await readFile(join(unpacked, 'index.html'), 'utf8'), '<h1>hi</h1>')

  // blocks
  const blockBytes = new TextEncoder().encode('a raw block')
  const putCid = await ipfs.block.put(blockBytes)
  assert.equal(putCid.code, 0x55)
  assert.deepEqual(Buffer.from(await ipfs.block.get(putCid)), Buffer.from(blockBytes))
  assert.deepEqual(await ipfs.block.stat(putCid), { cid: putCid, size: blockBytes.byteLength })

  // dag export from a, import into b: b then serves the same bytes
  const car = await collect(ipfs.dag.export(CID.parse(weftRoot)))
  const { ipfs: ipfsB } = await kuboClient(b.home)
  const imported = []
  for await (const r of ipfsB.dag.import((async function * () { yield car })())) imported.push(r.root.cid.toString())
  assert.deepEqual(imported, [weftRoot])
  assert.equal(Buffer.from(await collect(ipfsB.cat(`/ipfs/${weftRoot}/css/style.css`, { offline: true } as never))).toString(), 'h1 { color: red }')

  // keys are site keys; name publish signs a site version and resolve finds it
  const key = await ipfs.key.gen('blog')
  assert.equal(key.name, 'blog')
  assert.match(key.id, /^k51/)
  const keys = await ipfs.key.list()
  assert.deepEqual(keys.map(k => k.name), ['self', 'blog'])
  assert.equal(keys[0].id, a.id)
  const published = await ipfs.name.publish(`/ipfs/${weftRoot}`, { key: 'blog' })
  assert.deepEqual(published, { name: key.id, value: `/ipfs/${weftRoot}` })
  const resolved = []
  for await (const p of ipfs.name.resolve(`/ipns/${key.id}`)) resolved.push(p)
  assert.deepEqual(resolved, [`/ipfs/${weftRoot}`])
  await assert.rejects(ipfs.name.publish(`/ipfs/${weftRoot}`), /key=<site label>/)

  // swarm and routing: b connects to a, finds a as a provider of what a added
  await ipfsB.swarm.connect(a.address as never)
  const peers = await ipfsB.swarm.peers()
  assert.ok(peers.some(p => p.peer.toString() === a.id), JSON.stringify(peers))
  // the DHT takes in the new connection in its own time: provide and look again until b finds a
  let provider: string | undefined
  const deadline = Date.now() + 30_000
  while (provider === undefined && Date.now() < deadline) {
    for await (const _ of ipfs.routing.provide(added.cid)) { /* kubo streams query events; weft sends none */ }
    for await (const event of ipfsB.routing.findProvs(added.cid, { signal: AbortSignal.timeout(10_000) })) {
      if (event.name === 'PROVIDER') provider = event.providers[0]?.id.toString()
      if (provider !== undefined) break
    }
  }
  assert.equal(provider, a.id)

  // repo: stat counts, gc removes what nothing pins (the unpinned raw block) and says so
  const stat = await ipfs.repo.stat()
  assert.ok(stat.numObjects > 5n)
  assert.ok(stat.repoSize > BigInt(data.length))
  assert.equal(stat.repoPath, a.home)
  const removed = []
  for await (const r of ipfs.repo.gc()) removed.push(r.cid?.toString())
  assert.ok(removed.includes(putCid.toString()), removed.join(' '))
  await assert.rejects(ipfs.block.get(putCid, { offline: true } as never), /not|ERR_BLOCK/)

  // a command weft does not answer: kubo's error body with 404
  const unknown = await fetch(`${url}/api/v0/files/ls`, { method: 'POST', headers: { authorization: `Bearer ${(await kuboClient(a.home)).token}` } })
  assert.equal(unknown.status, 404)
  assert.equal((await unknown.json()).Type, 'error')
  // a part path that would climb out of the upload folder is refused, and nothing lands outside it
  const form = new FormData()
  form.append('file', new File(['x'], encodeURIComponent('../escaped.txt')))
  const climbing = await fetch(`${url}/api/v0/add`, { method: 'POST', headers: { authorization: `Bearer ${(await kuboClient(a.home)).token}` }, body: form })
  assert.equal(climbing.status, 400)
  assert.match((await climbing.json()).Message, /has an empty, \. or \.\. segment/)
  await assert.rejects(readFile(join(a.home, 'tmp', 'escaped.txt')), { code: 'ENOENT' })
  // every add's upload folder is gone once it answered
  assert.deepEqual((await readdir(join(a.home, 'tmp'))).filter(n => n.startsWith('kubo-add-')), [])
  // bad input is a 400 with one line naming what is wrong; a CID that is not one too
  const rpc = async (path: string): Promise<Response> => await fetch(`${url}/api/v0/${path}`, { method: 'POST', headers: { authorization: `Bearer ${(await kuboClient(a.home)).token}` } })
  for (const [path, message] of [['cat', /argument "arg" is required/], [`pin/add?arg=${weftRoot}&recursive=maybe`, /option "recursive" must be true or false/], ['block/stat?arg=not-a-cid', /ERR_INVALID_CID/], [`cat?arg=${added.cid}&timeout=soon`, /must be a duration/]] as const) {
    const r = await rpc(path)
    assert.equal(r.status, 400, path)
    const body = await r.json()
    assert.match(body.Message, message)
    assert.deepEqual([body.Code, body.Type], [0, 'error'])
  }
})

/** Streams zeros to `url` without a token until the node answers or resets, or `most` bytes went. */
async function refusedUpload (url: string, most: number): Promise<{ sent: number, status: number | 'reset' }> {
  const { request } = await import('node:http')
  const req = request(url, { method: 'POST', headers: { 'content-type': 'multipart/form-data; boundary=x' } })
  let status: number | 'reset' | undefined
  req.on('response', res => { status = res.statusCode; res.on('error', () => {}).resume() })
  req.on('error', () => { status ??= 'reset' })
  const chunk = Buffer.alloc(64 * 1024)
  let sent = 0
  while (status === undefined && sent < most) {
    // once() rejects on the request's 'error' (a reset), which the handler above records
    if (!req.write(chunk)) await Promise.race([once(req, 'drain'), once(req, 'close')]).catch(() => {})
    sent += chunk.length
  }
  req.destroy()
  return { sent, status: status ?? 'reset' }
}
