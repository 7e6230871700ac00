/**
 * The private store on a site's own origin (site-api.ts checks the origin first, under the
 * same same-origin rules as every `/.weft/` route):
 *
 * - `PUT /.weft/private/<path>` (body: the file) → `{ path, size, mtime }`
 * - `GET /.weft/private/<path>` → the file's bytes (`application/octet-stream`)
 * - `DELETE /.weft/private/<path>` → `{ path, deleted: true }`
 * - `GET /.weft/private/` → `{ files: [{ path, size, mtime }], usage: { files, bytes, stored } }`
 *
 * Every one, reads included, needs the person's consent for the site (the same as writing
 * contributions: 403 ERR_SITE_NOT_ALLOWED with `allow` until then), since a page that reads
 * the user's private data can send it anywhere. Each site sees only its own store: the
 * site comes from the origin, never from the request.
 */
import { streamBody } from '../http/index.ts'
import { WeftError } from '../errors.ts'
import type { PrivateStore } from '../private/index.ts'
import type { Users } from '../users/index.ts'
import { NO_STORE, allowUrl, json, readBody, siteApiError } from './site-api-http.ts'
import type { SiteContext } from './site-api.ts'

/** What the site API needs of the private store. */
export type SiteApiPrivate = Pick<PrivateStore, 'put' | 'read' | 'list' | 'rm' | 'usage'>

/**
 * A page's private file is held whole in memory while it is sealed (drafts, settings, a
 * photo); 64 MiB bounds what one request can make the node hold. The CLI takes larger ones.
 */
export const MAX_PRIVATE_WRITE_BYTES = 64 * 1024 * 1024
/** As for contribution files: a path the store takes is far shorter. */
const MAX_PRIVATE_PATH = 1024

function privatePath (segments: string[]): string {
  const path = segments.join('/')
  if (path.length > MAX_PRIVATE_PATH) throw new WeftError('ERR_USAGE', `the private file path is longer than ${MAX_PRIVATE_PATH} characters`)
  return path
}

/**
 * `/.weft/private/…` (segments after `private`), for a request already checked for the
 * site's own origin. Undefined: no such route (the caller answers 404).
 */
export async function privateRoute (
  request: Request,
  method: string,
  segments: string[],
  ctx: SiteContext,
  components: { private?: SiteApiPrivate, users?: Pick<Users, 'allowed'> }
): Promise<Response | undefined> {
  if (!['GET', 'PUT', 'DELETE'].includes(method)) return undefined
  const store = components.private
  const users = components.users
  if (store === undefined || users === undefined) throw new WeftError('ERR_OFFLINE', 'this node runs without its private store; start the daemon to keep private data for sites')
  if (!users.allowed(ctx.site)) {
    return siteApiError(new WeftError('ERR_SITE_NOT_ALLOWED', 'this site may not keep or read your private data until you allow it once on the confirmation page'), { allow: allowUrl(ctx) })
  }
  const path = privatePath(segments)
  if (path === '') {
    if (method !== 'GET') throw new WeftError('ERR_USAGE', 'name the file: /.weft/private/<path>')
    return json({ files: store.list(ctx.site), usage: store.usage(ctx.site) })
  }
  if (method === 'PUT') {
    const bytes = await readBody(request, MAX_PRIVATE_WRITE_BYTES)
    return json(await store.put(ctx.site, path, bytes, { signal: request.signal }))
  }
  if (method === 'DELETE') {
    await store.rm(ctx.site, path, { signal: request.signal })
    return json({ path, deleted: true })
  }
  const size = store.list(ctx.site).find(e => e.path === path)?.size
  // the first segment opens before the answer starts, so a missing or tampered file is an error status
  const body = await streamBody(store.read(ctx.site, path, { signal: request.signal }))
  if (request.method === 'HEAD') await body.cancel()
  return new Response(request.method === 'HEAD' ? null : body, {
    headers: { ...NO_STORE, 'content-type': 'application/octet-stream', ...(size !== undefined ? { 'content-length': String(size) } : {}) }
  })
}
