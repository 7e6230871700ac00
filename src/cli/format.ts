/**
 * Sizes are shown in the unit system the user wrote them in: a quota set as "10GB" reads
 * back as 10 GB, not 9.3 GiB. Binary (KiB, MiB) unless told otherwise.
 */
export type UnitSystem = 'binary' | 'decimal'

const UNITS: Record<UnitSystem, { base: number, names: string[] }> = {
  binary: { base: 1024, names: ['B', 'KiB', 'MiB', 'GiB', 'TiB'] },
  decimal: { base: 1000, names: ['B', 'kB', 'MB', 'GB', 'TB'] }
}

/** The system of a size as written in config ("10GB" → decimal, "512MiB" or "1024" → binary). */
export function unitSystemOf (size: string): UnitSystem {
  return /^\s*[\d.]+\s*[kmgt]b\s*$/i.test(size) ? 'decimal' : 'binary'
}

/** 1536 → "1.5 KiB"; 10e9 in decimal → "10 GB" (a whole number of its unit has no decimals). */
export function formatBytes (n: number, system: UnitSystem = 'binary'): string {
  const { base, names } = UNITS[system]
  let i = 0
  let v = n
  while (v >= base && i < names.length - 1) {
    v /= base
    i++
  }
  if (i === 0) return `${n} B`
  return `${Number.isInteger(v) || v >= 100 ? v.toFixed(0) : v.toFixed(1)} ${names[i]}`
}

export function formatDuration (seconds: number): string {
  if (!Number.isFinite(seconds)) return '--'
  const s = Math.round(seconds)
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
  return `${Math.floor(s / 3600)}h${String(Math.floor(s / 60) % 60).padStart(2, '0')}m`
}

/** Prints `value` as pretty JSON on stdout. */
export function printJson (value: unknown): void {
  process.stdout.write(JSON.stringify(value, (_key, v) => typeof v === 'bigint' ? Number(v) : v, 2) + '\n')
}

/** Left-aligned columns. */
export function printTable (rows: string[][]): void {
  if (rows.length === 0) return
  const widths = rows[0].map((_, i) => Math.max(...rows.map(r => (r[i] ?? '').length)))
  for (const row of rows) {
    process.stdout.write(row.map((cell, i) => i === row.length - 1 ? cell : cell.padEnd(widths[i])).join('  ') + '\n')
  }
}
