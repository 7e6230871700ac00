/**
 * The control API: `POST /api/weft/v1/<command>` on 127.0.0.1, with
 * `Authorization: Bearer <$WEFT_HOME/api.token>`. docs/api.md lists every route. The
 * same port answers kubo's RPC API under `/api/v0/` (./kubo/), behind the same token, so
 * IPFS tools (kubo-rpc-client, ipfs-webui) can drive a weft node. The handler is a
 * function from Request to Response; `listen` is a thin node:http adapter.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { Readable } from 'node:stream'
import { timingSafeEqual } from 'node:crypto'
import { WeftError, errorToStatus, toWeftError } from '../errors.ts'
import { MAX_MESSAGE_BYTES, MAX_PRIVATE_FILE_BYTES, MAX_USER_FILE_BYTES, type NetworkOptions, type Operations, type Progress } from './operations.ts'
import { createKuboHandler, KUBO_PREFIX } from './kubo/index.ts'
import { parseBody, parseMessageSendQuery, parsePrivatePutQuery, parseUserWriteQuery, type BodyOf, type BodyRoute } from './bodies.ts'

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

type Handler<R extends BodyRoute> = (ops: Operations, body: BodyOf<R>) => Promise<Response>

const json = <R extends BodyRoute>(fn: (ops: Operations, body: BodyOf<R>) => Promise<unknown>): Handler<R> => async (ops, body) => Response.json(await fn(ops, body) ?? null)

/** Every route with a JSON body, which parseBody has checked against its schema (bodies.ts) before the route runs. */
const ROUTES: { [R in BodyRoute]: Handler<R> } = {
  id: json(async ops => await ops.id()),
  peers: json(async ops => await ops.peers()),
  connect: json(async (ops, b) => await ops.connect(b.address)),
  add: async (ops, b) => progressResponse(async p => await ops.add(b.paths, b.options ?? {}, p)),
  fetch: async (ops, b) => progressResponse(async p => await ops.fetch(b.path, network(b), p)),
  cat: async (ops, b) => await bytesResponse(ops.cat(b.path, { ...network(b), offset: b.offset, length: b.length })),
  get: async (ops, b) => progressResponse(async p => await ops.get(b.path, b.output, network(b), p)),
  ls: json(async (ops, b) => await ops.ls(b.path, network(b))),
  'pin/add': json(async (ops, b) => await ops.pinAdd(b.args, b.direct === true, network(b))),
  'pin/rm': json(async (ops, b) => await ops.pinRm(b.args)),
  'pin/ls': json(async (ops, b) => await ops.pinLs(b.type)),
  gc: json(async ops => await ops.gc()),
  'repo/stat': json(async ops => await ops.repoStat()),
  stats: json(async ops => await ops.stats()),
  'repo/verify': json(async (ops, b) => await ops.repoVerify({ repair: b.repair === true })),
  'config/get': json(async (ops, b) => await ops.configGet(b.key)),
  'config/set': json(async (ops, b) => await ops.configSet(b.key, b.json)),
  'site/create': json(async (ops, b) => await ops.siteCreate(b.label)),
  'site/list': json(async ops => await ops.siteList()),
  'site/export-key': json(async (ops, b) => await ops.siteExportKey(b.label, b.passphrase)),
  'site/import-key': json(async (ops, b) => await ops.siteImportKey(b.key, b.passphrase, b.label)),
  'site/info': json(async (ops, b) => await ops.siteInfo(b.name)),
  publish: async (ops, b) => progressResponse(async p => await ops.publish(b.path, { ...(b.options ?? {}), site: b.site }, p)),
  resolve: json(async (ops, b) => await ops.resolve(b.name, { ...network(b), fresh: b.fresh })),
  follow: json(async (ops, b) => await ops.follow(b.name, b.keep)),
  unfollow: json(async (ops, b) => await ops.unfollow(b.name)),
  following: json(async ops => await ops.following()),
  replicate: json(async (ops, b) => await ops.replicate(b.target, { copies: b.copies, keep: b.keep })),
  replicas: json(async (ops, b) => await ops.replicas(b.target)),
  'name/set': json(async (ops, b) => await ops.nameSet(b.name, b.value)),
  'name/rm': json(async (ops, b) => { await ops.nameRm(b.name) }),
  'name/ls': json(async ops => await ops.nameLs()),
  'name/resolve': json(async (ops, b) => await ops.nameResolve(b.name, { timeout: b.timeout, fresh: b.fresh })),
  'car/export': async (ops, b) => await bytesResponse(ops.carExport(b.path, network(b))),
  'user/id': json(async (ops, b) => await ops.userId(b.site)),
  'user/export-key': json(async (ops, b) => await ops.userExportKey(b.passphrase)),
  'user/import-key': json(async (ops, b) => await ops.userImportKey(b.key, b.passphrase, b.force === true)),
  'user/recovery-phrase': json(async ops => await ops.userRecoveryPhrase()),
  'user/link': json(async (ops, b) => await ops.userLinkIssue(b.addresses !== false)),
  'user/link-accept': json(async (ops, b) => await ops.userLinkAccept(b.code, b.force === true)),
  'user/recover': json(async (ops, b) => await ops.userRecover(b.phrase, b.force === true)),
  'user/sites': json(async ops => await ops.userSites()),
  'user/allow': json(async (ops, b) => await ops.userAllow(b.name, b.allowed)),
  'user/rm': json(async (ops, b) => await ops.userRm(b.site, b.file)),
  'user/list': json(async (ops, b) => await ops.userList(b.site)),
  'user/cat': async (ops, b) => await bytesResponse(ops.userCat(b.site, b.user, b.file)),
  'private/get': async (ops, b) => await bytesResponse(ops.privateGet(b.site, b.path)),
  'private/ls': json(async (ops, b) => await ops.privateLs(b.site)),
  'private/rm': json(async (ops, b) => await ops.privateRm(b.site, b.path)),
  'private/sites': json(async ops => await ops.privateSites()),
  'private/share': json(async (ops, b) => await ops.privateShare(b.site, b.folder, b.to)),
  'private/unshare': json(async (ops, b) => await ops.privateUnshare(b.site, b.folder, b.to)),
  'private/shared': json(async (ops, b) => await ops.privateShared(b.site)),
  'private/shared-ls': json(async (ops, b) => await ops.privateSharedLs(b.site, b.from, b.folder)),
  'private/shared-get': async (ops, b) => await bytesResponse(ops.privateSharedGet(b.site, b.from, b.folder, b.path)),
  'message/ls': json(async (ops, b) => await ops.messageList(b.site))
}

function network (body: { offline?: boolean, timeout?: number }): NetworkOptions {
  return { offline: body.offline, timeout: body.timeout }
}

/** The CAR is the request body itself; `?pin=false` leaves its roots unpinned. */
async function carImport (ops: Operations, request: Request): Promise<Response> {
  const pin = new URL(request.url).searchParams.get('pin') !== 'false'
  if (request.body === null) throw new WeftError('ERR_USAGE', 'car/import needs the CAR as the request body')
  return Response.json(await ops.carImport(request.body as unknown as AsyncIterable<Uint8Array>, pin))
}

/** The file's bytes are the request body, read whole (a contribution is signed over its folder) but never past the ceiling of every site's maxBytes. */
async function userWrite (ops: Operations, request: Request): Promise<Response> {
  const { site, file } = parseUserWriteQuery(new URL(request.url).searchParams)
  const tooLarge = (): WeftError => new WeftError('ERR_CONTRIBUTION_REFUSED', `${file.slice(0, 200)} is over ${MAX_USER_FILE_BYTES} bytes; no site takes a larger file (the ceiling of every site's maxBytes)`)
  if (Number(request.headers.get('content-length') ?? NaN) > MAX_USER_FILE_BYTES) throw tooLarge()
  const chunks: Uint8Array[] = []
  let size = 0
  for await (const chunk of (request.body ?? []) as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength
    if (size > MAX_USER_FILE_BYTES) throw tooLarge()
    chunks.push(chunk)
  }
  return Response.json(await ops.userWrite(site, file, Buffer.concat(chunks)))
}

/** The file's bytes are the request body, read whole (the store seals a file whole), never past MAX_PRIVATE_FILE_BYTES. */
async function privatePut (ops: Operations, request: Request): Promise<Response> {
  const { site, path } = parsePrivatePutQuery(new URL(request.url).searchParams)
  const tooLarge = (): WeftError => new WeftError('ERR_USAGE', `${path.slice(0, 200)} is over ${MAX_PRIVATE_FILE_BYTES} bytes; a private file holds at most that`)
  if (Number(request.headers.get('content-length') ?? NaN) > MAX_PRIVATE_FILE_BYTES) throw tooLarge()
  const chunks: Uint8Array[] = []
  let size = 0
  for await (const chunk of (request.body ?? []) as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength
    if (size > MAX_PRIVATE_FILE_BYTES) throw tooLarge()
    chunks.push(chunk)
  }
  return Response.json(await ops.privatePut(site, path, Buffer.concat(chunks)))
}

/** The message is the request body, never read past what one envelope holds. */
async function messageSend (ops: Operations, request: Request): Promise<Response> {
  const { site, to } = parseMessageSendQuery(new URL(request.url).searchParams)
  const tooLarge = (): WeftError => new WeftError('ERR_MESSAGE_TOO_LARGE', `a message may carry at most ${MAX_MESSAGE_BYTES} bytes`)
  if (Number(request.headers.get('content-length') ?? NaN) > MAX_MESSAGE_BYTES) throw tooLarge()
  const chunks: Uint8Array[] = []
  let size = 0
  for await (const chunk of (request.body ?? []) as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength
    if (size > MAX_MESSAGE_BYTES) throw tooLarge()
    chunks.push(chunk)
  }
  return Response.json(await ops.messageSend(site, to, Buffer.concat(chunks)))
}

async function dispatch<R extends BodyRoute> (route: R, ops: Operations, body: unknown): Promise<Response> {
  const handler: Handler<R> = ROUTES[route]
  return await handler(ops, parseBody(route, body))
}

/** Routes whose body is bytes, not JSON. */
const RAW_ROUTES: Record<string, (ops: Operations, request: Request) => Promise<Response>> = { 'car/import': carImport, 'user/write': userWrite, 'private/put': privatePut, 'message/send': messageSend }

export const API_ROUTES = [...Object.keys(ROUTES), ...Object.keys(RAW_ROUTES)]

/** Throws ERR_API_UNAUTHORIZED unless the request carries `Authorization: Bearer <token>`. */
export function assertAuthorized (request: Request, token: string): void {
  const expected = Buffer.from(`Bearer ${token}`)
  const given = Buffer.from(request.headers.get('authorization') ?? '')
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new WeftError('ERR_API_UNAUTHORIZED', 'missing or wrong API token')
  }
}

/** Where weft's own routes live; `/api/v0/` is kubo's RPC API. */
export const API_PREFIX = '/api/weft/v1/'

export function createApiHandler (ops: Operations, token: string): (request: Request) => Promise<Response> {
  const kubo = createKuboHandler(ops, token)
  return async request => {
    try {
      const url = new URL(request.url)
      if (url.pathname.startsWith(KUBO_PREFIX)) return await kubo(request)
      assertAuthorized(request, token)
      const name = url.pathname.slice(API_PREFIX.length)
      if (request.method !== 'POST' || !url.pathname.startsWith(API_PREFIX) || !(Object.hasOwn(ROUTES, name) || Object.hasOwn(RAW_ROUTES, name))) {
        throw new WeftError('ERR_USAGE', `no such API route: ${request.method} ${url.pathname}`)
      }
      if (Object.hasOwn(RAW_ROUTES, name)) return await RAW_ROUTES[name](ops, request)
      const text = await request.text()
      let body: unknown
      try {
        body = text === '' ? {} : JSON.parse(text)
      } catch {
        throw new WeftError('ERR_USAGE', 'the request body must be JSON')
      }
      return await dispatch(name as BodyRoute, ops, body)
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
/** How long a response whose body failed may take to flush what was written before its socket is cut. */
const FLUSH_BEFORE_CUT_MS = 2000

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
