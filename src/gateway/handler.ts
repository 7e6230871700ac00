/**
 * The gateway as a function from Request to Response. The Host decides what is served:
 *
 * - `<cid>.ipfs.localhost:<port>/<path>`, `<name>.ipns.localhost:<port>/<path>`: one site
 *   on its own origin (the subdomain gateway), with `_redirects` and 404.html;
 * - `localhost:<port>/ipfs/<cid>/<path>` (and `/ipns/`): 301 to the subdomain form;
 * - `127.0.0.1:<port>` (or `[::1]`): the web UI's origin. `/ipfs/` and `/ipns/` paths are
 *   the path gateway: trustless answers and non-browser clients are served in place (with
 *   a CSP sandbox, so nothing a site holds can run as the UI), and a browser's navigation
 *   is sent to the subdomain form. Everything else goes to the UI.
 *
 * On a weft site's origin the node itself answers two prefixes no site can publish: `/users/`
 * (accepted contributions: a JSON listing, and each user's files, verified like any content)
 * and `/.weft/` (the site API, site-api.ts). The API answers only on the site's key origin
 * (`<k51…>.ipns.localhost`): a name's origin (DNSLink, ENS, petname) is resolved again on each
 * request, so a name that first served an attacker's page and then points at another site
 * would hand that page the person's id there and their signature; it gets 403 (client.js
 * aside). A weft site is a key name (k51…) or a name that points at one; any other origin
 * (`/ipfs/`, a name pointing at `/ipfs/`) serves its own `users/` and `.weft/` like any path.
 * On the UI origin, `/allow` is the confirmation page that lets a site write as the user
 * (consent.ts).
 *
 * Any other Host is refused, which keeps DNS rebinding away from the UI.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { base36 } from 'multiformats/bases/base36'
import { CID } from 'multiformats/cid'
import { catBytes, parseContentPath, resolvePath } from '../content/index.ts'
import { WeftError, isWeftError } from '../errors.ts'
import { parseHost, subdomainCid, subdomainName, subdomainUrl, nameOfLabel, type GatewayHost, type Namespace } from './hosts.ts'
import { IMMUTABLE, serveCodec, serveContent, serveTar, serveTrustless, type Target } from './content.ts'
import { requestedCodec, type CodecRequest } from './codecs.ts'
import { contentDisposition, errorResponse, redirect } from './responses.ts'
import { SharedFetches, blockByBlock, type StoreComponents } from './stores.ts'
import { requestedFormat, type TrustlessFormat } from './trustless.ts'
import { assertSameOrigin, contributionJson, createSiteApi, siteApiError, type SiteApiInit, type SiteApiUsers, type SiteContext, type SiteVersion } from './site-api.ts'
import type { SiteApiPrivate } from './site-api-private.ts'
import type { SiteApiShares } from './site-api-shared.ts'
import { createConsent, type ConsentInit } from './consent.ts'
import type { SiteApiMessages } from './site-api-messages.ts'
import { isKeyName } from '../naming/index.ts'
import { parseSiteName } from '../sites/index.ts'

/** The longest request URL served (414 beyond). */
export const MAX_URL_LENGTH = 8 * 1024
/** weft.json is metadata: a page of it is plenty (as sites' info reads it). */
const MAX_SITE_JSON = 64 * 1024
/** A contributed file runs nothing on the site's origin: a user's HTML or SVG must not act as the site (and write as its visitors). */
const CONTRIBUTION_CSP = 'sandbox'

export interface ResolvedName {
  /** `/ipfs/<root>[/path]`. */
  value: string
  /** ms the answer may be cached. */
  ttl: number
  /** The site version answered (X-Weft-Sequence). */
  sequence?: bigint
  /** The newest version known, when an older one held whole is answered while it is fetched (X-Weft-Newest-Sequence). */
  newest?: bigint
  /** When a human-readable name was resolved: its resolver (X-Weft-Name-Resolver) and whether it was proven (X-Weft-Name-Proven). */
  named?: { resolver: string, proven: boolean }
}

export interface GatewayComponents extends StoreComponents {
  /** An IPNS name (or, with naming, a DNS name) → its current value. */
  resolveName: (name: string, options: { signal: AbortSignal }) => Promise<ResolvedName>
  /** The signed record held for a name, after resolveName. */
  record: (name: string) => Uint8Array | undefined
  /** The web UI, for the UI origin's own paths. */
  ui?: (request: Request) => Promise<Response>
  /** Contributions, the site database and consent (src/users/); absent: `/users/` is empty and the API cannot write. */
  users?: SiteApiUsers
  /** The person's private store, for `/.weft/private/` (needs `users` for consent). */
  private?: SiteApiPrivate
  /** Sharing the person's private folders with the site's other users, for `/.weft/shared/` and `/.weft/sharing/` (needs `users` for consent). */
  shares?: SiteApiShares
  /** Sealed messages between the site's users (src/private/); absent: the messages routes answer ERR_OFFLINE. */
  messages?: SiteApiMessages
  /** New versions of sites, for the site API's `version` events; returns the unsubscribe. */
  onVersion?: (fn: (version: SiteVersion) => void) => () => void
  /** A DNS name → the k51… site it points at (undefined: not a site); key names need no lookup. */
  siteName?: (name: string, options: { signal: AbortSignal }) => Promise<string | undefined>
}

export interface GatewayInit {
  /** ms one request may spend fetching from the network (default 2 min). */
  fetchTimeout?: number
  siteApi?: SiteApiInit
  consent?: ConsentInit
}

export type GatewayHandler = (request: Request) => Promise<Response>

/** Decoded path segments; `.`/`..` (in any encoding) and encoded slashes are refused, not resolved. */
export function pathSegments (pathname: string): string[] {
  return pathname.split('/').filter(s => s !== '').map(raw => {
    let s: string
    try {
      s = decodeURIComponent(raw)
    } catch {
      throw new WeftError('ERR_INVALID_PATH', `"${raw.slice(0, 80)}" is not a valid URL path segment`)
    }
    if (s === '.' || s === '..' || s.includes('/') || s.includes('\\') || s.includes('\0')) {
      throw new WeftError('ERR_INVALID_PATH', `the path segment "${raw.slice(0, 80)}" is not allowed`)
    }
    return s
  })
}

/** Browsers say what they are doing (Sec-Fetch-Mode); older ones ask for HTML when they navigate. */
function isBrowserNavigation (request: Request): boolean {
  const mode = request.headers.get('sec-fetch-mode')
  if (mode !== null) return mode === 'navigate' || request.headers.get('sec-fetch-dest') === 'iframe'
  return (request.headers.get('accept') ?? '').includes('text/html')
}

/**
 * Content is public and verifiable, so any page may read it (the path gateway spec's CORS
 * headers); the site API, the UI and the consent page answer for themselves and get none.
 */
const CORS_HEADERS: Record<string, string> = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET, HEAD, OPTIONS',
  'access-control-allow-headers': 'Content-Type, Range, User-Agent, X-Requested-With',
  'access-control-expose-headers': 'Content-Range, Content-Length, X-Ipfs-Path, X-Ipfs-Roots, X-Chunked-Output, X-Stream-Output'
}

function withCors (response: Response): Response {
  for (const [name, value] of Object.entries(CORS_HEADERS)) response.headers.set(name, value)
  return response
}

/** `Cache-Control: only-if-cached`: answer from the local store or not at all (412). */
function onlyIfCached (request: Request): boolean {
  return (request.headers.get('cache-control') ?? '').split(',').some(d => d.trim().toLowerCase() === 'only-if-cached')
}

/**
 * `/ipfs/?uri=ipfs://<cid>/<path>` (or `ipns://`), what a browser's registered protocol
 * handler (`navigator.registerProtocolHandler`) asks: a 301 to the content path.
 */
function protocolHandlerRedirect (url: URL): Response | undefined {
  if (url.pathname !== '/ipfs/' && url.pathname !== '/ipns/') return undefined
  const uri = url.searchParams.get('uri')
  if (uri === null) return undefined
  const m = /^(ipfs|ipns):\/\/([^/?#\x00-\x20]+)(\/[^?#\x00-\x20]*)?$/.exec(uri)
  if (m === null) throw new WeftError('ERR_USAGE', `uri=${uri.slice(0, 80)} is not an ipfs:// or ipns:// address`)
  return redirect(`/${m[1]}/${m[2]}${m[3] ?? ''}`)
}

/** A key name (`12D3Koo…`, `Qm…`, `k51…`) in its canonical spelling; undefined for names that are not keys. */
function canonicalKeyName (id: string): string | undefined {
  try {
    return peerIdFromString(id).toCID().toString(base36)
  } catch {
    return undefined
  }
}

/** `/.weft` and everything under it: the site API's prefix. */
function isSiteApiPath (pathname: string): boolean {
  return pathname === '/.weft' || pathname.startsWith('/.weft/')
}

function splitContentPath (pathname: string): { namespace: Namespace, id: string, rest: string } | undefined {
  const m = /^\/(ipfs|ipns)\/([^/]+)(\/.*)?$/.exec(pathname)
  if (m === null) return undefined
  const [id] = pathSegments(m[2])
  return { namespace: m[1] as Namespace, id, rest: m[3] ?? '' }
}

export function createGatewayHandler (components: GatewayComponents, init: GatewayInit = {}): GatewayHandler {
  const fetchTimeout = init.fetchTimeout ?? 120_000
  const stores = { blocks: components.blocks, fetches: components.exchange === undefined ? undefined : new SharedFetches(components, components.exchange) }
  const siteApi = createSiteApi({ users: components.users, messages: components.messages, onVersion: components.onVersion, private: components.private, shares: components.shares }, init.siteApi)
  const consent = components.users === undefined ? undefined : createConsent({ users: components.users }, init.consent)

  /** The k51… site a name is, or points at; undefined when it points at no site (its own users/ and .weft/ are then plain paths). */
  async function siteOf (name: string, signal: AbortSignal): Promise<string | undefined> {
    if (isKeyName(name)) return parseSiteName(name).name
    return await components.siteName?.(name, { signal })
  }

  /** The site's current root (with the path its name points into) and its weft.json, if any. */
  async function describe (name: string, signal: AbortSignal): Promise<Awaited<ReturnType<SiteContext['describe']>>> {
    const resolved = await components.resolveName(name, { signal })
    const value = parseContentPath(resolved.value)
    const store = blockByBlock(stores, () => signal)
    let weftJson: Record<string, unknown> | undefined
    try {
      const entry = await resolvePath(store, value.cid, [...value.segments, 'weft.json'])
      const parsed: unknown = JSON.parse((await catBytes(store, entry.cid, { length: MAX_SITE_JSON })).toString('utf8'))
      if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) weftJson = parsed as Record<string, unknown>
    } catch (err) {
      // no weft.json, or not JSON: a site without rules
      if (!isWeftError(err, 'ERR_DAG_PATH_NOT_FOUND') && !(err instanceof SyntaxError)) throw err
    }
    return { sequence: resolved.sequence, root: value.cid.toString(), weftJson }
  }

  /**
   * `/.weft/…` on a site's origin; a key origin is checked for the request's origin before anything is resolved
   * (a name's must be resolved first: if it points at no site its `.weft/` is content any page may load).
   * Undefined: the origin is no weft site (`/ipfs/`, a name pointing at no site), whose own `.weft/` path is served as content.
   */
  async function serveSiteApi (request: Request, host: Extract<GatewayHost, { kind: 'subdomain' }>, url: URL): Promise<Response | undefined> {
    try {
      if (host.namespace !== 'ipns') return undefined
      const port = host.port === '' ? '' : `:${host.port}`
      const origin = `http://${host.id}.ipns.localhost${port}`
      const id = nameOfLabel(host.id)
      if (subdomainName(id) !== host.id) {
        assertSameOrigin(request, origin)
        throw new WeftError('ERR_SITE_API_FORBIDDEN', `use the site's canonical origin http://${subdomainName(id)}.ipns.localhost${port}`)
      }
      const site = await siteOf(id, AbortSignal.any([request.signal, AbortSignal.timeout(fetchTimeout)]))
      if (site === undefined) return undefined
      const segments = pathSegments(url.pathname).slice(1)
      // on a name's origin the API points at the key origin: what the name means may change between this request and the page's
      const keyOrigin = isKeyName(id) ? undefined : `http://${subdomainName(site)}.ipns.localhost${port}`
      return await siteApi(request, segments, { site, origin, keyOrigin, uiOrigin: `http://127.0.0.1${port}`, describe: async signal => await describe(id, signal) })
    } catch (err) {
      return siteApiError(err)
    }
  }

  /** `/users/`: the accepted contributions (JSON), `/users/<id>/`: one, `/users/<id>/<path>`: a file of one, verified like any content. */
  async function serveUsers (ctx: { request: Request, signal: () => AbortSignal }, site: string, segments: string[], headers: Record<string, string>): Promise<Response> {
    const users = components.users
    const answer = (value: unknown): Response => new Response(ctx.request.method === 'HEAD' ? null : JSON.stringify(value), { headers: { ...headers, 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' } })
    if (segments.length === 0) return answer({ site, users: (users?.contributions(site) ?? []).map(contributionJson) })
    const [user, ...path] = segments
    const contribution = users?.contribution(site, user)
    if (contribution === undefined) throw new WeftError('ERR_DAG_PATH_NOT_FOUND', `no accepted contribution from ${user.slice(0, 100)} on this site`)
    if (path.length === 0) return answer(contributionJson(contribution))
    const file = path.join('/')
    if (!contribution.files.some(f => f.path === file)) throw new WeftError('ERR_DAG_PATH_NOT_FOUND', `${user} has no accepted file ${file.slice(0, 200)} on this site`)
    const root = CID.parse(contribution.root)
    const target: Target = {
      root,
      segments: path,
      urlPath: `/users/${user}/${file}`,
      search: '',
      contentPath: `/ipfs/${contribution.root}/${file}`,
      // the same URL names the user's next version too: ask again (the ETag, the file's CID, makes that cheap)
      cacheControl: 'no-cache',
      isolated: false,
      pathGateway: '',
      headers: { ...headers, 'content-security-policy': CONTRIBUTION_CSP, 'x-content-type-options': 'nosniff' }
    }
    return await serveContent({ stores, request: ctx.request, signal: ctx.signal }, target)
  }

  async function serve (request: Request, host: GatewayHost, url: URL): Promise<Response> {
    let namespace: Namespace
    let id: string
    let rest: string
    let isolated = false
    const headers: Record<string, string> = {}
    const port = host.port === '' ? '' : `:${host.port}`
    // read once the request is for this origin (a canonical redirect comes first, whatever the query says)
    const formatOf = (): TrustlessFormat | undefined => requestedFormat(url, request.headers.get('accept'))
    let format: TrustlessFormat | undefined
    // a block asked for by codec (codecs.ts), when no trustless format was
    const codecOf = (): CodecRequest | undefined => format === undefined ? requestedCodec(url, request.headers.get('accept')) : undefined
    let codec: CodecRequest | undefined
    if (host.kind === 'subdomain') {
      namespace = host.namespace
      rest = url.pathname
      id = namespace === 'ipfs' ? host.id : nameOfLabel(host.id)
      // one canonical origin per site: other spellings redirect to it
      const canonical = namespace === 'ipfs' ? subdomainCid(id) : subdomainName(id)
      if (canonical !== host.id) return redirect(`http://${canonical}.${namespace}.localhost${port}${url.pathname}${url.search}`)
      format = formatOf()
      codec = codecOf()
      isolated = true
    } else {
      const handled = protocolHandlerRedirect(url)
      if (handled !== undefined) return handled
      const split = splitContentPath(url.pathname)
      if (split === undefined) {
        if (host.kind === 'path' && url.pathname === '/') return redirect(`http://127.0.0.1${port}/`, 302)
        throw new WeftError('ERR_DAG_PATH_NOT_FOUND', `nothing is served at ${url.pathname.slice(0, 200)}; try /ipfs/<cid> or /ipns/<name>`)
      }
      ;({ namespace, id, rest } = split)
      // one spelling per key (CIDv1 base36 libp2p-key), as the path gateway spec asks: a peer ID or a CIDv0-like key redirects to it
      // (on localhost the redirect to the subdomain does that in one step)
      const canonicalKey = namespace === 'ipns' && host.kind === 'ui' ? canonicalKeyName(id) : undefined
      if (canonicalKey !== undefined && canonicalKey !== id) return redirect(`/ipns/${canonicalKey}${rest}${url.search}`, 302)
      format = formatOf()
      codec = codecOf()
      if (format === undefined && codec?.explicit !== true && (host.kind === 'path' || isBrowserNavigation(request))) {
        return redirect(subdomainUrl(namespace, id, rest === '' ? '/' : rest, host.port) + url.search)
      }
      headers['content-security-policy'] = 'sandbox'
    }
    const segments = pathSegments(rest)
    if (namespace === 'ipns' && format === undefined && (segments[0] === '.weft' || segments[0] === 'users')) {
      const budgetSignal = AbortSignal.any([request.signal, AbortSignal.timeout(fetchTimeout)])
      const site = await siteOf(id, budgetSignal)
      // the node's own routes on a weft site: the site's published files never stand in for them
      if (site !== undefined && segments[0] === '.weft') throw new WeftError('ERR_DAG_PATH_NOT_FOUND', 'the site API answers only on the site\'s own origin')
      if (site !== undefined) return await serveUsers({ request, signal: () => budgetSignal }, site, segments.slice(1), headers)
    }
    let budget: AbortSignal | undefined
    const signal = (): AbortSignal => (budget ??= AbortSignal.any([request.signal, AbortSignal.timeout(fetchTimeout)]))
    let root: CID
    let cacheControl = IMMUTABLE
    let prefix: string[] = []
    if (namespace === 'ipns') {
      const resolved = await components.resolveName(id, { signal: signal() })
      if (format === 'ipns-record') {
        const record = components.record(id)
        if (record === undefined) throw new WeftError('ERR_RECORD_NOT_FOUND', `no signed record is held for ${id}`)
        return new Response(request.method === 'HEAD' ? null : record as Uint8Array<ArrayBuffer>, {
          headers: {
            ...headers,
            'content-type': 'application/vnd.ipfs.ipns-record',
            'content-disposition': contentDisposition('attachment', url.searchParams.get('filename') ?? `${id}.ipns-record`),
            'cache-control': `public, max-age=${Math.floor(resolved.ttl / 1000)}`,
            'x-content-type-options': 'nosniff',
            'x-ipfs-path': `/ipns/${id}`
          }
        })
      }
      const value = parseContentPath(resolved.value)
      root = value.cid
      prefix = value.segments
      cacheControl = `public, max-age=${Math.floor(resolved.ttl / 1000)}`
      if (resolved.named !== undefined) {
        // a visitor (or a script) can tell a chain-proven name from one a node or DNS merely reported
        headers['x-weft-name-resolver'] = resolved.named.resolver
        headers['x-weft-name-proven'] = String(resolved.named.proven)
      }
      if (resolved.sequence !== undefined) {
        headers['x-weft-sequence'] = resolved.sequence.toString()
        headers['x-weft-newest-sequence'] = (resolved.newest ?? resolved.sequence).toString()
        // an older version stands in while the newest is fetched: ask again on every visit
        if (resolved.newest !== undefined && resolved.newest !== resolved.sequence) cacheControl = 'no-cache'
      }
    } else {
      if (format === 'ipns-record') throw new WeftError('ERR_USAGE', 'an IPNS record is only served for /ipns/ names')
      try {
        root = CID.parse(id)
      } catch {
        throw new WeftError('ERR_INVALID_CID', `invalid path "/ipfs/${id.slice(0, 120)}": not a valid CID`)
      }
    }
    const target: Target = {
      root,
      segments: [...prefix, ...segments],
      urlPath: url.pathname,
      search: url.search,
      contentPath: `/${namespace}/${id}${rest}`,
      cacheControl,
      isolated,
      // a subdomain origin's listings link /ipfs/ paths on the path gateway
      pathGateway: host.kind === 'subdomain' ? `//localhost${port}` : '',
      headers
    }
    const local = onlyIfCached(request)
    const ctx = { stores: local ? { blocks: stores.blocks } : stores, request, signal }
    try {
      if (format === 'raw' || format === 'car') return await serveTrustless(ctx, target, format)
      if (format === 'tar') return await serveTar(ctx, target)
      if (codec !== undefined) return await serveCodec(ctx, target, codec)
      return await serveContent(ctx, target)
    } catch (err) {
      if (local && isWeftError(err, 'ERR_BLOCK_NOT_FOUND')) throw new WeftError('ERR_NOT_CACHED', `${target.contentPath.slice(0, 200)} is not held here, and the request said only-if-cached`)
      throw err
    }
  }

  return async request => {
    try {
      if (request.url.length > MAX_URL_LENGTH) throw new WeftError('ERR_URL_TOO_LONG', `the URL is longer than ${MAX_URL_LENGTH} characters`)
      const url = new URL(request.url)
      const host = parseHost(request.headers.get('host') ?? url.host)
      if (host.kind === 'subdomain' && isSiteApiPath(url.pathname)) {
        const answer = await serveSiteApi(request, host, url)
        if (answer !== undefined) return answer
      }
      if (host.kind === 'ui' && url.pathname === '/allow') {
        if (consent === undefined) throw new WeftError('ERR_DAG_PATH_NOT_FOUND', 'this node runs without its users service: there is nothing to allow')
        return await consent(request, host.port)
      }
      if (host.kind === 'ui' && !/^\/(ipfs|ipns)\//.test(url.pathname)) {
        if (components.ui === undefined) throw new WeftError('ERR_DAG_PATH_NOT_FOUND', 'this gateway has no web UI')
        return await components.ui(request)
      }
      if (request.method === 'OPTIONS') return withCors(new Response(null, { headers: { allow: 'GET, HEAD, OPTIONS' } }))
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        return new Response(`405: the gateway answers GET, HEAD and OPTIONS, not ${request.method}\n`, { status: 405, headers: { allow: 'GET, HEAD, OPTIONS', 'content-type': 'text/plain; charset=utf-8' } })
      }
      try {
        return withCors(await serve(request, host, url))
      } catch (err) {
        return withCors(errorResponse(err, request))
      }
    } catch (err) {
      return errorResponse(err, request)
    }
  }
}
