/**
 * Runs a site's read queries in a child process (site-db-query-process.ts) so that no
 * query can stall the node: node:sqlite 24 has no interrupt and no progress handler, and
 * a worker thread's terminate() only stops JavaScript (measured: a recursive CTE in a
 * worker kept running, and kept a core busy, 3 s after terminate()). A process can be
 * SIGKILLed, which stops SQLite wherever it is.
 *
 * One process per site db, one query at a time, in arrival order. Each query has a
 * deadline from when it was asked, queue included (or from when the process is up, if it
 * was starting: a cold start under load can take a second): a query still waiting at its
 * deadline is dropped, one still running kills the process, and the next query starts a
 * new one. The process starts on the first query and exits after QUERY_PROCESS_IDLE_MS
 * without one.
 *
 * The deadline bounds a query's work, not the machine's queue for a core: at the deadline,
 * a query process that spent less than a quarter of it on the CPU since the query was asked was
 * waiting its turn (thirty nodes and their query processes on two cores), or its answer
 * is already on the way and this node's event loop was late to read it. Such a query gets
 * more time, up to QUERY_WALL_FACTOR times its deadline. Failed anyway, each was a second
 * lost, and a process restarted on a machine already short of CPU (one `bench users` run:
 * 23 queries failed at their deadline, 15 killing their process). The CPU is read from
 * /proc (Linux); elsewhere the deadline is wall time.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { SQLInputValue } from 'node:sqlite'
import { WeftError, type ErrorCode } from '../errors.ts'

// A checkout runs the .ts; an installed package, the .js that scripts/build.ts compiled.
const QUERY_PROCESS = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? './site-db-query-process.ts' : './site-db-query-process.js', import.meta.url))
/** A forum page queries in bursts; a minute idle means the visitor left, and a restart costs 80–200 ms (bench sitedb, 2 cores at load 4–8). */
export const QUERY_PROCESS_IDLE_MS = 60_000

/**
 * The query process's data size limit on Linux (RLIMIT_DATA, set by `ulimit -d` before
 * exec): SQLite's allocations past it fail with "out of memory" instead of growing until
 * the machine swaps (randomblob(9e8) asks for 900 MB). Node itself needs ~768 MiB of it
 * to start (V8 reserves its code range writable; measured: 512 MiB aborts at startup).
 */
export const QUERY_PROCESS_DATA_LIMIT_KIB = 1024 * 1024
const EXEC_ARGV = ['--disable-warning=ExperimentalWarning']

export type QueryParams = SQLInputValue[] | Record<string, SQLInputValue>

export interface ReaderInit {
  /** ms from asking to rows, queue included and process start not; on Linux a query whose process was starved of CPU gets up to QUERY_WALL_FACTOR times it. */
  queryTimeout: number
  maxRows: number
  maxBytes: number
  /** ms without a query after which the process exits (default QUERY_PROCESS_IDLE_MS). */
  idleMs?: number
}

/** The most wall time a query may take, as a multiple of its deadline, however little CPU its process got. */
export const QUERY_WALL_FACTOR = 5

/** Linux's fixed unit of /proc's CPU times (USER_HZ), whatever the kernel's tick. */
const USER_HZ = 100

/** CPU ms the process `pid` has used, from /proc (undefined elsewhere, or when it is gone). */
function processCpuMs (pid: number | undefined): number | undefined {
  if (pid === undefined || process.platform !== 'linux') return undefined
  try {
    // the fields after the command's closing parenthesis: state is the 1st, utime the 12th, stime the 13th
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) * 1000 / USER_HZ
  } catch {
    return undefined
  }
}

/** A process that is not answering by then never will; cold starts took 80–1,100 ms here (2 cores, load 4–10). */
export const QUERY_PROCESS_START_TIMEOUT_MS = 10_000

interface Job {
  id: number
  message: { id: number, sql: string, params: QueryParams, maxRows: number, maxBytes: number }
  resolve: (rows: Array<Record<string, unknown>>) => void
  reject: (err: unknown) => void
  /** Starts the job's deadline (once): at asking, or when the query process is up if it was still starting. */
  arm: () => void
  cleanup: () => void
}

export class SiteDbReader {
  private readonly path: string
  private readonly init: ReaderInit
  private child: ChildProcess | undefined
  /** The query process said it is ready (its watchdog runs); queries go to it only then. */
  private ready = false
  private startTimer: NodeJS.Timeout | undefined
  private running: Job | undefined
  private readonly waiting: Job[] = []
  private nextId = 1
  private idleTimer: NodeJS.Timeout | undefined
  private closed = false
  /** Holders that want the process up before their next query (a page listening for the site's events). */
  private warm = 0

  constructor (path: string, init: ReaderInit) {
    this.path = path
    this.init = init
  }

  async run (sql: string, params: QueryParams, options: { signal?: AbortSignal } = {}): Promise<Array<Record<string, unknown>>> {
    options.signal?.throwIfAborted()
    if (this.closed) throw new WeftError('ERR_QUERY_REFUSED', 'the site database is closed')
    return await new Promise((resolve, reject) => {
      const id = this.nextId++
      let timer: NodeJS.Timeout | undefined
      const onAbort = (): void => { this.fail(job, options.signal?.reason) }
      options.signal?.addEventListener('abort', onAbort, { once: true })
      const job: Job = {
        id,
        message: { id, sql, params, maxRows: this.init.maxRows, maxBytes: this.init.maxBytes },
        resolve,
        reject,
        arm: () => {
          if (timer !== undefined) return
          const armed = performance.now()
          const pid = this.child?.pid
          const cpuAtArm = processCpuMs(pid)
          const limit = this.init.queryTimeout
          const check = (): void => {
            const cpu = processCpuMs(pid)
            const wall = performance.now() - armed
            // Starved or answered-but-unread: the process is the same one and did little since; look again later.
            if (this.child?.pid === pid && cpu !== undefined && cpuAtArm !== undefined && cpu - cpuAtArm < limit / 4 && wall < limit * QUERY_WALL_FACTOR) {
              timer = setTimeout(check, Math.min(limit / 4, limit * QUERY_WALL_FACTOR - wall))
              return
            }
            this.fail(job, new WeftError('ERR_QUERY_TIMEOUT', `the query ran past ${limit} ms and was stopped`))
          }
          timer = setTimeout(check, limit)
        },
        cleanup: () => { clearTimeout(timer); options.signal?.removeEventListener('abort', onAbort) }
      }
      // A process start is not the query's time: under load it alone can pass a short deadline.
      if (this.ready) job.arm()
      this.waiting.push(job)
      this.next()
    })
  }

  /** Ends a job early (deadline or abort): off the queue if waiting, the process killed if running. */
  private fail (job: Job, err: unknown): void {
    job.cleanup()
    const at = this.waiting.indexOf(job)
    if (at >= 0) this.waiting.splice(at, 1)
    if (this.running === job) {
      this.running = undefined
      this.kill()
    }
    job.reject(err)
    this.next()
  }

  private next (): void {
    if (this.running !== undefined || this.closed) return
    if (this.waiting.length === 0) {
      this.idle()
      return
    }
    clearTimeout(this.idleTimer)
    const child = this.child ?? this.spawn()
    if (!this.ready) return // 'ready' calls next() again
    const job = this.waiting.shift() as Job
    this.running = job
    child.send(job.message)
  }

  private spawn (): ChildProcess {
    const options = { serialization: 'advanced' as const, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] as Array<'ignore' | 'inherit' | 'ipc'> } // advanced: rows carry Uint8Array blobs
    const child = process.platform === 'linux'
      // The shell sets the limit and execs node in its place (same pid, same IPC channel); without the limit if the hard limit is lower.
      ? spawn('/bin/sh', ['-c', `ulimit -d ${QUERY_PROCESS_DATA_LIMIT_KIB} 2>/dev/null; exec "$0" "$@"`, process.execPath, ...EXEC_ARGV, QUERY_PROCESS, this.path], options)
      : fork(QUERY_PROCESS, [this.path], { ...options, execArgv: EXEC_ARGV })
    // Never what keeps the node running: a waiting query's own timer (or the start timer) does that.
    child.unref()
    child.channel?.unref()
    this.ready = false
    this.startTimer = setTimeout(() => {
      if (this.child !== child) return
      this.kill()
      for (const job of this.waiting.splice(0)) {
        job.cleanup()
        job.reject(new WeftError('ERR_QUERY_TIMEOUT', `the site database's query process did not start within ${QUERY_PROCESS_START_TIMEOUT_MS} ms`))
      }
    }, QUERY_PROCESS_START_TIMEOUT_MS)
    child.on('message', (answer: { ready?: true, id?: number, rows?: Array<Record<string, unknown>>, error?: { code: ErrorCode, message: string } }) => {
      if (this.child !== child) return
      if (answer.ready === true) {
        this.ready = true
        clearTimeout(this.startTimer)
        for (const job of this.waiting) job.arm()
        this.next()
        return
      }
      const job = this.running
      if (job === undefined || answer.id !== job.id) return
      this.running = undefined
      job.cleanup()
      if (answer.error !== undefined) job.reject(new WeftError(answer.error.code, answer.error.message))
      else job.resolve(answer.rows ?? [])
      this.next()
    })
    child.on('exit', (code, signal) => {
      if (this.child !== child) return
      this.child = undefined
      this.ready = false
      clearTimeout(this.startTimer)
      const job = this.running
      this.running = undefined
      if (job !== undefined) {
        job.cleanup()
        job.reject(new WeftError('ERR_INTERNAL', `the site database's query process stopped (${signal ?? `exit ${code}`}) while running a query`))
      }
      this.next()
    })
    child.on('error', () => { /* 'exit' follows and fails the running query */ })
    this.child = child
    return child
  }

  /**
   * Starts the process now, if it is not running, and keeps it through idle time until
   * every holder released it: a page listening for a site's events queries right after
   * one, and a cold start (80–200 ms alone, seconds when thirty nodes start theirs at once
   * on two cores) would come between the contribution and the page showing it.
   */
  keepWarm (): () => void {
    if (this.closed) return () => {}
    this.warm++
    clearTimeout(this.idleTimer)
    if (this.child === undefined) this.spawn()
    let released = false
    return () => {
      if (released) return
      released = true
      this.warm--
      if (this.running === undefined && this.waiting.length === 0) this.idle()
    }
  }

  private idle (): void {
    if (this.child === undefined || this.warm > 0) return
    clearTimeout(this.idleTimer)
    this.idleTimer = setTimeout(() => { if (this.running === undefined && this.waiting.length === 0) this.kill() }, this.init.idleMs ?? QUERY_PROCESS_IDLE_MS)
    this.idleTimer.unref()
  }

  private kill (): void {
    const child = this.child
    this.child = undefined
    this.ready = false
    clearTimeout(this.idleTimer)
    clearTimeout(this.startTimer)
    if (child === undefined) return
    child.kill('SIGKILL')
  }

  /** Whether a query process is running now (tests check restarts and idle exit). */
  get pid (): number | undefined {
    return this.child?.pid
  }

  async close (): Promise<void> {
    this.closed = true
    for (const job of [...this.waiting, ...(this.running === undefined ? [] : [this.running])]) {
      job.cleanup()
      job.reject(new WeftError('ERR_QUERY_REFUSED', 'the site database was closed'))
    }
    this.waiting.length = 0
    this.running = undefined
    const child = this.child
    child?.ref() // so the node waits for the exit it is promised
    this.kill()
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      await new Promise<void>(resolve => child.once('exit', () => { resolve() }))
    }
  }
}
