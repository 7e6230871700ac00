/**
 * Shared private folders on a site's own origin (site-api.ts checks the origin first, under
 * the same same-origin rules as every `/.weft/` route):
 *
 * - `GET /.weft/shared/` → `{ me, shared: [{ from, folder, generation, files }] }`: folders other
 *   users of the site share with this person
 * - `GET /.weft/shared/<user id>/<folder>/` → `{ files: [{ path, size, mtime }] }`
 * - `GET /.weft/shared/<user id>/<folder>/<path>` → the file's bytes (`application/octet-stream`)
 * - `GET /.weft/sharing/` → `{ mine: [{ folder, generation, recipients }] }`: what this person shares
 * - `PUT /.weft/sharing/<folder>/<user id>` → shares the folder with the user;
 *   `DELETE` of the same → revokes it (a new folder key, shared again with the others)
 *
 * All need the person's consent for the site, as the private store's routes do: a page that
 * reads what others shared with the person can send it anywhere, and sharing acts as them.
 * The site comes from the origin, so a page sees and shares only its own site's folders.
 */
import { streamBody } from '../http/index.ts'
import { WeftError } from '../errors.ts'
import type { Shares } from '../private/index.ts'
import type { Users } from '../users/index.ts'
import { NO_STORE, allowUrl, json, siteApiError } from './site-api-http.ts'
import type { SiteContext } from './site-api.ts'

/** What the site API needs of sharing. */
export type SiteApiShares = Pick<Shares, 'share' | 'unshare' | 'mine' | 'received' | 'list' | 'read'>

/**
 * `/.weft/shared/…` and `/.weft/sharing/…` (`route` is the first segment, `segments` the
 * rest), for a request already checked for the site's own origin. Undefined: no such route.
 */
export async function sharedRoute (
  request: Request,
  method: string,
  route: 'shared' | 'sharing',
  segments: string[],
  ctx: SiteContext,
  components: { shares?: SiteApiShares, users?: Pick<Users, 'allowed' | 'id'> }
): Promise<Response | undefined> {
  const readOnly = route === 'shared'
  if (readOnly ? method !== 'GET' : !['GET', 'PUT', 'DELETE'].includes(method)) return undefined
  const { shares, users } = components
  if (shares === undefined || users === undefined) throw new WeftError('ERR_OFFLINE', 'this node runs without sharing; start the daemon to share private folders')
  if (!users.allowed(ctx.site)) {
    return siteApiError(new WeftError('ERR_SITE_NOT_ALLOWED', 'this site may not read or share your private data until you allow it once on the confirmation page'), { allow: allowUrl(ctx) })
  }
  // a trailing "/" leaves an empty last segment: the listing of what comes before it
  const parts = segments.at(-1) === '' ? segments.slice(0, -1) : segments
  const signal = request.signal
  if (!readOnly) {
    if (parts.length === 0 && method === 'GET') return json({ mine: (await shares.mine(ctx.site, { signal })).map(({ site: _s, ...s }) => s) })
    if (parts.length !== 2 || method === 'GET') throw new WeftError('ERR_USAGE', 'share with PUT /.weft/sharing/<folder>/<user id>, revoke with DELETE of the same')
    const [folder, user] = parts
    const done = method === 'PUT' ? await shares.share(ctx.site, folder, user, { signal }) : await shares.unshare(ctx.site, folder, user, { signal })
    const { site: _site, ...share } = done
    return json(share)
  }
  if (parts.length === 0) return json({ me: users.id(ctx.site), shared: await shares.received(ctx.site, { signal }) })
  if (parts.length < 2) throw new WeftError('ERR_USAGE', 'name the sharer and the folder: /.weft/shared/<user id>/<folder>/')
  const [from, folder, ...rest] = parts
  if (rest.length === 0) return json({ files: await shares.list(ctx.site, from, folder, { signal }) })
  const path = rest.join('/')
  // the first segment opens before the answer starts, so a missing or tampered file is an error status
  const body = await streamBody(shares.read(ctx.site, from, folder, path, { signal }))
  if (request.method === 'HEAD') await body.cancel()
  return new Response(request.method === 'HEAD' ? null : body, { headers: { ...NO_STORE, 'content-type': 'application/octet-stream' } })
}
