/**
 * A Handshake chain for the demo, the tests and the naming benchmark: a real hsd (npm
 * `hsd`, a devDependency) in regtest, in memory, with its wallet, every port on 127.0.0.1
 * and no peers or DNS servers. It is killed when
 * the demo stops it, when the demo process exits, and (through a watch on its parent) even
 * when the demo is killed outright.
 *
 * Regtest (hsd lib/protocol/networks.js): names can be opened from height 104 (rollout);
 * OPEN lasts treeInterval + 1 = 6 blocks, BIDDING 5, REVEAL 10; the name tree commits every
 * 5 blocks, and a proof of a record follows the first commit after it.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { WeftError } from '../errors.ts'

/** The longest the wallet may take to see a block just mined. */
const WALLET_SYNC_MS = 20_000
const REGTEST = { rollout: 104, openPeriod: 6, biddingPeriod: 5, revealPeriod: 10, treeInterval: 5 }

/**
 * Preloaded into hsd: it stops itself once the process that started it is gone (its parent
 * id changes when it is adopted), so not even a SIGKILL of the demo leaves it running.
 */
const PARENT_WATCH = `data:text/javascript,const p=process.ppid;setInterval(()=>{if(process.ppid!==p)process.kill(process.pid,'SIGKILL')},500).unref()`

export const REGTEST_PERIODS = REGTEST

export interface RegtestHsd {
  /** The node's JSON-RPC URL and API key (what weft's `naming.hns` takes). */
  readonly rpc: string
  readonly walletRpc: string
  readonly apiKey: string
  /** Node RPC and wallet RPC calls (a refusal is ERR_NAME_UNREACHABLE with hsd's message). */
  call<T = unknown>(method: string, params?: unknown[], signal?: AbortSignal): Promise<T>
  wallet<T = unknown>(method: string, params?: unknown[], signal?: AbortSignal): Promise<T>
  height(signal?: AbortSignal): Promise<number>
  /** Mines `blocks` and waits until the wallet has seen them. */
  mine(blocks: number, signal?: AbortSignal): Promise<void>
  /** Mines past the name tree's next commit, so everything mined so far is provable. */
  mineToTreeCommit(signal?: AbortSignal): Promise<void>
  /**
   * Registers every name in one auction, each with one TXT record per string: open, bid,
   * reveal, register with the records, and mine to the tree commit that makes them
   * provable. Returns the blocks mined.
   */
  register(names: Record<string, string[]>, signal?: AbortSignal): Promise<number>
  stop(): Promise<void>
}

/** hsd's node script, or undefined when the package is not installed. */
export function findHsd (): string | undefined {
  try {
    return join(dirname(createRequire(import.meta.url).resolve('hsd/package.json')), 'bin', 'node')
  } catch {
    return undefined
  }
}

async function freePort (): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  server.close()
  await once(server, 'close')
  return port
}

async function rpcCall<T> (url: string, apiKey: string, method: string, params: unknown[], signal?: AbortSignal): Promise<T> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Basic ' + Buffer.from(`x:${apiKey}`).toString('base64') },
    body: JSON.stringify({ method, params, id: 1 }),
    signal
  })
  const body = await res.json() as { result: T, error: { message: string } | null }
  if (body.error != null) throw new WeftError('ERR_NAME_UNREACHABLE', `hsd refused ${method}: ${body.error.message}`)
  return body.result
}

/**
 * Starts hsd and mines to the rollout height (so names can be opened), within `ms`.
 * Fails with one line (ERR_PATH_NOT_FOUND: not installed; ERR_NAME_UNREACHABLE: it did not
 * come up), and leaves nothing running when it fails.
 */
export async function startHsd (options: { ms: number, signal?: AbortSignal }): Promise<RegtestHsd> {
  const script = findHsd()
  if (script === undefined) throw new WeftError('ERR_PATH_NOT_FOUND', 'hsd is not installed (npm install hsd)')
  const [httpPort, port, brontidePort, walletPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()])
  const apiKey = `weft-demo-${Math.random().toString(36).slice(2)}`
  const child = spawn(process.execPath, [
    `--import=${PARENT_WATCH}`, script,
    '--network=regtest', '--memory=true', '--log-console=false', '--workers=false',
    '--host=127.0.0.1', `--port=${port}`, `--brontide-port=${brontidePort}`, '--listen=false',
    '--http-host=127.0.0.1', `--http-port=${httpPort}`, `--api-key=${apiKey}`,
    '--no-dns=true', '--no-rs=true',
    '--wallet-http-host=127.0.0.1', `--wallet-http-port=${walletPort}`
  ], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr?.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-2000) })
  let gone = false
  // 'error' without 'exit' when node cannot be spawned at all.
  const exited = new Promise<void>(resolve => {
    child.once('exit', () => { gone = true; resolve() })
    child.once('error', err => { gone = true; stderr += err.message; resolve() })
  })
  // process.exit (a second Ctrl-C, the demo's exit timer) runs no async cleanup: kill it there too.
  const killOnExit = (): void => { child.kill('SIGKILL') }
  process.once('exit', killOnExit)
  const stop = async (): Promise<void> => {
    process.off('exit', killOnExit)
    if (gone) return
    // In memory, nothing to save: SIGTERM ends it at once (hsd's SIGINT handler takes seconds to close).
    child.kill('SIGTERM')
    const timer = setTimeout(() => { child.kill('SIGKILL') }, 3_000)
    await exited
    clearTimeout(timer)
  }

  const rpc = `http://127.0.0.1:${httpPort}/`
  const walletRpc = `http://127.0.0.1:${walletPort}/`
  const call = async <T>(method: string, params: unknown[] = [], signal?: AbortSignal): Promise<T> => await rpcCall<T>(rpc, apiKey, method, params, signal)
  const wallet = async <T>(method: string, params: unknown[] = [], signal?: AbortSignal): Promise<T> => await rpcCall<T>(walletRpc, apiKey, method, params, signal)
  const height = async (signal?: AbortSignal): Promise<number> => (await call<{ blocks: number }>('getblockchaininfo', [], signal)).blocks
  let address = ''
  const mine = async (blocks: number, signal?: AbortSignal): Promise<void> => {
    await call('generatetoaddress', [blocks, address], signal)
    // The wallet follows the chain on its own: the next spend needs it at the new tip
    // (a block with a hundred names' transactions takes it a while, never this long).
    const tip = await height(signal)
    const synced = signal === undefined ? AbortSignal.timeout(WALLET_SYNC_MS) : AbortSignal.any([signal, AbortSignal.timeout(WALLET_SYNC_MS)])
    while ((await wallet<{ height: number }>('getwalletinfo', [], synced)).height < tip) await sleep(10, undefined, { signal: synced })
  }

  const deadline = options.signal === undefined ? AbortSignal.timeout(options.ms) : AbortSignal.any([options.signal, AbortSignal.timeout(options.ms)])
  try {
    // Ready when both the node's and the wallet's RPC answer.
    for (;;) {
      try {
        await call('getblockchaininfo', [], deadline)
        await wallet('getwalletinfo', [], deadline)
        break
      } catch (err) {
        if (gone) throw new WeftError('ERR_NAME_UNREACHABLE', `hsd exited (${child.exitCode ?? child.signalCode ?? 'not started'}): ${stderr.trim().split('\n').pop() ?? ''}`)
        if (deadline.aborted) throw err
        await sleep(100, undefined, { signal: deadline })
      }
    }
    address = await wallet<string>('getnewaddress', [], deadline)
    await mine(REGTEST.rollout + 2, deadline)
  } catch (err) {
    await stop()
    if (options.signal?.aborted === true) throw err
    if (deadline.aborted) throw new WeftError('ERR_NAME_UNREACHABLE', `hsd did not start within ${options.ms / 1000} s`)
    throw err
  }

  const mineToTreeCommit = async (signal?: AbortSignal): Promise<void> => {
    const h = await height(signal)
    await mine(REGTEST.treeInterval - (h % REGTEST.treeInterval) + 1, signal)
  }
  return {
    rpc,
    walletRpc,
    apiKey,
    call,
    wallet,
    height,
    mine,
    mineToTreeCommit,
    async register (names, signal) {
      const start = await height(signal)
      const all = Object.keys(names)
      for (const name of all) await wallet('sendopen', [name], signal)
      await mine(REGTEST.openPeriod, signal)
      for (const name of all) await wallet('sendbid', [name, 1, 2], signal)
      await mine(REGTEST.biddingPeriod, signal)
      for (const name of all) await wallet('sendreveal', [name], signal)
      await mine(REGTEST.revealPeriod, signal)
      // The winner's first update is the REGISTER, and it carries the records.
      for (const [name, txt] of Object.entries(names)) {
        await wallet('sendupdate', [name, { records: txt.map(text => ({ type: 'TXT', txt: [text] })) }], signal)
      }
      await mine(1, signal)
      // The proof covers the tree as of the last commit: mine past the next one.
      await mineToTreeCommit(signal)
      return await height(signal) - start
    },
    stop
  }
}
