import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import assert from 'node:assert/strict'
import type { TestContext } from 'node:test'
import { tmpHome } from './home.ts'

export const WEFT_BIN = fileURLToPath(new URL('../../bin/weft', import.meta.url))

export interface CliResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: Buffer
  stderr: string
  /** stdout as text. */
  out: string
}

export interface RunOptions {
  home: string
  input?: Uint8Array | string
  env?: Record<string, string>
  cwd?: string
  /** Run as this user instead (a test running as root drops to `nobody`, whom file modes bind). */
  user?: { uid: number, gid: number }
}

/** Starts `weft <args>` as a separate process, as a person would run it. */
export function spawnWeft (args: string[], options: RunOptions): ChildProcess {
  return spawn(WEFT_BIN, ['--home', options.home, ...args], {
    cwd: options.cwd,
    uid: options.user?.uid,
    gid: options.user?.gid,
    env: { ...process.env, WEFT_DEBUG: '', ...options.env },
    stdio: ['pipe', 'pipe', 'pipe']
  })
}

/** Runs `weft <args>` to completion. */
export async function runWeft (args: string[], options: RunOptions): Promise<CliResult> {
  const child = spawnWeft(args, options)
  const out: Buffer[] = []
  const err: Buffer[] = []
  child.stdout?.on('data', (b: Buffer) => out.push(b))
  child.stderr?.on('data', (b: Buffer) => err.push(b))
  child.stdin?.end(options.input)
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (c, s) => { resolve([c, s]) })
  })
  const stdout = Buffer.concat(out)
  return { code, signal, stdout, stderr: Buffer.concat(err).toString('utf8'), out: stdout.toString('utf8') }
}

export interface RunningDaemon {
  home: string
  child: ChildProcess
  id: string
  address: string
  /** `http://127.0.0.1:<port>`, as the daemon printed it. */
  gatewayUrl: string
  /** Whether it still runs, and the end of what it wrote to stderr: for a failing assertion's message. */
  state(): string
}

/** `weft daemon` as a separate process on 127.0.0.1 with ephemeral ports (in `existingHome`, or a new one). */
export async function startDaemonProcess (t: TestContext, existingHome?: string): Promise<RunningDaemon> {
  const home = existingHome ?? await tmpHome(t)
  for (const [key, value] of [['addresses.listen', '["/ip4/127.0.0.1/tcp/0"]'], ['addresses.api', '"/ip4/127.0.0.1/tcp/0"'], ['addresses.gateway', '"/ip4/127.0.0.1/tcp/0"']]) {
    assert.equal((await runWeft(['config', 'set', key, value], { home })).code, 0)
  }
  const child = spawnWeft(['daemon'], { home })
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL')
      await new Promise(resolve => child.once('exit', resolve))
    }
  })
  let out = ''
  let errors = ''
  child.stderr?.on('data', (b: Buffer) => { errors = (errors + b.toString()).slice(-4096) })
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`the daemon did not get ready: ${out}`)) }, 30_000)
    child.stdout?.on('data', (b: Buffer) => {
      out += b.toString()
      if (out.includes('daemon is ready')) { clearTimeout(timer); resolve() }
    })
    child.once('exit', code => { clearTimeout(timer); reject(new Error(`the daemon exited with ${code}: ${out}`)) })
  })
  const id = JSON.parse((await runWeft(['id', '--json'], { home })).out)
  const state = (): string => `daemon ${child.exitCode === null && child.signalCode === null ? 'running' : `exited (${child.exitCode ?? child.signalCode})`}; stderr: ${errors}`
  const gatewayUrl = /gateway on (http:\/\/\S+)/.exec(out)?.[1] ?? ''
  return { home, child, id: id.id, address: id.addresses[0], gatewayUrl, state }
}

/** Asserts the command exited 0 (stderr is the message otherwise); returns its result. */
export const ok = (r: CliResult): CliResult => {
  assert.equal(r.code, 0, r.stderr)
  return r
}

/** Asserts the command failed with `exit` and one line naming `code`, as every weft error reads; returns that line. */
export const fails = (r: CliResult, code: string, exit = 1): string => {
  assert.equal(r.code, exit, r.stderr)
  assert.match(r.stderr, new RegExp(`^weft: [^\\n]+ \\(${code}\\)\\n$`))
  return r.stderr
}
