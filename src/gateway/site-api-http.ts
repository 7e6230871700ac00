/**
 * What the site API's route files share: JSON answers that are never cached, errors as
 * `{ "error": code, "message" }`, bounded bodies, and the confirmation page's URL.
 */
import { WeftError, toWeftError } from '../errors.ts'
import { readBody as readBounded } from '../http/index.ts'
import { gatewayStatus } from './responses.ts'
import type { SiteContext } from './site-api.ts'

export const NO_STORE = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' }

/** JSON with bigints as decimal strings and blobs as base64 (JSON has neither). */
export function json (value: unknown, status = 200, extra: Record<string, string> = {}): Response {
  const body = JSON.stringify(value, (_key, v: unknown) => typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? Buffer.from(v).toString('base64') : v)
  return new Response(body, { status, headers: { ...NO_STORE, 'content-type': 'application/json; charset=utf-8', ...extra } })
}

export function siteApiError (err: unknown, extra: Record<string, unknown> = {}): Response {
  const e = toWeftError(err)
  return json({ error: e.code, message: e.message, ...extra }, gatewayStatus(e))
}

/** The body, refused past `limit` bytes before more is read. */
export async function readBody (request: Request, limit: number): Promise<Uint8Array> {
  return await readBounded(request, limit, () => new WeftError('ERR_USAGE', `the body is over ${limit} bytes; the site API takes at most that`))
}

/** The confirmation page for the site, on the UI origin (consent.ts). */
export function allowUrl (ctx: SiteContext): string {
  return `${ctx.uiOrigin}/allow?site=${encodeURIComponent(ctx.site)}`
}
