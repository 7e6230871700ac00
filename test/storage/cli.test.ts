/**
 * `weft replicate` and `weft replicas` as a person runs them: two daemons, one offering
 * storage; content added on the other is replicated to it and shows in `replicas`.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fails, ok, runWeft, startDaemonProcess } from '../helpers/cli.ts'
import { tmpDir, tmpHome } from '../helpers/home.ts'
import { until } from '../helpers/until.ts'

test('CLI: replicate a CID to a daemon offering storage; replicas lists the holder, its audit and the bytes each side', async t => {
  const holderHome = await tmpHome(t)
  ok(await runWeft(['config', 'set', 'storage.offer', '"1GB"'], { home: holderHome }))
  const holder = await startDaemonProcess(t, holderHome)
  const requester = await startDaemonProcess(t)
  ok(await runWeft(['connect', holder.address], requester))

  const dir = await tmpDir(t)
  await writeFile(join(dir, 'data.bin'), randomBytes(2 * 1024 * 1024 + 3))
  const cid = ok(await runWeft(['add', '-Q', join(dir, 'data.bin')], requester)).out.trim()
  assert.match(cid, /^baf/)

  fails(await runWeft(['replicas', cid], requester), 'ERR_STORAGE_NOT_REPLICATED')
  const replicated = JSON.parse(ok(await runWeft(['replicate', cid, '--copies', '1', '--json'], requester)).out)
  assert.deepEqual(replicated.holders, [holder.id])
  fails(await runWeft(['replicate', cid, '--copies', '0'], requester), 'ERR_USAGE', 2)
  await until('the holder holds it', async () => JSON.parse(ok(await runWeft(['replicas', '--json'], holder)).out).held.some((h: { target: string, state: string }) => h.target === cid && h.state === 'held'), 60_000, 200)
  const report = JSON.parse(ok(await runWeft(['replicas', cid, '--json'], requester)).out)
  assert.equal(report.replicas[0].holders[0].holder, holder.id)
  assert.equal(report.replicas[0].holders[0].heldByPeer, replicated.bytes)
  const text = ok(await runWeft(['replicas', cid], requester)).out
  assert.match(text, new RegExp(`${cid}: 1 of 1 copies`))
  assert.match(text, new RegExp(holder.id))
})
