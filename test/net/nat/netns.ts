/**
 * A small internet in network namespaces, built and torn down by a test (root only):
 *
 *   public (bridge, 11.0.0.1/24: a relay and a reachable peer live here)
 *     ├── router <name> 11.0.0.x ── NAT (nftables masquerade) ── private <name> 10.<k>.0.2/24
 *     └── …
 *
 * 11.0.0.0/24 stands in for the public internet: libp2p counts RFC 1918 and the TEST-NET
 * ranges as private and would never announce or punch them. It exists only inside these
 * namespaces, which have no route out, so nothing here reaches a real host.
 * A "cone" router masquerades as Linux does by default (the source port kept where it can
 * be); a "symmetric" one picks a random port for every new flow (`fully-random`), so a
 * port a peer learned on one connection says nothing about the next.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { promisify } from 'node:util'
import { randomBytes } from 'node:crypto'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { TestContext } from 'node:test'
import { createWriteStream } from 'node:fs'
import { join } from 'node:path'

const run = promisify(execFile)

export type NatKind = 'cone' | 'symmetric'

/** Why these tests cannot run here, or undefined when they can. */
export async function netnsUnavailable (): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'network namespaces need root (run the tests as root)'
  for (const tool of ['ip', 'nft']) {
    try {
      await run('sh', ['-c', `command -v ${tool}`])
    } catch {
      return `${tool} is missing (scripts/ensure-netns.sh installs iproute2 and nftables as root)`
    }
  }
  try {
    const probe = `wprobe${randomBytes(3).toString('hex')}`
    await run('ip', ['netns', 'add', probe])
    await run('ip', ['netns', 'del', probe])
  } catch (err) {
    return `this machine refuses new network namespaces: ${(err as Error).message.split('\n')[0]}`
  }
  return undefined
}

async function sh (...args: string[]): Promise<void> {
  await run(args[0], args.slice(1))
}

async function inNs (ns: string, ...args: string[]): Promise<void> {
  await run('ip', ['netns', 'exec', ns, ...args])
}

export interface Lan {
  /** The namespace a peer behind this NAT runs in. */
  ns: string
  /** The peer's address on its LAN. */
  privateIp: string
  /** The router's address on the public side: what peers elsewhere see. */
  publicIp: string
  kind: NatKind
}

export interface Internet {
  /** The public namespace (the relay and reachable peers run here) and its address. */
  publicNs: string
  publicIp: string
  addLan (kind: NatKind): Promise<Lan>
}

/** Builds the public side; every namespace is deleted when the test ends, pass or fail. */
export async function createInternet (t: TestContext): Promise<Internet> {
  const tag = `w${randomBytes(3).toString('hex')}`
  const namespaces: string[] = []
  t.after(async () => {
    for (const ns of namespaces.reverse()) await run('ip', ['netns', 'del', ns]).catch(() => {})
  })
  const publicNs = `${tag}-pub`
  await sh('ip', 'netns', 'add', publicNs)
  namespaces.push(publicNs)
  await inNs(publicNs, 'ip', 'link', 'set', 'lo', 'up')
  await inNs(publicNs, 'ip', 'link', 'add', 'br0', 'type', 'bridge')
  await inNs(publicNs, 'ip', 'addr', 'add', '11.0.0.1/24', 'dev', 'br0')
  await inNs(publicNs, 'ip', 'link', 'set', 'br0', 'up')
  let lans = 0
  return {
    publicNs,
    publicIp: '11.0.0.1',
    async addLan (kind) {
      const k = ++lans
      const router = `${tag}-r${k}`
      const lan = `${tag}-l${k}`
      for (const ns of [router, lan]) {
        await sh('ip', 'netns', 'add', ns)
        namespaces.push(ns)
        await inNs(ns, 'ip', 'link', 'set', 'lo', 'up')
      }
      const publicIp = `11.0.0.${k + 1}`
      const privateIp = `10.${k}.0.2`
      // router ↔ public bridge
      await sh('ip', 'link', 'add', `${tag}u${k}`, 'type', 'veth', 'peer', 'name', `${tag}v${k}`)
      await sh('ip', 'link', 'set', `${tag}u${k}`, 'netns', router, 'name', 'wan')
      await sh('ip', 'link', 'set', `${tag}v${k}`, 'netns', publicNs)
      await inNs(publicNs, 'ip', 'link', 'set', `${tag}v${k}`, 'master', 'br0', 'up')
      await inNs(router, 'ip', 'addr', 'add', `${publicIp}/24`, 'dev', 'wan')
      await inNs(router, 'ip', 'link', 'set', 'wan', 'up')
      // router ↔ its LAN
      await sh('ip', 'link', 'add', `${tag}a${k}`, 'type', 'veth', 'peer', 'name', `${tag}b${k}`)
      await sh('ip', 'link', 'set', `${tag}a${k}`, 'netns', router, 'name', 'lan')
      await sh('ip', 'link', 'set', `${tag}b${k}`, 'netns', lan, 'name', 'eth0')
      await inNs(router, 'ip', 'addr', 'add', `10.${k}.0.1/24`, 'dev', 'lan')
      await inNs(router, 'ip', 'link', 'set', 'lan', 'up')
      await inNs(lan, 'ip', 'addr', 'add', `${privateIp}/24`, 'dev', 'eth0')
      await inNs(lan, 'ip', 'link', 'set', 'eth0', 'up')
      await inNs(lan, 'ip', 'route', 'add', 'default', 'via', `10.${k}.0.1`)
      await inNs(router, 'sysctl', '-qw', 'net.ipv4.ip_forward=1')
      // the NAT: masquerade what leaves for the public side; nothing comes in unasked
      const masquerade = kind === 'symmetric' ? 'masquerade random,fully-random' : 'masquerade'
      await inNs(router, 'nft', [
        'add table ip wnat',
        'add chain ip wnat postnat { type nat hook postrouting priority 100 ; }',
        `add rule ip wnat postnat oifname "wan" ${masquerade}`,
        'add table ip wfilter',
        'add chain ip wfilter forwarding { type filter hook forward priority 0 ; policy drop ; }',
        'add rule ip wfilter forwarding iifname "lan" accept',
        'add rule ip wfilter forwarding ct state established,related accept',
        // the router itself takes nothing unasked from the public side either: a packet it
        // accepted would leave a conntrack entry on the NAT's own address and port, and the
        // NAT's next mapping onto that port (a punch going out) would get another port
        'add chain ip wfilter incoming { type filter hook input priority 0 ; policy drop ; }',
        'add rule ip wfilter incoming iifname "lan" accept',
        'add rule ip wfilter incoming iifname "lo" accept',
        'add rule ip wfilter incoming ct state established,related accept'
      ].join(' ; '))
      return { ns: lan, privateIp, publicIp, kind }
    }
  }
}

/**
 * A STUN server (Debian's coturn, `--stun-only`) on `ip`:3478 in `ns`, so ICE on peers behind
 * the NATs learns the public address and port their router shows the public side (a
 * server-reflexive candidate). Stopped when the test ends. Undefined when coturn is missing.
 */
export async function startStun (t: TestContext, ns: string, ip: string): Promise<string | undefined> {
  try {
    await run('sh', ['-c', 'command -v turnserver'])
  } catch {
    return undefined
  }
  const child = spawn('ip', ['netns', 'exec', ns, 'turnserver', '-n', '--stun-only', '--no-cli', '--no-tls', '--no-dtls',
    '-L', ip, '-p', '3478', '--no-stdout-log', '--log-file', '/dev/null', '--pidfile', '/dev/null'], { stdio: 'ignore' })
  const exited = new Promise<void>(resolve => { child.once('exit', () => { resolve() }) })
  t.after(async () => {
    child.kill('SIGTERM')
    const killer = setTimeout(() => { child.kill('SIGKILL') }, 5_000)
    await exited
    clearTimeout(killer)
  })
  // ready once it has bound its UDP port
  for (let i = 0; i < 100; i++) {
    const { stdout } = await run('ip', ['netns', 'exec', ns, 'ss', '-Huln', `sport = :3478`])
    if (stdout.includes(`${ip}:3478`)) return `stun:${ip}:3478`
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  throw new Error(`coturn did not bind ${ip}:3478 in ${ns}`)
}

/** The longest one request to a peer may take (ms): fetches through a relay included. */
const REQUEST_TIMEOUT = 90_000

const PEER_SCRIPT = fileURLToPath(new URL('./peer.ts', import.meta.url))

export interface Peer {
  request<T = any>(op: string, args?: Record<string, unknown>): Promise<T>
  readonly process: ChildProcess
}

/** Starts peer.ts inside `ns`; it is stopped (stdin closed, then killed) when the test ends. */
export function spawnPeer (t: TestContext, ns: string, name: string): Peer {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '--disable-warning=ExperimentalWarning', PEER_SCRIPT], {
    stdio: ['pipe', 'pipe', 'pipe']
  })
  const waiting = new Map<number, { resolve: (v: any) => void, reject: (e: Error) => void }>()
  let stderr = ''
  child.stderr!.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-4000) })
  // WEFT_NAT_LOG=<dir> keeps each peer's whole stderr (with DEBUG=libp2p:*, libp2p's log)
  if (process.env.WEFT_NAT_LOG !== undefined) child.stderr!.pipe(createWriteStream(join(process.env.WEFT_NAT_LOG, `${name}-${child.pid}.log`)))
  createInterface({ input: child.stdout! }).on('line', line => {
    let answer: { id: number, ok: boolean, value?: unknown, error?: string }
    try {
      answer = JSON.parse(line)
    } catch {
      return
    }
    const w = waiting.get(answer.id)
    waiting.delete(answer.id)
    if (answer.ok) w?.resolve(answer.value)
    else w?.reject(new Error(`${name}: ${answer.error}`))
  })
  const exited = new Promise<void>(resolve => { child.once('exit', () => { resolve() }) })
  child.once('exit', code => {
    for (const w of waiting.values()) w.reject(new Error(`${name} exited (${code}): ${stderr}`))
    waiting.clear()
  })
  t.after(async () => {
    child.stdin!.end()
    const killer = setTimeout(() => { child.kill('SIGKILL') }, 10_000)
    await exited
    clearTimeout(killer)
  })
  let next = 0
  return {
    process: child,
    async request (op, args = {}) {
      const id = ++next
      const answer = new Promise<any>((resolve, reject) => { waiting.set(id, { resolve, reject }) })
      child.stdin!.write(JSON.stringify({ id, op, ...args }) + '\n')
      // a peer that never answers fails the test with what it printed, instead of hanging it
      const deadline = AbortSignal.timeout(REQUEST_TIMEOUT)
      const timedOut = new Promise<never>((_resolve, reject) => {
        deadline.addEventListener('abort', () => { reject(new Error(`${name}: no answer to ${op} within ${REQUEST_TIMEOUT} ms; stderr: ${stderr}`)) })
      })
      try {
        return await Promise.race([answer, timedOut])
      } finally {
        waiting.delete(id)
      }
    }
  }
}
