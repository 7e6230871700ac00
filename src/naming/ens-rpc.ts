/**
 * A minimal Ethereum JSON-RPC 2.0 client over fetch: one POST per call, the caller's signal
 * plus a per-call timeout. A transport failure or timeout is ERR_NAME_UNREACHABLE; an
 * error object from the server is an RpcError the caller decides about.
 */
import { WeftError } from '../errors.ts'

export class RpcError extends Error {
  readonly rpcCode: number

  constructor (rpcCode: number, message: string) {
    super(message)
    this.name = 'RpcError'
    this.rpcCode = rpcCode
  }
}

/** JSON-RPC "method not found". */
export const METHOD_NOT_FOUND = -32601

export interface RpcOptions {
  signal?: AbortSignal
}

export type Rpc = <T = unknown>(method: string, params: unknown[], options?: RpcOptions) => Promise<T>

export function createRpc (url: string, timeout: number): Rpc {
  let nextId = 1
  return async function call<T> (method: string, params: unknown[], options: RpcOptions = {}): Promise<T> {
    const signal = AbortSignal.any([AbortSignal.timeout(timeout), ...(options.signal === undefined ? [] : [options.signal])])
    let body: { result?: unknown, error?: { code?: unknown, message?: unknown } }
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: nextId++, method, params }),
        signal
      })
      if (!res.ok) throw new Error(`HTTP ${res.status}`)
      body = await res.json() as typeof body
    } catch (err) {
      const why = signal.aborted ? 'timed out or was aborted' : (err as Error).message
      throw new WeftError('ERR_NAME_UNREACHABLE', `Ethereum endpoint ${url} did not answer ${method}: ${why}`, { cause: err })
    }
    if (body === null || typeof body !== 'object') throw new WeftError('ERR_NAME_UNREACHABLE', `Ethereum endpoint ${url} answered ${method} with something that is not JSON-RPC`)
    if (body.error != null) throw new RpcError(typeof body.error.code === 'number' ? body.error.code : 0, String(body.error.message ?? 'error'))
    return body.result as T
  }
}
