/**
 * `npm run bench -- <name> [--json]` runs `bench/<name>.ts`'s `run()`. A benchmark is a
 * file here whose name has no hyphen; its helpers are named `<name>-<part>.ts`.
 */
import { readdirSync } from 'node:fs'
import { availableParallelism, loadavg } from 'node:os'
import { fileURLToPath } from 'node:url'
import { cpuTicks } from './lib/figures.ts'

export interface BenchOptions {
  /** One JSON object on stdout; human text goes to stderr. */
  json: boolean
}

interface Benchmark {
  run(options: BenchOptions): Promise<void>
}

const dir = fileURLToPath(new URL('.', import.meta.url))

function available (): string[] {
  return readdirSync(dir)
    .filter(f => f.endsWith('.ts') && f !== 'index.ts' && !f.includes('-'))
    .map(f => f.slice(0, -'.ts'.length))
    .sort()
}

function usage (problem: string): never {
  process.stderr.write(`${problem}\nusage: npm run bench -- <name> [--json]\nbenchmarks: ${available().join(', ')}\n`)
  process.exit(2)
}

const args = process.argv.slice(2)
const flags = args.filter(a => a.startsWith('-'))
const names = args.filter(a => !a.startsWith('-'))
const unknownFlag = flags.find(f => f !== '--json')
if (unknownFlag !== undefined) usage(`unknown option ${unknownFlag}`)
if (names.length !== 1) usage(names.length === 0 ? 'which benchmark?' : `one benchmark at a time, not ${names.join(' ')}`)
const name = names[0]
if (!available().includes(name)) usage(`no benchmark named ${name}`)

// A figure means little on a busy machine: say how busy it was, before and during the run.
const loadBefore = loadavg()[0]
const ticksBefore = cpuTicks()
const bench = await import(`./${name}.ts`) as Benchmark
try {
  await bench.run({ json: flags.includes('--json') })
} catch (err) {
  process.stderr.write(`bench ${name} failed: ${(err as Error).stack ?? String(err)}\n`)
  process.exitCode = 1
}
const ticksAfter = cpuTicks()
if (ticksBefore !== undefined && ticksAfter !== undefined) {
  const total = ticksAfter.total - ticksBefore.total
  const pct = (n: number): string => `${(100 * n / Math.max(1, total)).toFixed(0)}%`
  process.stderr.write(`machine: ${availableParallelism()} cores; load average before the run ${loadBefore.toFixed(2)} (1 min), after ${loadavg()[0].toFixed(2)}; during the run the CPUs were ${pct(ticksAfter.busy - ticksBefore.busy)} busy (this benchmark included), ${pct(ticksAfter.steal - ticksBefore.steal)} stolen by the host\n`)
}
