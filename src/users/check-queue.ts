/**
 * The contributions waiting to be checked: at most `concurrency` checks at once, and one
 * per key (site and user) at a time. A key asked for while its check runs is checked once
 * more after it (a newer record may have come), never twice at once, however often it is
 * asked for meanwhile.
 */
export class CheckQueue extends EventTarget {
  private readonly concurrency: number
  private readonly onError: (err: Error) => void
  private readonly waiting: Array<() => Promise<void>> = []
  private readonly processing = new Set<string>()
  private readonly again = new Set<string>()
  private running = 0

  constructor (concurrency: number, onError: (err: Error) => void) {
    super()
    this.concurrency = concurrency
    this.onError = onError
  }

  /** Runs `job` for `key` when a slot is free; if one runs for `key` already, runs it once more after. */
  add (key: string, job: () => Promise<void>): void {
    if (this.processing.has(key)) {
      this.again.add(key)
      return
    }
    this.processing.add(key)
    this.waiting.push(async () => {
      try {
        await job()
      } finally {
        this.processing.delete(key)
        if (this.again.delete(key)) this.add(key, job)
      }
    })
    this.pump()
  }

  /** Drops what has not started (stopping). */
  clear (): void {
    this.waiting.length = 0
  }

  get idle (): boolean {
    return this.running === 0 && this.waiting.length === 0
  }

  /** Resolves once nothing runs or waits. */
  async settled (): Promise<void> {
    if (this.idle) return
    await new Promise<void>(resolve => { this.addEventListener('idle', () => { resolve() }, { once: true }) })
  }

  private pump (): void {
    while (this.running < this.concurrency && this.waiting.length > 0) {
      const job = this.waiting.shift() as () => Promise<void>
      this.running++
      job().catch(err => { this.onError(err as Error) }).finally(() => {
        this.running--
        this.pump()
        if (this.idle) this.dispatchEvent(new Event('idle'))
      })
    }
  }
}
