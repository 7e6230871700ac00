/**
 * `npm run bench -- reach [--json]`: issue 15's figures behind NAT, in network namespaces
 * (root only; test/net/nat/netns.ts builds them). A 20 MiB site published behind one cone
 * NAT is fetched
 * - relay_MBps: by a node behind another cone NAT, through a relay on the public side
 *   (its per-connection limit raised to carry the whole site);
 * - direct_MBps: by a reachable peer on the public side, over the direct connection DCUtR
 *   left after it dialled the publisher through the relay;
 * - punch_success: of 20 tries (relayed dial, then up to PUNCH_WAIT ms for DCUtR), how many
 *   left the two NATed nodes a direct connection.
 * - onion_MBps: by an onion-only node over a private Tor network on 127.0.0.1 (reach-onion.ts).
 */
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { createInternet, netnsUnavailable, spawnPeer, type Peer } from '../test/net/nat/netns.ts'
import { until } from './lib/figures.ts'
import type { BenchOptions } from './index.ts'
import { measureOnion } from './reach-onion.ts'

const SITE_BYTES = 20 * 1024 * 1024
const TRIES = 20
/** How long one try waits for DCUtR to leave a direct connection (ms): its 3 tries of 5 s. */
const PUNCH_WAIT = 15_000

type Conn = { remoteAddr: string, relayed: boolean }

export async function run (options: BenchOptions): Promise<void> {
  const why = await netnsUnavailable()
  if (why !== undefined) throw new Error(`the reach benchmark needs network namespaces: ${why}`)
  const cleanups: Array<() => Promise<void>> = []
  const t = { after: (fn: () => Promise<void>) => { cleanups.push(fn) } } as any
  const work = mkdtempSync(join(tmpdir(), 'weft-bench-reach-'))
  try {
    const net = await createInternet(t)
    const start = async (peer: Peer, name: string, listen: string, reach: Record<string, unknown>, bootstrap: string[], announce: boolean): Promise<string> =>
      (await peer.request('start', { home: join(work, name), listen: [listen], announce: announce ? [listen] : [], bootstrap, reach })).peerId
    const relay = spawnPeer(t, net.publicNs, 'relay')
    const relayId = await start(relay, 'relay', `/ip4/${net.publicIp}/tcp/4001`, { serve: true, use: false, holePunch: true, relayedConnectionLimit: { durationMs: 3_600_000, bytes: String(1n << 32n) } }, [], true)
    const relayAddr = `/ip4/${net.publicIp}/tcp/4001/p2p/${relayId}`
    const lanA = await net.addLan('cone')
    const lanB = await net.addLan('cone')
    const publisher = spawnPeer(t, lanA.ns, 'publisher')
    const publisherId = await start(publisher, 'publisher', `/ip4/${lanA.privateIp}/tcp/4101`, { serve: false, use: true, holePunch: true }, [relayAddr], false)
    const follower = spawnPeer(t, lanB.ns, 'follower')
    await start(follower, 'follower', `/ip4/${lanB.privateIp}/tcp/4101`, { serve: false, use: true, holePunch: true }, [relayAddr], false)
    let circuit: string | undefined
    await until(async () => {
      circuit = (await publisher.request<string[]>('addrs')).find(a => a.startsWith(`${relayAddr}/p2p-circuit`))
      return circuit !== undefined
    }, 30_000, 100)
    if (circuit === undefined) throw new Error('the publisher got no relay reservation')

    const dir = join(work, 'site')
    mkdirSync(dir)
    writeFileSync(join(dir, 'big.bin'), randomBytes(SITE_BYTES))
    const site = await publisher.request('publish', { dir, label: 'big', files: ['big.bin'] })

    // relayed: the follower reaches the publisher only through the relay
    await follower.request('dial', { addr: circuit })
    let began = performance.now()
    const relayed = await follower.request('fetch', { root: site.root, files: ['big.bin'] })
    const relaySeconds = (performance.now() - began) / 1000
    if (relayed.hashes['big.bin'] !== site.hashes['big.bin']) throw new Error('relayed bytes differ')
    const overRelay = (await follower.request<Conn[]>('connections', { peer: publisherId })).every(c => c.relayed)

    // direct: a reachable peer dials through the relay, DCUtR dials it back
    const reachable = spawnPeer(t, net.publicNs, 'reachable')
    const reachableId = await start(reachable, 'reachable', `/ip4/${net.publicIp}/tcp/4002`, { serve: false, use: false, holePunch: true }, [relayAddr], true)
    await publisher.request('dial', { addr: `/ip4/${net.publicIp}/tcp/4002/p2p/${reachableId}` })
    await reachable.request('hangUp', { peer: publisherId })
    await reachable.request('dial', { addr: circuit })
    const upgraded = await until(async () => (await reachable.request<Conn[]>('connections', { peer: publisherId })).some(c => !c.relayed), PUNCH_WAIT, 100)
    began = performance.now()
    const direct = await reachable.request('fetch', { root: site.root, files: ['big.bin'] })
    const directSeconds = (performance.now() - began) / 1000
    if (direct.hashes['big.bin'] !== site.hashes['big.bin']) throw new Error('direct bytes differ')

    // punching between the two NATed nodes
    let punched = 0
    for (let i = 0; i < TRIES; i++) {
      await follower.request('hangUp', { peer: publisherId })
      await follower.request('dial', { addr: circuit })
      if (await until(async () => (await follower.request<Conn[]>('connections', { peer: publisherId })).some(c => !c.relayed), PUNCH_WAIT, 200)) punched++
      process.stderr.write(`punch try ${i + 1}/${TRIES}: ${punched} direct so far\n`)
    }

    const onion = await measureOnion(SITE_BYTES)
    const MiB = SITE_BYTES / (1024 * 1024)
    const figures = {
      site_MiB: MiB,
      relay_MBps: Number((SITE_BYTES / 1e6 / relaySeconds).toFixed(1)),
      relay_stayed_relayed: overRelay,
      direct_MBps: upgraded ? Number((SITE_BYTES / 1e6 / directSeconds).toFixed(1)) : null,
      direct_after_dcutr: upgraded,
      ...onion,
      punch_success: `${punched}/${TRIES}`,
      punch_tries: TRIES,
      punch_direct: punched
    }
    if (options.json) process.stdout.write(JSON.stringify(figures) + '\n')
    else {
      process.stderr.write(`reach: a ${MiB} MiB site across namespaces with NAT routers\n`)
      process.stderr.write(`  through a relay (NAT to NAT):        ${figures.relay_MBps} MB/s\n`)
      process.stderr.write(`  direct after DCUtR (public to NAT):  ${figures.direct_MBps ?? 'no direct connection'} MB/s\n`)
      process.stderr.write(`  hole punching NAT to NAT (cone):     ${figures.punch_success} direct\n`)
      process.stderr.write(`  over onion routing (private Tor):    ${onion.onion_MBps ?? onion.onion_skipped} MB/s (consensus ${onion.tor_consensus_ms} ms, tors ready ${onion.tor_ready_ms} ms)\n`)
    }
  } finally {
    for (const fn of cleanups.reverse()) await fn().catch(() => {})
    rmSync(work, { recursive: true, force: true })
  }
}
