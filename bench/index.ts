/**
 * `npm run bench -- <name> [--json]` runs `bench/<name>.ts`'s `run()`. A benchmark is a
 * file here whose name has no hyphen; its helpers are named `<name>-<part>.ts`.
 */
import { readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

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

const bench = await import(`./${name}.ts`) as Benchmark
try {
  await bench.run({ json: flags.includes('--json') })
} catch (err) {
  process.stderr.write(`bench ${name} failed: ${(err as Error).stack ?? String(err)}\n`)
  process.exitCode = 1
}
