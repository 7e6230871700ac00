/**
 * Building gateway responses: error pages (HTML for browsers, one line of
 * text for tools), redirects and conditional answers.
 */
import { ERROR_CODES, toWeftError, type WeftError } from '../errors.ts'

/** In the gateway, a block or record the network did not deliver is a timeout, not a missing path. */
const GATEWAY_STATUS: Partial<Record<WeftError['code'], number>> = {
  ERR_BLOCK_NOT_FOUND: 504,
  ERR_RECORD_NOT_FOUND: 504,
  ERR_FETCH_TIMEOUT: 504
}

export function gatewayStatus (err: WeftError): number {
  return GATEWAY_STATUS[err.code] ?? ERROR_CODES[err.code].http
}

function escapeHtml (text: string): string {
  return text.replace(/[&<>"']/g, c => `&#${c.charCodeAt(0)};`)
}

export function wantsHtml (request: Request): boolean {
  return (request.headers.get('accept') ?? '').includes('text/html')
}

export function errorResponse (err: unknown, request: Request): Response {
  const e = toWeftError(err)
  const status = gatewayStatus(e)
  const headers = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' }
  if (wantsHtml(request)) {
    const page = `<!doctype html><html><head><meta charset="utf-8"><title>${status} ${e.code}</title>` +
      '<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40em;margin:4em auto;padding:0 1em;color:#222}code{background:#f3f3f3;padding:0 .3em}</style></head>' +
      `<body><h1>${status}</h1><p>${escapeHtml(e.message)}</p><p><code>${e.code}</code> · weft gateway</p></body></html>\n`
    return new Response(request.method === 'HEAD' ? null : page, { status, headers: { ...headers, 'content-type': 'text/html; charset=utf-8', 'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'" } })
  }
  return new Response(request.method === 'HEAD' ? null : `${status} ${e.code}: ${e.message}\n`, { status, headers: { ...headers, 'content-type': 'text/plain; charset=utf-8' } })
}

/**
 * `inline` or `attachment` with a file name (RFC 6266): an ASCII `filename` where each other
 * character, quote or backslash becomes `_`, and the exact name in `filename*` (RFC 8187) when
 * that changed anything.
 */
export function contentDisposition (type: 'inline' | 'attachment', name: string): string {
  const ascii = [...name].map(c => /^[\x20-\x7e]$/.test(c) && c !== '"' && c !== '\\' ? c : '_').join('')
  if (ascii === name) return `${type}; filename="${ascii}"`
  return `${type}; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name.toWellFormed())}`
}

export function redirect (location: string, status = 301): Response {
  return new Response(null, { status, headers: { location, 'cache-control': status === 301 || status === 308 ? 'public, max-age=31536000' : 'no-cache' } })
}

/** True when If-None-Match names `etag` (or is `*`); weak tags compare equal. */
export function notModified (request: Request, etag: string): boolean {
  const header = request.headers.get('if-none-match')
  if (header === null) return false
  const strong = etag.replace(/^W\//, '')
  return header.split(',').some(t => {
    const tag = t.trim().replace(/^W\//, '')
    return tag === '*' || tag === strong
  })
}
