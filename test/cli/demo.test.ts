import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { ChildProcess } from 'node:child_process'
import { spawnWeft } from '../helpers/cli.ts'
import { tmpHome } from '../helpers/home.ts'
import { findHsd, gatewayGet } from '../../src/demo/index.ts'
import { torUnavailable } from '../../src/demo/tornet.ts'

interface Demo {
  child: ChildProcess
  /** Everything it printed so far. */
  out: () => string
  err: () => string
  /** Resolves once stdout matches, fails if the demo exits first or `ms` pass. */
  waitFor: (pattern: RegExp, ms: number) => Promise<RegExpMatchArray>
  exited: Promise<number | null>
}

/** `weft demo <args>` as a separate process, killed if the test ends while it still runs. */
async function startDemo (t: TestContext, args: string[]): Promise<Demo> {
  // --hold waits for Enter before the drills: the test fetches the printed URLs first, then
  // lets the drills run, so no request races the drills or the demo's exit.
  const child = spawnWeft(['demo', '--port', '0', '--hold', ...args], { home: await tmpHome(t) })
  let out = ''
  let err = ''
  child.stdout?.on('data', (b: Buffer) => { out += b.toString() })
  child.stderr?.on('data', (b: Buffer) => { err += b.toString() })
  const exited = new Promise<number | null>(resolve => { child.once('exit', code => { resolve(code) }) })
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL')
      await exited
    }
  })
  const waitFor = async (pattern: RegExp, ms: number): Promise<RegExpMatchArray> => {
    const deadline = Date.now() + ms
    while (true) {
      const m = pattern.exec(out)
      if (m !== null) return m
      if (child.exitCode !== null || child.signalCode !== null) assert.fail(`the demo exited (${child.exitCode ?? child.signalCode}) before printing ${pattern}:\n${out}\n${err}`)
      if (Date.now() > deadline) assert.fail(`the demo did not print ${pattern} within ${ms / 1000} s:\n${out}\n${err}`)
      await new Promise(resolve => setTimeout(resolve, 50))
    }
  }
  return { child, out: () => out, err: () => err, waitFor, exited }
}

async function exitCode (demo: Demo, ms: number): Promise<number | null> {
  const timer = setTimeout(() => { demo.child.kill('SIGKILL') }, ms)
  try {
    return await demo.exited
  } finally {
    clearTimeout(timer)
  }
}

/** Whether anything still answers on 127.0.0.1:`port` (hsd's RPC after the demo). */
async function listening (port: string): Promise<boolean> {
  return await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(2_000) }).then(() => true, () => false)
}

/** hsd's RPC no longer answers after the demo: its own subtest, reported skipped where hsd is not installed. */
async function hsdStopped (t: TestContext, out: string): Promise<void> {
  const skip = findHsd() === undefined ? 'hsd is not installed, so the demo started none' : false
  await t.test('hsd was stopped', { skip }, async () => {
    const hsdPort = out.match(/Handshake: started hsd \(regtest, in memory, RPC on 127\.0\.0\.1:(\d+)\)/)?.[1]
    assert.ok(hsdPort !== undefined, `hsd is installed, but the demo printed no RPC port:\n${out}`)
    assert.equal(await listening(hsdPort), false, 'hsd was stopped')
  })
}

test('weft demo: the site by its key, a petname and a Handshake name, and the web UI on node 6\'s gateway, an update served live, the site loading with its owner stopped and from replicas with every other follower stopped, a censored follower reached through a relay and Tor, and no homes or hsd left', { timeout: 480_000 }, async t => {
  const demo = await startDemo(t, ['--exit-after-drills'])
  await demo.waitFor(/Press Enter to run the drills/, 45_000)
  const root = demo.out().match(/temporary homes in (\S+)/)?.[1]
  assert.ok(root !== undefined && existsSync(join(root, 'node-6')), demo.out())
  const site = demo.out().match(/site: +http:\/\/(k51[a-z0-9]+)\.ipns\.localhost:(\d+)\/\n/)
  const ui = demo.out().match(/web UI: +http:\/\/127\.0\.0\.1:(\d+)\/#token=[0-9a-f]{64}\n/)
  assert.ok(site !== null && ui !== null, demo.out())
  const port = site[2]
  assert.equal(ui[1], port, 'the site and the UI are on node 6\'s one gateway')
  assert.notEqual(port, '8080', '--port 0 takes any free port')
  const gateway = `http://127.0.0.1:${port}`
  const signal = AbortSignal.timeout(20_000)

  const index = await gatewayGet(gateway, `${site[1]}.ipns.localhost:${port}`, '/', { signal })
  assert.equal(index.status, 200, index.body.toString())
  assert.match(index.contentType, /^text\/html/)
  const page = index.body.toString()
  assert.match(page, /<h1>Hello from weft<\/h1>/)
  assert.match(page, />Version 1</)
  assert.match(page, /id="script-status"/)
  assert.match(page, /href="about\.html"/)
  const script = await gatewayGet(gateway, `${site[1]}.ipns.localhost:${port}`, '/js/main.js', { signal })
  assert.equal(script.status, 200)
  assert.match(script.body.toString(), /script ran/)

  // The same page under node 6's petname and, with hsd installed (a devDependency), a Handshake name.
  const names = ['sample']
  assert.match(demo.out(), new RegExp(`petname: +http://sample\\.ipns\\.localhost:${port}/\n`))
  assert.match(demo.out(), /node 6 calls the site "sample" \(resolver petname, proven: false/)
  const hsdPort = demo.out().match(/Handshake: started hsd \(regtest, in memory, RPC on 127\.0\.0\.1:(\d+)\)/)?.[1]
  if (findHsd() !== undefined) {
    assert.ok(hsdPort !== undefined, demo.out())
    assert.match(demo.out(), new RegExp(`Handshake: +http://weftdemo\\.ipns\\.localhost:${port}/\n`))
    assert.match(demo.out(), new RegExp(`registered "weftdemo" with the TXT record dnslink=/ipns/${site[1]} in [\\d.]+ m?s \\(an auction`))
    assert.match(demo.out(), new RegExp(`node 6 resolved weftdemo through hsd's RPC in [\\d.]+ m?s: /ipns/${site[1]} \\(resolver hns, proven: true: urkel proof against tree root [0-9a-f]{64} of block \\d+`))
    names.push('weftdemo')
  } else {
    assert.match(demo.out(), /Handshake: skipped, the demo goes on without a Handshake name: hsd is not installed/)
  }
  for (const name of names) {
    const named = await gatewayGet(gateway, `${name}.ipns.localhost:${port}`, '/', { signal })
    assert.equal(named.status, 200, `${name}: ${named.body.toString().slice(0, 200)}`)
    assert.equal(named.body.toString(), page, `${name} serves the site's index page`)
  }

  // the sample forum, a second site, built on the site API alone
  const forum = demo.out().match(/forum: +http:\/\/(k51[a-z0-9]+)\.ipns\.localhost:(\d+)\/\n/)
  assert.ok(forum !== null && forum[1] !== site[1] && forum[2] === port, demo.out())
  const forumPage = await gatewayGet(gateway, `${forum[1]}.ipns.localhost:${port}`, '/', { signal })
  assert.equal(forumPage.status, 200, forumPage.body.toString().slice(0, 200))
  assert.match(forumPage.body.toString(), /<script type="module" src="forum\.js"><\/script>/)
  const client = await gatewayGet(gateway, `${forum[1]}.ipns.localhost:${port}`, '/.weft/client.js', { signal })
  assert.equal(client.status, 200)
  assert.match(client.body.toString(), /export async function query/)

  const uiPage = await gatewayGet(gateway, `127.0.0.1:${port}`, '/', { signal })
  assert.equal(uiPage.status, 200, `the web UI: ${uiPage.body.toString().slice(0, 200)}`)
  assert.match(uiPage.contentType, /^text\/html/)
  assert.match(uiPage.body.toString(), /<!doctype html>/i)

  demo.child.stdin?.end('\n')
  // drill 4 starts a private Tor network (consensus 8-26 s here) and two tors
  const code = await exitCode(demo, 300_000)
  const out = demo.out()
  assert.equal(code, 0, `${out}\n${demo.err()}`)
  assert.match(out, /Node 1 published it as record sequence 1 in [\d.]+ m?s/)
  assert.match(out, /The signed record reached the 5 followers/)
  assert.match(out, /All 5 followers held every block of version 2 after [\d.]+ m?s/)
  assert.match(out, /Node 6's gateway answered with version 2 [\d.]+ m?s after the publish began/)
  assert.match(out, /Node 1, the only node with the site's key, stopped/)
  assert.match(out, /Node 6's gateway still serves version 2 \(HTTP 200/)
  // what is left is the forum's, which node 6 still follows (the drill checks the site's root is gone)
  assert.match(out, /Node 6 unfollowed the site and ran gc: \d+ blocks dropped, \d+ left in its store \(the other sites it follows: the forum\); it no longer holds the site/)
  assert.match(out, /the DHT returned the site's record from node \d+/)
  assert.match(out, /fetched all 9 files again, byte-identical to version 2/)
  assert.match(out, /Blocks sent by the other followers: \d+ by node [2-5]/)
  // drill 3: replicas on the storage nodes outlive every other follower and one holder
  assert.match(out, /3\. Replicas\. node 7, node 8, node 9 and node 10 offer storage and follow nothing; node 6 asks for 3 copies/)
  const holders = out.match(/ {3}Node (\d+), node (\d+) and node (\d+), the offering nodes whose ids are closest to the site's key, fetched it \(\d+ bytes/)
  assert.ok(holders !== null, out)
  assert.ok(holders.slice(1).every(n => Number(n) >= 7), 'the holders are storage nodes')
  const left = out.match(/Node 2, node 3, node 4 and node 5 \(the other followers\) and node (\d+) \(a holder\) stopped; .* Only node (\d+) and node (\d+) hold it now/)
  assert.ok(left !== null, out)
  assert.ok(holders.slice(1).includes(left[1]), 'a holder stopped')
  assert.match(out, /Node 6's gateway served all 9 files again, byte-identical, in [\d.]+ m?s: blocks sent by node (7|8|9|10)/)
  assert.match(out, new RegExp(`Audit round 1 by node 6 \\(.*node ${left[1]} (?!pass)`))
  assert.match(out, /Back to 3 copies in [\d.]+ m?s: node \d+, node \d+ and node \d+ \(node (7|8|9|10) recruited/)
  assert.match(out, /Node 6 follows the site again/)
  // drill 4: where tor is installed (npm test installs it as root), a censored follower and an onion-only one
  const noTor = await torUnavailable()
  if (noTor === undefined) {
    assert.match(out, /A private Tor network on 127\.0\.0\.1 \(3 directory authorities and 3 relays.*\) agreed on a consensus in [\d.]+ m?s/)
    assert.match(out, /runs an onion service \(\/onion3\/[a-z2-7]{56}:4101\); node 14 is onion-only/)
    assert.match(out, /A censor in front of node 13 now drops every address but node 11's: its connection to node 12 is cut and a dial of \/ip4\/127\.0\.0\.1\/tcp\/\d+ fails/)
    assert.match(out, /Node 12 published version 2 .*: node 13 held it [\d.]+ m?s after the publish began, over node 11's relay, node 14 after [\d.]+ m?s, over onion routing; both byte-identical, and neither has a connection to node 12 outside the relay or Tor/)
    assert.match(out, /a site reached followers its publisher's address was blocked from, through a relay and through Tor/)
  } else {
    t.diagnostic(`drill 4 skipped: ${noTor}`)
    assert.match(out, /4\. Censorship: skipped, it needs a private Tor network/)
  }
  assert.match(out, /Drills done/)
  assert.match(out, /removed the temporary homes/)
  assert.equal(existsSync(root), false, `${root} is still there`)
  await hsdStopped(t, out)
})

test('weft demo: Ctrl-C stops every node; --keep leaves the homes and says where', async t => {
  const demo = await startDemo(t, ['--keep'])
  await demo.waitFor(/Press Enter to run the drills/, 45_000)
  const root = demo.out().match(/temporary homes in (\S+)/)?.[1]
  assert.ok(root !== undefined, demo.out())
  t.after(async () => { await rm(root, { recursive: true, force: true }) })
  demo.child.kill('SIGINT')
  const code = await exitCode(demo, 20_000)
  assert.equal(code, 130, `${demo.out()}\n${demo.err()}`)
  assert.match(demo.err(), /SIGINT: stopping the nodes/)
  assert.match(demo.out(), new RegExp(`Kept the homes: ${root}/node-1`))
  for (let i = 1; i <= 10; i++) {
    assert.ok(existsSync(join(root, `node-${i}`, 'config.json')), `node-${i} kept`)
    assert.equal(existsSync(join(root, `node-${i}`, 'repo.lock')), false, `node-${i} was stopped (its lock released)`)
  }
  await hsdStopped(t, demo.out())
})
