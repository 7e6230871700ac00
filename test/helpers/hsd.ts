/**
 * A real hsd (npm `hsd`) in regtest for tests: src/demo/hsd.ts (in memory, every port free
 * and on 127.0.0.1, no peers, no DNS servers, with its wallet), stopped by the test's
 * teardown; and a lying proxy in front of its RPC.
 */
import type { TestContext } from 'node:test'
import { createServer } from 'node:net'
import { createServer as createHttpServer } from 'node:http'
import { startHsd as startRegtestHsd, REGTEST_PERIODS, type RegtestHsd } from '../../src/demo/hsd.ts'

export const REGTEST = REGTEST_PERIODS
export type Hsd = RegtestHsd

export async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>(resolve => server.close(() => resolve()))
  return port
}

/** A regtest hsd with its wallet (src/demo/hsd.ts, which the demo uses too), stopped with the test; names open at once. */
export async function startHsd (t: TestContext): Promise<Hsd> {
  const hsd = await startRegtestHsd({ ms: 30_000 })
  t.after(async () => { await hsd.stop() })
  return hsd
}

/** Rewrites one JSON-RPC result: return the result to send instead (or the same one). */
export type RpcRewrite = (method: string, params: unknown[], result: unknown) => unknown

/**
 * A lying hsd: an HTTP server on 127.0.0.1 that forwards every JSON-RPC call to `target`
 * and passes each result through `rewrite` before answering.
 */
export async function startLyingProxy (t: TestContext, target: string, rewrite: RpcRewrite, refuse: Record<string, { code: number, message: string }> = {}): Promise<string> {
  const server = createHttpServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      void (async () => {
        const body = Buffer.concat(chunks).toString()
        // a method `refuse` names is answered as a node without it answers
        const asked = JSON.parse(body) as { method: string, id: unknown }
        if (refuse[asked.method] !== undefined) {
          res.writeHead(404, { 'content-type': 'application/json' })
          res.end(JSON.stringify({ result: null, error: refuse[asked.method], id: asked.id }))
          return
        }
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
