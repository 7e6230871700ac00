/**
 * Weft test nodes in another OS process (test/helpers/node-host-process.ts), several to a
 * process, so a test can kill them for real: SIGKILL ends every node of the process at
 * once, with no goodbye to its peers and nothing flushed, and the kernel closes their
 * sockets. The child exits by itself when this process goes (IPC disconnect), and the
 * test's end SIGKILLs whatever still runs, so cleanup is bounded and leaves no orphans.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { TestContext } from 'node:test'
import type { Config } from '../../src/repo/index.ts'

const HOST_SCRIPT = fileURLToPath(new URL('./node-host-process.ts', import.meta.url))
const COMPILE_CACHE = join(tmpdir(), 'weft-node-host-compile-cache')
/** Loading weft's modules takes ~2 s of CPU; ten processes loading at once on 2 busy cores, a minute at worst. */
const READY_TIMEOUT = 120_000
/** How long the end of the test waits for a SIGKILLed process to be reaped. */
const REAP_TIMEOUT = 10_000
/** The tail of a host's stderr kept for failure messages. */
const STDERR_TAIL = 4_000

/**
 * Keeps a node's connections when a ping comes back late, however late. weft's nodes cut a
 * connection whose ping is 20-25 s late (CONNECTION_MONITOR in src/net); ten processes
 * starved on a shared CI machine can stall that long, their peers cut them, redial, and
 * the handshakes starve them more. A killed process needs no ping: the kernel closes its
 * sockets and its peers see it.
 */
export function keepSlowConnections (libp2p: unknown): void {
  // the connection monitor is off libp2p's typed interface
  const monitor = (libp2p as { components?: { connectionMonitor?: { abortConnectionOnPingFailure: boolean } } }).components?.connectionMonitor
  if (monitor === undefined) throw new Error('libp2p has no connection monitor to relax')
  monitor.abortConnectionOnPingFailure = false
}

export interface HostedNode {
  peerId: string
  addr: string
  host: NodeHost
  /** Its index in its host (what `call` ops take as `i`). */
  i: number
}

export interface NodeHost {
  readonly pid: number
  /** The nodes it runs, once `start` answered. */
  nodes: HostedNode[]
  /** One op in the host, failing past `ms` or when the process dies. */
  call: <T>(op: string, args: Record<string, unknown>, ms: number) => Promise<T>
  /** SIGKILL; resolves with the signal it died of once the process is gone. */
  kill: () => Promise<NodeJS.Signals | null>
  alive: () => boolean
}

/** Starts a process hosting one node per home (each with `storage` over its config, and the exchange's `requestTimeout`); the homes in `offerless` offer no storage. */
export async function startNodeHost (t: TestContext, homes: string[], storage: Partial<Config['storage']>, requestTimeout?: number, offerless: string[] = []): Promise<NodeHost> {
  const child: ChildProcess = fork(HOST_SCRIPT, [], {
    execArgv: ['--disable-warning=ExperimentalWarning'],
    // the processes share one cache of compiled modules: each loads weft faster than the first
    env: { ...process.env, WEFT_DEBUG: '', NODE_COMPILE_CACHE: COMPILE_CACHE },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc']
  })
  // a send to a process that just died fails in `call` (its exit rejects what is pending), not as a crash
  child.on('error', () => {})
  let stderr = ''
  child.stderr?.on('data', (b: Buffer) => { stderr = (stderr + b.toString()).slice(-STDERR_TAIL) })
  let ended: { code: number | null, signal: NodeJS.Signals | null } | undefined
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>(resolve => {
    child.once('exit', (code, signal) => { ended = { code, signal }; resolve(ended) })
  })
  const kill = async (): Promise<NodeJS.Signals | null> => {
    if (ended === undefined) child.kill('SIGKILL')
    return (await exited).signal
  }
  t.after(async () => {
    if (ended !== undefined) return
    child.kill('SIGKILL')
    await Promise.race([exited, new Promise(resolve => setTimeout(resolve, REAP_TIMEOUT).unref())])
  })

  let nextId = 0
  const pending = new Map<number, { resolve: (v: any) => void, reject: (e: Error) => void }>()
  const died = (): Error => new Error(`node host ${child.pid} exited (${ended?.code ?? ended?.signal}): ${stderr}`)
  let ready: () => void = () => {}
  child.on('message', (m: { ready?: true, id?: number, ok?: boolean, value?: unknown, error?: string }) => {
    if (m.ready === true) return ready()
    const p = pending.get(m.id as number)
    if (p === undefined) return
    pending.delete(m.id as number)
    if (m.ok === true) p.resolve(m.value)
    else p.reject(new Error(`node host ${child.pid}: ${m.error}`))
  })
  void exited.then(() => { for (const p of pending.values()) p.reject(died()); pending.clear() })

  const call = async <T>(op: string, args: Record<string, unknown>, ms: number): Promise<T> => {
    if (ended !== undefined) throw died()
    const id = nextId++
    const answer = new Promise<T>((resolve, reject) => { pending.set(id, { resolve, reject }) })
    child.send({ id, op, ...args })
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => { pending.delete(id); reject(new Error(`node host ${child.pid}: ${op} took over ${ms} ms`)) }, ms)
    })
    try {
      return await Promise.race([answer, timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  // a settled promise ignores what comes later, so a process killed after it loaded rejects nothing
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`node host ${child.pid} did not load in ${READY_TIMEOUT} ms: ${stderr}`)) }, READY_TIMEOUT)
    ready = () => { clearTimeout(timer); resolve() }
    void exited.then(() => { clearTimeout(timer); reject(died()) })
  })
  const host: NodeHost = { pid: child.pid as number, nodes: [], call, kill, alive: () => ended === undefined }
  const started = await call<Array<{ peerId: string, addr: string }>>('start', { homes, storage, requestTimeout, offerless }, READY_TIMEOUT)
  host.nodes = started.map((n, i) => ({ ...n, host, i }))
  return host
}
