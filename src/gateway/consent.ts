/**
 * The confirmation page, on the UI origin: `GET /allow?site=<name>` asks the person whether
 * the site may write as them (sign contributions with their key for that site), and its form's
 * `POST /allow` records the answer (users.allow). A node signs for a site only after that.
 *
 * No site can say yes for the person: the page cannot be framed (X-Frame-Options and CSP
 * frame-ancestors), runs no script and opens no window back to its opener (COOP), and the POST
 * counts only with a single-use nonce that only this page carries and an Origin equal to the
 * UI's own, so neither a cross-site form nor a script on a site's origin can submit it.
 *
 * Nor can a site trick the person's clicks into a yes (a site that navigates its opener here
 * between the two clicks of a double-click): Allow counts only with a box the person ticks,
 * away from the button, and the form takes no click for its first second (a CSS animation;
 * the page runs no script).
 *
 * A nonce is `<expires>.<salt>.<HMAC(site, expires, salt)>` under a key the node draws at
 * start: nothing is kept per page, so no number of pages loaded (by other sites, say as
 * images) can push out the nonce of the page the person has open. Only spent nonces are
 * kept, until they expire.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
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
/** A double-click's second click comes within 500 ms (Windows' default double-click time, the longest common one); 1 s leaves a margin and is barely noticed by a person reading the page. */
export const CONSENT_ARM_MS = 1000
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
    '<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36em;margin:3em auto;padding:0 1em;color:#222}code{background:#f3f3f3;padding:0 .3em;word-break:break-all}button{font:inherit;padding:.4em 1.2em;margin-right:.5em}' +
    // both keyframes hold none, and the property falls back to auto when the animation ends
    `form{animation:weft-arm ${CONSENT_ARM_MS}ms}@keyframes weft-arm{from,to{pointer-events:none;opacity:.6}}label{display:block;margin:1em 0 1.5em}</style>` +
    `</head><body>${body}</body></html>\n`
  return new Response(html, { status, headers: { ...CONSENT_HEADERS, 'content-type': 'text/html; charset=utf-8' } })
}

export function createConsent (components: ConsentComponents, init: ConsentInit = {}): (request: Request, port: string) => Promise<Response> {
  const { users } = components
  const nonceTtl = init.nonceTtl ?? NONCE_TTL_MS
  /** Signs nonces; drawn per node start, so a restart ends the pages open before it. */
  const key = randomBytes(32)
  /** Spent nonce → until when it would have counted. Only answers from the UI origin with a valid MAC get here, so a flood cannot grow it. */
  const spent = new Map<string, number>()

  const mac = (site: string, expires: string, salt: string): Buffer => createHmac('sha256', key).update(`${site}\n${expires}\n${salt}`).digest()

  function issue (site: string): string {
    const expires = String(Date.now() + nonceTtl)
    const salt = randomBytes(16).toString('base64url')
    return `${expires}.${salt}.${mac(site, expires, salt).toString('base64url')}`
  }

  /** Throws unless `nonce` was issued for `site`, has not expired and was not spent; then spends it. */
  function spend (nonce: string, site: string): void {
    const now = Date.now()
    for (const [n, expires] of spent) if (expires <= now) spent.delete(n)
    const [expires, salt, tag, extra] = nonce.split('.')
    const given = Buffer.from(tag ?? '', 'base64url')
    const ok = extra === undefined && salt !== undefined && /^[0-9]{1,16}$/.test(expires) &&
      Number(expires) > now && given.length === 32 && timingSafeEqual(given, mac(site, expires, salt))
    if (!ok) throw new WeftError('ERR_CONSENT_INVALID', 'this answer has no valid nonce for this site: load the confirmation page again')
    if (spent.has(nonce)) throw new WeftError('ERR_CONSENT_INVALID', 'this confirmation page was already answered: load it again')
    spent.set(nonce, Number(expires))
  }

  function ask (site: string, port: string): Response {
    const allowed = users.allowed(site)
    const nonce = issue(site)
    const siteUrl = `http://${site}.ipns.localhost${port === '' ? '' : `:${port}`}/`
    // Allow needs the box ticked (required: the browser will not submit without it; the answer checks it too)
    const confirm = `<label><input type="checkbox" name="confirm" value="yes" id="confirm" required> I allow <code>${escapeHtml(site)}</code> to sign as me on this site</label>`
    const form = (action: 'allow' | 'revoke', label: string): string =>
      `<form method="post" action="/allow"><input type="hidden" name="site" value="${escapeHtml(site)}"><input type="hidden" name="nonce" value="${escapeHtml(nonce)}"><input type="hidden" name="action" value="${action}">${action === 'allow' ? confirm : ''}<button type="submit" id="${action}">${label}</button></form>`
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
    const site = parseSiteName(form.get('site') ?? '').name
    const action = form.get('action')
    if (action !== 'allow' && action !== 'revoke') throw new WeftError('ERR_USAGE', 'action must be allow or revoke')
    if (action === 'allow' && form.get('confirm') !== 'yes') throw new WeftError('ERR_CONSENT_INVALID', `tick "I allow ${site} to sign as me on this site" before you allow it`)
    // single use: spent once it is valid, whatever follows
    spend(form.get('nonce') ?? '', site)
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
