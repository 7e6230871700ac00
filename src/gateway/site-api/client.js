// weft site API client: import { site, user, write, remove, query, sendMessage, messages, on, allow, privateFiles, sharedFiles, sharing } from '/.weft/client.js'
// Served by the node on the site's own origin; it only calls /.weft/ there (same origin).

/** An error from the site API, with its stable code (docs/errors.md) and, for ERR_SITE_NOT_ALLOWED, the confirmation page. */
export class WeftApiError extends Error {
  constructor (code, message, allow) {
    super(message)
    this.name = 'WeftApiError'
    this.code = code
    this.allow = allow
  }
}

// the confirmation page, on the node's UI origin; learnt from user() or a refused write
let allowUrl

async function call (method, path, body, type) {
  const init = { method, credentials: 'same-origin', headers: {} }
  if (body !== undefined) {
    init.body = body
    init.headers['content-type'] = type
  }
  const response = await fetch(`/.weft/${path}`, init)
  const data = await response.json().catch(() => ({}))
  if (!response.ok) {
    if (typeof data.allow === 'string') allowUrl = data.allow
    throw new WeftApiError(data.error ?? `HTTP_${response.status}`, data.message ?? response.statusText, data.allow)
  }
  return data
}

function filePath (path) {
  return String(path).split('/').map(encodeURIComponent).join('/')
}

/** `{ name, address, sequence, root, users, db }`: the site's version and its rules. */
export function site () { return call('GET', 'site') }

/** `{ id, allowed, canWrite, allow }`: this person's id on this site, whether the site may write as them, and the confirmation page. */
export async function user () {
  const u = await call('GET', 'user')
  if (typeof u.allow === 'string') allowUrl = u.allow
  return u
}

/** Writes one file of this user's contribution (a string, bytes, a Blob, or any JSON value); resolves with the contribution. */
export function write (path, data) {
  let body = data
  let type = 'application/octet-stream'
  if (typeof data === 'string') type = 'text/plain; charset=utf-8'
  else if (!(data instanceof Uint8Array || data instanceof ArrayBuffer || data instanceof Blob)) {
    body = JSON.stringify(data)
    type = 'application/json'
  }
  return call('PUT', `user/files/${filePath(path)}`, body, type)
}

/** Removes one file of this user's contribution. */
export function remove (path) { return call('DELETE', `user/files/${filePath(path)}`) }

/** Seals a message (a string or bytes) to another user of this site, by their id here; resolves with `{ id, from, to, sent, size, announced }`. */
export function sendMessage (to, data) {
  const type = typeof data === 'string' ? 'text/plain; charset=utf-8' : 'application/octet-stream'
  return call('POST', `messages/${encodeURIComponent(to)}`, data, type)
}

/** The messages this person can open on this site, newest first: `[{ id, from, sent, body, encoding }]` (`body` text, or base64 when `encoding` is "base64"). */
export async function messages () {
  const { messages } = await call('GET', 'messages')
  return messages
}

/** Rows from the site's database: read-only SQL with `?` or `:name` parameters. */
export async function query (sql, params) {
  const { rows } = await call('POST', 'db/query', JSON.stringify(params === undefined ? { sql } : { sql, params }), 'application/json')
  return rows
}

/**
 * This person's private files on this site, sealed by their node (needs the same consent as write):
 * put(path, data), get(path) → Uint8Array, text(path) → string, list() → { files, usage }, remove(path).
 */
export const privateFiles = {
  put (path, data) {
    const body = typeof data === 'string' || data instanceof Uint8Array || data instanceof ArrayBuffer || data instanceof Blob ? data : JSON.stringify(data)
    return call('PUT', `private/${filePath(path)}`, body, 'application/octet-stream')
  },
  async get (path) {
    const response = await fetch(`/.weft/private/${filePath(path)}`, { credentials: 'same-origin' })
    if (!response.ok) {
      const data = await response.json().catch(() => ({}))
      if (typeof data.allow === 'string') allowUrl = data.allow
      throw new WeftApiError(data.error ?? `HTTP_${response.status}`, data.message ?? response.statusText, data.allow)
    }
    return new Uint8Array(await response.arrayBuffer())
  },
  async text (path) { return new TextDecoder().decode(await privateFiles.get(path)) },
  list () { return call('GET', 'private/') },
  remove (path) { return call('DELETE', `private/${filePath(path)}`) }
}

/** Folders other users of this site share with the person: list() → { me, shared: [{ from, folder, generation, files }] }. */
export const sharedFiles = {
  list () { return call('GET', 'shared/') },
  files (from, folder) { return call('GET', `shared/${encodeURIComponent(from)}/${encodeURIComponent(folder)}/`) },
  async get (from, folder, path) {
    const response = await fetch(`/.weft/shared/${encodeURIComponent(from)}/${encodeURIComponent(folder)}/${filePath(path)}`, { credentials: 'same-origin' })
    if (!response.ok) {
      const data = await response.json().catch(() => ({}))
      if (typeof data.allow === 'string') allowUrl = data.allow
      throw new WeftApiError(data.error ?? `HTTP_${response.status}`, data.message ?? response.statusText, data.allow)
    }
    return new Uint8Array(await response.arrayBuffer())
  },
  async text (from, folder, path) { return new TextDecoder().decode(await sharedFiles.get(from, folder, path)) }
}

/** The person's own shares: share(folder, userId), revoke(folder, userId) (a new folder key for the others), list(). */
export const sharing = {
  list () { return call('GET', 'sharing/') },
  share (folder, user) { return call('PUT', `sharing/${encodeURIComponent(folder)}/${encodeURIComponent(user)}`) },
  revoke (folder, user) { return call('DELETE', `sharing/${encodeURIComponent(folder)}/${encodeURIComponent(user)}`) }
}

let source
const handlers = new Map()

/** Calls `fn(detail)` on each `contribution`, `removed`, `version` or `message` event of this site; returns a function that stops it. */
export function on (event, fn) {
  source ??= new EventSource('/.weft/events')
  if (!handlers.has(event)) {
    handlers.set(event, new Set())
    source.addEventListener(event, e => {
      const detail = JSON.parse(e.data)
      for (const h of handlers.get(event)) h(detail)
    })
  }
  handlers.get(event).add(fn)
  return () => { handlers.get(event).delete(fn) }
}

/** Opens the node's confirmation page in a new top-level window, where the person allows this site to write as them. */
export async function allow () {
  if (allowUrl === undefined) await user()
  // noopener: the page and this site share nothing, not even a window reference
  return window.open(allowUrl, '_blank', 'noopener')
}
