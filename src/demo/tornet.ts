/**
 * A private Tor network on 127.0.0.1 (or on an address of a network namespace), for the
 * demo's censorship drill and the onion tests, built in the way Tor's
 * chutney builds its test networks (its torrc templates are the reference; no code of
 * it is used): three directory authorities that are also relays, a few more relays,
 * `TestingTorNetwork 1` and voting intervals of seconds instead of an hour.
 *
 * Nothing here reaches the public Tor network: every torrc names the local authorities
 * in DirAuthority lines and no other (tor then uses neither its built-in authorities nor
 * its fallback directories, and TestingTorNetwork refuses to start without custom ones),
 * and every address is 127.0.0.1.
 *
 * A weft node joins with `clientTorrc()`: the lines its own tor needs (network.tor.torrc).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { setTimeout as sleep } from 'node:timers/promises'
import { TorControl } from '../net/tor-control.ts'

const run = promisify(execFile)

/** Why a private Tor network cannot run here, or undefined when it can. */
export async function torUnavailable (): Promise<string | undefined> {
  for (const tool of ['tor', 'tor-gencert']) {
    try {
      await run('sh', ['-c', `command -v ${tool}`])
    } catch {
      return `${tool} is missing: Debian's tor package brings it (scripts/ensure-tor.sh installs it when the tests run as root)`
    }
  }
  return undefined
}

/** The lines every tor of the network shares (chutney's common.i, as far as weft needs it). */
const COMMON = [
  'TestingTorNetwork 1',
  // a small network: circuits once two thirds of the (few) relays' descriptors are in
  'PathsNeededToBuildCircuits 0.67',
  'UseDefaultFallbackDirs 0',
  'ClientUseIPv6 0',
  'SafeLogging 0',
  'ShutdownWaitLength 0',
  'LogTimeGranularity 1'
]

/** Authorities vote every 10 s (tor's minimum-ish; chutney uses 20 s for mixed-version networks). */
const AUTHORITY = [
  'AuthoritativeDirectory 1',
  'V3AuthoritativeDirectory 1',
  'TestingV3AuthInitialVotingInterval 10',
  'TestingV3AuthInitialVoteDelay 2',
  'TestingV3AuthInitialDistDelay 2',
  'V3AuthVotingInterval 10',
  'V3AuthVoteDelay 2',
  'V3AuthDistDelay 2',
  'V3AuthNIntervalsValid 2',
  // every relay is given the flags a 5-relay network would otherwise take hours to earn
  'TestingDirAuthVoteExit *',
  'TestingDirAuthVoteHSDir *',
  'TestingDirAuthVoteGuard *',
  'TestingMinExitFlagThreshold 0'
]

interface TorNode {
  nick: string
  dir: string
  orPort: number
  dirPort: number
  authority: boolean
  process?: ChildProcess
}

export interface TorNet {
  /** The DirAuthority lines (and the testing options) a client's torrc needs. */
  clientTorrc: () => string[]
  /** ms from the first tor started until an authority's consensus listed every relay. */
  consensusMs: number
  /** The folder the network lives in (each tor's notice.log is there). */
  dir: string
  stop: () => Promise<void>
}

async function freePorts (n: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: n }, async () => await new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
    const server = createServer()
    server.once('error', reject).listen(0, '127.0.0.1', () => { resolve(server) })
  })))
  const ports = servers.map(s => (s.address() as { port: number }).port)
  await Promise.all(servers.map(async s => { await new Promise(resolve => s.close(resolve)) }))
  return ports
}

/** The relay identity fingerprint (tor --list-fingerprint makes the keys if needed). */
async function fingerprint (node: TorNode): Promise<string> {
  const { stdout } = await run('tor', ['--defaults-torrc', '/dev/null', '-f', '/dev/null', '--ignore-missing-torrc', '--DataDirectory', node.dir, '--ORPort', '1', '--Nickname', node.nick, '--list-fingerprint'])
  const last = stdout.trim().split('\n').pop() ?? ''
  const fp = last.split(' ').slice(1).join('')
  if (!/^[0-9A-F]{40}$/.test(fp)) throw new Error(`tor --list-fingerprint gave "${last}"`)
  return fp
}

/** An authority's v3 identity: tor-gencert makes its keys, the certificate names the fingerprint. */
async function authorityIdentity (node: TorNode): Promise<string> {
  const keys = join(node.dir, 'keys')
  await mkdir(keys, { recursive: true, mode: 0o700 })
  await new Promise<void>((resolve, reject) => {
    const gencert = spawn('tor-gencert', ['--create-identity-key', '--passphrase-fd', '0', '-i', join(keys, 'authority_identity_key'), '-s', join(keys, 'authority_signing_key'), '-c', join(keys, 'authority_certificate'), '-m', '12', '-a', `127.0.0.1:${node.dirPort}`], { stdio: ['pipe', 'ignore', 'pipe'] })
    let stderr = ''
    gencert.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
    gencert.stdin.end('weft-test\n')
    gencert.once('exit', code => { code === 0 ? resolve() : reject(new Error(`tor-gencert exited ${code}: ${stderr}`)) })
  })
  const cert = await readFile(join(keys, 'authority_certificate'), 'utf8')
  const v3ident = cert.match(/^fingerprint ([0-9A-F]{40})$/m)?.[1]
  if (v3ident === undefined) throw new Error('tor-gencert wrote no fingerprint')
  return v3ident
}

/**
 * Starts 3 authorities and `relays` relays (5 or more in all: an onion service and its
 * client each need a 3-hop circuit plus an introduction and a rendezvous point), and
 * waits, at most `timeoutMs`, until an authority's consensus lists every one of them.
 */
export async function startTorNet (options: { relays?: number, timeoutMs?: number, host?: string, ns?: string, signal?: AbortSignal } = {}): Promise<TorNet> {
  const host = options.host ?? '127.0.0.1'
  // in a network namespace (`ip netns exec` execs tor, so the child is tor itself)
  const exec = (args: string[]): [string, string[]] => options.ns === undefined ? ['tor', args] : ['ip', ['netns', 'exec', options.ns, 'tor', ...args]]
  const dir = await mkdtemp(join(tmpdir(), 'weft-tornet-'))
  const count = 3 + (options.relays ?? 3)
  const ports = await freePorts(count * 2)
  const nodes: TorNode[] = Array.from({ length: count }, (_, i) => ({
    nick: i < 3 ? `auth${i}` : `relay${i - 3}`,
    dir: join(dir, i < 3 ? `auth${i}` : `relay${i - 3}`),
    orPort: ports[i * 2],
    dirPort: ports[i * 2 + 1],
    authority: i < 3
  }))
  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map(async node => {
      const p = node.process
      if (p === undefined || p.exitCode !== null || p.signalCode !== null) return
      const exited = new Promise(resolve => p.once('exit', resolve))
      p.kill('SIGTERM')
      await Promise.race([exited, sleep(5_000).then(() => p.kill('SIGKILL'))])
    }))
    if (process.env.WEFT_KEEP_TORNET === undefined) await rm(dir, { recursive: true, force: true })
  }
  try {
    const { authorityLines, consensusMs } = await startNodes(nodes, host, exec, options)
    return { clientTorrc: () => [...COMMON, ...authorityLines], consensusMs, dir, stop }
  } catch (err) {
    await stop()
    throw err
  }
}

/** Makes every node's keys and torrc, starts them, and waits for a consensus listing all of them. */
async function startNodes (nodes: TorNode[], host: string, exec: (args: string[]) => [string, string[]], options: { timeoutMs?: number, signal?: AbortSignal }): Promise<{ authorityLines: string[], consensusMs: number }> {
  const count = nodes.length
  const authorityLines: string[] = []
  for (const node of nodes) {
    await mkdir(node.dir, { recursive: true, mode: 0o700 })
    const v3ident = node.authority ? await authorityIdentity(node) : undefined
    const fp = await fingerprint(node)
    if (v3ident !== undefined) authorityLines.push(`DirAuthority ${node.nick} orport=${node.orPort} no-v2 v3ident=${v3ident} ${host}:${node.dirPort} ${fp}`)
  }
  const started = performance.now()
  for (const node of nodes) {
    const torrc = [
      ...COMMON,
      ...authorityLines,
      `DataDirectory ${node.dir}`,
      `Nickname ${node.nick}`,
      `ContactInfo ${node.nick}@weft.test`,
      `Address ${host}`,
      `ORPort ${host}:${node.orPort}`,
      `DirPort ${host}:${node.dirPort}`,
      'SocksPort 0',
      // a unix socket: reachable from outside a network namespace too
      `ControlPort unix:${join(node.dir, 'control')}`,
      'CookieAuthentication 1',
      'ExitRelay 0',
      'ExitPolicy reject *:*',
      // no self-test of the ORPort: the network has no consensus yet to test it with
      'AssumeReachable 1',
      `Log notice file ${join(node.dir, 'notice.log')}`,
      // the network dies with the process that started it, even if that is killed
      `__OwningControllerProcess ${process.pid}`,
      ...(node.authority ? AUTHORITY : [])
    ]
    await writeFile(join(node.dir, 'torrc'), torrc.join('\n') + '\n')
    const [cmd, args] = exec(['--defaults-torrc', '/dev/null', '-f', join(node.dir, 'torrc')])
    node.process = spawn(cmd, args, { stdio: 'ignore' })
  }

  // the consensus as the first authority has it: one "r" line per listed relay
  const timeout = AbortSignal.timeout(options.timeoutMs ?? 180_000)
  const deadline = options.signal === undefined ? timeout : AbortSignal.any([timeout, options.signal])
  let control: TorControl | undefined
  try {
    while (true) {
      deadline.throwIfAborted()
      for (const node of nodes) {
        if (node.process?.exitCode !== null) throw new Error(`${node.nick} exited (${node.process?.exitCode}); see ${join(node.dir, 'notice.log')}`)
      }
      try {
        if (control === undefined) {
          control = await TorControl.connect({ path: join(nodes[0].dir, 'control') })
          await control.authenticate()
        }
        const ns = await control.getInfo('ns/all').catch(() => '')
        if (ns.split('\n').filter(l => l.startsWith('r ')).length >= count) break
      } catch {
        control?.close()
        control = undefined
      }
      await sleep(500, undefined, { signal: deadline }).catch(() => {})
    }
  } catch (err) {
    const log = await readFile(join(nodes[0].dir, 'notice.log'), 'utf8').catch(() => '')
    throw new Error(`the private Tor network did not reach a consensus of ${count} relays: ${(err as Error).message}\n${log.split('\n').slice(-15).join('\n')}`)
  } finally {
    control?.close()
  }
  return { authorityLines, consensusMs: performance.now() - started }
}
