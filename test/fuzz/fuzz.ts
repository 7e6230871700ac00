/**
 * What every fuzz test shares: one fixed seed (a failure replays exactly), byte mutations
 * of valid inputs (so cases get past the first length check), and the property every
 * decoder must keep: it returns, or refuses with a coded error, and it does so quickly.
 *
 * A counterexample the fuzzer finds is kept as a regression case in the test beside it.
 * Set FUZZ_RUNS to multiply the case counts (e.g. FUZZ_RUNS=10 for a longer hunt), and
 * FUZZ_SEED to hunt from another seed; a failure prints the seed and path that replay it.
 */
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { WeftError, type ErrorCode } from '../../src/errors.ts'

/** Every fuzz test runs with this seed; FUZZ_SEED hunts elsewhere, never to make a test pass. */
export const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed_11)

/** Multiplier for the case counts: 1 in `npm test` (the suite stays near a minute), more to hunt. */
const SCALE = Number(process.env.FUZZ_RUNS ?? 1)

export function runs (n: number): number {
  return Math.max(1, Math.round(n * SCALE))
}

/** fast-check parameters: the fixed seed, `n` cases, and the counterexample shrunk before it is shown. */
export function params (n: number): fc.Parameters<unknown> {
  return { seed: SEED, numRuns: runs(n), endOnFailure: false }
}

/** One edit to a byte string; positions are taken modulo the length, so any edit applies. */
type Edit =
  | { op: 'flip', at: number, bit: number }
  | { op: 'set', at: number, byte: number }
  | { op: 'insert', at: number, bytes: Uint8Array }
  | { op: 'delete', at: number, length: number }
  | { op: 'truncate', at: number }
  | { op: 'varint', at: number, bytes: Uint8Array }

const edit: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ op: fc.constant('set' as const), at: fc.nat(), byte: fc.constantFrom(0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff) }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
  // a huge or overlong length where one was
  fc.record({ op: fc.constant('varint' as const), at: fc.nat(), bytes: fc.constantFrom(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0x0f), Uint8Array.of(0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01), Uint8Array.of(0x80, 0x00), Uint8Array.of(0xfe, 0xff, 0xff, 0xff, 0xff)) })
)

function applyEdit (input: Uint8Array, e: Edit): Uint8Array {
  const at = input.byteLength === 0 ? 0 : e.at % input.byteLength
  const out = Array.from(input)
  switch (e.op) {
    case 'flip': if (out.length > 0) out[at] ^= 1 << e.bit; break
    case 'set': if (out.length > 0) out[at] = e.byte; break
    case 'insert': out.splice(at, 0, ...e.bytes); break
    case 'delete': out.splice(at, e.length); break
    case 'truncate': out.length = at; break
    case 'varint': out.splice(at, e.bytes.byteLength, ...e.bytes); break
  }
  return Uint8Array.from(out)
}

/** One of `valid`, with 1 to 4 edits: flipped, set, inserted, deleted bytes, a cut tail, a huge varint. */
export function mutated (valid: Uint8Array[]): fc.Arbitrary<Uint8Array> {
  return fc.tuple(fc.constantFrom(...valid), fc.array(edit, { minLength: 1, maxLength: 4 }))
    .map(([input, edits]) => edits.reduce(applyEdit, input))
}

/** Mostly mutations of `valid`, some plain random bytes (up to `maxLength`). */
export function hostileBytes (valid: Uint8Array[], maxLength = 512): fc.Arbitrary<Uint8Array> {
  return fc.oneof({ arbitrary: mutated(valid), weight: 4 }, { arbitrary: fc.uint8Array({ maxLength }), weight: 1 })
}

/**
 * Mutations of a JSON value: a field dropped, changed type, set to null or a big number, a
 * string's characters altered; applied recursively so nested answers are reached too.
 */
export function mutatedJson (valid: unknown): fc.Arbitrary<unknown> {
  const odd = fc.oneof(
    fc.constantFrom(null, true, false, 0, -1, 1e300, Number.MAX_SAFE_INTEGER + 2, '', '0x', 'zz', [], {}, [null], { result: null }),
    fc.string({ maxLength: 20 }),
    fc.integer(),
    fc.jsonValue({ maxDepth: 2 })
  )
  const mutate = (value: unknown, depth: number): fc.Arbitrary<unknown> => {
    const options: Array<fc.Arbitrary<unknown>> = [fc.constant(value), odd]
    if (typeof value === 'string' && value.length > 0) {
      options.push(fc.tuple(fc.nat(value.length - 1), fc.string({ minLength: 0, maxLength: 3 })).map(([at, s]) => value.slice(0, at) + s + value.slice(at + 1)))
      options.push(fc.nat(value.length).map(at => value.slice(0, at)))
    }
    if (depth < 4 && Array.isArray(value) && value.length > 0) {
      options.push(fc.tuple(...value.map(v => mutate(v, depth + 1))))
      options.push(fc.nat(value.length - 1).map(i => value.filter((_, j) => j !== i)))
    }
    if (depth < 4 && value !== null && typeof value === 'object' && !Array.isArray(value)) {
      const entries = Object.entries(value)
      if (entries.length > 0) {
        options.push(fc.tuple(...entries.map(([, v]) => mutate(v, depth + 1))).map(vs => Object.fromEntries(entries.map(([k], i) => [k, vs[i]]))))
        options.push(fc.nat(entries.length - 1).map(i => Object.fromEntries(entries.filter((_, j) => j !== i))))
      }
    }
    return fc.oneof(...options)
  }
  return mutate(valid, 0)
}

/** Longest one case may take: a decoder slower than this on a few KiB is a hang waiting to happen. */
export const CASE_DEADLINE_MS = 2_000

/**
 * Runs `decode` on one case and checks the refusal, if any: `accept(err)` says whether
 * `err` is an allowed refusal (by default a WeftError other than ERR_INTERNAL). A TypeError,
 * RangeError or anything else escaping fails the case, as does taking past the deadline.
 */
export async function refusesCleanly (decode: () => unknown, accept: (err: unknown) => boolean = isCodedRefusal): Promise<void> {
  const started = performance.now()
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => { reject(new Error(`no answer within ${CASE_DEADLINE_MS} ms`)) }, CASE_DEADLINE_MS)
  })
  try {
    await Promise.race([Promise.resolve().then(decode), deadline])
  } catch (err) {
    if (!accept(err)) throw new Error(`refused with ${describe(err)}`, { cause: err })
  } finally {
    clearTimeout(timer)
  }
  // a synchronous decoder cannot be interrupted: check it did not take long either
  const took = performance.now() - started
  assert.ok(took < CASE_DEADLINE_MS, `took ${Math.round(took)} ms`)
}

export function isCodedRefusal (err: unknown, codes?: ErrorCode[]): boolean {
  if (!(err instanceof WeftError) || err.code === 'ERR_INTERNAL') return false
  if (codes !== undefined && !codes.includes(err.code)) return false
  // one line for a person
  return err.message.length > 0 && !err.message.includes('\n')
}

function describe (err: unknown): string {
  if (err instanceof WeftError) return `${err.code}: ${err.message}`
  if (err instanceof Error) return `${err.name}: ${err.message}\n${err.stack ?? ''}`
  return String(err)
}

/** Counts cases, for the report each test prints (`cases: N`). */
export class CaseCounter {
  count = 0
  readonly started = performance.now()
  tick (): void { this.count++ }
  report (what: string): string {
    return `${what}: ${this.count} cases in ${Math.round(performance.now() - this.started)} ms`
  }
}
