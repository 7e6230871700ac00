/**
 * The control API: `POST /api/v0/<command>` on 127.0.0.1, with
 * `Authorization: Bearer <$WEFT_HOME/api.token>`. docs/api.md lists every route. The
 * handler is a function from Request to Response; `listen` is a thin node:http adapter.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { Readable } from 'node:stream'
import { timingSafeEqual } from 'node:crypto'
import { WeftError, errorToStatus, toWeftError } from '../errors.ts'
import type { PinType } from '../blocks/index.ts'
import type { Operations, Progress } from './operations.ts'

type Body = Record<string, unknown>

/** A failure as the API answers it: `{ code, message }` with the code's HTTP status. */
export function errorResponse (err: unknown): Response {
  const e = toWeftError(err)
  return Response.json({ code: e.code, message: e.message }, { status: errorToStatus(e) })
}

/**
 * A streamed body from `source`: its first chunk is read before the response exists, so a
 * failure there becomes an error status; a later failure cuts the stream short. When the
 * client goes away the source is closed (and with it what it fetches). The gateway's
 * bodies are made here too.
 */
export async function streamBody (source: AsyncGenerator<Uint8Array>, first?: IteratorResult<Uint8Array>): Promise<ReadableStream<Uint8Array>> {
  const head = first ?? await source.next()
  return new ReadableStream<Uint8Array>({
    start (controller) {
      if (head.done === true) controller.close()
      else controller.enqueue(head.value)
    },
    async pull (controller) {
      try {
        const next = await source.next()
        if (next.done === true) controller.close()
        else controller.enqueue(next.value)
      } catch (err) {
        controller.error(err)
      }
    },
    async cancel () { await source.return(undefined) }
  }, { highWaterMark: 0 })
}

async function bytesResponse (source: AsyncGenerator<Uint8Array>): Promise<Response> {
  return new Response(await streamBody(source), { headers: { 'content-type': 'application/octet-stream' } })
}

/** NDJSON: `{"progress":…}` lines (at most ten a second), then `{"result":…}` or `{"error":…}`. */
export function progressResponse (run: (onProgress: (e: Progress) => void) => Promise<unknown>): Response {
  const encoder = new TextEncoder()
  const body = new ReadableStream<Uint8Array>({
    async start (controller) {
      let last = 0
      const line = (value: unknown): void => { controller.enqueue(encoder.encode(JSON.stringify(value) + '\n')) }
      try {
        const result = await run(progress => {
          const now = Date.now()
          if (now - last < 100) return
          last = now
          line({ progress })
        })
        line({ result })
      } catch (err) {
        const e = toWeftError(err)
        line({ error: { code: e.code, message: e.message } })
      }
      controller.close()
    }
  })
  return new Response(body, { headers: { 'content-type': 'application/x-ndjson' } })
}

const str = (body: Body, key: string): string => {
  const v = body[key]
  if (typeof v !== 'string') throw new WeftError('ERR_USAGE', `"${key}" must be a string`)
  return v
}
const strs = (body: Body, key: string): string[] => {
  const v = body[key]
  if (!Array.isArray(v) || !v.every(x => typeof x === 'string')) throw new WeftError('ERR_USAGE', `"${key}" must be a list of strings`)
  return v
}
const opt = <T>(body: Body, key: string): T | undefined => body[key] as T | undefined
const net = (body: Body) => ({ offline: opt<boolean>(body, 'offline'), timeout: opt<number>(body, 'timeout') })

type Route = (ops: Operations, body: Body, request: Request) => Promise<Response>

const json = (fn: (ops: Operations, body: Body) => Promise<unknown>): Route => async (ops, body) => Response.json(await fn(ops, body) ?? null)

const ROUTES: Record<string, Route> = {
  id: json(async ops => await ops.id()),
  peers: json(async ops => await ops.peers()),
  connect: json(async (ops, b) => await ops.connect(str(b, 'address'))),
  add: async (ops, b) => progressResponse(async p => await ops.add(strs(b, 'paths'), opt(b, 'options') ?? {}, p)),
  fetch: async (ops, b) => progressResponse(async p => await ops.fetch(str(b, 'path'), net(b), p)),
  cat: async (ops, b) => await bytesResponse(ops.cat(str(b, 'path'), { ...net(b), offset: opt(b, 'offset'), length: opt(b, 'length') })),
  get: async (ops, b) => progressResponse(async p => await ops.get(str(b, 'path'), str(b, 'output'), net(b), p)),
  ls: json(async (ops, b) => await ops.ls(str(b, 'path'), net(b))),
  'pin/add': json(async (ops, b) => await ops.pinAdd(strs(b, 'args'), opt(b, 'direct') === true, net(b))),
  'pin/rm': json(async (ops, b) => await ops.pinRm(strs(b, 'args'))),
  'pin/ls': json(async (ops, b) => await ops.pinLs(opt<PinType>(b, 'type'))),
  gc: json(async ops => await ops.gc()),
  'repo/stat': json(async ops => await ops.repoStat()),
  stats: json(async ops => await ops.stats()),
  'repo/verify': json(async (ops, b) => await ops.repoVerify({ repair: opt<boolean>(b, 'repair') === true })),
  'config/get': json(async (ops, b) => await ops.configGet(opt(b, 'key'))),
  'config/set': json(async (ops, b) => await ops.configSet(str(b, 'key'), str(b, 'json'))),
  'site/create': json(async (ops, b) => await ops.siteCreate(str(b, 'label'))),
  'site/list': json(async ops => await ops.siteList()),
  'site/export-key': json(async (ops, b) => await ops.siteExportKey(str(b, 'label'), str(b, 'passphrase'))),
  'site/import-key': json(async (ops, b) => await ops.siteImportKey(str(b, 'key'), str(b, 'passphrase'), opt(b, 'label'))),
  'site/info': json(async (ops, b) => await ops.siteInfo(str(b, 'name'))),
  publish: async (ops, b) => progressResponse(async p => await ops.publish(str(b, 'path'), { ...(opt<object>(b, 'options') ?? {}), site: str(b, 'site') }, p)),
  resolve: json(async (ops, b) => await ops.resolve(str(b, 'name'), { ...net(b), fresh: opt(b, 'fresh') })),
  follow: json(async (ops, b) => await ops.follow(str(b, 'name'), opt(b, 'keep'))),
  unfollow: json(async (ops, b) => await ops.unfollow(str(b, 'name'))),
  following: json(async ops => await ops.following()),
  'name/set': json(async (ops, b) => await ops.nameSet(str(b, 'name'), str(b, 'value'))),
  'name/rm': json(async (ops, b) => { await ops.nameRm(str(b, 'name')) }),
  'name/ls': json(async ops => await ops.nameLs()),
  'name/resolve': json(async (ops, b) => await ops.nameResolve(str(b, 'name'), { timeout: opt(b, 'timeout'), fresh: opt(b, 'fresh') })),
  'car/export': async (ops, b) => await bytesResponse(ops.carExport(str(b, 'path'), net(b))),
  'car/import': async (ops, _b, request) => {
    const pin = new URL(request.url).searchParams.get('pin') !== 'false'
    if (request.body === null) throw new WeftError('ERR_USAGE', 'car/import needs the CAR as the request body')
    return Response.json(await ops.carImport(request.body as unknown as AsyncIterable<Uint8Array>, pin))
  }
}

export const API_ROUTES = Object.keys(ROUTES)

/** Throws ERR_API_UNAUTHORIZED unless the request carries `Authorization: Bearer <token>`. */
export function assertAuthorized (request: Request, token: string): void {
  const expected = Buffer.from(`Bearer ${token}`)
  const given = Buffer.from(request.headers.get('authorization') ?? '')
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new WeftError('ERR_API_UNAUTHORIZED', 'missing or wrong API token')
  }
}

export function createApiHandler (ops: Operations, token: string): (request: Request) => Promise<Response> {
  return async request => {
    try {
      assertAuthorized(request, token)
      const url = new URL(request.url)
      const name = url.pathname.replace(/^\/api\/v0\//, '')
      const route = ROUTES[name]
      if (request.method !== 'POST' || route === undefined || !url.pathname.startsWith('/api/v0/')) {
        throw new WeftError('ERR_USAGE', `no such API route: ${request.method} ${url.pathname}`)
      }
      let body: Body = {}
      if (name !== 'car/import') {
        const text = await request.text()
        try {
          body = text === '' ? {} : JSON.parse(text) as Body
        } catch {
          throw new WeftError('ERR_USAGE', 'the request body must be JSON')
        }
      }
      return await route(ops, body, request)
    } catch (err) {
      return errorResponse(err)
    }
  }
}

/** A cache of finished answers in front of a handler (the gateway's, for immutable content). */
export interface AnswerHooks {
  /** Sends a kept answer and returns true, or returns false to let the handler answer. */
  serve(req: IncomingMessage, res: ServerResponse): boolean
  /** Whether a handler's answer to `req` may be kept; then `keep` gets it when complete. */
  wants(req: IncomingMessage, status: number, headers: Headers): boolean
  keep(req: IncomingMessage, headers: Headers, body: Buffer): void
}

/** Serves `handler` on host:port (0 picks a free port); resolves with the bound port. */
export async function listen (handler: (request: Request) => Promise<Response>, host: string, port: number, answers?: AnswerHooks): Promise<{ server: Server, port: number }> {
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
    }).catch(() => { res.destroy() })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => { resolve() })
  })
  const address = server.address()
  return { server, port: typeof address === 'object' && address !== null ? address.port : port }
}
