/**
 * A Namecoin Core stand-in for tests: an HTTP JSON-RPC server on 127.0.0.1 that replays the
 * answers recorded from a real regtest node (test/fixtures/namecoin/, a copy of ../shared/fixtures/namecoin/), matched on method
 * and params, behind HTTP basic auth. Unknown calls get Namecoin Core's "Method not found".
 */
import type { TestContext } from 'node:test'
import { createServer } from 'node:http'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The recorded answers (copied from ../shared/fixtures/namecoin/ so a clone has them). */
export const FIXTURES = fileURLToPath(new URL('../fixtures/namecoin', import.meta.url))

export interface RpcAnswer { result: unknown, error: { code: number, message: string } | null, id: unknown }
export interface Recorded { request: { method: string, params: unknown[] }, response: RpcAnswer }

export function loadRecorded (dir = FIXTURES): Recorded[] {
  return readdirSync(dir).filter(f => f.endsWith('.json')).map(f => JSON.parse(readFileSync(join(dir, f), 'utf8')) as Recorded)
}

/** Changes or adds answers: return the answer to send, or undefined to send the recorded one (or "Method not found"). */
export type Rewrite = (method: string, params: unknown[], recorded: RpcAnswer | undefined) => RpcAnswer | undefined

export interface ReplayNode { rpc: string, user: string, password: string, calls: string[] }

export async function startReplayNode (t: TestContext, rewrite: Rewrite = () => undefined, recorded = loadRecorded()): Promise<ReplayNode> {
  const user = 'weft'
  const password = 'regtest-pass'
  const calls: string[] = []
  const expected = 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64')
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      // Namecoin Core answers a bad login with an empty 401
      if (req.headers.authorization !== expected) { res.writeHead(401, { 'www-authenticate': 'Basic realm="jsonrpc"' }); res.end(); return }
      const { method, params = [], id } = JSON.parse(Buffer.concat(chunks).toString()) as { method: string, params?: unknown[], id: unknown }
      calls.push(method)
      const match = recorded.find(r => r.request.method === method && JSON.stringify(r.request.params) === JSON.stringify(params))
      const answer = rewrite(method, params, match === undefined ? undefined : structuredClone(match.response)) ??
        match?.response ?? { result: null, error: { code: -32601, message: 'Method not found' }, id }
      res.writeHead(answer.error === null ? 200 : answer.error.code === -32601 ? 404 : 500, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ ...answer, id }))
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.after(async () => { server.closeAllConnections(); await new Promise(resolve => server.close(resolve)) })
  return { rpc: `http://127.0.0.1:${(server.address() as { port: number }).port}/`, user, password, calls }
}

/** A name_show answer for a synthetic name, shaped like the recorded ones. */
export function nameShowAnswer (name: string, value: string): RpcAnswer {
  return {
    result: { name, name_encoding: 'ascii', value, value_encoding: 'ascii', txid: '00'.repeat(32), vout: 0, address: 'mykokucpWEqrWaBkRWETSHkeY8aSBCoJ1P', height: 345, expires_in: 30, expired: false, ismine: true },
    error: null,
    id: 1
  }
}
