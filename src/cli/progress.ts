import { formatBytes, formatDuration } from './format.ts'

export interface ProgressBar {
  update(done: number, total: number, detail?: string): void
  done(): void
}

export interface ProgressOptions {
  label: string
  stream?: NodeJS.WriteStream
  /** Nothing is drawn until the work has run this long (ms). */
  delay?: number
  enabled?: boolean
}

/**
 * A one-line bar on stderr: bytes, rate and ETA. It draws only on a TTY and only once
 * the work has taken longer than a second, so pipes and quick commands stay clean.
 */
export function createProgressBar (options: ProgressOptions): ProgressBar {
  const stream = options.stream ?? process.stderr
  const enabled = (options.enabled ?? true) && stream.isTTY === true
  const started = Date.now()
  const delay = options.delay ?? 1000
  let lastDraw = 0
  let drawn = false
  return {
    update (done, total, detail) {
      if (!enabled) return
      const now = Date.now()
      if (now - started < delay || now - lastDraw < 100) return
      lastDraw = now
      const elapsed = (now - started) / 1000
      const rate = elapsed > 0 ? done / elapsed : 0
      const eta = rate > 0 && total > 0 ? (total - done) / rate : Number.NaN
      const fraction = total > 0 ? Math.min(1, done / total) : 0
      const width = 24
      const filled = Math.round(fraction * width)
      const bar = '#'.repeat(filled) + '-'.repeat(width - filled)
      // A total not known yet (a fetch before its root block arrives) is left out, not shown as 0 B.
      const line = total > 0
        ? `${options.label} [${bar}] ${(fraction * 100).toFixed(0).padStart(3)}% ${formatBytes(done)}/${formatBytes(total)} ${formatBytes(rate)}/s ETA ${formatDuration(eta)}${detail !== undefined ? ' ' + detail : ''}`
        : `${options.label} ${formatBytes(done)} ${formatBytes(rate)}/s${detail !== undefined ? ' ' + detail : ''}`
      stream.write(`\r\x1b[2K${line.slice(0, (stream.columns ?? 120) - 1)}`)
      drawn = true
    },
    done () {
      if (drawn) stream.write('\r\x1b[2K')
      drawn = false
    }
  }
}
