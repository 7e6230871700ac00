/**
 * A folder without index.html, as an HTML page: "Index of <content path>", breadcrumbs, a
 * `..` row below the root, and per entry its name (linked by its path on this origin), size
 * and CID (linked on the path gateway with `?filename=`). The markup follows the path
 * gateway's conventions that the conformance suite checks (absolute links, `class="ipfs-hash"`),
 * so a listing reads the same here as on other gateways.
 */
import type { CID } from 'multiformats/cid'
import { ls, parseContentPath, type ContentBlockstore } from '../content/index.ts'

function escapeHtml (text: string): string {
  return text.replace(/[&<>"']/g, c => `&#${c.charCodeAt(0)};`)
}

/** A path segment as a link holds it; a name from a hostile DAG may hold a lone surrogate, which encodeURIComponent refuses. */
function encodeSegment (name: string): string {
  return encodeURIComponent(name.toWellFormed())
}

function formatSize (n: number): string {
  if (n < 1024) return `${n} B`
  const units = ['KiB', 'MiB', 'GiB', 'TiB']
  let v = n
  let i = -1
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++ }
  return `${v.toFixed(1)} ${units[i]}`
}

export interface ListingPlace {
  /** The URL's path on this origin, ending in `/` (percent-encoded as requested). */
  urlPath: string
  /** `/ipfs/<cid>/…` or `/ipns/<name>/…` (percent-encoded). */
  contentPath: string
  /** Prefix of `/ipfs/…` links: '' on the path gateway, `//localhost:<port>` from a subdomain origin. */
  pathGateway: string
}

/** `/ipfs/<a href="/ipfs/cid">cid</a>/<a href="/ipfs/cid/a">a</a>…`: each step of the content path, linked on the path gateway. */
function breadcrumbs (place: ListingPlace): string {
  const [namespace, ...parts] = place.contentPath.split('/').filter(s => s !== '').map(s => decodeURIComponent(s))
  let href = `${place.pathGateway}/${namespace}`
  const links = parts.map(part => {
    href += `/${encodeSegment(part)}`
    return `<a href="${escapeHtml(href)}">${escapeHtml(part)}</a>`
  })
  return `/${escapeHtml(namespace)}/${links.join('/')}`
}

export async function listingPage (store: ContentBlockstore, cid: CID, place: ListingPlace): Promise<string> {
  const entries = await ls(store, parseContentPath(cid.toString()))
  entries.sort((a, b) => a.type === b.type ? a.name.localeCompare(b.name) : a.type === 'directory' ? -1 : 1)
  const base = place.urlPath.endsWith('/') ? place.urlPath : `${place.urlPath}/`
  const rows = entries.map(e => {
    const href = `${base}${encodeSegment(e.name)}`
    const hash = `${place.pathGateway}/ipfs/${e.cid}?filename=${encodeURIComponent(encodeSegment(e.name))}`
    return `<tr><td><a href="${escapeHtml(href)}">${escapeHtml(e.name)}</a>${e.type === 'directory' ? '/' : ''}</td>` +
      `<td>${e.type === 'directory' ? '' : formatSize(e.size)}</td>` +
      `<td><a class="ipfs-hash" translate="no" href="${escapeHtml(hash)}">${e.cid}</a></td></tr>`
  })
  // the root of what this origin (or content path) serves has no parent to go up to
  const belowRoot = place.contentPath.split('/').filter(s => s !== '').length > 2
  const up = belowRoot ? `<tr><td><a href="${escapeHtml(base)}..">..</a></td><td></td><td></td></tr>` : ''
  const title = `Index of ${escapeHtml(decodeURIComponent(place.contentPath))}`
  return `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title>` +
    '<style>body{font:15px/1.5 system-ui,sans-serif;margin:2em auto;max-width:60em;padding:0 1em;color:#222}td{padding:.2em 1em .2em 0}a.ipfs-hash{font:12px monospace;color:#666}</style></head>' +
    `<body><h1>Index of ${breadcrumbs(place)}</h1><p><code>${cid}</code></p><table>${up}${rows.join('')}</table></body></html>\n`
}
