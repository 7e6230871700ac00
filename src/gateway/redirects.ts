/**
 * `_redirects` at a site's root (the IPFS web redirects file spec): one rule a line,
 * `from to [status]`, `#` comments. `from` is a path whose segments may be `:placeholders`
 * and whose last may be `*` (the rest, `:splat` in `to`). Rules are tried in order, and
 * only for paths that do not exist; 200 rewrites, 3xx redirects, 404/410/451 answer with
 * that status and the page at `to`. Single-page apps use `/* /index.html 200`.
 */
import { WeftError } from '../errors.ts'

export const MAX_REDIRECTS_BYTES = 64 * 1024
const STATUSES = new Set([200, 301, 302, 303, 307, 308, 404, 410, 451])

export interface RedirectRule {
  from: string[]
  splat: boolean
  to: string
  status: number
}

export interface RedirectMatch {
  to: string
  status: number
}

/** The wording the web redirects file spec's tests look for ("could not parse _redirects:", "redirects file size cannot exceed"). */
export function tooLarge (): WeftError {
  return new WeftError('ERR_REDIRECTS_INVALID', `could not parse _redirects: redirects file size cannot exceed ${MAX_REDIRECTS_BYTES} bytes`)
}

function invalid (line: number, why: string): WeftError {
  return new WeftError('ERR_REDIRECTS_INVALID', `could not parse _redirects: line ${line}: ${why}`)
}

export function parseRedirects (text: string): RedirectRule[] {
  if (Buffer.byteLength(text) > MAX_REDIRECTS_BYTES) throw tooLarge()
  const rules: RedirectRule[] = []
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/#.*$/, '').trim()
    if (line === '') return
    const fields = line.split(/\s+/)
    if (fields.length < 2 || fields.length > 3) throw invalid(i + 1, `expected "from to [status]", got "${line.slice(0, 80)}"`)
    const [from, to, statusText = '301'] = fields
    if (!from.startsWith('/')) throw invalid(i + 1, `"${from.slice(0, 80)}" must start with /`)
    if (!to.startsWith('/') && !/^https?:\/\//.test(to)) throw invalid(i + 1, `"${to.slice(0, 80)}" must be a path or an http(s) URL`)
    const status = Number(statusText)
    if (!/^\d{3}$/.test(statusText) || !STATUSES.has(status)) throw invalid(i + 1, `status ${statusText.slice(0, 10)} is not one of ${[...STATUSES].join(', ')}`)
    const segments = from.split('/').slice(1)
    const splat = segments.at(-1) === '*'
    if (splat) segments.pop()
    if (segments.includes('*')) throw invalid(i + 1, '* may only end a path')
    if (segments.at(-1) === '') segments.pop()
    rules.push({ from: segments, splat, to, status })
  })
  return rules
}

/** The first rule matching `path` (already decoded, starting with /), with its placeholders filled in. */
export function matchRedirect (rules: RedirectRule[], path: string): RedirectMatch | undefined {
  const segments = path.split('/').slice(1)
  for (const rule of rules) {
    const fromSegments = rule.from
    const wanted = segments.at(-1) === '' ? segments.slice(0, -1) : segments
    if (rule.splat ? wanted.length < fromSegments.length : wanted.length !== fromSegments.length) continue
    const values = new Map<string, string>()
    let ok = true
    for (let i = 0; i < fromSegments.length && ok; i++) {
      const pattern = fromSegments[i]
      if (pattern.startsWith(':')) values.set(pattern, wanted[i])
      else ok = pattern === wanted[i]
    }
    if (!ok) continue
    if (rule.splat) values.set(':splat', wanted.slice(fromSegments.length).join('/'))
    // longest placeholder first, so :id does not eat the start of :identity
    const names = [...values.keys()].sort((a, b) => b.length - a.length)
    let to = rule.to
    for (const name of names) to = to.replaceAll(name, values.get(name) ?? '')
    return { to, status: rule.status }
  }
  return undefined
}
