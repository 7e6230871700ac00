/**
 * Fault drills: a real weft process is killed with SIGKILL at a random moment of an
 * operation, then the home is opened again and checked.
 *
 * Speed: loading weft's modules is most of a CLI run (~1.9 s), so each process starts with
 * WEFT_DRILL_GATE=1 (src/cli/drill.ts): it loads, says so, and waits for a line before it
 * touches the home. The drill starts the next process while it checks the last one, sends
 * the line when it is ready, and measures the kill moment from there. The checks run in
 * this process on the home opened offline (the killed process is gone, so its lock is
 * stale and taken over), with the same code `weft repo verify` runs.
 */
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { setTimeout as sleep } from 'node:timers/promises'
import type { TestContext } from 'node:test'
import { WEFT_BIN } from './cli.ts'
import { createNode, type WeftNode } from '../../src/node/index.ts'
import { walkDag } from '../../src/blocks/index.ts'
import { parseContentPath } from '../../src/content/index.ts'
import type { CID } from 'multiformats/cid'

/** Kills per operation, as the issue asks. */
export const KILLS = 20
/**
 * Processes loading ahead of the one running. Loading (~1.9 s of CPU) is most of a round;
 * two in flight keep both cores busy when one drill runs alone, and cost nothing when
 * `npm test` runs two drill files at once.
 */
const PIPELINE_DEPTH = 2

/** A small seeded generator (mulberry32): the same seed gives the same kill moments. */
export function seededRandom (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export interface Exit { code: number | null, signal: NodeJS.Signals | null, stdout: string, stderr: string }

/** A weft process that has loaded its modules and waits for `go()`. */
export interface GatedProcess {
  child: ChildProcess
  /** Lets the operation begin; returns the moment it did (ms, performance clock). */
  go(): number
  exited: Promise<Exit>
  running(): boolean
  /** What it wrote so far, for conditions and failure messages. */
  output(): { stdout: string, stderr: string }
}

/**
 * Starts `weft --home <home> <args>` and resolves once it has loaded and waits at the
 * gate. The process is killed when the test ends, should the test stop before it does.
 */
export async function startGated (t: TestContext, home: string, args: string[], env: Record<string, string> = {}): Promise<GatedProcess> {
  const child = spawn(WEFT_BIN, ['--home', home, ...args], {
    env: { ...process.env, WEFT_DEBUG: '', ...env, WEFT_DRILL_GATE: '1' },
    stdio: ['pipe', 'pipe', 'pipe']
  })
  t.after(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return
    child.kill('SIGKILL')
    await new Promise(resolve => child.once('close', resolve))
  })
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', (b: Buffer) => { stdout += b.toString() })
  let exitedYet = false
  const exited = new Promise<Exit>(resolve => {
    child.once('close', (code, signal) => { exitedYet = true; resolve({ code, signal, stdout, stderr }) })
  })
  child.stdin?.on('error', () => { /* the process died before reading */ })
  await new Promise<void>((resolve, reject) => {
    child.stderr?.on('data', (b: Buffer) => {
      stderr += b.toString()
      if (stderr.includes('weft-drill: loaded')) resolve()
    })
    void exited.then(e => { reject(new Error(`weft ${args.join(' ')} exited before the gate (${e.code ?? e.signal}): ${e.stderr}`)) })
  })
  return {
    child,
    go: () => {
      child.stdin?.write('\n')
      return performance.now()
    },
    exited,
    running: () => !exitedYet,
    output: () => ({ stdout, stderr })
  }
}

/**
 * Lets a gated process run `delay` ms, then kills it with SIGKILL unless it finished
 * first. Returns whether the kill landed, and how it ended.
 */
export async function runThenKill (p: GatedProcess, delay: number, started = p.go()): Promise<{ killed: boolean, exit: Exit, ran: number }> {
  const remaining = delay - (performance.now() - started)
  if (!Number.isFinite(remaining)) await p.exited
  else if (remaining > 0) await Promise.race([sleep(remaining), p.exited])
  const killed = p.running()
  if (killed) p.child.kill('SIGKILL')
  const exit = await p.exited
  return { killed: killed && exit.signal === 'SIGKILL', exit, ran: performance.now() - started }
}

/** Opens the home offline (as the next command would after the crash), runs fn, closes it. */
export async function withHome<T> (home: string, fn: (node: WeftNode) => Promise<T>): Promise<T> {
  const node = await createNode({ home })
  try {
    return await fn(node)
  } finally {
    await node.stop()
  }
}

/** Whether every block of the DAG under `root` is in the store. */
export async function dagComplete (node: WeftNode, root: CID): Promise<boolean> {
  try {
    await walkDag(node.blocks, root, () => {})
    return true
  } catch {
    return false
  }
}

/**
 * What must hold in any home after any crash: `repo verify` finds nothing, every pin's DAG
 * is whole, and every version a follow holds as fetched is whole.
 */
export async function assertHomeSound (node: WeftNode, when: string): Promise<void> {
  const report = await node.blocks.verify()
  assert.deepEqual(report.problems.map(p => `${p.cid.toString()}: ${p.problem}`), [], `${when}: repo verify found damage`)
  for (const pin of node.blocks.pins()) {
    if (pin.type === 'direct') assert.ok(node.blocks.has(pin.cid), `${when}: direct pin ${pin.cid} has no block`)
    else assert.ok(await dagComplete(node, pin.cid), `${when}: recursive pin ${pin.cid} lacks blocks of its DAG`)
  }
  for (const follow of await node.sites.following()) {
    const info = await node.sites.info(follow.name)
    for (const version of info.versions) {
      if (version.fetched === undefined || !version.pinned) continue
      assert.ok(await dagComplete(node, parseContentPath(version.value).cid), `${when}: held version ${version.sequence} of ${follow.name} (${version.value}) lacks blocks`)
    }
  }
}

/** Where in the operation each kill lands, as fractions of its length: seeded, so a drill is repeatable. */
export function killFractions (seed: number): number[] {
  const random = seededRandom(seed)
  return Array.from({ length: KILLS }, () => random())
}

export interface CommandDrill {
  name: string
  seed: number
  /** Starts (gated) the process for round i; round 0 runs unkilled to measure the operation. */
  start: (i: number) => Promise<GatedProcess>
  /** Checks the home after round i; `finished` when the process exited by itself (it must have succeeded). */
  check: (i: number, when: string, finished: boolean) => Promise<void>
}

/**
 * One unkilled round to measure the operation, then KILLS rounds each killed at a seeded
 * fraction of its length, each followed by the checks. Returns a summary line. The length
 * is measured again whenever a round finishes before its kill: on a busy machine an
 * operation's time drifts, and kill moments past the end would test nothing.
 */
export async function runCommandDrill (t: TestContext, drill: CommandDrill): Promise<string> {
  const begun = performance.now()
  let checking = 0
  const queue: Array<Promise<GatedProcess>> = []
  const enqueue = (i: number): void => {
    const started = drill.start(i)
    started.catch(() => { /* thrown where it is awaited */ })
    queue.push(started)
  }
  for (let i = 0; i < PIPELINE_DEPTH; i++) enqueue(i)
  let span = 0
  const outcomes: Array<{ killed: boolean, delay: number }> = []
  const fractions = killFractions(drill.seed)
  for (let i = 0; i <= KILLS; i++) {
    const p = await (queue.shift() as Promise<GatedProcess>)
    const started = p.go()
    // Pipelined: the next processes load their modules while this one runs and is checked.
    if (i + PIPELINE_DEPTH <= KILLS) enqueue(i + PIPELINE_DEPTH)
    const delay = i === 0 ? Infinity : Math.round(fractions[i - 1] * span)
    const { killed, exit, ran } = await runThenKill(p, delay, started)
    if (!killed) assert.equal(exit.code, 0, `${drill.name} round ${i} failed: ${exit.stderr}`)
    const checkStarted = performance.now()
    await drill.check(i, `after ${drill.name} round ${i} ${killed ? `was killed at ${delay} ms` : 'finished'} (seed ${drill.seed})`, !killed)
    checking += performance.now() - checkStarted
    if (!killed) span = ran
    if (i > 0) outcomes.push({ killed, delay })
  }
  const landed = outcomes.filter(o => o.killed).length
  // A drill whose kills mostly come after the end tests nothing.
  assert.ok(landed >= KILLS / 2, `only ${landed} of ${KILLS} kills landed before ${drill.name} finished`)
  return `${drill.name}: seed ${drill.seed}, ${landed}/${KILLS} kills landed mid-operation, which took ${Math.round(span)} ms when last measured ` +
    `(moments: ${outcomes.map(o => `${o.delay}${o.killed ? '' : '(done)'}`).join(' ')}); ` +
    `${Math.round((performance.now() - begun) / 1000)} s in all, ${Math.round(checking / 1000)} s of it checking`
}
