/** What every kubo command reads from its request, and the shapes of its answers. */
import { WeftError, toWeftError } from '../../errors.ts'
import type { Operations } from '../operations.ts'

export interface KuboCall {
  request: Request
  query: URLSearchParams
}

export type KuboCommand = (ops: Operations, call: KuboCall) => Promise<Response>

/** The positional arguments (`?arg=` repeated); at least `min` of them. */
export function args (call: KuboCall, min = 1): string[] {
  const list = call.query.getAll('arg')
  if (list.length < min) throw new WeftError('ERR_USAGE', `argument "arg" is required (${min === 1 ? 'one' : `${min}`} at least)`)
  return list
}

/** A kubo boolean option: `?x`, `?x=true` or `?x=false`; `fallback` when absent. */
export function flag (call: KuboCall, name: string, fallback: boolean): boolean {
  const value = call.query.get(name)
  if (value === null) return fallback
  if (value === '' || value === 'true' || value === '1') return true
  if (value === 'false' || value === '0') return false
  throw new WeftError('ERR_USAGE', `option "${name}" must be true or false, not "${value.slice(0, 50)}"`)
}

/** A non-negative integer option, or undefined when absent. */
export function integer (call: KuboCall, name: string): number | undefined {
  const value = call.query.get(name)
  if (value === null) return undefined
  const n = Number(value)
  if (value === '' || !Number.isSafeInteger(n) || n < 0) throw new WeftError('ERR_USAGE', `option "${name}" must be a whole number of 0 or more, not "${value.slice(0, 50)}"`)
  return n
}

/** Go's time.Duration text ("30s", "1m30s", "500ms", "24h") in ms, or undefined when absent. */
export function duration (call: KuboCall, name: string): number | undefined {
  const value = call.query.get(name)
  if (value === null) return undefined
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 }
  let ms = 0
  let rest = value
  while (rest !== '') {
    const m = /^(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/.exec(rest)
    if (m === null) throw new WeftError('ERR_USAGE', `option "${name}" must be a duration such as 30s or 24h, not "${value.slice(0, 50)}"`)
    ms += Number(m[1]) * units[m[2]]
    rest = rest.slice(m[0].length)
  }
  if (value === '') throw new WeftError('ERR_USAGE', `option "${name}" must be a duration such as 30s or 24h`)
  return Math.round(ms)
}

/** The `timeout` and `offline` options kubo takes on every command. */
export function network (call: KuboCall): { offline?: boolean, timeout?: number } {
  return { offline: flag(call, 'offline', false), timeout: duration(call, 'timeout') }
}

export function json (value: unknown): Response {
  return Response.json(value)
}

/**
 * ndjson, one line per value, sent as each is made. A failure before the first value is
 * an error status; one midway becomes a last `{Message,Code,Type}` line, as kubo's.
 */
export async function ndjson (source: AsyncIterable<unknown>): Promise<Response> {
  const encoder = new TextEncoder()
  const iterator = source[Symbol.asyncIterator]()
  const first = await iterator.next()
  const body = new ReadableStream<Uint8Array>({
    start (controller) {
      if (first.done === true) controller.close()
      else controller.enqueue(encoder.encode(JSON.stringify(first.value) + '\n'))
    },
    async pull (controller) {
      try {
        const next = await iterator.next()
        if (next.done === true) controller.close()
        else controller.enqueue(encoder.encode(JSON.stringify(next.value) + '\n'))
      } catch (err) {
        const e = toWeftError(err)
        controller.enqueue(encoder.encode(JSON.stringify({ Message: `${e.message} (${e.code})`, Code: 0, Type: 'error' }) + '\n'))
        controller.close()
      }
    },
    async cancel () { await iterator.return?.() }
  })
  return new Response(body, { headers: { 'content-type': 'application/json', 'x-chunked-output': '1' } })
}
