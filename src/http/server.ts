/**
 * Serving a handler, a function from Request to Response, over node:http. The gateway,
 * the control API and kubo's RPC API are all served this way: the body streams out as
 * the handler produces it, with backpressure, and a client that goes away aborts the
 * request's signal (and with it whatever the handler was fetching).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { Readable } from 'node:stream'

export type Handler = (request: Request) => Promise<Response>

/** A cache of finished answers in front of a handler (the gateway's, for immutable content). */
export interface AnswerHooks {
  /** Sends a kept answer and returns true, or returns false to let the handler answer. */
  serve(req: IncomingMessage, res: ServerResponse): boolean
  /** Whether a handler's answer to `req` may be kept; then `keep` gets it when complete. */
  wants(req: IncomingMessage, status: number, headers: Headers): boolean
  keep(req: IncomingMessage, headers: Headers, body: Buffer): void
}

/** How long a response whose body failed may take to flush what was written before its socket is cut. */
const FLUSH_BEFORE_CUT_MS = 2000

/** Serves `handler` on host:port (0 picks a free port); resolves with the bound port. */
export async function listen (handler: Handler, host: string, port: number, answers?: AnswerHooks): Promise<{ server: Server, port: number }> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (answers?.serve(req, res) === true) return
    const controller = new AbortController()
    // only a response cut short aborts (building an abort reason for every finished one costs)
    res.once('close', () => { if (!res.writableFinished) controller.abort() })
    const request = new Request(`http://${host}${req.url ?? '/'}`, {
      method: req.method,
      headers: req.headers as Record<string, string>,
      body: req.method === 'GET' || req.method === 'HEAD' ? undefined : Readable.toWeb(req) as ReadableStream,
      duplex: 'half',
      signal: controller.signal
    } as RequestInit)
    handler(request).then(async response => {
      res.writeHead(response.status, Object.fromEntries(response.headers))
      const kept: Uint8Array[] | undefined = answers?.wants(req, response.status, response.headers) === true ? [] : undefined
      if (response.body !== null) {
        for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
          kept?.push(chunk)
          if (!res.write(chunk)) await new Promise(resolve => res.once('drain', resolve))
        }
      }
      res.end()
      if (kept !== undefined) answers?.keep(req, response.headers, Buffer.concat(kept))
    }).catch(async () => {
      // a body that fails after the status was sent is cut short, but what was written (the status at least) reaches the client first
      if (res.headersSent && !res.destroyed) {
        const flushed = new Promise(resolve => { res.write(new Uint8Array(0), resolve) })
        // a client that reads nothing does not hold the socket open for long
        await Promise.race([flushed, new Promise(resolve => { AbortSignal.timeout(FLUSH_BEFORE_CUT_MS).addEventListener('abort', resolve) })])
      }
      res.destroy()
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => { resolve() })
  })
  const address = server.address()
  return { server, port: typeof address === 'object' && address !== null ? address.port : port }
}

/** Stops accepting, cuts the connections still open, and resolves when the server has closed. */
export async function close (server: Server): Promise<void> {
  await new Promise<void>(resolve => {
    server.close(() => { resolve() })
    server.closeAllConnections()
  })
}
