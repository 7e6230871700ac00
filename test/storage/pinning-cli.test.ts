/**
 * `weft remote` against a second weft daemon serving the Pinning Service API: two `weft
 * daemon` processes on 127.0.0.1, the CLI run as a person runs it.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readFile, stat, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { fails, ok, runWeft, startDaemonProcess } from '../helpers/cli.ts'
import { tmpDir } from '../helpers/home.ts'
import { until } from '../helpers/until.ts'

interface PinStatus { requestid: string, status: string, pin: { cid: string, name?: string, origins?: string[], meta?: Record<string, string> }, delegates: string[] }

/** A 127.0.0.1 port nothing listens on (bound, then closed). */
async function closedPort (): Promise<number> {
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise(resolve => server.close(resolve))
  return port
}

test('weft remote: add a weft daemon as a service, pin to it (it fetches from this daemon), list, filter, remove; failures say what failed', async t => {
  const [a, b] = await Promise.all([startDaemonProcess(t), startDaemonProcess(t)])
  const dir = await tmpDir(t)
  const serviceUrl = (await readFile(join(b.home, 'api'), 'utf8')).trim()
  const serviceToken = (await readFile(join(b.home, 'api.token'), 'utf8')).trim()
  const home = { home: a.home }

  // the service is remembered by name; its token in a 0600 file, never in config.json
  assert.match(ok(await runWeft(['remote', 'add', 'mine', serviceUrl, serviceToken], home)).out, /^added remote pinning service mine at http:\/\/127\.0\.0\.1:\d+\n$/)
  fails(await runWeft(['remote', 'add', 'mine', serviceUrl, serviceToken], home), 'ERR_REMOTE_SERVICE_EXISTS')
  fails(await runWeft(['remote', 'add', 'bad name', serviceUrl, serviceToken], home), 'ERR_USAGE', 2)
  fails(await runWeft(['remote', 'add', 'other', 'ftp://127.0.0.1/', serviceToken], home), 'ERR_USAGE', 2)
  assert.deepEqual(JSON.parse(ok(await runWeft(['remote', 'ls', '--json'], home)).out), [{ name: 'mine', endpoint: serviceUrl }])
  const tokenFile = join(a.home, 'keys', 'pinning-mine.token')
  assert.equal((await stat(tokenFile)).mode & 0o777, 0o600)
  assert.ok(!(await readFile(join(a.home, 'config.json'), 'utf8')).includes(serviceToken), 'the token stays out of config.json')

  // pin what only this daemon has: the service is given this daemon's addresses as origins
  const data = randomBytes(2 * 1024 * 1024 + 3)
  await writeFile(join(dir, 'report.bin'), data)
  const cid = ok(await runWeft(['add', '-Q', join(dir, 'report.bin')], home)).out.trim()
  const pinned = ok(await runWeft(['remote', 'pin', 'add', '--service', 'mine', '--name', 'report', '--meta', 'app=test', cid], home))
  assert.match(pinned.out, new RegExp(`^pinned ${cid} on mine \\(request [0-9a-f-]{36}\\)\\n$`))
  // the bytes are on the service's node now
  assert.deepEqual(ok(await runWeft(['cat', '--offline', cid], { home: b.home })).stdout, data)

  const listed = JSON.parse(ok(await runWeft(['remote', 'pin', 'ls', '--service', 'mine', '--json'], home)).out) as PinStatus[]
  assert.equal(listed.length, 1)
  assert.equal(listed[0].pin.cid, cid)
  assert.equal(listed[0].pin.name, 'report')
  assert.deepEqual(listed[0].pin.meta, { app: 'test' })
  assert.ok(listed[0].pin.origins?.some(o => o === a.address), `origins: ${listed[0].pin.origins?.join(' ')}`)
  assert.ok(listed[0].delegates.every(d => d.endsWith(`/p2p/${b.id}`)))
  assert.match(ok(await runWeft(['remote', 'pin', 'ls', '--service', 'mine'], home)).out, new RegExp(`^${cid}  pinned  report  [0-9a-f-]{36}\\n$`))
  assert.equal(ok(await runWeft(['remote', 'pin', 'ls', '--service', 'mine', '--status', 'failed'], home)).out, '')
  assert.equal(ok(await runWeft(['remote', 'pin', 'ls', '--service', 'mine', '--name', 'nothing'], home)).out, '')

  // --background returns once queued; the service pins it in its own time
  await writeFile(join(dir, 'second.txt'), 'a second file\n')
  const small = ok(await runWeft(['add', '-Q', join(dir, 'second.txt')], home)).out.trim()
  assert.match(ok(await runWeft(['remote', 'pin', 'add', '--service', 'mine', '--name', 'report', '--background', small], home)).out, new RegExp(`^(queued|pinning|pinned) ${small} on mine`))
  await until('the background pin is pinned', async () => {
    const r = await runWeft(['remote', 'pin', 'ls', '--service', 'mine', '--cid', small, '--json'], home)
    return r.code === 0 && (JSON.parse(r.out) as PinStatus[]).length === 1
  }, 30_000, 200)

  // two pins named "report": removing by name needs --force
  fails(await runWeft(['remote', 'pin', 'rm', '--service', 'mine', '--name', 'report'], home), 'ERR_REMOTE_PIN_AMBIGUOUS')
  fails(await runWeft(['remote', 'pin', 'rm', '--service', 'mine'], home), 'ERR_USAGE', 2)
  assert.match(ok(await runWeft(['remote', 'pin', 'rm', '--service', 'mine', '--cid', small], home)).out, new RegExp(`^removed ${small} from mine`))
  assert.match(ok(await runWeft(['remote', 'pin', 'rm', '--service', 'mine', '--name', 'report'], home)).out, new RegExp(`^removed ${cid} from mine`))
  assert.equal(ok(await runWeft(['remote', 'pin', 'ls', '--service', 'mine', '--status', 'queued,pinning,pinned,failed'], home)).out, '')
  assert.match(ok(await runWeft(['remote', 'pin', 'rm', '--service', 'mine', '--cid', cid], home)).out, /^no pin on mine matches\n$/)
  // removed from the service, the service's gc may drop it
  ok(await runWeft(['gc'], { home: b.home }))
  fails(await runWeft(['cat', '--offline', cid], { home: b.home }), 'ERR_BLOCK_NOT_FOUND')

  // failures: an unknown service, a wrong token, a service that does not answer, a bad CID
  fails(await runWeft(['remote', 'pin', 'ls', '--service', 'nope'], home), 'ERR_REMOTE_SERVICE_NOT_FOUND')
  ok(await runWeft(['remote', 'add', 'wrong', serviceUrl, '-'], { ...home, input: 'not-the-token\n' }))
  assert.equal((await readFile(join(a.home, 'keys', 'pinning-wrong.token'), 'utf8')).trim(), 'not-the-token')
  assert.match(fails(await runWeft(['remote', 'pin', 'ls', '--service', 'wrong'], home), 'ERR_REMOTE_SERVICE_FAILED'), /401 \(ERR_API_UNAUTHORIZED: missing or wrong API token\)/)
  ok(await runWeft(['remote', 'add', 'down', `http://127.0.0.1:${await closedPort()}`, 'x'], home))
  fails(await runWeft(['remote', 'pin', 'add', '--service', 'down', cid], home), 'ERR_REMOTE_SERVICE_UNREACHABLE')
  fails(await runWeft(['remote', 'pin', 'add', '--service', 'mine', 'not-a-cid'], home), 'ERR_INVALID_CID', 2)
  fails(await runWeft(['remote', 'pin', 'add', '--service', 'mine', `/ipfs/${cid}/inside`], home), 'ERR_USAGE', 2)

  // rm forgets the service and its token
  assert.equal(ok(await runWeft(['remote', 'rm', 'mine'], home)).out, 'removed remote pinning service mine\n')
  fails(await runWeft(['remote', 'rm', 'mine'], home), 'ERR_REMOTE_SERVICE_NOT_FOUND')
  await assert.rejects(stat(tokenFile), { code: 'ENOENT' })
  assert.deepEqual(JSON.parse(ok(await runWeft(['remote', 'ls', '--json'], home)).out).map((s: { name: string }) => s.name), ['wrong', 'down'])
})
