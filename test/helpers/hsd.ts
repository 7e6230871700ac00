/**
 * A real hsd (npm `hsd`) in regtest for tests: in memory, every port free and on 127.0.0.1,
 * no peers, no DNS servers, with its wallet plugin. Stopped by the test's teardown.
 *
 * Regtest's name auction (hsd lib/protocol/networks.js): names roll out by height 104
 * (rolloutInterval 2 × 52 weeks), OPEN lasts treeInterval + 1 = 6 blocks, bidding 5,
 * reveal 10; the name tree commits every treeInterval = 5 blocks, and a proof follows the
 * commit, so an update is provable only after the next multiple of 5.
 */
import type { TestContext } from 'node:test'
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import { createServer as createHttpServer } from 'node:http'
import { fileURLToPath } from 'node:url'

const HSD_NODE = fileURLToPath(new URL('../../node_modules/hsd/bin/node', import.meta.url))
export const REGTEST = { rollout: 104, openPeriod: 6, biddingPeriod: 5, revealPeriod: 10, treeInterval: 5 }

export interface Hsd {
  rpc: string
  walletRpc: string
  apiKey: string
  /** Node RPC. */
  call<T = unknown>(method: string, params?: unknown[]): Promise<T>
  /** Wallet RPC (the primary wallet). */
  wallet<T = unknown>(method: string, params?: unknown[]): Promise<T>
  height(): Promise<number>
  mine(blocks: number): Promise<void>
  /** Mines until the tree has committed everything mined so far. */
  mineToTreeCommit(): Promise<void>
  /** Runs one auction for all the names, registers each with one TXT record per string, mines until provable. */
  register(names: Record<string, string[]>): Promise<void>
  stop(): Promise<void>
}

export async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>(resolve => server.close(() => resolve()))
  return port
}

async function rpcCall<T> (url: string, apiKey: string, method: string, params: unknown[]): Promise<T> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Basic ' + Buffer.from(`x:${apiKey}`).toString('base64') },
    body: JSON.stringify({ method, params, id: 1 })
  })
  const body = await res.json() as { result: T, error: { message: string } | null }
  if (body.error != null) throw new Error(`${method}: ${body.error.message}`)
  return body.result
}

export async function startHsd (t: TestContext): Promise<Hsd> {
  const [httpPort, port, brontidePort, walletPort] = [await freePort(), await freePort(), await freePort(), await freePort()]
  const apiKey = 'weft-test-' + Math.random().toString(36).slice(2)
  const child: ChildProcess = spawn(process.execPath, [
    HSD_NODE, '--network=regtest', '--memory=true', '--log-console=false', '--workers=false',
    '--host=127.0.0.1', `--port=${port}`, `--brontide-port=${brontidePort}`, '--listen=false',
    '--http-host=127.0.0.1', `--http-port=${httpPort}`, `--api-key=${apiKey}`,
    '--no-dns=true', '--no-rs=true',
    '--wallet-http-host=127.0.0.1', `--wallet-http-port=${walletPort}`
  ], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr?.on('data', (d: Buffer) => { stderr += d.toString() })
  const exited = new Promise<void>(resolve => child.once('exit', () => resolve()))
  const rpc = `http://127.0.0.1:${httpPort}/`
  const walletRpc = `http://127.0.0.1:${walletPort}/`

  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return
    child.kill('SIGINT')
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
    await exited
    clearTimeout(timer)
  }
  t.after(stop)

  // Ready when both the node's and the wallet's RPC answer.
  const deadline = Date.now() + 30_000
  for (;;) {
    try {
      await rpcCall(rpc, apiKey, 'getblockchaininfo', [])
      await rpcCall(walletRpc, apiKey, 'getwalletinfo', [])
      break
    } catch (err) {
      if (child.exitCode !== null) throw new Error(`hsd exited (${child.exitCode}): ${stderr.slice(-2000)}`)
      if (Date.now() > deadline) throw new Error(`hsd did not start: ${(err as Error).message} ${stderr.slice(-2000)}`)
      await new Promise(resolve => setTimeout(resolve, 100))
    }
  }

  const call = async <T>(method: string, params: unknown[] = []): Promise<T> => await rpcCall<T>(rpc, apiKey, method, params)
  const wallet = async <T>(method: string, params: unknown[] = []): Promise<T> => await rpcCall<T>(walletRpc, apiKey, method, params)
  const address = await wallet<string>('getnewaddress', [])
  const height = async (): Promise<number> => (await call<{ blocks: number }>('getblockchaininfo')).blocks
  const mine = async (blocks: number): Promise<void> => {
    await call('generatetoaddress', [blocks, address])
    // The wallet follows the chain asynchronously; wait until it has seen the new tip.
    const tip = await height()
    for (let i = 0; i < 200; i++) {
      const info = await wallet<{ height: number }>('getwalletinfo')
      if (info.height >= tip) return
      await new Promise(resolve => setTimeout(resolve, 10))
    }
  }
  const mineToTreeCommit = async (): Promise<void> => {
    const h = await height()
    await mine(REGTEST.treeInterval - (h % REGTEST.treeInterval) + 1)
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
    async register (names: Record<string, string[]>): Promise<void> {
      const h = await height()
      if (h < REGTEST.rollout + 2) await mine(REGTEST.rollout + 2 - h)
      const all = Object.keys(names)
      for (const name of all) await wallet('sendopen', [name])
      await mine(REGTEST.openPeriod)
      for (const name of all) await wallet('sendbid', [name, 1, 2])
      await mine(REGTEST.biddingPeriod)
      for (const name of all) await wallet('sendreveal', [name])
      await mine(REGTEST.revealPeriod)
      for (const [name, txt] of Object.entries(names)) {
        await wallet('sendupdate', [name, { records: txt.map(text => ({ type: 'TXT', txt: [text] })) }])
      }
      await mine(1)
      await mineToTreeCommit()
    },
    stop
  }
}

/** Rewrites one JSON-RPC result: return the result to send instead (or the same one). */
export type RpcRewrite = (method: string, params: unknown[], result: unknown) => unknown

/**
 * A lying hsd: an HTTP server on 127.0.0.1 that forwards every JSON-RPC call to `target`
 * and passes each result through `rewrite` before answering.
 */
export async function startLyingProxy (t: TestContext, target: string, rewrite: RpcRewrite): Promise<string> {
  const server = createHttpServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      void (async () => {
        const body = Buffer.concat(chunks).toString()
        const upstream = await fetch(target, { method: 'POST', headers: { 'content-type': 'application/json', authorization: req.headers.authorization ?? '' }, body })
        const answer = await upstream.json() as { result: unknown, error: unknown, id: unknown }
        const { method, params } = JSON.parse(body) as { method: string, params: unknown[] }
        if (answer.error == null) answer.result = rewrite(method, params, structuredClone(answer.result))
        res.writeHead(upstream.status, { 'content-type': 'application/json' })
        res.end(JSON.stringify(answer))
      })().catch(() => { res.writeHead(500); res.end() })
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.after(async () => { server.closeAllConnections(); await new Promise(resolve => server.close(resolve)) })
  return `http://127.0.0.1:${(server.address() as { port: number }).port}/`
}
