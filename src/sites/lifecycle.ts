/**
 * What every part of sites shares while the service runs: whether it is online, the signal
 * that ends its background work, and the timers and hooks that stop with it.
 */
import { logger } from '@libp2p/logger'
import type { SitesComponents } from './index.ts'

const log = logger('weft:sites')

/** What a part may ask of the lifecycle: the facade alone starts and stops it. */
export type Running = Pick<Lifecycle, 'online' | 'signal' | 'background'>

export class Lifecycle {
  private readonly components: Pick<SitesComponents, 'net'>
  private readonly timers: NodeJS.Timeout[] = []
  private readonly cleanups: Array<() => void> = []
  private controller = new AbortController()
  private started = false

  constructor (components: Pick<SitesComponents, 'net'>) {
    this.components = components
  }

  /** Started with a network: records go out and followed sites are fetched. */
  get online (): boolean {
    return this.components.net !== undefined && this.started
  }

  /** Aborted when the service stops; a new one each start. */
  get signal (): AbortSignal {
    return this.controller.signal
  }

  /** False when already started. */
  begin (): boolean {
    if (this.started) return false
    this.started = true
    this.controller = new AbortController()
    return true
  }

  /** Clears the timers, runs the cleanups and aborts the signal; false when not started. */
  end (): boolean {
    if (!this.started) return false
    this.started = false
    for (const t of this.timers.splice(0)) clearInterval(t)
    for (const fn of this.cleanups.splice(0)) fn()
    this.controller.abort()
    return true
  }

  every (ms: number, fn: () => Promise<void>): void {
    const timer = setInterval(() => { this.background(fn) }, ms)
    timer.unref()
    this.timers.push(timer)
  }

  onEnd (fn: () => void): void {
    this.cleanups.push(fn)
  }

  background (fn: () => Promise<void>): void {
    fn().catch(err => { if (!this.controller.signal.aborted) log.error('background work failed: %s', (err as Error).message) })
  }
}
