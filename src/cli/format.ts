/** 1536 → "1.5 KiB". */
export function formatBytes (n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let i = 0
  let v = n
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  return i === 0 ? `${n} B` : `${v.toFixed(v >= 100 ? 0 : 1)} ${units[i]}`
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
