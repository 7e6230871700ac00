/**
 * The censorship drill: a follower whose direct path to every peer holding a site is
 * blocked (an nftables rule on its router dropping their addresses) still receives the
 * site's next version, through a relay and through onion routing.
 *
 *   public namespace: relay 11.0.0.1:4001, a private Tor network on 11.0.0.1,
 *                     the publisher on 11.0.0.100 (a relay reservation, an onion service)
 *   LAN 1 behind a NAT: a follower without tor; its router drops 11.0.0.100
 *   LAN 2 behind a NAT: a follower with tor; its router drops 11.0.0.100 and the relay
 *
 * Root only (network namespaces) and Debian's tor; skipped elsewhere, saying why.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { join } from 'node:path'
import { writeFile } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { until } from '../../helpers/until.ts'
import { tmpDir } from '../../helpers/home.ts'
import { createInternet, netnsUnavailable, spawnPeer, type Lan } from '../nat/netns.ts'
import { startTorNet, torUnavailable } from '../../../src/demo/tornet.ts'

const run = promisify(execFile)
const unavailable = (await netnsUnavailable()) ?? (await torUnavailable())
const PUBLISHER_IP = '11.0.0.100'
const FILES = ['index.html', 'noise.bin']

/** The router namespace in front of a LAN (netns.ts names them <tag>-r<k> and <tag>-l<k>). */
function routerOf (lan: Lan): string {
  return lan.ns.replace(/-l(\d+)$/, '-r$1')
}

/** The censor: drops, on the LAN's router, everything forwarded to these destinations. */
async function block (lan: Lan, rules: string[]): Promise<void> {
  for (const rule of rules) await run('ip', ['netns', 'exec', routerOf(lan), 'nft', `insert rule ip wfilter forwarding ${rule} drop`])
}

async function siteDir (t: any, version: string): Promise<string> {
  const dir = await tmpDir(t)
  await writeFile(join(dir, 'index.html'), `<h1>version ${version}</h1>`)
  // under the 128 KiB a relayed connection may carry by default
  await writeFile(join(dir, 'noise.bin'), randomBytes(32 * 1024))
  return dir
}

test('censorship drill: with the publisher\'s address blocked, one follower gets the next version through a relay, and one with the relay blocked too gets it through onion routing', { skip: unavailable, timeout: 420_000 }, async t => {
  const net = await createInternet(t)
  await run('ip', ['netns', 'exec', net.publicNs, 'ip', 'addr', 'add', `${PUBLISHER_IP}/24`, 'dev', 'br0'])
  const tornet = await startTorNet({ host: net.publicIp, ns: net.publicNs })
  t.after(tornet.stop)
  t.diagnostic(`private Tor network in the public namespace: consensus after ${Math.round(tornet.consensusMs)} ms`)
  const tor = { onionOnly: false, torrc: tornet.clientTorrc() }
  const start = async (ns: string, name: string, listen: string, extra: Record<string, unknown>): Promise<{ peer: ReturnType<typeof spawnPeer>, id: string, onion?: string }> => {
    const peer = spawnPeer(t, ns, name)
    const home = join(await tmpDir(t, `weft-drill-${name}-`), 'home')
    const { peerId, onion } = await peer.request('start', { home, listen: [listen], bootstrap: [], ...extra })
    return { peer, id: peerId, onion }
  }
  const relay = await start(net.publicNs, 'relay', `/ip4/${net.publicIp}/tcp/4001`, { announce: [`/ip4/${net.publicIp}/tcp/4001`], reach: { serve: true, use: false, holePunch: false } })
  const relayAddr = `/ip4/${net.publicIp}/tcp/4001/p2p/${relay.id}`
  const lan1 = await net.addLan('cone')
  const lan2 = await net.addLan('cone')
  const [publisher, viaRelay, viaOnion] = await Promise.all([
    start(net.publicNs, 'publisher', `/ip4/${PUBLISHER_IP}/tcp/4101`, { announce: [`/ip4/${PUBLISHER_IP}/tcp/4101`], bootstrap: [relayAddr], reach: { serve: false, use: true, holePunch: false }, tor }),
    start(lan1.ns, 'follower-relay', `/ip4/${lan1.privateIp}/tcp/4101`, { bootstrap: [relayAddr], reach: { serve: false, use: false, holePunch: false } }),
    start(lan2.ns, 'follower-onion', `/ip4/${lan2.privateIp}/tcp/4101`, { bootstrap: [relayAddr], reach: { serve: false, use: false, holePunch: false }, tor })
  ])
  await until('the publisher holds a relay reservation', async () => (await publisher.peer.request<string[]>('addrs')).some(a => a.includes('/p2p-circuit')), 60_000, 200)

  // Before the block: both followers get version one straight from the publisher.
  const v1 = await publisher.peer.request('publish', { dir: await siteDir(t, 'one'), label: 'drill', files: FILES })
  for (const f of [viaRelay, viaOnion]) {
    await f.peer.request('dialPeer', { peer: publisher.id })
    await f.peer.request('follow', { name: v1.name })
    // held, not only known: a fetch cut by the block below leaves no peer to ask for version two
    await until('version one held', async () => { const s = await f.peer.request('followState', { name: v1.name }); return s.root === v1.root && s.state === 'held' }, 90_000, 250)
  }

  // The censor drops the publisher's address (and, for the second follower, the relay's) and cuts what is open.
  await block(lan1, [`ip daddr ${PUBLISHER_IP}`])
  await block(lan2, [`ip daddr ${PUBLISHER_IP}`, `ip daddr ${net.publicIp} tcp dport 4001`])
  for (const f of [viaRelay, viaOnion]) await f.peer.request('hangUp', { peer: publisher.id })
  // Without the peer id: libp2p would join that to any dial of the publisher under way (which may go through the relay).
  await assert.rejects(viaRelay.peer.request('dial', { addr: `/ip4/${PUBLISHER_IP}/tcp/4101` }), 'the direct path is blocked')

  const v2 = await publisher.peer.request('publish', { dir: await siteDir(t, 'two'), label: 'drill', files: FILES })
  assert.notEqual(v2.root, v1.root)
  for (const [f, name] of [[viaRelay, 'relay follower'], [viaOnion, 'onion follower']] as const) {
    const path = await until('a path to the publisher', async () => { try { await f.peer.request('dialPeer', { peer: publisher.id }); return true } catch { return false } }, 180_000, 1_000)
    let last: unknown
    const held = await until('version two held', async () => {
      const state = await f.peer.request('followState', { name: v2.name })
      last = state
      return state.root === v2.root && state.state === 'held'
    }, 180_000, 500).catch(async (err: Error) => {
      const conns = await f.peer.request('connections', { peer: publisher.id }).catch(String)
      throw new Error(`${name}: ${err.message}; follow state ${JSON.stringify(last)}, connections to the publisher ${JSON.stringify(conns)}`)
    })
    t.diagnostic(`${name}: a path to the publisher after ${Math.round(path)} ms, version two held ${Math.round(held)} ms later`)
    const bytes = await f.peer.request('hashes', { root: v2.root, files: FILES })
    assert.deepEqual(bytes.hashes, v2.hashes, 'bytes identical at the follower')
  }
  const relayConns = await viaRelay.peer.request<Array<{ remoteAddr: string, relayed: boolean }>>('connections', { peer: publisher.id })
  assert.ok(relayConns.length > 0 && relayConns.every(c => c.relayed), `only relayed connections: ${JSON.stringify(relayConns)}`)
  const onionConns = await viaOnion.peer.request<Array<{ remoteAddr: string, relayed: boolean, direction: string }>>('connections', { peer: publisher.id })
  // One the publisher dialled to the follower's onion service comes in from tor's end of it, on
  // the follower's own loopback: the publisher, in another namespace, has no other way there.
  const throughTor = (c: { remoteAddr: string, direction: string }): boolean => c.remoteAddr.startsWith('/onion3/') || (c.direction === 'inbound' && c.remoteAddr.startsWith('/ip4/127.0.0.1/'))
  assert.ok(onionConns.length > 0 && onionConns.every(throughTor), `only onion connections: ${JSON.stringify(onionConns)}`)
})
