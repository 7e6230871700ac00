/**
 * The `gateway` benchmark's peer and load generator: nginx (one worker, a config of its
 * own in a temp dir) serving a folder from disk, and wrk runs parsed into figures. Both
 * are Debian packages; a missing one is installed with apt-get when running as root.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { accessSync, constants, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { delimiter, join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { USER_HZ } from './lib/figures.ts'

/** The path of `command`, installing Debian's `pkg` (as root) when it is missing. */
export function requireTool (command: string, pkg: string): string {
  const find = (): string | undefined => {
    // nginx lives in /usr/sbin, which a non-root PATH often lacks.
    const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin', '/usr/local/sbin']
    for (const dir of dirs.filter(d => d !== '')) {
      const path = join(dir, command)
      try {
        accessSync(path, constants.X_OK)
        return path
      } catch { /* not here */ }
    }
    return undefined
  }
  const found = find()
  if (found !== undefined) return found
  if (process.getuid?.() !== 0) {
    throw new Error(`${command} is not installed and this is not root; install it with \`sudo apt-get install -y ${pkg}\` and run the benchmark again`)
  }
  process.stderr.write(`${command} is missing: apt-get install -y ${pkg}\n`)
  const install = (): void => { execFileSync('apt-get', ['install', '-y', '--no-install-recommends', pkg], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } }) }
  try {
    install()
  } catch {
    // A fresh container has no package lists yet.
    execFileSync('apt-get', ['update'], { stdio: ['ignore', 'ignore', 'inherit'] })
    install()
  }
  const installed = find()
  if (installed === undefined) throw new Error(`apt-get installed ${pkg} but ${command} is still not on the PATH`)
  return installed
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve, reject) => { server.once('error', reject).listen(0, '127.0.0.1', resolve) })
  const address = server.address()
  await new Promise(resolve => server.close(resolve))
  if (address === null || typeof address === 'string') throw new Error('no free port')
  return address.port
}

/** Stops a process group this benchmark started: `signal`, then SIGKILL if it lingers. */
export async function stopGroup (child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', graceMs = 5_000): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise(resolve => child.once('exit', resolve))
  const kill = (s: NodeJS.Signals): void => {
    try {
      process.kill(-(child.pid as number), s)
    } catch {
      try { child.kill(s) } catch { /* gone */ }
    }
  }
  kill(signal)
  const timer = setTimeout(() => { kill('SIGKILL') }, graceMs)
  await exited
  clearTimeout(timer)
}

/**
 * CPU time (user + system, ms) the processes `pids` and their children have used so far,
 * from /proc; undefined where there is no /proc.
 */
export function cpuMs (pids: number[]): number | undefined {
  const tick = 1000 / USER_HZ
  let total = 0
  const seen = new Set<number>()
  const visit = (pid: number): boolean => {
    if (seen.has(pid)) return true
    seen.add(pid)
    let stat: string
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    } catch {
      return false
    }
    // Fields after the command (which may hold spaces) start at state; utime and stime are the 14th and 15th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    total += (Number(fields[11]) + Number(fields[12])) * tick
    try {
      for (const child of readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(' ').filter(c => c !== '')) visit(Number(child))
    } catch { /* no children file */ }
    return true
  }
  return pids.every(visit) ? total : undefined
}

export interface Nginx {
  url: string
  version: string
  /** The master's pid (its worker is its child). */
  pid: number
  stop(): Promise<void>
}

/**
 * nginx serving `www` on 127.0.0.1: one worker (weft's gateway is one Node process),
 * sendfile, keep-alive without a request limit, no access log; pid, logs and temp files
 * in `dir`. Its own process group, so stopping it takes its worker too.
 */
export async function startNginx (binary: string, dir: string, www: string): Promise<Nginx> {
  mkdirSync(dir, { recursive: true })
  const version = /nginx\/(\S+)/.exec(spawnText(binary, ['-v']))?.[1] ?? '?'
  const built = spawnText(binary, ['-V'])
  // Temp paths only for the modules this build has (a directive of a missing one is an error).
  const temps = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .filter(m => m === 'client_body' || !built.includes(`--without-http_${m}_module`))
    .map(m => `  ${m}_temp_path ${join(dir, `${m}-temp`)};`)
  const port = await freePort()
  const conf = join(dir, 'nginx.conf')
  writeFileSync(conf, [
    'worker_processes 1;',
    'daemon off;',
    'master_process on;',
    `pid ${join(dir, 'nginx.pid')};`,
    `error_log ${join(dir, 'error.log')} warn;`,
    'events { worker_connections 1024; }',
    'http {',
    '  access_log off;',
    '  sendfile on;',
    '  tcp_nopush on;',
    '  tcp_nodelay on;',
    '  keepalive_timeout 65s;',
    '  keepalive_requests 100000000;',
    '  default_type application/octet-stream;',
    ...temps,
    '  server {',
    `    listen 127.0.0.1:${port};`,
    `    root ${www};`,
    '  }',
    '}',
    ''
  ].join('\n'))
  const child = spawn(binary, ['-p', dir, '-c', conf, '-e', join(dir, 'error.log')], { stdio: ['ignore', 'ignore', 'pipe'], detached: true })
  let stderr = ''
  child.stderr?.setEncoding('utf8').on('data', (s: string) => { stderr += s })
  const url = `http://127.0.0.1:${port}`
  const stop = async (): Promise<void> => { await stopGroup(child, 'SIGTERM') }
  const deadline = performance.now() + 10_000
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      const log = existsSync(join(dir, 'error.log')) ? readFileSync(join(dir, 'error.log'), 'utf8') : ''
      throw new Error(`nginx exited at start (${child.exitCode ?? child.signalCode}): ${(stderr + log).trim().slice(-2000)}`)
    }
    try {
      const response = await fetch(url + '/', { signal: AbortSignal.timeout(1_000) })
      await response.arrayBuffer()
      return { url, version, pid: child.pid as number, stop }
    } catch { /* not listening yet */ }
    if (performance.now() > deadline) {
      await stop()
      throw new Error(`nginx did not answer on ${url} within 10 s: ${stderr.trim().slice(-2000)}`)
    }
    await sleep(50)
  }
}

/** What `nginx -v`/`-V` print (on stderr). */
function spawnText (binary: string, args: string[]): string {
  const { stdout, stderr } = spawnSync(binary, args, { encoding: 'utf8' })
  return `${stdout ?? ''}${stderr ?? ''}`
}

/** One wrk run, as its `done` hook reports it. Latencies in ms. */
export interface WrkResult {
  requests: number
  seconds: number
  /** Bytes read, headers included. */
  bytes: number
  requestsPerS: number
  latency: { mean: number, p50: number, p90: number, p99: number, max: number }
  /** Socket errors, and answers that were not 2xx or 3xx. */
  errors: { connect: number, read: number, write: number, timeout: number, status: number }
}

/** wrk's `done` hook: one JSON line after its own report. */
const WRK_SCRIPT = `
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d,"status":%d,"mean":%f,"p50":%d,"p90":%d,"p99":%d,"max":%d}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.timeout, e.status,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
`

export interface Wrk {
  run(url: string, options: { seconds: number, connections: number, host?: string }): Promise<WrkResult>
  /** Stops the run in progress, if any. */
  stop(): Promise<void>
}

export function createWrk (binary: string, dir: string): Wrk {
  const script = join(dir, 'report.lua')
  writeFileSync(script, WRK_SCRIPT)
  let current: ChildProcess | undefined
  return {
    async run (url, { seconds, connections, host }) {
      const args = ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', '--timeout', '10s', '-s', script, ...(host === undefined ? [] : ['-H', `Host: ${host}`]), url]
      const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true })
      current = child
      let out = ''
      let err = ''
      child.stdout?.setEncoding('utf8').on('data', (s: string) => { out += s })
      child.stderr?.setEncoding('utf8').on('data', (s: string) => { err += s })
      const code = await new Promise<number | null>((resolve, reject) => {
        child.once('error', reject)
        child.once('close', resolve)
      }).finally(() => { current = undefined })
      const line = out.split('\n').find(l => l.startsWith('WRKJSON '))
      if (code !== 0 || line === undefined) throw new Error(`wrk ${args.join(' ')} failed (exit ${code}): ${(err + out).trim().slice(-1000)}`)
      const r = JSON.parse(line.slice('WRKJSON '.length)) as Record<string, number>
      const seconds_ = r.duration_us / 1e6
      return {
        requests: r.requests,
        seconds: seconds_,
        bytes: r.bytes,
        requestsPerS: r.requests / seconds_,
        latency: { mean: r.mean / 1000, p50: r.p50 / 1000, p90: r.p90 / 1000, p99: r.p99 / 1000, max: r.max / 1000 },
        errors: { connect: r.connect, read: r.read, write: r.write, timeout: r.timeout, status: r.status }
      }
    },
    async stop () {
      if (current !== undefined) await stopGroup(current, 'SIGTERM', 2_000)
    }
  }
}
