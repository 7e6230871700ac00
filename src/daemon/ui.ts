/**
 * The web UI, served on the gateway's UI origin (`127.0.0.1:<port>` or `[::1]:<port>`).
 * That origin holds nothing but the UI: sites are always served from their own
 * `<id>.ipfs|ipns.localhost` origins, so no site's script can read the page or its token.
 *
 * - `GET /`, `GET /ui/<file>`: the page and its assets (src/daemon/ui/), under a strict CSP.
 * - `/api/weft/v1/<route>`: the control API (bearer token), refused when the request comes from
 *   another web origin or uses a method other than POST or PUT; never any CORS header.
 * - `PUT /api/weft/v1/ui/upload?id=<id>&path=<relative path>`: one file of a folder the browser
 *   publishes, streamed to `<tmpDir>/upload-<id>/<path>`.
 * - `POST /api/weft/v1/ui/publish` `{ "upload": id, "site": label }`: publishes that folder (a
 *   progress answer, as the API's `publish`), then removes it, whether it worked or not.
 *
 * A request's Origin is compared with its Host header (else the host of request.url).
 */
import { createWriteStream } from 'node:fs'
import { mkdir, readFile, readdir, rename, rm, stat } from 'node:fs/promises'
import { dirname, join, sep } from 'node:path'
import { randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { WeftError } from '../errors.ts'
import { createApiHandler, errorResponse, type Operations } from '../api/index.ts'
import { assertAuthorized, progressResponse } from '../http/index.ts'

export interface UiComponents {
  ops: Operations
  /** The control API token: every API call from the page carries it. */
  token: string
  /** Where uploads in progress are kept (created as needed), e.g. `$WEFT_HOME/tmp`. */
  tmpDir: string
}

const ASSET_TYPES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'addresses.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8'
}
const ASSET_DIR = new URL('./ui/', import.meta.url)

const CSP = "default-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
const PAGE_HEADERS = {
  'content-security-policy': CSP,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache'
}

const UPLOAD_ID = /^[a-z0-9-]{8,64}$/
/** Upload folders older than this are left over from a page that went away. */
const STALE_UPLOAD_MS = 60 * 60 * 1000
const MAX_UPLOAD_PATH = 4096

function uploadId (value: unknown): string {
  if (typeof value !== 'string' || !UPLOAD_ID.test(value)) throw new WeftError('ERR_USAGE', 'the upload id must be 8 to 64 characters of a-z, 0-9 and -')
  return value
}

/** A relative path of plain names: no `.`, `..`, empty segment, leading `/`, backslash or NUL. */
function uploadPath (value: string | null): string[] {
  if (value === null || value === '') throw new WeftError('ERR_USAGE', 'the upload needs ?path=<relative path>')
  if (value.length > MAX_UPLOAD_PATH || value.includes('\\') || value.includes('\0')) throw new WeftError('ERR_USAGE', 'the upload path has a backslash, a NUL or is too long')
  const segments = value.split('/')
  if (segments.some(s => s === '' || s === '.' || s === '..')) throw new WeftError('ERR_USAGE', `the upload path "${value.slice(0, 200)}" is not a plain relative path`)
  return segments
}

/**
 * Same origin only: a page elsewhere must not drive the API, even through a browser that
 * holds no token. The origin is the Host the browser asked for (the gateway has already
 * checked it is the UI's), since a server adapter may build request.url from its bind address.
 */
function assertSameOrigin (request: Request, url: URL): void {
  const origin = request.headers.get('origin')
  const own = `${url.protocol}//${request.headers.get('host') ?? url.host}`
  if (origin !== null && origin.toLowerCase() !== own.toLowerCase()) throw new WeftError('ERR_API_FORBIDDEN', `requests from ${origin.slice(0, 200)} are not allowed`)
  const site = request.headers.get('sec-fetch-site')
  if (site !== null && site !== 'same-origin' && site !== 'none') throw new WeftError('ERR_API_FORBIDDEN', `${site} requests are not allowed`)
  if (request.method !== 'POST' && request.method !== 'PUT') throw new WeftError('ERR_API_FORBIDDEN', `the API takes POST (and PUT for uploads), not ${request.method}`)
}

/** Files that fail because the path clashes with what is already uploaded (a file where a folder is). */
const CLASH = new Set(['EEXIST', 'ENOTDIR', 'EISDIR'])

async function receiveFile (request: Request, tmpDir: string): Promise<Response> {
  const url = new URL(request.url)
  const id = uploadId(url.searchParams.get('id'))
  const segments = uploadPath(url.searchParams.get('path'))
  const folder = join(tmpDir, `upload-${id}`)
  const target = join(folder, ...segments)
  if (!target.startsWith(folder + sep)) throw new WeftError('ERR_USAGE', 'the upload path leaves the upload folder')
  // Written beside the folder, then renamed in: a cut upload never leaves half a file to publish.
  const partial = join(tmpDir, `partial-${randomBytes(8).toString('hex')}`)
  try {
    await mkdir(dirname(target), { recursive: true, mode: 0o700 })
    const source = request.body === null ? Readable.from([]) : Readable.fromWeb(request.body as import('node:stream/web').ReadableStream<Uint8Array>)
    await pipeline(source, createWriteStream(partial, { flags: 'wx', mode: 0o600 }))
    await rename(partial, target)
  } catch (err) {
    await rm(partial, { force: true })
    if (CLASH.has((err as NodeJS.ErrnoException).code ?? '')) throw new WeftError('ERR_USAGE', `"${segments.join('/')}" clashes with a file or folder already uploaded`)
    throw err
  }
  return Response.json({ path: segments.join('/'), bytes: (await stat(target)).size })
}

async function publishUpload (request: Request, ops: Operations, tmpDir: string): Promise<Response> {
  let body: Record<string, unknown>
  try {
    const text = await request.text()
    body = text === '' ? {} : JSON.parse(text)
  } catch {
    throw new WeftError('ERR_USAGE', 'the request body must be JSON')
  }
  const folder = join(tmpDir, `upload-${uploadId(body.upload)}`)
  let site: string
  try {
    if (typeof body.site !== 'string') throw new WeftError('ERR_USAGE', '"site" must be a string')
    site = body.site
    const found = await stat(folder).catch(() => undefined)
    if (found?.isDirectory() !== true) throw new WeftError('ERR_PATH_NOT_FOUND', `no upload "${body.upload as string}": upload the files first`)
  } catch (err) {
    await rm(folder, { recursive: true, force: true })
    throw err
  }
  return progressResponse(async onProgress => {
    try {
      return await ops.publish(folder, { site }, onProgress)
    } finally {
      await rm(folder, { recursive: true, force: true })
    }
  })
}

/** Removes upload folders (and cut files) older than an hour: what a closed page left behind. */
async function removeStaleUploads (tmpDir: string): Promise<void> {
  const entries = await readdir(tmpDir).catch(() => [])
  const cutoff = Date.now() - STALE_UPLOAD_MS
  await Promise.all(entries.filter(name => /^(upload|partial)-/.test(name)).map(async name => {
    const path = join(tmpDir, name)
    const info = await stat(path).catch(() => undefined)
    if (info !== undefined && info.mtimeMs < cutoff) await rm(path, { recursive: true, force: true })
  }))
}

function notFound (): Response {
  return new Response('not found\n', { status: 404, headers: { ...PAGE_HEADERS, 'content-type': 'text/plain; charset=utf-8' } })
}

async function serveAsset (request: Request, path: string): Promise<Response> {
  const name = path === '/' ? 'index.html' : path.startsWith('/ui/') ? path.slice('/ui/'.length) : undefined
  const type = name !== undefined && Object.hasOwn(ASSET_TYPES, name) ? ASSET_TYPES[name] : undefined
  if (name === undefined || type === undefined) return notFound()
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    return new Response('method not allowed\n', { status: 405, headers: { ...PAGE_HEADERS, allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' } })
  }
  const bytes = await readFile(new URL(name, ASSET_DIR))
  return new Response(request.method === 'HEAD' ? null : bytes, {
    headers: { ...PAGE_HEADERS, 'content-type': type, 'content-length': String(bytes.byteLength) }
  })
}

/** The UI origin's handler: the page, its assets, the control API and the upload routes. */
export function createUi (components: UiComponents): (request: Request) => Promise<Response> {
  const { ops, token, tmpDir } = components
  const api = createApiHandler(ops, token)
  // Done before the first request is answered, so a new upload never races the sweep.
  const swept = removeStaleUploads(tmpDir).catch(() => {})
  return async request => {
    const url = new URL(request.url)
    if (!url.pathname.startsWith('/api/')) {
      try {
        return await serveAsset(request, url.pathname)
      } catch (err) {
        return errorResponse(err)
      }
    }
    try {
      assertSameOrigin(request, url)
      await swept
      if (url.pathname === '/api/weft/v1/ui/upload' || url.pathname === '/api/weft/v1/ui/publish') {
        assertAuthorized(request, token)
        await mkdir(tmpDir, { recursive: true, mode: 0o700 })
        if (url.pathname === '/api/weft/v1/ui/upload') {
          if (request.method !== 'PUT') throw new WeftError('ERR_USAGE', 'ui/upload takes PUT with the file as the body')
          return await receiveFile(request, tmpDir)
        }
        if (request.method !== 'POST') throw new WeftError('ERR_USAGE', 'ui/publish takes POST')
        return await publishUpload(request, ops, tmpDir)
      }
    } catch (err) {
      return errorResponse(err)
    }
    return await api(request)
  }
}
