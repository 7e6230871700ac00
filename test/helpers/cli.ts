import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

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
}

/** Starts `weft <args>` as a separate process, as a person would run it. */
export function spawnWeft (args: string[], options: RunOptions): ChildProcess {
  return spawn(WEFT_BIN, ['--home', options.home, ...args], {
    cwd: options.cwd,
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
