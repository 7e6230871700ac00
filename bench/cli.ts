/**
 * `npm run bench -- cli [--json]`: how long a `weft` command takes from the shell until it
 * exits, as a person runs it (bin/weft, the shell script included), beside the floor: the
 * same Node starting and running nothing (`node -e 0`).
 *
 * - `weft --version`: the CLI's front door alone; target under 150 ms.
 * - `weft id` through a running daemon: a command that asks the daemon's API; target
 *   under 300 ms.
 *
 * The three run in turn, WEFT_BENCH_ROUNDS times (default 21), so a busy moment on the
 * machine lands on all of them; the figure is the median. Node's compile cache gets a
 * folder of its own: the first `--version` fills it (printed as the cold start), the
 * rest read it, as every run after a person's first does.
 */
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import type { BenchOptions } from './index.ts'
import { median, ms, quantile, show, verdict } from './lib/figures.ts'

const ROUNDS = Number(process.env.WEFT_BENCH_ROUNDS ?? 21)
const TARGET_VERSION_MS = 150
const TARGET_ID_MS = 300
const DAEMON_READY_TIMEOUT_MS = 60_000

const WEFT = fileURLToPath(new URL('../bin/weft', import.meta.url))
/** The runtime bin/weft runs weft on. */
const NODE = fileURLToPath(new URL('../node_modules/node/bin/node', import.meta.url))

/** Runs a command to its end; its wall time in ms. */
function timeRun (command: string, args: string[], env: NodeJS.ProcessEnv): number {
  const start = performance.now()
  const result = spawnSync(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
  const elapsed = performance.now() - start
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} exited ${result.status ?? result.signal}: ${String(result.stderr)}`)
  return elapsed
}

export async function run (options: BenchOptions): Promise<void> {
  const say = (line: string): void => { (options.json ? process.stderr : process.stdout).write(line + '\n') }
  const dir = mkdtempSync(join(tmpdir(), 'weft-bench-cli-'))
  const home = join(dir, 'home')
  const env = { ...process.env, NODE_COMPILE_CACHE: join(dir, 'compile-cache'), WEFT_HOME: home, WEFT_DEBUG: '' }
  const weft = (args: string[]): number => timeRun(WEFT, args, env)
  let daemon: ReturnType<typeof spawn> | undefined
  try {
    const versionColdMs = weft(['--version'])
    for (const [key, value] of [['addresses.listen', '["/ip4/127.0.0.1/tcp/0"]'], ['addresses.api', '"/ip4/127.0.0.1/tcp/0"'], ['addresses.gateway', '"/ip4/127.0.0.1/tcp/0"']]) {
      weft(['config', 'set', key, value])
    }
    const started = spawn(WEFT, ['daemon'], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    daemon = started
    await new Promise<void>((resolve, reject) => {
      let out = ''
      const timer = setTimeout(() => { reject(new Error(`the daemon did not get ready in ${DAEMON_READY_TIMEOUT_MS} ms: ${out}`)) }, DAEMON_READY_TIMEOUT_MS)
      started.stdout?.on('data', (b: Buffer) => {
        out += b.toString()
        if (out.includes('daemon is ready')) { clearTimeout(timer); resolve() }
      })
      started.once('exit', code => { clearTimeout(timer); reject(new Error(`the daemon exited with ${code}: ${out}`)) })
    })
    weft(['id']) // fills the compile cache for id's modules

    const floor: number[] = []
    const version: number[] = []
    const id: number[] = []
    for (let round = 0; round < ROUNDS; round++) {
      floor.push(timeRun(NODE, ['-e', '0'], env))
      version.push(weft(['--version']))
      id.push(weft(['id']))
    }

    const result = {
      rounds: ROUNDS,
      version_ms: ms(median(version), 1),
      id_ms: ms(median(id), 1),
      node_floor_ms: ms(median(floor), 1),
      version_p90_ms: ms(quantile(version, 0.9), 1),
      id_p90_ms: ms(quantile(id, 0.9), 1),
      node_floor_p90_ms: ms(quantile(floor, 0.9), 1),
      version_cold_ms: ms(versionColdMs, 1),
      target_version_ms: TARGET_VERSION_MS,
      target_id_ms: TARGET_ID_MS
    }
    const line = (label: string, xs: number[], target?: number): string =>
      `${label.padEnd(28)} median ${show(median(xs)).padStart(7)}   p90 ${show(quantile(xs, 0.9)).padStart(7)}   min ${show(Math.min(...xs)).padStart(7)}` +
      (target === undefined ? '' : `   target < ${target} ms ${verdict(median(xs) < target)}   ${(median(xs) - median(floor)).toFixed(0)} ms above the floor`)
    say('')
    say(`weft start-up — ${ROUNDS} rounds, wall time from the shell to exit (bin/weft, Node ${spawnSync(NODE, ['--version']).stdout.toString().trim()})`)
    say(line('node -e 0 (the floor)', floor))
    say(line('weft --version', version, TARGET_VERSION_MS))
    say(line('weft id (through the daemon)', id, TARGET_ID_MS))
    say(`${'weft --version, cold cache'.padEnd(28)} ${show(versionColdMs)} (the first run after an install or a change: Node strips and compiles every module)`)
    if (options.json) process.stdout.write(JSON.stringify(result) + '\n')
  } finally {
    if (daemon !== undefined && daemon.exitCode === null && daemon.signalCode === null) {
      const exited = new Promise(resolve => daemon?.once('exit', resolve))
      daemon.kill('SIGTERM')
      await exited
    }
    rmSync(dir, { recursive: true, force: true })
  }
}
