import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { tmpDir } from '../helpers/home.ts'
import { runWeft, startDaemonProcess as startDaemon } from '../helpers/cli.ts'

test('commands go through a running daemon; two daemons find and fetch each other\'s content', async t => {
  const a = await startDaemon(t)
  const b = await startDaemon(t)
  assert.match(a.address, /^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/12D3KooW/)
  const dir = await tmpDir(t)
  const data = randomBytes(5 * 1024 * 1024 + 3)
  await writeFile(join(dir, 'data.bin'), data)
  // The daemon holds the home's lock, so this add can only have gone through its API.
  const added = await runWeft(['add', '-Q', join(dir, 'data.bin')], { home: a.home })
  assert.equal(added.code, 0, added.stderr)
  const cid = added.out.trim()

  assert.equal((await runWeft(['cat', '--offline', cid], { home: b.home })).code, 1)
  const connected = await runWeft(['connect', a.address], { home: b.home })
  assert.equal(connected.code, 0, connected.stderr)
  assert.equal(connected.out, `connected to ${a.id}\n`)
  const peers = JSON.parse((await runWeft(['peers', '--json'], { home: b.home })).out)
  assert.equal(peers[0]?.id, a.id, `b's peers: ${JSON.stringify(peers)}; a: ${a.state()}; b: ${b.state()}`)
  assert.equal(typeof peers[0].latencyMs, 'number')

  // a tool (no browser headers) gets the bytes from b's gateway on the path form
  const viaGateway = await fetch(`${b.gatewayUrl}/ipfs/${cid}`)
  assert.equal(viaGateway.status, 200)
  assert.deepEqual(Buffer.from(await viaGateway.arrayBuffer()), data)
  const fetched = await runWeft(['cat', '--timeout', '30s', cid], { home: b.home })
  assert.equal(fetched.code, 0, fetched.stderr)
  assert.deepEqual(fetched.stdout, data)
  const out = join(dir, 'copy.bin')
  assert.equal((await runWeft(['get', cid, '-o', out], { home: b.home })).code, 0)
  assert.deepEqual(await readFile(out), data)
  const stat = JSON.parse((await runWeft(['repo', 'stat', '--json'], { home: b.home })).out)
  assert.ok(stat.blocks >= 6)
  assert.equal(stat.pins, 0, 'a visit caches without pinning')
  const missing = await runWeft(['cat', '--timeout', '3s', 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'], { home: b.home })
  assert.notEqual(missing.code, 0)
  assert.match(missing.stderr, /\((ERR_BLOCK_NOT_FOUND|ERR_FETCH_TIMEOUT)\)\n$/)
})

test('the API refuses requests without the token; SIGTERM stops the daemon within 5 s and frees the home', async t => {
  const d = await startDaemon(t)
  const url = (await readFile(join(d.home, 'api'), 'utf8')).trim()
  const denied = await fetch(`${url}/api/weft/v1/id`, { method: 'POST' })
  assert.equal(denied.status, 401)
  assert.equal((await denied.json()).code, 'ERR_API_UNAUTHORIZED')
  const token = (await readFile(join(d.home, 'api.token'), 'utf8')).trim()
  const ok = await fetch(`${url}/api/weft/v1/id`, { method: 'POST', headers: { authorization: `Bearer ${token}` } })
  assert.equal((await ok.json()).id, d.id)
  const bad = await fetch(`${url}/api/weft/v1/frobnicate`, { method: 'POST', headers: { authorization: `Bearer ${token}` } })
  assert.equal(bad.status, 400)

  const started = Date.now()
  d.child.kill('SIGTERM')
  const code = await new Promise(resolve => d.child.once('exit', resolve))
  const took = Date.now() - started
  assert.equal(code, 0)
  assert.ok(took < 5_000, `took ${took} ms`)
  assert.equal(existsSync(join(d.home, 'api')), false)
  assert.equal(existsSync(join(d.home, 'repo.lock')), false)
  assert.equal((await runWeft(['repo', 'stat'], { home: d.home })).code, 0)
})
