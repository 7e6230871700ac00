/**
 * Ported from ipfs/gateway-conformance tests/path_gateway_tar_test.go (TestTar), against a
 * weft gateway on 127.0.0.1. The archives are read back with GNU tar, not with weft's code.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { startGateway, loadFixture, type Reply } from './harness.ts'
import { tmpDir } from '../../helpers/home.ts'

const run = promisify(execFile)

test('tar archives of files and folders (TestTar)', async t => {
  const gw = await startGateway(t)
  const f = await loadFixture('path_gateway_tar/fixtures.car', gw.node)
  const outside = await loadFixture('path_gateway_tar/outside-root.car', gw.node)
  const inside = await loadFixture('path_gateway_tar/inside-root.car', gw.node)
  const dirCid = await f.cid()
  const fileCid = await f.cid('ą', 'ę', 'file-źł.txt')
  const scratch = await tmpDir(t)
  let n = 0

  /** The archive extracted by GNU tar: its entry names and a reader of its files. */
  async function extract (r: Reply): Promise<{ names: string[], read: (name: string) => Promise<string> }> {
    assert.equal(r.status, 200, r.body.toString().slice(0, 200))
    assert.equal(r.error, undefined)
    const dir = join(scratch, String(n++))
    const file = `${dir}.tar`
    await writeFile(file, r.body)
    await run('mkdir', ['-p', dir])
    const { stdout } = await run('tar', ['-tf', file])
    await run('tar', ['-xf', file, '-C', dir])
    return { names: stdout.split('\n').filter(s => s !== '').map(s => s.replace(/\/$/, '')), read: async name => await readFile(join(dir, name), 'utf8') }
  }

  await t.test('GET TAR with format=tar and extract', async () => {
    const r = await gw.request(`/ipfs/${fileCid}?format=tar`)
    assert.match(r.header('content-disposition') ?? '', /attachment;/)
    assert.ok((r.header('etag') ?? '').includes(`W/"${fileCid}.x-tar`), `ETag ${r.header('etag')}`)
    assert.match(r.header('content-type') ?? '', /application\/x-tar/)
    const archive = await extract(r)
    assert.equal(await archive.read(fileCid.toString()), 'I am a txt file on path with utf8\n')
  })
  await t.test('GET TAR with \'Accept: application/x-tar\' and extract', async () => {
    const r = await gw.request(`/ipfs/${fileCid}`, { headers: { accept: 'application/x-tar' } })
    assert.match(r.header('content-disposition') ?? '', /attachment;/)
    assert.ok((r.header('etag') ?? '').includes(`W/"${fileCid}.x-tar`))
    assert.match(r.header('content-type') ?? '', /application\/x-tar/)
    assert.deepEqual((await extract(r)).names, [fileCid.toString()])
  })
  await t.test('GET TAR has expected root directory', async () => {
    const archive = await extract(await gw.request(`/ipfs/${dirCid}?format=tar`))
    assert.ok(archive.names.includes(`${dirCid}/ą/ę/file-źł.txt`), archive.names.join(' '))
    assert.equal(await archive.read(`${dirCid}/ą/ę/file-źł.txt`), 'I am a txt file on path with utf8\n')
    // every other file of the folder too (the recipe's three files in confusing folders)
    assert.equal(await archive.read(`${dirCid}/ipfs/file.txt`), 'I am a txt file in confusing /ipfs dir\n')
  })
  await t.test('GET TAR with explicit ?filename= succeeds with modified Content-Disposition header', async () => {
    const r = await gw.request(`/ipfs/${dirCid}?filename=${encodeURIComponent('testтест.tar')}&format=tar`)
    assert.equal(r.status, 200)
    assert.ok((r.header('content-disposition') ?? '').includes('attachment; filename="test____.tar"; filename*=UTF-8\'\'test%D1%82%D0%B5%D1%81%D1%82.tar'), r.header('content-disposition'))
  })
  await t.test('GET TAR with relative paths outside root fails', async () => {
    const r = await gw.request(`/ipfs/${await outside.cid()}?format=tar`)
    assert.equal(r.error, undefined)
    assert.ok(r.status >= 400 && r.status <= 599, `status ${r.status}`)
    assert.match(r.body.toString(), /ERR_INVALID_PATH/)
  })
  await t.test('GET TAR with relative paths inside root works', async () => {
    const root = await inside.cid()
    const archive = await extract(await gw.request(`/ipfs/${root}?format=tar`))
    assert.ok(archive.names.includes(`${root}/foobar/file`), archive.names.join(' '))
  })
  await t.test('If-None-Match with the weak ETag answers 304 (weft)', async () => {
    const r = await gw.request(`/ipfs/${fileCid}?format=tar`, { headers: { 'if-none-match': `W/"${fileCid}.x-tar"` } })
    assert.equal(r.status, 304)
  })
})
