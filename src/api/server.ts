/**
 * The control API: `POST /api/weft/v1/<command>` on 127.0.0.1, with
 * `Authorization: Bearer <$WEFT_HOME/api.token>`. docs/api.md lists every route. The
 * same port answers kubo's RPC API under `/api/v0/` (./kubo/), behind the same token, so
 * IPFS tools (kubo-rpc-client, ipfs-webui) can drive a weft node. The handler is a
 * function from Request to Response; src/http/ serves it.
 */
import { WeftError, errorToStatus, toWeftError } from '../errors.ts'
import { assertAuthorized, progressResponse, readBody, readJson, streamBody, type Handler } from '../http/index.ts'
import { MAX_MESSAGE_BYTES, MAX_PRIVATE_FILE_BYTES, MAX_USER_FILE_BYTES, type NetworkOptions, type Operations } from './operations.ts'
import { createKuboHandler, KUBO_PREFIX } from './kubo/index.ts'
import { createPinningHandler, isPinningPath } from '../storage/pinning/http.ts'
import { parseBody, parseMessageSendQuery, parsePrivatePutQuery, parseUserWriteQuery, type BodyOf, type BodyRoute } from './bodies.ts'

/** A failure as the API answers it: `{ code, message }` with the code's HTTP status. */
export function errorResponse (err: unknown): Response {
  const e = toWeftError(err)
  return Response.json({ code: e.code, message: e.message }, { status: errorToStatus(e) })
}

async function bytesResponse (source: AsyncGenerator<Uint8Array>): Promise<Response> {
  return new Response(await streamBody(source), { headers: { 'content-type': 'application/octet-stream' } })
}

type RouteHandler<R extends BodyRoute> = (ops: Operations, body: BodyOf<R>) => Promise<Response>

const json = <R extends BodyRoute>(fn: (ops: Operations, body: BodyOf<R>) => Promise<unknown>): RouteHandler<R> => async (ops, body) => Response.json(await fn(ops, body) ?? null)

/** Every route with a JSON body, which parseBody has checked against its schema (bodies.ts) before the route runs. */
const ROUTES: { [R in BodyRoute]: RouteHandler<R> } = {
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
  return Response.json(await ops.userWrite(site, file, await readBody(request, MAX_USER_FILE_BYTES, tooLarge)))
}

/** The file's bytes are the request body, read whole (the store seals a file whole), never past MAX_PRIVATE_FILE_BYTES. */
async function privatePut (ops: Operations, request: Request): Promise<Response> {
  const { site, path } = parsePrivatePutQuery(new URL(request.url).searchParams)
  const tooLarge = (): WeftError => new WeftError('ERR_USAGE', `${path.slice(0, 200)} is over ${MAX_PRIVATE_FILE_BYTES} bytes; a private file holds at most that`)
  return Response.json(await ops.privatePut(site, path, await readBody(request, MAX_PRIVATE_FILE_BYTES, tooLarge)))
}

/** The message is the request body, never read past what one envelope holds. */
async function messageSend (ops: Operations, request: Request): Promise<Response> {
  const { site, to } = parseMessageSendQuery(new URL(request.url).searchParams)
  const tooLarge = (): WeftError => new WeftError('ERR_MESSAGE_TOO_LARGE', `a message may carry at most ${MAX_MESSAGE_BYTES} bytes`)
  return Response.json(await ops.messageSend(site, to, await readBody(request, MAX_MESSAGE_BYTES, tooLarge)))
}

async function dispatch<R extends BodyRoute> (route: R, ops: Operations, body: unknown): Promise<Response> {
  const handler: RouteHandler<R> = ROUTES[route]
  return await handler(ops, parseBody(route, body))
}

/** Routes whose body is bytes, not JSON. */
const RAW_ROUTES: Record<string, (ops: Operations, request: Request) => Promise<Response>> = { 'car/import': carImport, 'user/write': userWrite, 'private/put': privatePut, 'message/send': messageSend }

export const API_ROUTES = [...Object.keys(ROUTES), ...Object.keys(RAW_ROUTES)]

/** Where weft's own routes live; `/api/v0/` is kubo's RPC API. */
export const API_PREFIX = '/api/weft/v1/'

export function createApiHandler (ops: Operations, token: string): Handler {
  const kubo = createKuboHandler(ops, token)
  // the IPFS Pinning Service API, behind the same token, with the spec's Failure bodies
  const pinning = createPinningHandler({ service: ops.node.pinning, authorize: request => { assertAuthorized(request, token) } })
  return async request => {
    try {
      const url = new URL(request.url)
      if (url.pathname.startsWith(KUBO_PREFIX)) return await kubo(request)
      if (isPinningPath(url.pathname)) return await pinning(request)
      assertAuthorized(request, token)
      const name = url.pathname.slice(API_PREFIX.length)
      if (request.method !== 'POST' || !url.pathname.startsWith(API_PREFIX) || !(Object.hasOwn(ROUTES, name) || Object.hasOwn(RAW_ROUTES, name))) {
        throw new WeftError('ERR_USAGE', `no such API route: ${request.method} ${url.pathname}`)
      }
      if (Object.hasOwn(RAW_ROUTES, name)) return await RAW_ROUTES[name](ops, request)
      return await dispatch(name as BodyRoute, ops, await readJson(request))
    } catch (err) {
      return errorResponse(err)
    }
  }
}
