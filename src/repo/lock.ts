import { openSync, writeSync, closeSync, readFileSync, unlinkSync } from 'node:fs'
import { WeftError } from '../errors.ts'

export interface RepoLock {
  release(): void
}

function pidAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function readHolder (path: string): number | undefined {
  try {
    const held = JSON.parse(readFileSync(path, 'utf8')) as { pid?: unknown }
    return typeof held.pid === 'number' ? held.pid : undefined
  } catch {
    return undefined
  }
}

/**
 * Takes the home's lock: an exclusively created file holding our pid. A lock left by a
 * process that no longer runs (kill -9, power loss) is taken over.
 */
export function acquireLock (path: string): RepoLock {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600)
      writeSync(fd, JSON.stringify({ pid: process.pid, since: new Date().toISOString() }))
      closeSync(fd)
      let released = false
      return {
        release () {
          if (released) return
          released = true
          if (readHolder(path) === process.pid) unlinkSync(path)
        }
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      const holder = readHolder(path)
      if (holder !== undefined && pidAlive(holder)) {
        throw new WeftError('ERR_REPO_LOCKED', `the weft home is in use by process ${holder} (lock: ${path})`)
      }
      if (holder === undefined) {
        // Being written right now by another process, or garbage: give the writer a moment.
        const written = Date.now()
        while (Date.now() - written < 50) { /* short spin; this path is rare */ }
        if (readHolder(path) !== undefined) continue
      }
      try { unlinkSync(path) } catch { /* someone else removed it first */ }
    }
  }
  throw new WeftError('ERR_REPO_LOCKED', `could not take the lock ${path}`)
}
