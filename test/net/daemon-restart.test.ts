import { test } from 'node:test'
import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { tmpDir, tmpHome } from '../helpers/home.ts'
import { ok, runWeft, startDaemonProcess, type CliResult } from '../helpers/cli.ts'
import { until } from '../helpers/until.ts'

/** Each check is a CLI process (~2 s to start): a long wait, polled gently. */
const CLI_WAIT_MS = 30_000
const CLI_POLL_MS = 200


/** Polls `condition` until it holds; fails after `ms`. Resolves with how long it took. */
test('CLI: a daemon killed with SIGKILL and started again finds its peer by itself and catches up a site that changed meanwhile', async t => {
  const owner = await startDaemonProcess(t)
  const home = await tmpHome(t)
  let follower = await startDaemonProcess(t, home)
  ok(await runWeft(['connect', owner.address], follower))

  const site = JSON.parse(ok(await runWeft(['site', 'create', 'blog', '--json'], owner)).out)
  const dir = await tmpDir(t)
  await writeFile(join(dir, 'index.html'), '<p>first</p>')
  ok(await runWeft(['publish', dir, '--site', 'blog', '--json'], owner))
  ok(await runWeft(['follow', site.name], follower))
  const holds = async (sequence: string): Promise<boolean> => {
    const f = JSON.parse(ok(await runWeft(['following', '--json'], follower)).out)[0]
    return f?.sequence === sequence && f?.fetched === true
  }
  await until('the follower to hold version 0', async () => await holds('0'), CLI_WAIT_MS, CLI_POLL_MS)

  // killed, not stopped: nothing gets written on the way out
  follower.child.kill('SIGKILL')
  await new Promise(resolve => follower.child.once('exit', resolve))
  await writeFile(join(dir, 'index.html'), '<p>second</p>')
  const second = JSON.parse(ok(await runWeft(['publish', dir, '--site', 'blog', '--json'], owner)).out)
  assert.equal(second.sequence, '1')

  // no connect, no bootstrap list: the restarted daemon redials the peer it remembers
  follower = await startDaemonProcess(t, home)
  const reconnected = await until('the restarted follower to be connected to the owner', async () => {
    const peers = JSON.parse(ok(await runWeft(['peers', '--json'], follower)).out) as Array<{ id: string }>
    return peers.some(p => p.id === owner.id)
  }, CLI_WAIT_MS, CLI_POLL_MS)
  const caughtUp = await until('the restarted follower to hold version 1', async () => await holds('1'), CLI_WAIT_MS, CLI_POLL_MS)
  t.diagnostic(`after the daemon was ready: connected within ${reconnected.toFixed(0)} ms, version 1 held ${(reconnected + caughtUp).toFixed(0)} ms (polled every 200 ms through the CLI)`)
  assert.equal(ok(await runWeft(['cat', `/ipns/${site.name}/index.html`], follower)).out, '<p>second</p>')
})
