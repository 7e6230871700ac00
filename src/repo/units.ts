/**
 * Sizes and durations as people write them in config.json and on the command line. Apart
 * from the config schema (which needs zod) so a command's argument parser can load it
 * alone.
 */

const UNITS: Record<string, number> = {
  B: 1, KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12, KIB: 2 ** 10, MIB: 2 ** 20, GIB: 2 ** 30, TIB: 2 ** 40
}

/** "10GB", "512MiB", "1024" → bytes; undefined when the text is not a size. */
export function parseSize (text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text)
  if (m === null) return undefined
  const unit = UNITS[(m[2] === '' ? 'B' : m[2]).toUpperCase()]
  return unit === undefined ? undefined : Math.floor(Number(m[1]) * unit)
}

/** "12h", "30m", "10s", "500ms", or a bare number of seconds → ms; undefined when not a duration. */
export function parseDuration (text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)(ms|s|m|h)?\s*$/.exec(text)
  if (m === null) return undefined
  return Math.round(Number(m[1]) * { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'])
}

const DURATION_UNITS: Array<[string, number]> = [['h', 3_600_000], ['m', 60_000], ['s', 1_000], ['ms', 1]]

/** ms → the text parseDuration reads back to the same ms, in the largest unit that divides it ("48h", "90s"). */
export function formatDuration (ms: number): string {
  const [unit, size] = DURATION_UNITS.find(([, size]) => ms % size === 0) ?? ['ms', 1]
  return `${ms / size}${unit}`
}

const SIZE_UNITS: Array<[string, number]> = [['TiB', 2 ** 40], ['TB', 1e12], ['GiB', 2 ** 30], ['GB', 1e9], ['MiB', 2 ** 20], ['MB', 1e6], ['KiB', 2 ** 10], ['KB', 1e3]]

/** bytes → the text parseSize reads back to the same bytes, in the largest unit that divides it ("10GB", "512MiB"). */
export function formatSize (bytes: number): string {
  const found = bytes === 0 ? undefined : SIZE_UNITS.find(([, size]) => bytes % size === 0)
  return found === undefined ? `${bytes}B` : `${bytes / found[1]}${found[0]}`
}
