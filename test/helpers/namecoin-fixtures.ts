/**
 * A Namecoin Core stand-in for tests: an HTTP JSON-RPC server on 127.0.0.1 that replays the
 * answers recorded from a real regtest node (test/fixtures/namecoin/, a copy of ../shared/fixtures/namecoin/), matched on method
 * and params, behind HTTP basic auth. Unknown calls get Namecoin Core's "Method not found".
 *
 * `name_show` takes its options as Namecoin Core does: `valueEncoding` "hex" gives the value
 * as hex (`value_encoding: "hex"`); the default, ascii, gives it as text, or, when it holds a
 * byte outside printable ASCII, leaves `value` out and says `value_error: "invalid data for ascii"`.
 * A recorded name_show answer is kept once (in either encoding) and served in the one asked for.
 *
 * `syntheticName` builds the answers for a name the recording does not have, in the same
 * formats: a real name_update transaction carrying the value, a block whose Merkle root is that
 * transaction, and the proof calls for it, so a verified resolve checks them as it checks the
 * recorded ones.
 */
import type { TestContext } from 'node:test'
import { createHash } from 'node:crypto'
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
      // name_show is matched without its valueEncoding option, and answered in the encoding asked
      const key = method === 'name_show' ? JSON.stringify(withoutEncoding(params)) : JSON.stringify(params)
      const match = recorded.find(r => r.request.method === method && (method === 'name_show' ? JSON.stringify(withoutEncoding(r.request.params)) : JSON.stringify(r.request.params)) === key)
      let answer = rewrite(method, params, match === undefined ? undefined : structuredClone(match.response)) ??
        match?.response ?? { result: null, error: { code: -32601, message: 'Method not found' }, id }
      if (method === 'name_show') answer = encodeValue(answer, requestedEncoding(params))
      res.writeHead(answer.error === null ? 200 : answer.error.code === -32601 ? 404 : 500, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ ...answer, id }))
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.after(async () => { server.closeAllConnections(); await new Promise(resolve => server.close(resolve)) })
  return { rpc: `http://127.0.0.1:${(server.address() as { port: number }).port}/`, user, password, calls }
}

function nameShowOptions (params: unknown[]): Record<string, unknown> {
  const options = params[1]
  return options !== null && typeof options === 'object' ? options as Record<string, unknown> : {}
}

function withoutEncoding (params: unknown[]): unknown[] {
  const { valueEncoding: _, ...rest } = nameShowOptions(params)
  return Object.keys(rest).length === 0 ? [params[0]] : [params[0], rest]
}

function requestedEncoding (params: unknown[]): string {
  const asked = nameShowOptions(params).valueEncoding
  return typeof asked === 'string' ? asked : 'ascii'
}

/** A name_show answer's value in `encoding` (hex, ascii or utf8), as Namecoin Core gives it. */
function encodeValue (answer: RpcAnswer, encoding: string): RpcAnswer {
  const result = answer.result as Record<string, unknown> | null
  if (result === null || typeof result !== 'object' || typeof result.value !== 'string') return answer
  const bytes = result.value_encoding === 'hex' ? Buffer.from(result.value, 'hex') : Buffer.from(result.value, 'utf8')
  const { value: _, value_encoding: __, value_error: ___, ...rest } = result
  if (encoding === 'hex') return { ...answer, result: { ...rest, value: bytes.toString('hex'), value_encoding: 'hex' } }
  // Namecoin Core's ascii encoding takes printable ASCII only
  if (encoding === 'ascii' && !bytes.every(b => b >= 0x20 && b < 0x7f)) return { ...answer, result: { ...rest, value_encoding: 'ascii', value_error: 'invalid data for ascii' } }
  return { ...answer, result: { ...rest, value: bytes.toString('utf8'), value_encoding: encoding } }
}

function dsha256 (data: Uint8Array): Buffer {
  return createHash('sha256').update(createHash('sha256').update(data).digest()).digest()
}

function push (data: Buffer): Buffer {
  if (data.length <= 0x4b) return Buffer.concat([Buffer.from([data.length]), data])
  if (data.length <= 0xff) return Buffer.concat([Buffer.from([0x4c, data.length]), data])
  const len = Buffer.alloc(2)
  len.writeUInt16LE(data.length)
  return Buffer.concat([Buffer.from([0x4d]), len, data])
}

export interface SyntheticName {
  /** `d/<label>`. */
  name: string
  /** The value's bytes as text (UTF-8). */
  value: string
  /** The block the update is in; each synthetic name needs its own (getblockhash is matched on it). */
  height: number
  /** How deep that block is (1: the tip). Default 1. */
  confirmations?: number
  /** Blocks a name lives after an update: 30 on regtest. name_show's expires_in follows from it. */
  expiryDepth?: number
  /** What name_show says instead (a node hiding that the name expired). */
  expiresIn?: number
}

/**
 * The answers for one name_update of `name` to `value`: name_show (hex), and getblockhash,
 * getrawtransaction, gettxoutproof and getblockheader (raw and verbose) for a block holding
 * that transaction alone (so its Merkle root is the txid), formatted as the recorded ones.
 */
export function syntheticName (s: SyntheticName): Recorded[] {
  const confirmations = s.confirmations ?? 1
  const expiresIn = s.expiresIn ?? (s.expiryDepth ?? 30) - confirmations + 1
  const value = Buffer.from(s.value, 'utf8')
  const u32 = (n: number): Buffer => { const b = Buffer.alloc(4); b.writeUInt32LE(n); return b }
  // OP_NAME_UPDATE <name> <value> OP_2DROP OP_DROP, then a pay-to-pubkey-hash
  const script = Buffer.concat([Buffer.from([0x53]), push(Buffer.from(s.name, 'latin1')), push(value), Buffer.from([0x6d, 0x75, 0x76, 0xa9, 0x14]), dsha256(Buffer.from(s.name)).subarray(0, 20), Buffer.from([0x88, 0xac])])
  const amount = Buffer.alloc(8)
  amount.writeBigUInt64LE(1_000_000n)
  const tx = Buffer.concat([
    u32(0x7100), // Namecoin's name transaction version
    Buffer.from([1]), dsha256(Buffer.from(`prev ${s.name} ${s.height}`)), u32(0), Buffer.from([0]), u32(0xffffffff),
    Buffer.from([1]), amount, Buffer.from([script.length]), script,
    u32(s.height - 1)
  ])
  if (script.length > 0xfc) throw new Error('syntheticName: the script is too long for a one-byte length')
  const txHash = dsha256(tx)
  const txid = Buffer.from(txHash).reverse().toString('hex')
  const header = Buffer.concat([u32(4), dsha256(Buffer.from(`block ${s.height - 1}`)), txHash, u32(1_795_833_626 + s.height), Buffer.from('ffff7f20', 'hex'), u32(0)])
  const block = dsha256(header).reverse().toString('hex')
  const merkleblock = Buffer.concat([header, u32(1), Buffer.from([1]), txHash, Buffer.from([1, 0x01])]).toString('hex')
  const ok = (result: unknown): RpcAnswer => ({ result, error: null, id: 1 })
  return [
    { request: { method: 'name_show', params: [s.name, { valueEncoding: 'hex' }] }, response: ok({ name: s.name, name_encoding: 'ascii', value: value.toString('hex'), value_encoding: 'hex', txid, vout: 0, address: 'mykokucpWEqrWaBkRWETSHkeY8aSBCoJ1P', height: s.height, expires_in: expiresIn, expired: expiresIn <= 0, ismine: true }) },
    { request: { method: 'getblockhash', params: [s.height] }, response: ok(block) },
    { request: { method: 'getrawtransaction', params: [txid, true, block] }, response: ok({ in_active_chain: true, txid, hash: txid, version: 0x7100, hex: tx.toString('hex'), blockhash: block, confirmations }) },
    { request: { method: 'gettxoutproof', params: [[txid], block] }, response: ok(merkleblock) },
    { request: { method: 'getblockheader', params: [block, false] }, response: ok(header.toString('hex')) },
    { request: { method: 'getblockheader', params: [block] }, response: ok({ hash: block, version: 4, merkleroot: txid, height: s.height, confirmations, bits: '207fffff', nonce: 0 }) }
  ]
}

/** A name_show answer for a synthetic name, shaped like the recorded ones. */
export function nameShowAnswer (name: string, value: string): RpcAnswer {
  return {
    result: { name, name_encoding: 'ascii', value, value_encoding: 'ascii', txid: '00'.repeat(32), vout: 0, address: 'mykokucpWEqrWaBkRWETSHkeY8aSBCoJ1P', height: 345, expires_in: 30, expired: false, ismine: true },
    error: null,
    id: 1
  }
}
