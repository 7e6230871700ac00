/**
 * Everyday friction a new user met (issue 11), each run as a person would: real `weft`
 * processes, a real daemon, peers on 127.0.0.1.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { importPath } from '../../src/content/index.ts'
import { tmpDir, tmpHome } from '../helpers/home.ts'
import { ok, runWeft, startDaemonProcess, type CliResult } from '../helpers/cli.ts'
import { createHostilePeer } from '../helpers/hostile.ts'
import { createTestNode } from '../helpers/testnet.ts'


function fails (r: CliResult, code: string, exit: number): void {
  assert.equal(r.code, exit, r.stderr)
  const lines = r.stderr.trim().split('\n')
  assert.equal(lines.length, 1, `expected one line, got:\n${r.stderr}`)
  assert.match(lines[0], new RegExp(`^weft: .+ \\(${code}\\)$`))
}

/** A home on the network the in-process test peers use (test/helpers/testnet.ts). */
async function testnetHome (t: Parameters<typeof tmpHome>[0]): Promise<string> {
  const home = await tmpHome(t)
  ok(await runWeft(['config', 'set', 'network', '{"name":"testnet"}'], { home }))
  return home
}

test('a daemon without peers: publish says the record goes out when a peer connects; repo stat speaks the quota\'s units', async t => {
  const daemon = await startDaemonProcess(t)
  const dir = await tmpDir(t)
  await writeFile(join(dir, 'index.html'), 'hello')
  ok(await runWeft(['site', 'create', 'blog'], daemon))
  const published = ok(await runWeft(['publish', dir, '--site', 'blog'], daemon)).out
  assert.match(published, /^published version 0 of \/ipns\/k51\w+ \(saved; the daemon has no peer yet and sends it when one connects\)\n/)
  assert.doesNotMatch(published, /when `weft daemon` starts/)
  // The default quota is "10GB": it reads back as 10 GB, not 9.3 GiB.
  assert.match(ok(await runWeft(['repo', 'stat'], daemon)).out, /^size +\d+(\.\d)? [kMG]?B of 10 GB \(/m)
  // A quota set in binary units reads back in them.
  const home = await tmpHome(t)
  ok(await runWeft(['config', 'set', 'datastore.storageMax', '"8GiB"'], { home }))
  assert.match(ok(await runWeft(['repo', 'stat'], { home })).out, /^size +0 B of 8 GiB \(/m)
})

test('connecting to a peer the exchange banned says so in one line (ERR_PEER_BANNED)', async t => {
  const daemon = await startDaemonProcess(t, await testnetHome(t))
  const bytes = randomBytes(64 * 1024)
  const cid = CID.createV1(raw.code, await sha256.digest(bytes))
  // It answers every want with the block's bytes, one bit flipped: banned on first sight.
  const hostile = await createHostilePeer(t, 'corrupt', { get: async () => bytes })
  await hostile.dial(multiaddr(daemon.address))
  const cat = await runWeft(['cat', cid.toString(), '--timeout', '5s'], daemon)
  assert.notEqual(cat.code, 0, 'the corrupt block was not served')
  const address = `${hostile.getMultiaddrs()[0].toString()}`
  const r = await runWeft(['connect', address], daemon)
  fails(r, 'ERR_PEER_BANNED', 1)
  assert.match(r.stderr, new RegExp(`^weft: peer ${hostile.peerId.toString()} is banned until \\S+ \\(bad-block: `))
  assert.doesNotMatch(r.stderr, /gater/)
})

test('pin add of content the home lacks fetches it through the daemon, verified; without a daemon it says how to get it', async t => {
  const seeder = await createTestNode(t)
  const dir = await tmpDir(t)
  await mkdir(join(dir, 'site'))
  const big = randomBytes(2 * 1024 * 1024 + 5)
  await writeFile(join(dir, 'site', 'big.bin'), big)
  await writeFile(join(dir, 'site', 'index.html'), 'hello')
  const { root } = await importPath(seeder.blocks, join(dir, 'site'))
  const cid = root.cid.toString()

  const home = await testnetHome(t)
  const offline = await runWeft(['pin', 'add', cid], { home })
  fails(offline, 'ERR_BLOCK_NOT_FOUND', 1)
  assert.match(offline.stderr, /start `weft daemon` \(with a peer that has it\) and pin again/)

  const daemon = await startDaemonProcess(t, home)
  fails(await runWeft(['pin', 'add', cid, '--offline'], daemon), 'ERR_BLOCK_NOT_FOUND', 1)
  ok(await runWeft(['connect', seeder.libp2p.getMultiaddrs()[0].toString()], daemon))
  assert.equal(ok(await runWeft(['pin', 'add', cid, '--timeout', '30s'], daemon)).out, `pinned ${cid} recursively\n`)
  assert.deepEqual(JSON.parse(ok(await runWeft(['pin', 'ls', '--json'], daemon)).out).map((p: { cid: string }) => p.cid), [cid])
  await seeder.stop()
  // All of it is here now, checked: served offline, and verify finds nothing wrong.
  assert.deepEqual(ok(await runWeft(['cat', `${cid}/big.bin`, '--offline'], daemon)).stdout, big)
  assert.deepEqual(JSON.parse(ok(await runWeft(['repo', 'verify', '--json'], daemon)).out).problems, [])
})
