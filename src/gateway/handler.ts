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
 * Any other Host is refused, which keeps DNS rebinding away from the UI.
 */
import { CID } from 'multiformats/cid'
import { parseContentPath } from '../content/index.ts'
import { WeftError } from '../errors.ts'
import { parseHost, subdomainCid, subdomainName, subdomainUrl, nameOfLabel, type GatewayHost, type Namespace } from './hosts.ts'
import { serveContent, serveTrustless, type Target } from './content.ts'
import { errorResponse, redirect } from './responses.ts'
import { SharedFetches, type StoreComponents } from './stores.ts'
import { requestedFormat, type TrustlessFormat } from './trustless.ts'

/** The longest request URL served (414 beyond). */
export const MAX_URL_LENGTH = 8 * 1024
const IMMUTABLE = 'public, max-age=29030400, immutable'

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
}

export interface GatewayInit {
  /** ms one request may spend fetching from the network (default 2 min). */
  fetchTimeout?: number
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

function splitContentPath (pathname: string): { namespace: Namespace, id: string, rest: string } | undefined {
  const m = /^\/(ipfs|ipns)\/([^/]+)(\/.*)?$/.exec(pathname)
  if (m === null) return undefined
  const [id] = pathSegments(m[2])
  return { namespace: m[1] as Namespace, id, rest: m[3] ?? '' }
}

export function createGatewayHandler (components: GatewayComponents, init: GatewayInit = {}): GatewayHandler {
  const fetchTimeout = init.fetchTimeout ?? 120_000
  const stores = { blocks: components.blocks, fetches: components.exchange === undefined ? undefined : new SharedFetches(components, components.exchange) }

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
    if (host.kind === 'subdomain') {
      namespace = host.namespace
      rest = url.pathname
      id = namespace === 'ipfs' ? host.id : nameOfLabel(host.id)
      // one canonical origin per site: other spellings redirect to it
      const canonical = namespace === 'ipfs' ? subdomainCid(id) : subdomainName(id)
      if (canonical !== host.id) return redirect(`http://${canonical}.${namespace}.localhost${port}${url.pathname}${url.search}`)
      format = formatOf()
      isolated = true
    } else {
      const split = splitContentPath(url.pathname)
      if (split === undefined) {
        if (host.kind === 'path' && url.pathname === '/') return redirect(`http://127.0.0.1${port}/`, 302)
        throw new WeftError('ERR_DAG_PATH_NOT_FOUND', `nothing is served at ${url.pathname.slice(0, 200)}; try /ipfs/<cid> or /ipns/<name>`)
      }
      ;({ namespace, id, rest } = split)
      format = formatOf()
      if (format === undefined && (host.kind === 'path' || isBrowserNavigation(request))) {
        return redirect(subdomainUrl(namespace, id, rest === '' ? '/' : rest, host.port) + url.search)
      }
      headers['content-security-policy'] = 'sandbox'
    }
    const segments = pathSegments(rest)
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
            'content-disposition': `attachment; filename="${id}.ipns-record"`,
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
        throw new WeftError('ERR_INVALID_CID', `"${id.slice(0, 120)}" is not a valid CID`)
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
      headers
    }
    const ctx = { stores, request, signal }
    if (format === 'raw' || format === 'car') return await serveTrustless(ctx, target, format)
    return await serveContent(ctx, target)
  }

  return async request => {
    try {
      if (request.url.length > MAX_URL_LENGTH) throw new WeftError('ERR_URL_TOO_LONG', `the URL is longer than ${MAX_URL_LENGTH} characters`)
      const url = new URL(request.url)
      const host = parseHost(request.headers.get('host') ?? url.host)
      if (host.kind === 'ui' && !/^\/(ipfs|ipns)\//.test(url.pathname)) {
        if (components.ui === undefined) throw new WeftError('ERR_DAG_PATH_NOT_FOUND', 'this gateway has no web UI')
        return await components.ui(request)
      }
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        return new Response(`405: the gateway answers GET and HEAD, not ${request.method}\n`, { status: 405, headers: { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' } })
      }
      return await serve(request, host, url)
    } catch (err) {
      return errorResponse(err, request)
    }
  }
}
