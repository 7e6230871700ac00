import { setTimeout as sleep } from 'node:timers/promises'

/**
 * Waits for a condition instead of a fixed time: polls `check` every `pollMs` until it
 * holds and returns the ms that took; past `ms` it fails, naming what it waited for.
 */
export async function until (what: string, check: () => boolean | Promise<boolean>, ms = 20_000, pollMs = 25): Promise<number> {
  const started = performance.now()
  while (!(await check())) {
    if (performance.now() - started > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await sleep(pollMs)
  }
  return performance.now() - started
}
