/**
 * JSON-RPC over HTTP POST to a chain's node (hsd, Namecoin Core), as both speak it: Basic
 * auth, `{ method, params, id }`, an answer with `result` or `error`. Every call has a
 * time budget besides the caller's signal. A node that cannot be reached, refuses the
 * credentials or answers nonsense is ERR_NAME_UNREACHABLE; an error the node itself returned
 * is a NodeRpcError (also ERR_NAME_UNREACHABLE, with the node's code), which resolvers may
 * read (Namecoin's -4 "name never existed" means not found).
 */
import { WeftError } from '../errors.ts'

export class NodeRpcError extends WeftError {
  /** The node's JSON-RPC error code (0 when it gave none). */
  readonly rpcCode: number

  constructor (node: string, method: string, code: number, message: string) {
    super('ERR_NAME_UNREACHABLE', `${node} refused ${method}: ${message}`)
    this.rpcCode = code
  }
}

export interface JsonRpcInit {
  url: string
  /** How messages name the node: "hsd", "Namecoin Core". */
  node: string
  /** ms per call (default 10 s). */
  timeout?: number
  /** The Authorization header, asked before each call (a cookie file may change). */
  authorization?: () => Promise<string | undefined> | string | undefined
  /** Said when the node refuses the credentials (which setting to check). */
  credentialsHint: string
}

export type JsonRpcCall = <T>(method: string, params: unknown[], signal?: AbortSignal) => Promise<T>

export function basicAuth (user: string, password: string): string {
  return 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64')
}

export function createJsonRpc (init: JsonRpcInit): JsonRpcCall {
  const url = new URL(init.url)
  return async <T>(method: string, params: unknown[], signal?: AbortSignal): Promise<T> => {
    const budget = AbortSignal.timeout(init.timeout ?? 10_000)
    const auth = await init.authorization?.()
    let res: Response
    let body: { result?: T, error?: { message?: string, code?: number } | null }
    try {
      res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(auth === undefined ? {} : { authorization: auth }) },
        body: JSON.stringify({ jsonrpc: '1.0', method, params, id: 1 }),
        signal: signal === undefined ? budget : AbortSignal.any([signal, budget])
      })
      if (res.status === 401 || res.status === 403) throw new WeftError('ERR_NAME_UNREACHABLE', `${init.node} at ${url.host}: wrong credentials (HTTP ${res.status}); ${init.credentialsHint}`)
      body = await res.json() as typeof body
    } catch (err) {
      if (err instanceof WeftError) throw err
      throw new WeftError('ERR_NAME_UNREACHABLE', `${init.node} at ${url.host} did not answer ${method}: ${(err as Error).message}`, { cause: err })
    }
    // a proxy or a broken node may answer any JSON: only an object is a JSON-RPC answer
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new WeftError('ERR_NAME_UNREACHABLE', `${init.node} at ${url.host} answered ${method} with something that is not JSON-RPC (HTTP ${res.status})`)
    if (body.error != null) {
      const { code, message } = typeof body.error === 'object' ? body.error : { code: undefined, message: String(body.error) }
      throw new NodeRpcError(init.node, method, typeof code === 'number' ? code : 0, typeof message === 'string' ? message.slice(0, 300) : `HTTP ${res.status}`)
    }
    if (!res.ok || !('result' in body)) throw new WeftError('ERR_NAME_UNREACHABLE', `${init.node} at ${url.host} gave HTTP ${res.status} to ${method}`)
    return body.result as T
  }
}
