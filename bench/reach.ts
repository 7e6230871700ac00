/**
 * `npm run bench -- reach [--json]`: issue 15's figures behind NAT, in network namespaces
 * (root only; test/net/nat/netns.ts builds them). Twice, once with every node listening on
 * TCP only and once on QUIC only, a 20 MiB site published behind one cone NAT is fetched
 * - relay_MBps: by a node behind another cone NAT, through a relay on the public side
 *   (its per-connection limit raised to carry the whole site);
 * - direct_MBps: by a reachable peer on the public side, over the direct connection DCUtR
 *   left after it dialled the publisher through the relay;
 * - punch_success: in a third world (two cone NATs, WebRTC on as by default, Debian's coturn
 *   beside the relay as the STUN server), of 20 tries (every connection closed at both ends, a relayed dial,
 *   then up to PUNCH_WAIT ms) how many left the two NATed nodes a direct WebRTC connection
 *   (punch_ms: the median time from the relayed dial to it), and webrtc_MBps: the 20 MiB site
 *   fetched over it. The TCP and QUIC worlds run with WebRTC off, so their figures stay what
 *   they were; over QUIC alone DCUtR punched 0 of 20 (e5392f9: ChainSafe/js-libp2p-quic#68).
 * The unsuffixed JSON fields are the TCP figures (as before QUIC came); `_quic` ones are
 * QUIC's. onion_MBps: by an onion-only node over a private Tor network on 127.0.0.1 (reach-onion.ts).
 */
import { measureOnion } from './reach-onion.ts'
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { createInternet, netnsUnavailable, spawnPeer, startStun, type Peer } from '../test/net/nat/netns.ts'
import { until } from './lib/figures.ts'
import type { BenchOptions } from './index.ts'

const SITE_BYTES = 20 * 1024 * 1024
const TRIES = 20
/** What one relayed connection may carry in these worlds: the whole site. */
const BIG_RELAY_LIMIT = { durationMs: 3_600_000, bytes: String(1n << 32n) }
/** How long one try waits for DCUtR to leave a direct connection (ms): its 3 tries of 5 s. */
const PUNCH_WAIT = 15_000

type Conn = { remoteAddr: string, relayed: boolean, opened: number }
type Transport = 'tcp' | 'quic'

interface WorldFigures {
  relayMBps: number
  stayedRelayed: boolean
  directMBps: number | null
  directAddr: string | undefined
}

const listenAddr = (transport: Transport, ip: string, port: number): string =>
  transport === 'tcp' ? `/ip4/${ip}/tcp/${port}` : `/ip4/${ip}/udp/${port}/quic-v1`

async function measure (transport: Transport, work: string, t: any): Promise<WorldFigures> {
  const dirOf = (name: string): string => join(work, `${transport}-${name}`)
  const net = await createInternet(t)
  const start = async (peer: Peer, name: string, listen: string, reach: Record<string, unknown>, bootstrap: string[], announce: boolean): Promise<string> =>
    (await peer.request('start', { home: dirOf(name), listen: [listen], announce: announce ? [listen] : [], bootstrap, reach })).peerId
  const relay = spawnPeer(t, net.publicNs, 'relay')
  const relayListen = listenAddr(transport, net.publicIp, 4001)
  const relayId = await start(relay, 'relay', relayListen, { serve: true, use: false, holePunch: true, webrtc: false, relayedConnectionLimit: BIG_RELAY_LIMIT }, [], true)
  const relayAddr = `${relayListen}/p2p/${relayId}`
  const lanA = await net.addLan('cone')
  const lanB = await net.addLan('cone')
  const publisher = spawnPeer(t, lanA.ns, 'publisher')
  const publisherId = await start(publisher, 'publisher', listenAddr(transport, lanA.privateIp, 4101), { serve: false, use: true, holePunch: true, webrtc: false }, [relayAddr], false)
  const follower = spawnPeer(t, lanB.ns, 'follower')
  await start(follower, 'follower', listenAddr(transport, lanB.privateIp, 4101), { serve: false, use: true, holePunch: true, webrtc: false }, [relayAddr], false)
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
  const reachableId = await start(reachable, 'reachable', reachableListen, { serve: false, use: false, holePunch: true, webrtc: false }, [relayAddr], true)
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

  return { relayMBps: SITE_BYTES / 1e6 / relaySeconds, stayedRelayed, directMBps, directAddr }
}

interface PunchFigures { punched: number, punchMs: number[], webrtcMBps: number | null, path: string | undefined }

/** Two nodes behind two cone NATs punching a WebRTC connection, `tries` times (see the header). */
export async function measurePunch (tries: number, work: string, t: any): Promise<PunchFigures> {
  const net = await createInternet(t)
  const stun = await startStun(t, net.publicNs, net.publicIp)
  if (stun === undefined) throw new Error('the WebRTC punch needs coturn (scripts/ensure-netns.sh installs it as root)')
  const start = async (peer: Peer, name: string, listen: string, reach: Record<string, unknown>, bootstrap: string[], announce: boolean): Promise<string> =>
    (await peer.request('start', { home: join(work, `webrtc-${name}`), listen: [listen], announce: announce ? [listen] : [], bootstrap, reach: { ...reach, stun: [stun] } })).peerId
  const relay = spawnPeer(t, net.publicNs, 'relay')
  const relayListen = `/ip4/${net.publicIp}/tcp/4001`
  const relayAddr = `${relayListen}/p2p/${await start(relay, 'relay', relayListen, { serve: true, use: false, holePunch: true, relayedConnectionLimit: BIG_RELAY_LIMIT }, [], true)}`
  const lanA = await net.addLan('cone')
  const lanB = await net.addLan('cone')
  const publisher = spawnPeer(t, lanA.ns, 'publisher')
  const publisherId = await start(publisher, 'publisher', `/ip4/${lanA.privateIp}/tcp/4101`, { serve: false, use: true, holePunch: true }, [relayAddr], false)
  const follower = spawnPeer(t, lanB.ns, 'follower')
  const followerId = await start(follower, 'follower', `/ip4/${lanB.privateIp}/tcp/4101`, { serve: false, use: true, holePunch: true }, [relayAddr], false)
  const circuit = `${relayAddr}/p2p-circuit/p2p/${publisherId}`
  if (!await until(async () => (await publisher.request<string[]>('addrs')).includes(circuit), 30_000, 100)) throw new Error('webrtc: the publisher got no relay reservation')
  let punched = 0
  const punchMs: number[] = []
  for (let i = 0; i < tries; i++) {
    // both ends closed, and seen closed at both: a relayed connection that arrives while the
    // publisher still counts the last WebRTC one open notifies no protocol topology, so DCUtR
    // never starts on it (seen in 2 of 20 tries when only the follower hung up)
    const { at: closed } = await follower.request<{ at: number }>('hangUp', { peer: publisherId })
    await publisher.request('hangUp', { peer: followerId })
    await until(async () => (await publisher.request<Conn[]>('connections', { peer: followerId })).length === 0 &&
      (await follower.request<Conn[]>('connections', { peer: publisherId })).length === 0, 10_000, 50)
    const began = Date.now()
    await follower.request('dial', { addr: circuit }).catch(() => {})
    let at: number | undefined
    await until(async () => {
      at = (await follower.request<Conn[]>('connections', { peer: publisherId })).find(c => !c.relayed && c.remoteAddr.includes('/webrtc/') && c.opened >= closed)?.opened
      return at !== undefined
    }, PUNCH_WAIT, 100)
    if (at !== undefined) {
      punched++
      punchMs.push(Math.max(0, at - began))
    }
    process.stderr.write(`webrtc punch try ${i + 1}/${tries}: ${punched} direct so far\n`)
  }
  // the site over the punched connection, the relay gone so nothing else can carry it
  let webrtcMBps: number | null = null
  let path: string | undefined
  const dir = join(work, 'webrtc-site')
  mkdirSync(dir)
  writeFileSync(join(dir, 'big.bin'), randomBytes(SITE_BYTES))
  const site = await publisher.request('publish', { dir, label: 'big', files: ['big.bin'] })
  if (await until(async () => (await follower.request<Conn[]>('connections', { peer: publisherId })).some(c => !c.relayed && c.remoteAddr.includes('/webrtc/')), PUNCH_WAIT, 100)) {
    path = JSON.stringify(await follower.request('webrtcPaths', { peer: publisherId }))
    await relay.request('stop').catch(() => {})
    const began = performance.now()
    const fetched = await follower.request('fetch', { root: site.root, files: ['big.bin'] })
    webrtcMBps = SITE_BYTES / 1e6 / ((performance.now() - began) / 1000)
    if (fetched.hashes['big.bin'] !== site.hashes['big.bin']) throw new Error('webrtc: bytes differ')
  }
  return { punched, punchMs, webrtcMBps, path }
}

const median = (xs: number[]): number | null => xs.length === 0 ? null : [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

const oneDecimal = (x: number | null): number | null => x === null ? null : Number(x.toFixed(1))

export async function run (options: BenchOptions): Promise<void> {
  const why = await netnsUnavailable()
  if (why !== undefined) throw new Error(`the reach benchmark needs network namespaces: ${why}`)
  const work = mkdtempSync(join(tmpdir(), 'weft-bench-reach-'))
  const results: Partial<Record<Transport, WorldFigures>> = {}
  let punch: PunchFigures | undefined
  // each world is torn down before the next is built
  const inWorld = async <T>(fn: (t: any) => Promise<T>): Promise<T> => {
    const cleanups: Array<() => Promise<void>> = []
    const t = { after: (fn: () => Promise<void>) => { cleanups.push(fn) } }
    try {
      return await fn(t)
    } finally {
      for (const fn of cleanups.reverse()) await fn().catch(() => {})
    }
  }
  try {
    for (const transport of ['tcp', 'quic'] as const) results[transport] = await inWorld(async t => await measure(transport, work, t))
    punch = await inWorld(async t => await measurePunch(TRIES, work, t))
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
    punch_success: `${punch.punched}/${TRIES}`,
    punch_transport: 'webrtc',
    punch_tries: TRIES,
    punch_direct: punch.punched,
    punch_ms: median(punch.punchMs),
    webrtc_MBps: oneDecimal(punch.webrtcMBps)
  }
  if (options.json) process.stdout.write(JSON.stringify(figures) + '\n')
  else {
    process.stderr.write(`reach: a ${MiB} MiB site across namespaces with NAT routers         TCP       QUIC\n`)
    process.stderr.write(`  through a relay (NAT to NAT):                                ${String(figures.relay_MBps).padStart(5)} MB/s ${String(figures.relay_quic_MBps).padStart(5)} MB/s\n`)
    process.stderr.write(`  direct after DCUtR (public to NAT):                          ${String(figures.direct_MBps ?? 'none').padStart(5)} MB/s ${String(figures.direct_quic_MBps ?? 'none').padStart(5)} MB/s\n`)
    process.stderr.write(`  hole punching NAT to NAT (cone, WebRTC, STUN):               ${figures.punch_success} direct (median ${figures.punch_ms ?? '-'} ms after the relayed dial)\n`)
    process.stderr.write(`  over the punched WebRTC connection (relay stopped):          ${String(figures.webrtc_MBps ?? 'none').padStart(5)} MB/s (ICE path ${punch.path ?? '-'})\n`)
    process.stderr.write(`  over onion routing (private Tor):                            ${onion.onion_MBps ?? onion.onion_skipped} MB/s (consensus ${onion.tor_consensus_ms} ms, tors ready ${onion.tor_ready_ms} ms)\n`)
    process.stderr.write(`  direct connections: TCP ${tcp.directAddr ?? '-'}, QUIC ${quic.directAddr ?? '-'}\n`)
  }
}
