/**
 * `npm run bench -- reach [--json]`: issue 15's figures behind NAT, in network namespaces
 * (root only; test/net/nat/netns.ts builds them). Twice, once with every node listening on
 * TCP only and once on QUIC only, a 20 MiB site published behind one cone NAT is fetched
 * - relay_MBps: by a node behind another cone NAT, through a relay on the public side
 *   (its per-connection limit raised to carry the whole site);
 * - direct_MBps: by a reachable peer on the public side, over the direct connection DCUtR
 *   left after it dialled the publisher through the relay;
 * - punch_success (QUIC world only): of 20 tries (relayed dial, then up to PUNCH_WAIT ms
 *   for DCUtR), how many left the two NATed nodes a direct connection.
 * The unsuffixed JSON fields are the TCP figures (as before QUIC came); `_quic` ones are
 * QUIC's. onion_MBps: by an onion-only node over a private Tor network on 127.0.0.1 (reach-onion.ts).
 */
import { measureOnion } from './reach-onion.ts'
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { createInternet, netnsUnavailable, spawnPeer, type Peer } from '../test/net/nat/netns.ts'
import { until } from './lib/figures.ts'
import type { BenchOptions } from './index.ts'

const SITE_BYTES = 20 * 1024 * 1024
const TRIES = 20
/** How long one try waits for DCUtR to leave a direct connection (ms): its 3 tries of 5 s. */
const PUNCH_WAIT = 15_000

type Conn = { remoteAddr: string, relayed: boolean }
type Transport = 'tcp' | 'quic'

interface WorldFigures {
  relayMBps: number
  stayedRelayed: boolean
  directMBps: number | null
  directAddr: string | undefined
  punched: number | null
}

const listenAddr = (transport: Transport, ip: string, port: number): string =>
  transport === 'tcp' ? `/ip4/${ip}/tcp/${port}` : `/ip4/${ip}/udp/${port}/quic-v1`

async function measure (transport: Transport, punchTries: number, work: string, t: any): Promise<WorldFigures> {
  const dirOf = (name: string): string => join(work, `${transport}-${name}`)
  const net = await createInternet(t)
  const start = async (peer: Peer, name: string, listen: string, reach: Record<string, unknown>, bootstrap: string[], announce: boolean): Promise<string> =>
    (await peer.request('start', { home: dirOf(name), listen: [listen], announce: announce ? [listen] : [], bootstrap, reach })).peerId
  const relay = spawnPeer(t, net.publicNs, 'relay')
  const relayListen = listenAddr(transport, net.publicIp, 4001)
  const relayId = await start(relay, 'relay', relayListen, { serve: true, use: false, holePunch: true, relayedConnectionLimit: { durationMs: 3_600_000, bytes: String(1n << 32n) } }, [], true)
  const relayAddr = `${relayListen}/p2p/${relayId}`
  const lanA = await net.addLan('cone')
  const lanB = await net.addLan('cone')
  const publisher = spawnPeer(t, lanA.ns, 'publisher')
  const publisherId = await start(publisher, 'publisher', listenAddr(transport, lanA.privateIp, 4101), { serve: false, use: true, holePunch: true }, [relayAddr], false)
  const follower = spawnPeer(t, lanB.ns, 'follower')
  await start(follower, 'follower', listenAddr(transport, lanB.privateIp, 4101), { serve: false, use: true, holePunch: true }, [relayAddr], false)
  let circuit: string | undefined
  await until(async () => {
    circuit = (await publisher.request<string[]>('addrs')).find(a => a.startsWith(`${relayAddr}/p2p-circuit`))
    return circuit !== undefined
  }, 30_000, 100)
  if (circuit === undefined) throw new Error(`${transport}: the publisher got no relay reservation`)

  const dir = dirOf('site')
  mkdirSync(dir)
  writeFileSync(join(dir, 'big.bin'), randomBytes(SITE_BYTES))
  const site = await publisher.request('publish', { dir, label: 'big', files: ['big.bin'] })

  // relayed: the follower reaches the publisher only through the relay
  await follower.request('dial', { addr: circuit })
  let began = performance.now()
  const relayed = await follower.request('fetch', { root: site.root, files: ['big.bin'] })
  const relaySeconds = (performance.now() - began) / 1000
  if (relayed.hashes['big.bin'] !== site.hashes['big.bin']) throw new Error(`${transport}: relayed bytes differ`)
  const stayedRelayed = (await follower.request<Conn[]>('connections', { peer: publisherId })).every(c => c.relayed)

  // direct: a reachable peer dials through the relay, DCUtR dials it back
  const reachable = spawnPeer(t, net.publicNs, 'reachable')
  const reachableListen = listenAddr(transport, net.publicIp, 4002)
  const reachableId = await start(reachable, 'reachable', reachableListen, { serve: false, use: false, holePunch: true }, [relayAddr], true)
  await publisher.request('dial', { addr: `${reachableListen}/p2p/${reachableId}` })
  await reachable.request('hangUp', { peer: publisherId })
  await reachable.request('dial', { addr: circuit })
  let directAddr: string | undefined
  const upgraded = await until(async () => {
    directAddr = (await reachable.request<Conn[]>('connections', { peer: publisherId })).find(c => !c.relayed)?.remoteAddr
    return directAddr !== undefined
  }, PUNCH_WAIT, 100)
  let directMBps: number | null = null
  if (upgraded) {
    began = performance.now()
    const direct = await reachable.request('fetch', { root: site.root, files: ['big.bin'] })
    directMBps = SITE_BYTES / 1e6 / ((performance.now() - began) / 1000)
    if (direct.hashes['big.bin'] !== site.hashes['big.bin']) throw new Error(`${transport}: direct bytes differ`)
  }

  // punching between the two NATed nodes
  let punched: number | null = null
  if (punchTries > 0) {
    punched = 0
    for (let i = 0; i < punchTries; i++) {
      await follower.request('hangUp', { peer: publisherId })
      await follower.request('dial', { addr: circuit })
      if (await until(async () => (await follower.request<Conn[]>('connections', { peer: publisherId })).some(c => !c.relayed), PUNCH_WAIT, 200)) punched++
      process.stderr.write(`${transport} punch try ${i + 1}/${punchTries}: ${punched} direct so far\n`)
    }
  }
  return { relayMBps: SITE_BYTES / 1e6 / relaySeconds, stayedRelayed, directMBps, directAddr, punched }
}

const oneDecimal = (x: number | null): number | null => x === null ? null : Number(x.toFixed(1))

export async function run (options: BenchOptions): Promise<void> {
  const why = await netnsUnavailable()
  if (why !== undefined) throw new Error(`the reach benchmark needs network namespaces: ${why}`)
  const work = mkdtempSync(join(tmpdir(), 'weft-bench-reach-'))
  const results: Partial<Record<Transport, WorldFigures>> = {}
  try {
    for (const transport of ['tcp', 'quic'] as const) {
      // each world is torn down before the next is built
      const cleanups: Array<() => Promise<void>> = []
      const t = { after: (fn: () => Promise<void>) => { cleanups.push(fn) } }
      try {
        results[transport] = await measure(transport, transport === 'quic' ? TRIES : 0, work, t)
      } finally {
        for (const fn of cleanups.reverse()) await fn().catch(() => {})
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
  const onion = await measureOnion(SITE_BYTES)
  const tcp = results.tcp!
  const quic = results.quic!
  const MiB = SITE_BYTES / (1024 * 1024)
  const figures = {
    site_MiB: MiB,
    relay_MBps: oneDecimal(tcp.relayMBps),
    relay_quic_MBps: oneDecimal(quic.relayMBps),
    relay_stayed_relayed: tcp.stayedRelayed && quic.stayedRelayed,
    direct_MBps: oneDecimal(tcp.directMBps),
    direct_quic_MBps: oneDecimal(quic.directMBps),
    direct_after_dcutr: tcp.directMBps !== null,
    direct_quic_after_dcutr: quic.directMBps !== null,
    ...onion,
    punch_success: `${quic.punched ?? 0}/${TRIES}`,
    punch_transport: 'quic',
    punch_tries: TRIES,
    punch_direct: quic.punched
  }
  if (options.json) process.stdout.write(JSON.stringify(figures) + '\n')
  else {
    process.stderr.write(`reach: a ${MiB} MiB site across namespaces with NAT routers         TCP       QUIC\n`)
    process.stderr.write(`  through a relay (NAT to NAT):                                ${String(figures.relay_MBps).padStart(5)} MB/s ${String(figures.relay_quic_MBps).padStart(5)} MB/s\n`)
    process.stderr.write(`  direct after DCUtR (public to NAT):                          ${String(figures.direct_MBps ?? 'none').padStart(5)} MB/s ${String(figures.direct_quic_MBps ?? 'none').padStart(5)} MB/s\n`)
    process.stderr.write(`  hole punching NAT to NAT (cone, QUIC):                       ${figures.punch_success} direct (target: most of ${TRIES})\n`)
    process.stderr.write(`  over onion routing (private Tor):                            ${onion.onion_MBps ?? onion.onion_skipped} MB/s (consensus ${onion.tor_consensus_ms} ms, tors ready ${onion.tor_ready_ms} ms)\n`)
    process.stderr.write(`  direct connections: TCP ${tcp.directAddr ?? '-'}, QUIC ${quic.directAddr ?? '-'}\n`)
  }
}
