/**
 * What the demo waits for and how it reports times. Every wait is bounded: it ends with
 * a one-line WeftError naming what did not happen, or with the demo's interruption.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { performance } from 'node:perf_hooks'
import { WeftError } from '../errors.ts'
import type { SiteEvents } from '../sites/index.ts'
import type { DemoNode } from './network.ts'

/** "85 ms", "1.42 s". */
export function duration (ms: number): string {
  return ms < 1_000 ? `${Math.round(ms)} ms` : `${(ms / 1_000).toFixed(2)} s`
}

/** "node 2, node 3 and node 5". */
export function nodeList (nodes: Array<{ number: number }>): string {
  const names = [...nodes].sort((a, b) => a.number - b.number).map(n => `node ${n.number}`)
  return names.length <= 1 ? (names[0] ?? 'no node') : `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`
}

/** The interruption, plus a deadline for one step. */
export function within (ms: number, interrupted: AbortSignal): AbortSignal {
  return AbortSignal.any([interrupted, AbortSignal.timeout(ms)])
}

/**
 * Calls `check` every `interval` ms until it returns something other than undefined; after
 * `ms`, fails with "demo: <what> within <ms>" (and the last reason `check` gave, if any).
 */
export async function waitUntil<T> (what: string, ms: number, interrupted: AbortSignal, check: (signal: AbortSignal) => Promise<T | undefined> | T | undefined, interval = 25): Promise<T> {
  const deadline = AbortSignal.timeout(ms)
  const signal = AbortSignal.any([interrupted, deadline])
  let last = ''
  while (true) {
    interrupted.throwIfAborted()
    try {
      const value = await check(signal)
      if (value !== undefined) return value
    } catch (err) {
      if (interrupted.aborted) throw err
      if (!deadline.aborted) last = (err as Error).message
    }
    if (deadline.aborted) throw new WeftError('ERR_FETCH_TIMEOUT', `demo: ${what} within ${duration(ms)}${last === '' ? '' : ` (last: ${last})`}`)
    await sleep(interval, undefined, { signal: interrupted })
  }
}

/** Whether `node` follows `name` and holds every block of a version at least as new as `sequence`. */
export async function holdsVersion (node: Pick<DemoNode, 'node'>, name: string, sequence: bigint): Promise<boolean> {
  const follow = (await node.node.sites.following()).find(f => f.name === name)
  return follow !== undefined && follow.fetched && follow.sequence !== undefined && follow.sequence >= sequence
}

/**
 * When each of `nodes` accepted a record of `name` with at least `sequence`, in ms after
 * `started`, and how it came (pubsub, dht).
 */
export function trackRecords (nodes: DemoNode[], name: string, sequence: bigint, started: number): { arrivals: Map<DemoNode, { ms: number, source: string }>, stop: () => void } {
  const arrivals = new Map<DemoNode, { ms: number, source: string }>()
  const offs = nodes.map(n => {
    const listener = (event: Event): void => {
      const detail = (event as CustomEvent<SiteEvents['record']>).detail
      if (detail.name === name && detail.sequence >= sequence && !arrivals.has(n)) arrivals.set(n, { ms: performance.now() - started, source: detail.source })
    }
    n.node.sites.addEventListener('record', listener)
    return () => { n.node.sites.removeEventListener('record', listener) }
  })
  return { arrivals, stop: () => { for (const off of offs) off() } }
}

/** "4 by pubsub, 1 by dht". */
export function bySource (arrivals: Array<{ source: string }>): string {
  return [...new Set(arrivals.map(r => r.source))].map(source => `${arrivals.filter(r => r.source === source).length} by ${source}`).join(', ')
}
