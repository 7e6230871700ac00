/**
 * The confirmation page, on the UI origin: `GET /allow?site=<name>` asks the person whether
 * the site may write as them (sign contributions with their key for that site), and its form's
 * `POST /allow` records the answer (users.allow). A node signs for a site only after that.
 *
 * No site can say yes for the person: the page cannot be framed (X-Frame-Options and CSP
 * frame-ancestors), runs no script and opens no window back to its opener (COOP), and the POST
 * counts only with a single-use nonce that only this page carries and an Origin equal to the
 * UI's own, so neither a cross-site form nor a script on a site's origin can submit it.
 */
import { randomBytes } from 'node:crypto'
import { WeftError, toWeftError } from '../errors.ts'
import { parseSiteName } from '../sites/index.ts'
import type { SiteApiUsers } from './site-api.ts'
import { gatewayStatus } from './responses.ts'

export interface ConsentComponents {
  users: Pick<SiteApiUsers, 'id' | 'allowed' | 'allow'>
}

export interface ConsentInit {
  /** ms a page's nonce stays good. */
  nonceTtl?: number
}

/** Long enough to read the page and decide; a page left open longer is loaded again. */
const NONCE_TTL_MS = 10 * 60_000
/** Pages open at once that can still be answered: a person has a handful; a flood only drops the oldest. */
const MAX_NONCES = 256
/** A form of three short fields. */
const MAX_FORM_BYTES = 4096

export const CONSENT_HEADERS = {
  'x-frame-options': 'DENY',
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  // not no-referrer: with it Chromium sends `Origin: null` on the form's POST, which is then refused
  'referrer-policy': 'same-origin',
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store'
}

function escapeHtml (text: string): string {
  return text.replace(/[&<>"']/g, c => `&#${c.charCodeAt(0)};`)
}

function page (title: string, body: string, status = 200): Response {
  const html = `<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>` +
    '<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36em;margin:3em auto;padding:0 1em;color:#222}code{background:#f3f3f3;padding:0 .3em;word-break:break-all}button{font:inherit;padding:.4em 1.2em;margin-right:.5em}</style>' +
    `</head><body>${body}</body></html>\n`
  return new Response(html, { status, headers: { ...CONSENT_HEADERS, 'content-type': 'text/html; charset=utf-8' } })
}

export function createConsent (components: ConsentComponents, init: ConsentInit = {}): (request: Request, port: string) => Promise<Response> {
  const { users } = components
  const nonceTtl = init.nonceTtl ?? NONCE_TTL_MS
  /** nonce → the site its page asked about, and until when it counts; insertion order is age. */
  const nonces = new Map<string, { site: string, expires: number }>()

  function issue (site: string): string {
    const now = Date.now()
    for (const [n, v] of nonces) if (v.expires <= now) nonces.delete(n)
    while (nonces.size >= MAX_NONCES) nonces.delete(nonces.keys().next().value as string)
    const nonce = randomBytes(32).toString('base64url')
    nonces.set(nonce, { site, expires: now + nonceTtl })
    return nonce
  }

  function ask (site: string, port: string): Response {
    const allowed = users.allowed(site)
    const nonce = issue(site)
    const siteUrl = `http://${site}.ipns.localhost${port === '' ? '' : `:${port}`}/`
    const form = (action: 'allow' | 'revoke', label: string): string =>
      `<form method="post" action="/allow"><input type="hidden" name="site" value="${escapeHtml(site)}"><input type="hidden" name="nonce" value="${escapeHtml(nonce)}"><input type="hidden" name="action" value="${action}"><button type="submit" id="${action}">${label}</button></form>`
    return page('Allow this site to write as you?', `<h1>Allow this site to write as you?</h1>
<p>The site <a href="${escapeHtml(siteUrl)}"><code>${escapeHtml(site)}</code></a> asks to write files as you: your node will sign them with your key for this site, <code>${escapeHtml(users.id(site))}</code>, and publish them to everyone who follows the site.</p>
<p>It cannot write on other sites, and other sites cannot tell this id is yours. You can revoke this at any time, here or in the web UI.</p>
<p>Right now this site ${allowed ? '<strong>may</strong>' : 'may <strong>not</strong>'} write as you.</p>
${allowed ? form('revoke', 'Revoke') : form('allow', 'Allow this site')}`)
  }

  async function answer (request: Request, port: string): Promise<Response> {
    const own = `http://${(request.headers.get('host') ?? '').toLowerCase()}`
    const origin = request.headers.get('origin')
    if (origin === null || origin.toLowerCase() !== own) throw new WeftError('ERR_CONSENT_INVALID', `the answer must come from the confirmation page itself (${own}), not ${(origin ?? 'no origin').slice(0, 200)}`)
    const fetchSite = request.headers.get('sec-fetch-site')
    if (fetchSite !== null && fetchSite !== 'same-origin') throw new WeftError('ERR_CONSENT_INVALID', `a ${fetchSite} answer is refused`)
    const text = await request.text()
    if (text.length > MAX_FORM_BYTES) throw new WeftError('ERR_USAGE', 'the form is too large')
    const form = new URLSearchParams(text)
    const nonce = form.get('nonce') ?? ''
    const held = nonces.get(nonce)
    // single use: gone whatever the outcome
    nonces.delete(nonce)
    if (held === undefined || held.expires <= Date.now()) throw new WeftError('ERR_CONSENT_INVALID', 'this answer has no valid nonce: load the confirmation page again')
    const site = parseSiteName(form.get('site') ?? '').name
    if (site !== held.site) throw new WeftError('ERR_CONSENT_INVALID', 'the nonce was issued for another site')
    const action = form.get('action')
    if (action !== 'allow' && action !== 'revoke') throw new WeftError('ERR_USAGE', 'action must be allow or revoke')
    users.allow(site, action === 'allow')
    const siteUrl = `http://${site}.ipns.localhost${port === '' ? '' : `:${port}`}/`
    return page(action === 'allow' ? 'Site allowed' : 'Site revoked', `<h1 id="done">${action === 'allow' ? 'Allowed' : 'Revoked'}</h1>
<p>The site <code>${escapeHtml(site)}</code> ${action === 'allow' ? 'may now write as you. Close this window and go back to it' : 'may no longer write as you'}.</p>
<p><a href="${escapeHtml(siteUrl)}">Back to the site</a></p>`)
  }

  return async (request, port) => {
    try {
      if (request.method === 'GET' || request.method === 'HEAD') {
        const site = parseSiteName(new URL(request.url).searchParams.get('site') ?? '').name
        return ask(site, port)
      }
      if (request.method === 'POST') return await answer(request, port)
      throw new WeftError('ERR_USAGE', `the confirmation page takes GET and POST, not ${request.method}`)
    } catch (err) {
      const e = toWeftError(err)
      return page(e.code, `<h1>${gatewayStatus(e)}</h1><p>${escapeHtml(e.message)}</p><p><code>${e.code}</code></p>`, gatewayStatus(e))
    }
  }
}
