/**
 * The site API, served by the node on each site's own origin (`<name>.ipns.localhost:<port>`)
 * under `/.weft/`, a prefix no site can publish (src/sites/reserved.ts):
 *
 * - `GET /.weft/site`: `{ name, address, sequence, root, users, db }` (the rules and schema
 *   as the site's weft.json declares them);
 * - `GET /.weft/user`: `{ id, allowed, canWrite, allow }` (allow: the confirmation page's URL);
 * - `PUT /.weft/user/files/<path>` (body: the file), `DELETE` of the same path: one file of
 *   this user's contribution, signed and published by the node; 403 ERR_SITE_NOT_ALLOWED with
 *   `allow` (the confirmation page's URL) until the person allowed the site;
 * - `POST /.weft/db/query` `{ "sql", "params" }` → `{ "rows" }`;
 * - `PUT|GET|DELETE /.weft/private/<path>`, `GET /.weft/private/`: the person's private files
 *   for this site (site-api-private.ts), under the same consent as writing;
 * - `GET /.weft/shared/…` (folders other users share with the person) and `GET|PUT|DELETE
 *   /.weft/sharing/…` (the person's own shares): site-api-shared.ts, under the same consent;
 * - `GET /.weft/events`: server-sent events `contribution`, `removed`, `version` for this site,
 *   and `message` (`{ id, from, sent }`: a letter opened for the person) once the site is allowed;
 * - `POST /.weft/messages/<user id>`, `GET /.weft/messages`: sealed messages to and from the
 *   site's users (site-api-messages.ts), allowed sites only, as writes are;
 * - `GET /.weft/client.js`: a small ES module over all of the above.
 *
 * Key origin only: on a name's origin (`<dns-name>.ipns.localhost`) everything but client.js
 * answers 403, since the name can point elsewhere between the page's load and its requests.
 *
 * Same origin only: the page that calls must be the site's own. A state-changing request
 * needs `Origin` equal to the site's origin; any request a browser marks cross-site or
 * same-site (every other `*.localhost` origin is "same-site") is refused; no CORS header is
 * ever sent and preflights are refused, so site A's script can neither read nor write as the
 * user on site B. Answers are JSON (errors `{ "error": code, "message" }`), never cached.
 */
import { readFile } from 'node:fs/promises'
import { z } from 'zod'
import { WeftError, toWeftError } from '../errors.ts'
import type { Contribution, Users } from '../users/index.ts'
import { NO_STORE, allowUrl, json, readBody, siteApiError } from './site-api-http.ts'
import { privateRoute, type SiteApiPrivate } from './site-api-private.ts'
import { sharedRoute, type SiteApiShares } from './site-api-shared.ts'

export { siteApiError } from './site-api-http.ts'
import { gatewayStatus } from './responses.ts'
import { serveMessages, type SiteApiMessages } from './site-api-messages.ts'

/** What the gateway needs of users (src/users/): the Users interface less its lifecycle (`allow` for the confirmation page). */
export type SiteApiUsers = Pick<Users, 'id' | 'write' | 'contributions' | 'contribution' | 'query' | 'listen' | 'allowed' | 'allow' | 'addEventListener' | 'removeEventListener'>

/** A new version of a site the node serves (an own publish, or a followed version held whole). */
export interface SiteVersion { site: string, sequence: bigint, root: string }

export interface SiteApiComponents {
  /** Absent: the node has no users service; `/users/` is empty and writes are refused. */
  users?: SiteApiUsers
  /** Absent: the node has no messages service; messages routes answer ERR_OFFLINE. */
  messages?: SiteApiMessages
  /** Calls `fn` on each new version of any site; returns the unsubscribe. */
  onVersion?: (fn: (version: SiteVersion) => void) => () => void
  /** The person's private store (`/.weft/private/`); absent: those routes answer ERR_OFFLINE. */
  private?: SiteApiPrivate
  /** Sharing private folders (`/.weft/shared/`, `/.weft/sharing/`); absent: those routes answer ERR_OFFLINE. */
  shares?: SiteApiShares
}

export interface SiteApiInit {
  /** ms between heartbeat comments on an event stream (proxies and browsers drop idle streams). */
  heartbeatMs?: number
  /** Open event streams per site. */
  maxStreams?: number
}

/** What the gateway knows of the request's site. */
export interface SiteContext {
  /** The site's k51… name. */
  site: string
  /** `http://<label>.ipns.localhost:<port>`: the request's origin; a request from any other is refused. */
  origin: string
  /**
   * Set when `origin` is a name's (DNSLink, ENS, petname), not the site's key: the site's key origin.
   * The API answers 403 there (client.js aside): the name is resolved again on each request, so the
   * page may be another site's than the one this request resolves to.
   */
  keyOrigin?: string
  /** `http://127.0.0.1:<port>`: where the confirmation page is. */
  uiOrigin: string
  /** The site's current version and weft.json (read when `/.weft/site` asks). */
  describe: (signal: AbortSignal) => Promise<{ sequence?: bigint, root: string, weftJson?: Record<string, unknown> }>
}

/** 30 s is below the 60 s idle timeout of common proxies and of node:http's headersTimeout, so a quiet stream stays open. */
const HEARTBEAT_MS = 30_000
/** A browser keeps 6 HTTP/1.1 connections per host; 16 streams per site leave room for a few tabs without letting one site hold hundreds of sockets. */
const MAX_STREAMS_PER_SITE = 16
/** The gateway holds a written file in memory before signing; the owner's rules (maxBytes) decide what is accepted, this bounds what is read. */
export const MAX_WRITE_BYTES = 4 * 1024 * 1024
/** A query body: SQL and its parameters are text, 64 KiB is far beyond any statement a page needs. */
const MAX_QUERY_BODY = 64 * 1024
const MAX_SQL_CHARS = 16 * 1024
/** A user file path: the rules allow at most 128-character patterns, so 1 KiB is generous. */
const MAX_FILE_PATH = 1024

const STATE_CHANGING = new Set(['PUT', 'POST', 'DELETE', 'PATCH'])
const CLIENT_JS = new URL('./site-api/client.js', import.meta.url)

const sqlValue = z.union([z.string(), z.number(), z.boolean(), z.null()])
const QUERY_BODY = z.object({
  sql: z.string().min(1).max(MAX_SQL_CHARS),
  params: z.union([z.array(sqlValue).max(1000), z.record(z.string().max(64), sqlValue)]).optional()
}).strict()

/** `segments`: the decoded path after `/.weft/` (the gateway's pathSegments: no `..`, no encoded slash). */
export type SiteApiHandler = (request: Request, segments: string[], site: SiteContext) => Promise<Response>



/** A contribution as JSON answers carry it (`/users/` and writes). */
export function contributionJson (c: Contribution): Record<string, unknown> {
  return { user: c.user, sequence: c.sequence.toString(), root: c.root, updated: c.updated, files: c.files.map(f => ({ path: f.path, size: f.size })) }
}

/**
 * Same origin only. Browsers send Sec-Fetch-Site on every request (Chromium 76+, Firefox 90+,
 * Safari 16.4+) and Origin on every state-changing one; a tool (curl) sends neither and may read.
 */
export function assertSameOrigin (request: Request, origin: string): void {
  if (request.method === 'OPTIONS') throw new WeftError('ERR_SITE_API_FORBIDDEN', 'the site API answers no preflight: call it from the site\'s own pages')
  const fetchSite = request.headers.get('sec-fetch-site')
  if (fetchSite !== null && fetchSite !== 'same-origin' && fetchSite !== 'none') throw new WeftError('ERR_SITE_API_FORBIDDEN', `${fetchSite} requests to the site API are refused`)
  const from = request.headers.get('origin')
  if (STATE_CHANGING.has(request.method)) {
    if (from === null || from.toLowerCase() !== origin) throw new WeftError('ERR_SITE_API_FORBIDDEN', `${request.method} to the site API must come from ${origin}, not ${(from ?? 'no origin').slice(0, 200)}`)
  } else if (from !== null && from.toLowerCase() !== origin) {
    throw new WeftError('ERR_SITE_API_FORBIDDEN', `requests from ${from.slice(0, 200)} to the site API are refused`)
  }
}


/** `a/b.json` from the URL segments after `/.weft/user/files/` (already decoded and checked by pathSegments). */
function filePath (segments: string[]): string {
  const path = segments.join('/')
  if (path === '') throw new WeftError('ERR_USAGE', 'name the file: /.weft/user/files/<path>')
  if (path.length > MAX_FILE_PATH) throw new WeftError('ERR_USAGE', `the file path is longer than ${MAX_FILE_PATH} characters`)
  return path
}


export function createSiteApi (components: SiteApiComponents, init: SiteApiInit = {}): SiteApiHandler {
  const heartbeatMs = init.heartbeatMs ?? HEARTBEAT_MS
  const maxStreams = init.maxStreams ?? MAX_STREAMS_PER_SITE
  const streams = new Map<string, number>()
  let clientJs: Promise<Buffer> | undefined

  const needUsers = (): SiteApiUsers => {
    if (components.users === undefined) throw new WeftError('ERR_OFFLINE', 'this node runs without its users service; start the daemon to take part in sites')
    return components.users
  }

  function events (request: Request, site: string): Response {
    const open = streams.get(site) ?? 0
    if (open >= maxStreams) throw new WeftError('ERR_SITE_API_BUSY', `this site already has ${open} open event streams; close a tab of it and try again`)
    streams.set(site, open + 1)
    const encoder = new TextEncoder()
    const cleanups: Array<() => void> = []
    let closed = false
    const close = (controller?: ReadableStreamDefaultController<Uint8Array>): void => {
      if (closed) return
      closed = true
      for (const fn of cleanups.splice(0)) fn()
      const left = (streams.get(site) ?? 1) - 1
      if (left <= 0) streams.delete(site)
      else streams.set(site, left)
      try { controller?.close() } catch { /* already closed by the reader */ }
    }
    const body = new ReadableStream<Uint8Array>({
      start (controller) {
        const send = (text: string): void => {
          if (closed) return
          try {
            controller.enqueue(encoder.encode(text))
          } catch {
            close()
          }
        }
        const event = (name: string, data: unknown): void => { send(`event: ${name}\ndata: ${JSON.stringify(data, (_k, v: unknown) => typeof v === 'bigint' ? v.toString() : v)}\n\n`) }
        // a client that reconnects waits this long before it tries (EventSource's own default is 3 s)
        send('retry: 3000\n: weft site events\n\n')
        const users = components.users
        if (users !== undefined) {
          // the page queries after the events it hears: its site's query process is kept started meanwhile
          cleanups.push(users.listen(site))
          for (const type of ['contribution', 'removed'] as const) {
            const listener = (e: Event): void => {
              const detail = (e as CustomEvent<{ site: string }>).detail
              if (detail?.site === site) event(type, detail)
            }
            users.addEventListener(type, listener)
            cleanups.push(() => { users.removeEventListener(type, listener) })
          }
        }
        const messages = components.messages
        if (messages !== undefined) {
          // only to an allowed site, as reading the messages is: who wrote to the person is theirs
          const listener = (e: Event): void => {
            const m = (e as CustomEvent<{ id: string, site: string, from: string, sent: number }>).detail
            if (m?.site === site && components.users?.allowed(site) === true) event('message', { id: m.id, from: m.from, sent: m.sent })
          }
          messages.addEventListener('message', listener)
          cleanups.push(() => { messages.removeEventListener('message', listener) })
        }
        if (components.onVersion !== undefined) {
          cleanups.push(components.onVersion(v => { if (v.site === site) event('version', v) }))
        }
        const heartbeat = setInterval(() => { send(': heartbeat\n\n') }, heartbeatMs)
        cleanups.push(() => { clearInterval(heartbeat) })
        const onAbort = (): void => { close(controller) }
        if (request.signal.aborted) onAbort()
        request.signal.addEventListener('abort', onAbort, { once: true })
        cleanups.push(() => { request.signal.removeEventListener('abort', onAbort) })
      },
      cancel () { close() }
    })
    return new Response(body, { headers: { ...NO_STORE, 'content-type': 'text/event-stream; charset=utf-8' } })
  }

  async function write (request: Request, ctx: SiteContext, segments: string[]): Promise<Response> {
    const users = needUsers()
    const path = filePath(segments)
    if (!users.allowed(ctx.site)) {
      return siteApiError(new WeftError('ERR_SITE_NOT_ALLOWED', 'this site may not write as you until you allow it once on the confirmation page'), { allow: allowUrl(ctx) })
    }
    const bytes = request.method === 'DELETE' ? undefined : await readBody(request, MAX_WRITE_BYTES)
    const contribution = await users.write(ctx.site, path, bytes, { signal: request.signal })
    return json(contributionJson(contribution))
  }

  async function query (request: Request, ctx: SiteContext): Promise<Response> {
    const users = needUsers()
    let parsed: unknown
    try {
      parsed = JSON.parse(Buffer.from(await readBody(request, MAX_QUERY_BODY)).toString('utf8'))
    } catch (err) {
      if (err instanceof WeftError) throw err
      throw new WeftError('ERR_USAGE', 'the query body must be JSON: { "sql": "…", "params": [ … ] }')
    }
    const result = QUERY_BODY.safeParse(parsed)
    if (!result.success) {
      const issue = result.error.issues[0]
      throw new WeftError('ERR_USAGE', `the query body's ${issue.path.length > 0 ? `"${issue.path.join('.')}"` : 'shape'} is not valid: ${issue.message}`)
    }
    const rows = await users.query(ctx.site, result.data.sql, result.data.params, { signal: request.signal })
    return json({ rows })
  }

  return async (request, segments, ctx) => {
    try {
      assertSameOrigin(request, ctx.origin)
      const route = segments.join('/')
      const method = request.method === 'HEAD' ? 'GET' : request.method
      if (route === 'client.js' && method === 'GET') {
        clientJs ??= readFile(CLIENT_JS)
        const bytes = await clientJs
        return new Response(request.method === 'HEAD' ? null : bytes as Uint8Array<ArrayBuffer>, { headers: { ...NO_STORE, 'cache-control': 'no-cache', 'content-type': 'text/javascript; charset=utf-8' } })
      }
      if (ctx.keyOrigin !== undefined) throw new WeftError('ERR_SITE_API_FORBIDDEN', `the site API answers only on the site's own origin, ${ctx.keyOrigin}: a name's origin may serve another site's page; open the site there to take part`)
      if (route === 'site' && method === 'GET') {
        const { sequence, root, weftJson } = await ctx.describe(AbortSignal.any([request.signal, AbortSignal.timeout(30_000)]))
        return json({ name: ctx.site, address: `/ipns/${ctx.site}`, sequence, root, users: weftJson?.users ?? null, db: weftJson?.db ?? null })
      }
      if (route === 'user' && method === 'GET') {
        const users = components.users
        if (users === undefined) return json({ id: null, allowed: false, canWrite: false, allow: null })
        const allowed = users.allowed(ctx.site)
        return json({ id: users.id(ctx.site), allowed, canWrite: allowed, allow: allowUrl(ctx) })
      }
      if (segments[0] === 'user' && segments[1] === 'files' && (method === 'PUT' || method === 'DELETE')) return await write(request, ctx, segments.slice(2))
      if (segments[0] === 'private') {
        const answer = await privateRoute(request, method, segments.slice(1), ctx, { private: components.private, users: components.users })
        if (answer !== undefined) return answer
      }
      if (segments[0] === 'shared' || segments[0] === 'sharing') {
        const answer = await sharedRoute(request, method, segments[0], segments.slice(1), ctx, { shares: components.shares, users: components.users })
        if (answer !== undefined) return answer
      }
      if (route === 'db/query' && method === 'POST') return await query(request, ctx)
      if (route === 'events' && method === 'GET') return events(request, ctx.site)
      if (segments[0] === 'messages') {
        // the consent a write needs: reading or sending the person's messages acts as them too
        const allowed = components.users?.allowed(ctx.site) === true
        const answer = await serveMessages(request, segments.slice(1), method, components.messages, {
          site: ctx.site,
          allowed,
          json,
          refuse: err => siteApiError(err, { allow: allowUrl(ctx) }),
          readBody
        })
        if (answer !== undefined) return answer
      }
      throw new WeftError('ERR_DAG_PATH_NOT_FOUND', `the site API has no ${request.method} /.weft/${route.slice(0, 100)}`)
    } catch (err) {
      return siteApiError(err)
    }
  }
}
