/**
 * Requests to a node's gateway the way a browser makes them. A site's origin is
 * `<name>.ipns.localhost:<port>`, and Node does not resolve `*.localhost` (browsers do),
 * nor does its fetch let a caller set Host; so the request goes to 127.0.0.1 over
 * node:http with the site's name in the Host header.
 */
import { request } from 'node:http'
import { WeftError } from '../errors.ts'

export interface GatewayAnswer {
  status: number
  contentType: string
  body: Buffer
}

/** GET `path` from the gateway at `gatewayUrl` (`http://127.0.0.1:<port>`), as `host` would be asked for. */
export async function gatewayGet (gatewayUrl: string, host: string, path: string, options: { signal: AbortSignal }): Promise<GatewayAnswer> {
  const url = new URL(gatewayUrl)
  return await new Promise<GatewayAnswer>((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path, method: 'GET', headers: { host }, signal: options.signal }, res => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.once('end', () => { resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), body: Buffer.concat(chunks) }) })
      res.once('error', reject)
    })
    req.once('error', err => {
      reject(options.signal.aborted ? new WeftError('ERR_FETCH_TIMEOUT', `GET http://${host}${path} was stopped: ${String(options.signal.reason?.message ?? options.signal.reason)}`) : err)
    })
    req.end()
  })
}

/** The Host of a site's subdomain origin on a gateway. */
export function siteHost (name: string, gatewayUrl: string): string {
  return `${name}.ipns.localhost:${new URL(gatewayUrl).port}`
}
