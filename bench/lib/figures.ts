/**
 * What every benchmark does with its figures: quantiles where a miss counts as
 * infinitely slow, waits for a condition, and waits for the process to go quiet before
 * timing (nodes in one process share two cores, and background work would land in the
 * figures otherwise).
 */
import { readFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'

/** Nearest-rank quantile; Infinity (a miss) sorts last. */
export const quantile = (xs: number[], q: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]
export const median = (xs: number[]): number => quantile(xs, 0.5)
/** A figure for JSON: ms to `digits` places, null when it never happened. */
export const ms = (x: number, digits = 0): number | null => Number.isFinite(x) ? Number(x.toFixed(digits)) : null
/** A figure for people: `123 ms`, or `never`. */
export const show = (x: number, digits = 0): string => Number.isFinite(x) ? `${x.toFixed(digits)} ms` : 'never'
export const verdict = (ok: boolean): string => ok ? 'PASS' : 'MISS'

/** Waits until `done()` or `timeout` ms (checking every `every` ms); says which. */
export async function until (done: () => boolean | Promise<boolean>, timeout: number, every = 25): Promise<boolean> {
  const deadline = performance.now() + timeout
  while (!(await done())) {
    if (performance.now() >= deadline) return false
    await sleep(every)
  }
  return true
}

/**
 * Waits (at most `maxMs`) for the event loop to be busy less than `threshold` of a 500 ms
 * window; returns the last window's utilisation.
 */
export async function settle (maxMs: number, threshold = 0.25): Promise<number> {
  const deadline = performance.now() + maxMs
  let last = performance.eventLoopUtilization()
  for (;;) {
    await sleep(500)
    const now = performance.eventLoopUtilization()
    const utilisation = performance.eventLoopUtilization(now, last).utilization
    last = now
    if (utilisation < threshold || performance.now() >= deadline) return utilisation
  }
}

/** Ticks per second of /proc's CPU times: Linux's fixed USER_HZ, whatever the kernel's own tick. */
export const USER_HZ = 100

/** The machine's CPU counters (Linux /proc/stat, in ticks): busy, steal (taken by the host), and all. */
export function cpuTicks (): { busy: number, steal: number, total: number } | undefined {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number)
    const [user, nice, system, , , irq, softirq, steal = 0] = fields
    const total = fields.slice(0, 8).reduce((a, b) => a + b, 0)
    return { busy: user + nice + system + irq + softirq, steal, total }
  } catch {
    return undefined
  }
}

/**
 * Waits (at most `maxMs`) for the whole machine's CPUs to be busy less than `threshold` of
 * a 500 ms window (Linux; elsewhere as `settle`): for benchmarks whose nodes run in
 * processes of their own, whose background work the parent's event loop does not see.
 * Returns the last window's busy share.
 */
export async function settleMachine (maxMs: number, threshold = 0.5): Promise<number> {
  const deadline = performance.now() + maxMs
  let last = cpuTicks()
  if (last === undefined) return await settle(maxMs)
  for (;;) {
    await sleep(500)
    const now = cpuTicks()
    if (now === undefined) return await settle(Math.max(0, deadline - performance.now()))
    const busy = (now.busy - last.busy) / Math.max(1, now.total - last.total)
    last = now
    if (busy < threshold || performance.now() >= deadline) return busy
  }
}

/** Runs `once` `count` times, one after another; each call's ms. */
export async function timed (count: number, once: (i: number) => unknown): Promise<number[]> {
  const out: number[] = []
  for (let i = 0; i < count; i++) {
    const start = performance.now()
    await once(i)
    out.push(performance.now() - start)
  }
  return out
}
