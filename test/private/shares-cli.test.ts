import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { userIdOfPublicKey } from '../../src/users/index.ts'
import { tmpDir, tmpHome } from '../helpers/home.ts'
import { fails, ok, runWeft, startDaemonProcess, type CliResult } from '../helpers/cli.ts'


/** A home with its own site published (offline), taking contributions whose patterns know nothing of shares. */
async function siteHome (t: TestContext): Promise<{ home: string, name: string }> {
  const home = await tmpHome(t)
  const dir = await tmpDir(t)
  await writeFile(join(dir, 'index.html'), '<h1>forum</h1>')
  await writeFile(join(dir, 'weft.json'), JSON.stringify({ title: 'forum', users: { files: ['posts.json'], maxBytes: 65536, maxFiles: 4 } }))
  const { name } = JSON.parse(ok(await runWeft(['site', 'create', 'forum', '--json'], { home })).out) as { name: string }
  ok(await runWeft(['publish', dir, '--site', 'forum'], { home }))
  return { home, name }
}

test('CLI: `weft private share|unshare|shared` offline, then through the daemon; `get --from` a folder nobody shares is ERR_SHARE_NOT_FOUND', async t => {
  const { home } = await siteHome(t)
  const a = { home }
  const [bob, carol] = await Promise.all([0, 1].map(async () => userIdOfPublicKey((await generateKeyPair('Ed25519')).publicKey)))
  ok(await runWeft(['private', 'put', '--site', 'forum', 'notes/plan.md'], { ...a, input: 'the plan' }))

  assert.match(ok(await runWeft(['private', 'share', '--site', 'forum', 'notes', bob], a)).out, /^shared notes\/ on k51\S+ with 1 user\n$/)
  const shared = JSON.parse(ok(await runWeft(['private', 'share', '--site', 'forum', 'notes', carol, '--json'], a)).out)
  assert.deepEqual({ folder: shared.folder, generation: shared.generation, recipients: shared.recipients }, { folder: 'notes', generation: 0, recipients: [bob, carol].sort() })
  let report = JSON.parse(ok(await runWeft(['private', 'shared', '--site', 'forum', '--json'], a)).out)
  assert.deepEqual(report.shared, [])
  assert.deepEqual(report.mine.map((s: { folder: string, recipients: string[] }) => [s.folder, s.recipients]), [['notes', [bob, carol].sort()]])
  // the share file is in the contribution, under the owner's rules (posts.json only) all the same
  const list = JSON.parse(ok(await runWeft(['user', 'list', '--site', 'forum', '--json'], a)).out)
  assert.equal(list.contributions[0].state, 'accepted')
  // a write to the shared folder, offline, writes the listing again before the command ends (a new version); one elsewhere does not
  ok(await runWeft(['private', 'put', '--site', 'forum', 'notes/more.md'], { ...a, input: 'more' }))
  const after = JSON.parse(ok(await runWeft(['user', 'list', '--site', 'forum', '--json'], a)).out)
  assert.equal(BigInt(after.contributions[0].sequence), BigInt(list.contributions[0].sequence) + 1n)
  ok(await runWeft(['private', 'put', '--site', 'forum', 'diary/day.md'], { ...a, input: 'day' }))
  assert.equal(JSON.parse(ok(await runWeft(['user', 'list', '--site', 'forum', '--json'], a)).out).contributions[0].sequence, after.contributions[0].sequence)

  fails(await runWeft(['private', 'share', '--site', 'forum', 'notes/plan.md', bob], a), 'ERR_USAGE', 2)
  fails(await runWeft(['private', 'share', '--site', 'forum', 'notes', 'someone'], a), 'ERR_USAGE', 2)
  fails(await runWeft(['private', 'share', '--site', 'forum', 'empty', bob], a), 'ERR_PRIVATE_NOT_FOUND')
  fails(await runWeft(['private', 'get', '--site', 'forum', '--from', bob, 'notes/plan.md'], a), 'ERR_SHARE_NOT_FOUND')
  fails(await runWeft(['private', 'get', '--site', 'forum', '--from', bob, 'plan.md'], a), 'ERR_USAGE', 2)

  // through the daemon: revoke bob; the folder moves to generation 1 and carol keeps her share
  await startDaemonProcess(t, home)
  assert.match(ok(await runWeft(['private', 'unshare', '--site', 'forum', 'notes', bob], a)).out, /is no longer shared with k51\S+; new key \(generation 1\), shared again with 1 user\n$/)
  report = JSON.parse(ok(await runWeft(['private', 'shared', '--site', 'forum', '--json'], a)).out)
  assert.deepEqual(report.mine.map((s: { generation: number, recipients: string[] }) => [s.generation, s.recipients]), [[1, [carol]]])
  assert.match(ok(await runWeft(['private', 'shared', '--site', 'forum'], a)).out, /nothing is shared with you[\s\S]*you share:\nnotes\/ +k51/)
  fails(await runWeft(['private', 'unshare', '--site', 'forum', 'notes', bob], a), 'ERR_SHARE_NOT_FOUND')
  // the person's own file reads as before: its key was wrapped again, the ciphertext kept
  assert.equal(ok(await runWeft(['private', 'get', '--site', 'forum', 'notes/plan.md'], a)).out, 'the plan')
})
