/**
 * What counts as a weft home, so that weft writes only into its own folders: a home is
 * made only in an absent or empty folder, and a folder that holds anything else is never
 * touched (`weft --home /etc …` once filled /etc with a home).
 *
 * A home is recognised by its marker (home.json, written before anything else) or its
 * config.json (written last, and the only sign in homes made before the marker existed).
 * A folder holding nothing but entries of the known layout is a home whose creation was
 * interrupted before either was written; it is finished rather than refused.
 */
import { readdirSync, readFileSync, rmSync, rmdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { REPO_VERSION, type RepoPaths } from './layout.ts'
import { acquireLock, type RepoLock } from './lock.ts'

export type HomeState =
  /** Nothing there yet: opening it creates a home. */
  | 'absent'
  /** An empty folder: opening it creates a home. */
  | 'empty'
  /** A home (finished, or interrupted while being created). */
  | 'home'
  /** A file, or a folder with things weft did not put there. */
  | 'foreign'

/**
 * Every name weft itself writes at the top of a home (see layout.ts), including the
 * SQLite side files and config.json's temporary twin, so that a half-made home is known.
 */
const LAYOUT_ENTRIES = [/^home\.json$/, /^config\.json(\.tmp-\d+)?$/, /^repo\.lock$/, /^keys$/, /^weft\.db(-wal|-shm|-journal)?$/, /^blocks$/, /^api$/, /^api\.token$/, /^tmp$/, /^users$/]

function isLayoutEntry (name: string): boolean {
  return LAYOUT_ENTRIES.some(re => re.test(name))
}

function hasMarker (paths: RepoPaths): boolean {
  try {
    const marker = JSON.parse(readFileSync(paths.marker, 'utf8')) as { weft?: unknown }
    return typeof marker.weft === 'number'
  } catch {
    return false
  }
}

/** Looks without writing. */
export function homeState (paths: RepoPaths): HomeState {
  let entries: string[]
  try {
    if (!statSync(paths.home).isDirectory()) return 'foreign'
    entries = readdirSync(paths.home)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'absent'
    throw err
  }
  if (entries.length === 0) return 'empty'
  if (entries.includes('config.json') || hasMarker(paths)) return 'home'
  return entries.every(isLayoutEntry) ? 'home' : 'foreign'
}

/** The first write into a new home: from here on the folder is recognised as one. */
export function writeMarker (paths: RepoPaths): void {
  writeFileSync(paths.marker, JSON.stringify({ weft: REPO_VERSION, created: new Date().toISOString() }) + '\n', { mode: 0o600 })
}

/**
 * Undoes a home this process created (`before` was 'absent' or 'empty'), for a command
 * that failed: only the layout's own entries are removed, and the folder itself only if
 * it did not exist before. The home's lock is taken for it, so a home another process
 * has opened meanwhile (two commands started together on a new home) is left alone.
 */
export function removeCreatedHome (paths: RepoPaths, before: HomeState): void {
  if (before !== 'absent' && before !== 'empty') return
  let lock: RepoLock
  try {
    lock = acquireLock(paths.lock)
  } catch {
    return
  }
  try {
    for (const name of readdirSync(paths.home)) {
      if (isLayoutEntry(name) && name !== 'repo.lock') rmSync(join(paths.home, name), { recursive: true, force: true })
    }
  } finally {
    lock.release()
  }
  if (before === 'absent') {
    try { rmdirSync(paths.home) } catch { /* something else was put there meanwhile: leave it */ }
  }
}
