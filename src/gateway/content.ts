/**
 * Serving what a content path names: a file (Range, ETag, Content-Type, streamed as its
 * blocks verify), a folder (its index.html, or a listing), a path that does not exist
 * (the site's `_redirects`, then its 404.html), or a trustless answer (one block, a CAR).
 */
import * as dagPb from '@ipld/dag-pb'
import type { CID } from 'multiformats/cid'
import { identity } from 'multiformats/hashes/identity'
import { parse as parseRange } from 'range-parser'
import { readFile, resolvePath, type ContentBlockstore } from '../content/index.ts'
import { WeftError, isWeftError } from '../errors.ts'
import { sniffType, typeFromName } from './mime.ts'
import { matchRedirect, parseRedirects, tooLarge, MAX_REDIRECTS_BYTES } from './redirects.ts'
import { streamBody } from '../http/index.ts'
import { contentDisposition, errorResponse, notModified, redirect } from './responses.ts'
import { blockByBlock, prefetching, type RequestStores } from './stores.ts'
import { blockBytes, carParams, carStream, scopeBlocks, type Block, type TrustlessFormat } from './trustless.ts'
import { decodeDagPb, decodeUnixFS } from '../blocks/index.ts'
import { tarEntries, tarStream } from './tar.ts'
import { listingPage } from './listing.ts'
import { DAG_CBOR, dagCborMediaType, notAcceptable, type CodecRequest } from './codecs.ts'

/** A request's content path, resolved to its root, with what its answers carry. */
export interface Target {
  root: CID
  /** Decoded segments below the root. */
  segments: string[]
  /** The URL's path as requested on this host (folders redirect to it plus a slash). */
  urlPath: string
  search: string
  /** `/ipfs/<cid>/…` or `/ipns/<name>/…`, for X-Ipfs-Path. */
  contentPath: string
  cacheControl: string
  /** A site's own origin (subdomain): `_redirects` and 404.html apply. */
  isolated: boolean
  /** Extra headers every answer carries (the path gateway's sandbox). */
  headers: Record<string, string>
  /** Where listings link `/ipfs/…` paths: '' on the path gateway, `//localhost:<port>` from a subdomain origin. */
  pathGateway: string
}

export interface ServeContext {
  stores: RequestStores
  request: Request
  /** The request's fetch budget, made when a fetch first needs it. */
  signal: () => AbortSignal
}

/**
 * A generated listing is HTML weft may change, so it is not immutable even for an `/ipfs/`
 * folder (the path gateway spec's suggestion: a week, then revalidated in the background).
 */
const LISTING_CACHE_CONTROL = 'public, max-age=604800, stale-while-revalidate=2678400'
/** An `/ipfs/` answer: its bytes never change. */
export const IMMUTABLE = 'public, max-age=29030400, immutable'

/** `roots`: the CIDs from the root to the answer's entity (X-Ipfs-Roots, which lets a cache tell what a path pointed at). */
function baseHeaders (target: Target, etag: string, roots: CID[] = []): Headers {
  const headers = new Headers({ ...target.headers, etag, 'cache-control': target.cacheControl, 'x-ipfs-path': target.contentPath })
  if (roots.length > 0) headers.set('x-ipfs-roots', roots.join(','))
  return headers
}

/** `?filename=` names the download; `?download=true` asks for it as an attachment. */
function requestedName (request: Request): { filename?: string, download: boolean } {
  const url = new URL(request.url)
  return { filename: url.searchParams.get('filename') ?? undefined, download: url.searchParams.get('download') === 'true' }
}

/** The one range a request asks for, a 416 answer, or undefined for the whole (no Range, a malformed one, or several ranges: RFC 9110 lets a server ignore them). */
function requestedRange (ctx: ServeContext, target: Target, size: number): { offset: number, length: number, contentRange: string } | Response | undefined {
  const range = ctx.request.headers.get('range')
  if (range === null) return undefined
  const parsed = parseRange(size, range)
  if (parsed.type === 'bytes' && parsed.ranges.length === 0 && (parsed.code & 2) !== 0) {
    const answer = errorResponse(new WeftError('ERR_RANGE_NOT_SATISFIABLE', `${range.slice(0, 80)} is outside the ${size} bytes of ${target.contentPath}`), ctx.request)
    answer.headers.set('content-range', `bytes */${size}`)
    return answer
  }
  if (parsed.code !== 0 || parsed.type !== 'bytes' || parsed.ranges.length !== 1) return undefined
  const only = parsed.ranges[0]
  return { offset: only.start, length: only.end - only.start + 1, contentRange: `bytes ${only.start}-${only.end}/${size}` }
}

/** Resolves the target's path, keeping the blocks read on the way (a CAR proves the path with them). */
async function resolveRecorded (ctx: ServeContext, target: Target, segments: string[]) {
  const store = blockByBlock(ctx.stores, ctx.signal)
  const read: Block[] = []
  const recorder: ContentBlockstore = { ...store, get: async cid => { const bytes = await store.get(cid); read.push({ cid, bytes }); return bytes } }
  const entry = await resolvePath(recorder, target.root, segments)
  return { entry, pathBlocks: read }
}

/** A file or folder as a tar archive (tar.ts), every entry under `<cid>/`. */
export async function serveTar (ctx: ServeContext, target: Target): Promise<Response> {
  const store = blockByBlock(ctx.stores, ctx.signal)
  const entry = await resolvePath(store, target.root, target.segments)
  if (entry.type === 'object') throw new WeftError('ERR_NOT_A_FILE', `${target.contentPath} is ${objectKind(entry.cid)}; a tar holds files and folders`)
  // weak: the archive's bytes are weft's making (another gateway's tar of the same CID may differ)
  const etag = `W/"${entry.cid}.x-tar"`
  const headers = baseHeaders(target, etag, entry.roots)
  if (notModified(ctx.request, etag)) return new Response(null, { status: 304, headers })
  headers.set('content-type', 'application/x-tar')
  headers.set('content-disposition', contentDisposition('attachment', requestedName(ctx.request).filename ?? `${entry.cid}.tar`))
  headers.set('x-content-type-options', 'nosniff')
  if (ctx.request.method === 'HEAD') return new Response(null, { headers })
  const entries = await tarEntries(store, { cid: entry.cid, type: entry.type, size: entry.size }, entry.cid.toString(), { signal: ctx.request.signal })
  return new Response(await streamBody(tarStream(prefetching(ctx.stores, entry.cid, ctx.signal), entries)), { headers })
}

export async function serveTrustless (ctx: ServeContext, target: Target, format: 'raw' | 'car'): Promise<Response> {
  const url = new URL(ctx.request.url)
  const params = format === 'car' ? carParams(url, ctx.request.headers.get('accept')) : undefined
  const { entry, pathBlocks } = await resolveRecorded(ctx, target, target.segments)
  const cid = entry.cid
  const { filename } = requestedName(ctx.request)
  if (format === 'raw') {
    const etag = `"${cid}.raw"`
    const headers = baseHeaders(target, etag, entry.roots)
    if (notModified(ctx.request, etag)) return new Response(null, { status: 304, headers })
    const bytes = await blockBytes(blockByBlock(ctx.stores, ctx.signal), cid)
    return blockDownload(ctx, target, headers, bytes, 'application/vnd.ipld.raw', filename ?? `${cid}.bin`)
  }
  const p = params as NonNullable<typeof params>
  const dups = p.dups ? 'y' : 'n'
  const etag = `"${cid}.car.${p.scope}.dfs.${dups}${p.from === undefined ? '' : `.${p.from}-${p.to ?? '*'}`}"`
  const headers = baseHeaders(target, etag, entry.roots)
  if (notModified(ctx.request, etag)) return new Response(null, { status: 304, headers })
  headers.set('content-type', `application/vnd.ipld.car; version=1; order=dfs; dups=${dups}`)
  headers.set('content-disposition', contentDisposition('attachment', filename ?? `${cid}.car`))
  headers.set('x-content-type-options', 'nosniff')
  // a CAR is made as it streams: no length is known, and a range of it means nothing to resume with
  headers.set('accept-ranges', 'none')
  if (ctx.request.method === 'HEAD') return new Response(null, { headers })
  const store = p.scope === 'all' && cid.multihash.code !== identity.code ? prefetching(ctx.stores, cid, ctx.signal) : blockByBlock(ctx.stores, ctx.signal)
  return new Response(await streamBody(carStream(target.root, pathBlocks, scopeBlocks(store, cid, p), { dups: p.dups })), { headers })
}

/** Serves the target: a file, a folder's index.html or listing, or the site's answer for a missing path. */
export async function serveContent (ctx: ServeContext, target: Target): Promise<Response> {
  const store = blockByBlock(ctx.stores, ctx.signal)
  let entry
  try {
    entry = await resolvePath(store, target.root, target.segments)
  } catch (err) {
    if (!isWeftError(err, 'ERR_DAG_PATH_NOT_FOUND') || !target.isolated) throw err
    return await missing(ctx, target, err)
  }
  if (entry.type === 'directory') {
    if (!target.urlPath.endsWith('/')) return redirect(`${target.urlPath}/${target.search}`)
    try {
      const index = await resolvePath(store, target.root, [...target.segments, 'index.html'])
      // the answer is the folder's: its CID is the ETag, and a client holding it gets a 304
      if (index.type === 'file') return await serveFile(ctx, target, index.cid, index.size, 'index.html', 200, { etag: entry.cid, roots: entry.roots })
    } catch (err) {
      if (!isWeftError(err, 'ERR_DAG_PATH_NOT_FOUND')) throw err
    }
    return await listing(ctx, target, entry.cid, entry.roots)
  }
  if (entry.type === 'object') {
    if (entry.cid.code === DAG_CBOR) return await serveDagCbor(ctx, target, entry, dagCborMediaType(entry.cid, undefined))
    const link = await symlinkTarget(store, entry.cid)
    if (link !== undefined) {
      // its target as text, not followed: a link out of the DAG would name a different thing on every gateway
      const headers = baseHeaders(target, `"${entry.cid}"`, entry.roots)
      if (notModified(ctx.request, `"${entry.cid}"`)) return new Response(null, { status: 304, headers })
      headers.set('content-type', 'text/plain; charset=utf-8')
      headers.set('x-content-type-options', 'nosniff')
      headers.set('content-length', String(link.byteLength))
      return new Response(ctx.request.method === 'HEAD' ? null : link as Uint8Array<ArrayBuffer>, { headers })
    }
    throw new WeftError('ERR_NOT_A_FILE', `${target.contentPath} is ${objectKind(entry.cid)}; ask for ?format=raw or ?format=car`)
  }
  return await serveFile(ctx, target, entry.cid, entry.size, target.segments.at(-1) ?? '', 200, { roots: entry.roots })
}

/** The largest file `?format=json` checks is JSON before answering it as such. */
const MAX_JSON_CHECK = 1024 * 1024

/** A block asked for by codec (codecs.ts): a dag-cbor block as it is; a UnixFS file as itself unless a codec was demanded. */
export async function serveCodec (ctx: ServeContext, target: Target, codec: CodecRequest): Promise<Response> {
  const entry = await resolvePath(blockByBlock(ctx.stores, ctx.signal), target.root, target.segments)
  if (entry.cid.code === DAG_CBOR) return await serveDagCbor(ctx, target, entry, dagCborMediaType(entry.cid, codec))
  if (!codec.explicit) return await serveContent(ctx, target)
  // ?format=json of a file that holds JSON (a raw block of JSON bytes, as the spec's tests ask): the bytes, as application/json
  if (codec.format === 'json' && entry.type === 'file' && entry.size <= MAX_JSON_CHECK) {
    const chunks: Uint8Array[] = []
    for await (const chunk of readFile(blockByBlock(ctx.stores, ctx.signal), entry.cid)) chunks.push(chunk)
    const bytes = Buffer.concat(chunks)
    try {
      JSON.parse(bytes.toString('utf8'))
    } catch {
      throw notAcceptable(entry.cid, 'json')
    }
    const headers = baseHeaders(target, `"${entry.cid}.json"`, entry.roots)
    if (notModified(ctx.request, `"${entry.cid}.json"`)) return new Response(null, { status: 304, headers })
    headers.set('content-type', 'application/json')
    headers.set('content-length', String(bytes.byteLength))
    return new Response(ctx.request.method === 'HEAD' ? null : bytes, { headers })
  }
  throw notAcceptable(entry.cid, codec.format)
}

/** A dag-cbor block as it is stored, as `mediaType`; a download (`attachment`), as the spec has CBOR. */
async function serveDagCbor (ctx: ServeContext, target: Target, entry: { cid: CID, roots: CID[] }, mediaType: string): Promise<Response> {
  const etag = `"${entry.cid}.${mediaType === 'application/cbor' ? 'cbor' : 'dag-cbor'}"`
  const headers = baseHeaders(target, etag, entry.roots)
  if (notModified(ctx.request, etag)) return new Response(null, { status: 304, headers })
  const bytes = await blockByBlock(ctx.stores, ctx.signal).get(entry.cid)
  return blockDownload(ctx, target, headers, bytes, mediaType, requestedName(ctx.request).filename ?? `${entry.cid}.cbor`)
}

/** One block's bytes as a download of `mediaType`, whole or the requested range of it. */
function blockDownload (ctx: ServeContext, target: Target, headers: Headers, bytes: Uint8Array, mediaType: string, filename: string): Response {
  headers.set('content-type', mediaType)
  headers.set('content-disposition', contentDisposition('attachment', filename))
  headers.set('x-content-type-options', 'nosniff')
  headers.set('accept-ranges', 'bytes')
  const range = requestedRange(ctx, target, bytes.byteLength)
  if (range instanceof Response) return range
  const body = range === undefined ? bytes : bytes.subarray(range.offset, range.offset + range.length)
  headers.set('content-length', String(body.byteLength))
  if (range !== undefined) headers.set('content-range', range.contentRange)
  return new Response(ctx.request.method === 'HEAD' ? null : body as Uint8Array<ArrayBuffer>, { status: range === undefined ? 200 : 206, headers })
}

/** What a path that is neither file nor folder names, for a person. */
function objectKind (cid: CID): string {
  if (cid.code === 0x71) return 'a dag-cbor object'
  if (cid.code === dagPb.code) return 'a UnixFS node that is neither file, folder nor symlink'
  return `a block of codec 0x${cid.code.toString(16)}`
}

/** A UnixFS symlink's target bytes, or undefined for anything else. */
async function symlinkTarget (store: ContentBlockstore, cid: CID): Promise<Uint8Array | undefined> {
  if (cid.code !== dagPb.code) return undefined
  const node = decodeDagPb(cid, await store.get(cid))
  if (node.Data === undefined) return undefined
  const unixfs = decodeUnixFS(cid, node.Data)
  return unixfs.type === 'symlink' ? unixfs.data ?? new Uint8Array() : undefined
}

/** A path the site does not have: its `_redirects` decide, then its 404.html, then a plain 404. */
async function missing (ctx: ServeContext, target: Target, notFound: WeftError): Promise<Response> {
  const store = blockByBlock(ctx.stores, ctx.signal)
  const file = async (segments: string[]) => {
    try {
      const e = await resolvePath(store, target.root, segments)
      return e.type === 'file' ? e : undefined
    } catch (err) {
      if (isWeftError(err, 'ERR_DAG_PATH_NOT_FOUND')) return undefined
      throw err
    }
  }
  const rulesFile = await file(['_redirects'])
  if (rulesFile !== undefined) {
    if (Number(rulesFile.size) > MAX_REDIRECTS_BYTES) throw tooLarge()
    const chunks: Uint8Array[] = []
    for await (const chunk of readFile(store, rulesFile.cid)) chunks.push(chunk)
    const match = matchRedirect(parseRedirects(Buffer.concat(chunks).toString('utf8')), '/' + target.segments.join('/'))
    if (match !== undefined) {
      if (match.status >= 300 && match.status < 400) return redirect(match.to, match.status)
      const to = new URL(match.to, 'http://site.invalid')
      if (to.host !== 'site.invalid') return redirect(match.to, 302)
      const segments = to.pathname.split('/').filter(s => s !== '').map(s => {
        try {
          return decodeURIComponent(s)
        } catch {
          throw new WeftError('ERR_REDIRECTS_INVALID', `_redirects sends ${'/' + target.segments.join('/')} to ${JSON.stringify(match.to.slice(0, 80))}, whose path is not valid percent-encoding`)
        }
      })
      const page = await file(segments)
      if (page === undefined) throw new WeftError('ERR_DAG_PATH_NOT_FOUND', `_redirects sends ${'/' + target.segments.join('/')} to ${match.to}, which the site does not have`)
      // the answer for a path of an /ipfs/ CID never changes, whatever its status: it is cached as the CID's other answers (the web redirects file spec's tests)
      return await serveFile(ctx, target, page.cid, page.size, segments.at(-1) ?? '', match.status)
    }
  }
  const page = await file(['404.html'])
  if (page === undefined) throw notFound
  return await serveFile(ctx, target, page.cid, page.size, '404.html', 404)
}

/**
 * The first block of the file's bytes [offset, offset + length) the local store lacks (interior
 * nodes are read, leaves only looked up), or undefined: with no network to fetch from, a missing
 * block is known before the status is sent, and answered as one (504), not as a body cut short.
 */
async function firstMissingBlock (blocks: ContentBlockstore, cid: CID, offset: number, length: number): Promise<CID | undefined> {
  const walk = async (c: CID, at: number): Promise<CID | undefined> => {
    if (c.multihash.code === identity.code) return undefined
    if (!blocks.has(c)) return c
    if (c.code !== dagPb.code) return undefined
    const bytes = await blocks.get(c)
    const node = decodeDagPb(c, bytes)
    if (node.Links.length === 0 || node.Data === undefined) return undefined
    const unixfs = decodeUnixFS(c, node.Data)
    let position = at + (unixfs.data?.byteLength ?? 0)
    for (let i = 0; i < node.Links.length && position < offset + length; i++) {
      const size = Number(unixfs.blockSizes[i] ?? 0n)
      if (position + size > offset) {
        const missing = await walk(node.Links[i].Hash, position)
        if (missing !== undefined) return missing
      }
      position += size
    }
    return undefined
  }
  return await walk(cid, 0)
}

/** The first block's bytes of a file, to sniff its type from (4 KiB of a file chunked small would need blocks a range does not). */
async function firstBlock (store: ContentBlockstore, cid: CID): Promise<Uint8Array> {
  const source = readFile(store, cid, { length: SNIFF_BYTES })
  try {
    const first = await source.next()
    return first.done === true ? new Uint8Array() : first.value
  } finally {
    await source.return(undefined)
  }
}

const SNIFF_BYTES = 4100

interface FileAnswer {
  /** The CID whose ETag the answer carries (a folder's, for its index.html); the file's by default. */
  etag?: CID
  roots?: CID[]
}

async function serveFile (ctx: ServeContext, target: Target, cid: CID, size: number, name: string, status: number, answer: FileAnswer = {}): Promise<Response> {
  const etag = `"${answer.etag ?? cid}"`
  const headers = baseHeaders(target, etag, answer.roots)
  if (status === 200 && notModified(ctx.request, etag)) return new Response(null, { status: 304, headers })
  headers.set('accept-ranges', 'bytes')
  const { filename, download } = requestedName(ctx.request)
  if (filename !== undefined || download) headers.set('content-disposition', contentDisposition(download ? 'attachment' : 'inline', filename ?? name))
  let offset = 0
  let length = size
  if (status === 200) {
    const range = requestedRange(ctx, target, size)
    if (range instanceof Response) return range
    if (range !== undefined) {
      ;({ offset, length } = range)
      status = 206
      headers.set('content-range', range.contentRange)
    }
  }
  const head = ctx.request.method === 'HEAD'
  if (ctx.stores.fetches === undefined && !head) {
    const missing = await firstMissingBlock(ctx.stores.blocks, cid, offset, length)
    if (missing !== undefined) throw new WeftError('ERR_BLOCK_NOT_FOUND', `${missing}, a block of ${target.contentPath}, is not held here`)
  }
  // a whole file comes in one fetch, many blocks at once; a range asks for the blocks it needs
  const store = status === 206 ? blockByBlock(ctx.stores, ctx.signal) : prefetching(ctx.stores, cid, ctx.signal)
  let type = typeFromName(name) ?? (filename === undefined ? undefined : typeFromName(filename))
  let source: AsyncGenerator<Uint8Array> | undefined
  let first: IteratorResult<Uint8Array> | undefined
  if (type === undefined) {
    if (status !== 206 && !head) {
      source = exactly(readFile(store, cid, { offset, length }), length, cid)
      first = await source.next()
      type = await sniffType(first.done === true ? new Uint8Array() : first.value)
    } else {
      type = await sniffType(await firstBlock(blockByBlock(ctx.stores, ctx.signal), cid))
    }
  }
  headers.set('content-type', type)
  headers.set('content-length', String(length))
  if (head || length === 0) {
    await source?.return(undefined)
    return new Response(null, { status, headers })
  }
  source ??= exactly(readFile(store, cid, { offset, length }), length, cid)
  return new Response(await streamBody(source, first), { status, headers })
}

/** The bytes the headers promised, or a failure that cuts the response (a DAG whose sizes lie). */
async function * exactly (source: AsyncGenerator<Uint8Array>, length: number, cid: CID): AsyncGenerator<Uint8Array> {
  let sent = 0
  for await (const chunk of source) {
    sent += chunk.byteLength
    yield chunk
  }
  if (sent !== length) throw new WeftError('ERR_NOT_A_FILE', `${cid} gave ${sent} bytes where its DAG says ${length}`)
}

/** A folder without index.html: its entries as links, with sizes and CIDs (listing.ts). */
async function listing (ctx: ServeContext, target: Target, cid: CID, roots: CID[]): Promise<Response> {
  const etag = `"DirIndex-weft1_CID-${cid}"`
  const headers = baseHeaders(target, etag, roots)
  if (target.cacheControl === IMMUTABLE) headers.set('cache-control', LISTING_CACHE_CONTROL)
  if (notModified(ctx.request, etag)) return new Response(null, { status: 304, headers })
  headers.set('content-type', 'text/html; charset=utf-8')
  if (ctx.request.method === 'HEAD') return new Response(null, { headers })
  return new Response(await listingPage(blockByBlock(ctx.stores, ctx.signal), cid, { urlPath: target.urlPath, contentPath: target.contentPath, pathGateway: target.pathGateway }), { headers })
}
