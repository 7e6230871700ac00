// weft's web UI: a plain ES module, no build step, nothing loaded from elsewhere.
// It talks to the control API on its own origin with the token the daemon's link carries
// (#token=…), kept in sessionStorage for this tab only and taken out of the address bar.
// Everything shown is set with textContent: names, labels and site titles come from
// other people and are never parsed as HTML.

import { nameIn, openUrl, siteUrl } from './addresses.js'

const TOKEN_KEY = 'weft-token'
const REFRESH_MS = 3000
/** Files uploaded at once while publishing a folder. */
const PARALLEL_UPLOADS = 4

const $ = id => document.getElementById(id)

class ApiError extends Error {
  constructor (code, message) {
    super(message)
    this.code = code
  }
}

// ---- token ----

function takeToken () {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash)
  if (m !== null) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]))
    history.replaceState(null, '', location.pathname + location.search)
  }
  return sessionStorage.getItem(TOKEN_KEY)
}

let token = takeToken()

function showTokenForm (message) {
  token = null
  sessionStorage.removeItem(TOKEN_KEY)
  $('app').hidden = true
  $('token-section').hidden = false
  $('token-error').textContent = message ?? ''
  $('token-input').focus()
}

// ---- API ----

function errorFrom (body, status) {
  if (status === 401) showTokenForm('The node refused the token: paste the current one from api.token.')
  return new ApiError(body?.code ?? 'ERR_INTERNAL', body?.message ?? `the node answered HTTP ${status}`)
}

async function post (route, body) {
  let response
  try {
    response = await fetch(`/api/weft/v1/${route}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body ?? {})
    })
  } catch {
    throw new ApiError('ERR_API_UNREACHABLE', 'the node does not answer: is `weft daemon` running?')
  }
  if (!response.ok) throw errorFrom(await response.json().catch(() => undefined), response.status)
  return response
}

async function api (route, body) {
  return await (await post(route, body)).json()
}

/** A progress route: NDJSON lines `{progress}`, then `{result}` or `{error}`. */
async function apiProgress (route, body, onProgress) {
  const response = await post(route, body)
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader()
  let buffered = ''
  while (true) {
    const { value, done } = await reader.read()
    if (done) break
    buffered += value
    let newline
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const line = JSON.parse(buffered.slice(0, newline))
      buffered = buffered.slice(newline + 1)
      if (line.progress !== undefined) onProgress(line.progress)
      if (line.error !== undefined) throw new ApiError(line.error.code, line.error.message)
      if ('result' in line) return line.result
    }
  }
  throw new ApiError('ERR_API_UNREACHABLE', `the node stopped in the middle of ${route}`)
}

function uploadFile (uploadId, path, file, onLoaded) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest()
    xhr.open('PUT', `/api/weft/v1/ui/upload?id=${uploadId}&path=${encodeURIComponent(path)}`)
    xhr.setRequestHeader('authorization', `Bearer ${token}`)
    xhr.setRequestHeader('content-type', 'application/octet-stream')
    xhr.upload.onprogress = event => { onLoaded(event.loaded) }
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        onLoaded(file.size)
        resolve()
        return
      }
      let body
      try { body = JSON.parse(xhr.responseText) } catch { }
      reject(errorFrom(body, xhr.status))
    }
    xhr.onerror = () => { reject(new ApiError('ERR_API_UNREACHABLE', `uploading ${path} failed: the node does not answer`)) }
    xhr.send(file)
  })
}

// ---- formatting and DOM ----

function formatBytes (n) {
  if (n < 1000) return `${n} B`
  const units = ['kB', 'MB', 'GB', 'TB']
  let value = n
  let unit = -1
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000
    unit++
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`
}

function timeAgo (ms) {
  if (ms === undefined || ms === null) return '–'
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000))
  if (s < 10) return 'just now'
  if (s < 60) return `${s} s ago`
  if (s < 3600) return `${Math.floor(s / 60)} min ago`
  if (s < 172800) return `${Math.floor(s / 3600)} h ago`
  return `${Math.floor(s / 86400)} days ago`
}

/** `bafybeif77…4fpuvahu`: long ids stay recognisable in a narrow column. */
function shorten (text, head = 10, tail = 6) {
  return text.length <= head + tail + 1 ? text : `${text.slice(0, head)}…${text.slice(-tail)}`
}

function el (tag, attrs = {}, ...children) {
  const node = document.createElement(tag)
  for (const [key, value] of Object.entries(attrs)) {
    if (key === 'class') node.className = value
    else if (key === 'testid') node.dataset.testid = value
    else if (key in node && typeof value !== 'string') node[key] = value
    else node.setAttribute(key, value)
  }
  node.append(...children)
  return node
}

/** Changes text only when it differs, so a refresh neither flickers nor drops a selection. */
function setText (node, text) {
  if (node.textContent !== text) node.textContent = text
}

function setAttr (node, name, value) {
  if (node.getAttribute(name) !== value) node.setAttribute(name, value)
}

function showError (node, err) {
  node.textContent = err === undefined ? '' : err instanceof ApiError ? `${err.message} (${err.code})` : String(err.message ?? err)
}

/** Keeps one row per key in `container`, in the items' order, creating only new ones. */
function syncRows (container, items, keyOf, create, update) {
  const existing = new Map([...container.children].map(row => [row.dataset.key, row]))
  items.forEach((item, i) => {
    const key = keyOf(item)
    let row = existing.get(key)
    existing.delete(key)
    if (row === undefined) {
      row = create(item)
      row.dataset.key = key
    }
    update(row, item)
    if (container.children[i] !== row) container.insertBefore(row, container.children[i] ?? null)
  })
  for (const row of existing.values()) row.remove()
}

/** Runs `action` with the button disabled and errors shown on one line beside it. */
async function withButton (button, errorNode, action) {
  button.disabled = true
  showError(errorNode)
  try {
    await action()
  } catch (err) {
    showError(errorNode, err)
  } finally {
    button.disabled = false
  }
}

// ---- node status ----

async function refreshStatus () {
  const [id, stats, repo] = await Promise.all([api('id'), api('stats'), api('repo/stat')])
  setText($('status-id'), shorten(id.id, 12, 6))
  setAttr($('status-id'), 'title', id.id)
  const peers = await api('peers').then(list => String(list.length), err => {
    if (err.code === 'ERR_OFFLINE') return 'offline'
    throw err
  })
  setText($('status-peers'), peers)
  setText($('status-sent'), `${formatBytes(stats.bytesSent)} · ${stats.blocksSent} blocks`)
  setText($('status-received'), `${formatBytes(stats.bytesReceived)} · ${stats.blocksReceived} blocks`)
  const share = repo.storageMax > 0 ? Math.min(1, repo.bytes / repo.storageMax) : 0
  // A sliver stays visible once anything is stored.
  const width = `${(repo.bytes > 0 ? Math.max(share, 0.005) * 100 : 0).toFixed(1)}%`
  const fill = $('storage-fill')
  if (fill.style.width !== width) fill.style.width = width
  fill.classList.toggle('high', share > 0.9)
  setText($('storage-text'), `${formatBytes(repo.bytes)} of ${formatBytes(repo.storageMax)} (${Math.round(share * 100)}%)`)
}

// ---- my sites ----

function siteRow (site) {
  const row = el('article', { class: 'site', testid: 'site-row' })
  const folder = el('input', { type: 'file', class: 'folder', testid: 'folder-input', webkitdirectory: '', multiple: '', 'aria-label': `folder to publish as ${site.label}` })
  const publish = el('button', { type: 'button', class: 'publish', testid: 'publish-button' }, 'Publish')
  const versions = el('button', { type: 'button', class: 'versions-button secondary', testid: 'versions-button', 'aria-expanded': 'false' }, 'Versions')
  const progress = el('progress', { class: 'progress', testid: 'publish-progress', max: '1', value: '0', hidden: '' })
  const log = el('ol', { class: 'log', testid: 'publish-log' })
  const error = el('p', { class: 'error', role: 'alert', testid: 'site-error' })
  const panel = el('div', { class: 'versions', testid: 'versions', hidden: '' })
  row.append(
    el('div', { class: 'head' },
      el('strong', { class: 'label' }),
      el('a', { class: 'name', rel: 'noreferrer' }),
      el('span', { class: 'state' })),
    el('dl', { class: 'facts' },
      el('dt', {}, 'version'), el('dd', { class: 'sequence', testid: 'site-sequence' }),
      el('dt', {}, 'root'), el('dd', {}, el('code', { class: 'root', testid: 'site-root' }))),
    el('div', { class: 'row' }, folder, publish, versions),
    progress, log, error, panel)
  publish.addEventListener('click', () => {
    void withButton(publish, error, async () => {
      await publishFolder(row.dataset.label, folder.files, { progress, log })
      folder.value = ''
      await refresh()
    })
  })
  versions.addEventListener('click', () => {
    const open = panel.hidden
    panel.hidden = !open
    versions.setAttribute('aria-expanded', String(open))
    if (open) void withButton(versions, error, async () => { await showVersions(row.dataset.name, panel) })
  })
  return row
}

function updateSiteRow (row, site) {
  row.dataset.label = site.label
  row.dataset.name = site.name
  setText(row.querySelector('.label'), site.label)
  const link = row.querySelector('.name')
  setAttr(link, 'href', siteUrl(site.name, location.port))
  setAttr(link, 'title', site.address)
  setText(link, shorten(site.name, 14, 6))
  const state = site.sequence === undefined || site.sequence === null ? 'not published yet' : site.published ? 'published' : 'waiting for the network'
  const stateNode = row.querySelector('.state')
  setText(stateNode, state)
  setAttr(stateNode, 'class', `state ${site.published && site.sequence !== undefined ? 'ok' : 'pending'}`)
  setText(row.querySelector('.sequence'), site.sequence ?? '–')
  const root = row.querySelector('.root')
  setText(root, site.root ?? '–')
  setAttr(root, 'title', site.root ?? '')
}

function relativePath (file) {
  const full = file.webkitRelativePath !== '' ? file.webkitRelativePath : file.name
  const segments = full.split('/')
  // The picked folder's own name is not part of the site.
  return (segments.length > 1 ? segments.slice(1) : segments).join('/')
}

function uploadId () {
  const bytes = crypto.getRandomValues(new Uint8Array(16))
  return [...bytes].map(b => b.toString(16).padStart(2, '0')).join('')
}

async function publishFolder (label, fileList, { progress, log }) {
  const files = [...(fileList ?? [])]
    .map(file => ({ file, path: relativePath(file) }))
    .filter(({ path }) => path !== '' && !path.split('/').some(segment => segment.startsWith('.')))
  if (files.length === 0) throw new Error('choose a folder with at least one file first')
  log.replaceChildren()
  const line = text => { log.append(el('li', {}, text)) }
  const total = files.reduce((sum, { file }) => sum + file.size, 0)
  const loaded = new Map()
  progress.hidden = false
  progress.max = Math.max(total, 1)
  progress.value = 0
  const id = uploadId()
  line(`uploading ${files.length} files, ${formatBytes(total)}`)
  let next = 0
  const worker = async () => {
    while (next < files.length) {
      const { file, path } = files[next++]
      await uploadFile(id, path, file, n => {
        loaded.set(path, n)
        let sum = 0
        for (const v of loaded.values()) sum += v
        progress.value = sum
      })
    }
  }
  await Promise.all(Array.from({ length: Math.min(PARALLEL_UPLOADS, files.length) }, worker))
  progress.value = progress.max
  const importing = el('li', {}, 'adding to the store…')
  log.append(importing)
  const result = await apiProgress('ui/publish', { upload: id, site: label }, event => {
    if (event.type === 'content:import:bytes') {
      importing.textContent = `adding to the store: ${event.files} of ${event.totalFiles} files, ${formatBytes(event.bytes)} of ${formatBytes(event.totalBytes)}`
    }
  })
  importing.textContent = `added ${files.length} files to the store`
  line(result.changed
    ? `published version ${result.sequence}${result.announced ? '' : ' (goes out when the node has a peer)'}`
    : `same content as version ${result.sequence}: nothing new to publish`)
  line(`root ${result.root}`)
}

async function showVersions (name, panel) {
  panel.replaceChildren(el('p', { class: 'hint' }, 'loading…'))
  const info = await api('site/info', { name })
  const rows = [...info.versions].reverse().map(v => el('tr', {},
    el('td', {}, v.sequence),
    el('td', {}, el('code', { title: v.value }, shorten(v.value.replace(/^\/ipfs\//, ''), 14, 8))),
    el('td', {}, timeAgo(v.firstSeen)),
    el('td', {}, v.pinned ? 'kept' : '')))
  const facts = []
  if (info.site?.title !== undefined) facts.push(`title: ${info.site.title}`)
  if (info.size !== undefined) facts.push(`size: ${formatBytes(info.size)}`)
  facts.push(`${info.peers.length} peers seen serving it`)
  panel.replaceChildren(
    el('p', { class: 'hint' }, facts.join(' · ')),
    rows.length === 0
      ? el('p', { class: 'empty' }, 'no version yet')
      : el('table', {}, el('thead', {}, el('tr', {}, el('th', {}, 'version'), el('th', {}, 'root'), el('th', {}, 'first seen'), el('th', {}))), el('tbody', {}, ...rows)))
}

async function refreshSites () {
  const sites = await api('site/list')
  syncRows($('sites'), sites, s => s.name, siteRow, updateSiteRow)
  $('sites-empty').hidden = sites.length > 0
}

// ---- followed sites ----

function followedRow (site) {
  const error = el('span', { class: 'error', role: 'alert' })
  const unfollow = el('button', { type: 'button', class: 'secondary', testid: 'unfollow-button' }, 'Unfollow')
  unfollow.addEventListener('click', () => {
    void withButton(unfollow, error, async () => {
      await api('unfollow', { name: site.name })
      await refresh()
    })
  })
  return el('tr', { testid: 'followed-row' },
    el('td', {}, el('a', { class: 'name', rel: 'noreferrer' })),
    el('td', { class: 'sequence' }),
    el('td', {}, el('code', { class: 'root' })),
    el('td', { class: 'updated' }),
    el('td', {}, el('span', { class: 'state', testid: 'followed-state' })),
    el('td', {}, unfollow, error))
}

function updateFollowedRow (row, site) {
  row.dataset.name = site.name
  const link = row.querySelector('.name')
  setAttr(link, 'href', siteUrl(site.name, location.port))
  setAttr(link, 'title', `/ipns/${site.name}`)
  setText(link, shorten(site.name, 14, 6))
  setText(row.querySelector('.sequence'), site.sequence ?? '–')
  const root = row.querySelector('.root')
  setText(root, site.root === undefined ? '–' : shorten(site.root, 10, 6))
  setAttr(root, 'title', site.root ?? '')
  setText(row.querySelector('.updated'), timeAgo(site.updated))
  const [text, title] = followedState(site)
  const state = row.querySelector('.state')
  setText(state, text)
  setAttr(state, 'title', title)
  setAttr(state, 'class', `state ${site.state === 'held' ? 'ok' : 'pending'}`)
}

/** What the node holds of a followed site, in words, and a longer line for the tooltip. */
function followedState (site) {
  switch (site.state) {
    case 'held': return ['held', 'every block of the newest version is on this node']
    case 'updating': return ['updating', `version ${site.held} is served until version ${site.sequence} is fetched`]
    case 'fetching': return ['fetching', `fetching version ${site.sequence}`]
    case 'no-record': return ['no record yet', 'no record of this site was found yet; it is fetched when one is published']
    default: return ['waiting for a peer', `no connected peer has version ${site.sequence} yet; it is fetched when one does`]
  }
}

async function refreshFollowing () {
  const followed = await api('following')
  syncRows($('followed'), followed, s => s.name, followedRow, updateFollowedRow)
  $('followed-empty').hidden = followed.length > 0
}

// ---- sites that may act as the user (write, keep private data, send messages) ----

function consentRow (site) {
  const error = el('span', { class: 'error', role: 'alert' })
  const toggle = el('button', { type: 'button', class: 'secondary', testid: 'consent-button' })
  toggle.addEventListener('click', () => {
    void withButton(toggle, error, async () => {
      await api('user/allow', { name: site.name, allowed: toggle.dataset.allowed !== 'true' })
      await refresh()
    })
  })
  return el('tr', { testid: 'consent-row' },
    el('td', {}, el('a', { class: 'name', rel: 'noreferrer' })),
    el('td', {}, el('code', { class: 'user-id' })),
    el('td', { class: 'private', testid: 'private-usage' }),
    el('td', { class: 'allowed' }),
    el('td', {}, toggle, error))
}

function updateConsentRow (row, site) {
  row.dataset.name = site.name
  const link = row.querySelector('.name')
  setAttr(link, 'href', siteUrl(site.name, location.port))
  setAttr(link, 'title', `/ipns/${site.name}`)
  setText(link, site.label ?? shorten(site.name, 14, 6))
  const id = row.querySelector('.user-id')
  setText(id, shorten(site.id, 10, 6))
  setAttr(id, 'title', site.id)
  const usage = site.private
  const privateCell = row.querySelector('.private')
  setText(privateCell, usage === undefined || usage.files === 0 ? '–' : `${usage.files} ${usage.files === 1 ? 'file' : 'files'}, ${formatBytes(usage.bytes)}`)
  setAttr(privateCell, 'title', usage === undefined ? 'no private data for this site' : `${formatBytes(usage.stored)} stored sealed (padded)${site.allowed ? '' : '; the site cannot read it while its consent is withdrawn'}`)
  setText(row.querySelector('.allowed'), site.allowed ? 'yes' : 'no')
  const toggle = row.querySelector('button')
  toggle.dataset.allowed = String(site.allowed)
  setText(toggle, site.allowed ? 'Withdraw consent' : 'Allow')
  setAttr(toggle, 'title', site.allowed ? 'the site stops acting as you; its private data stays here, sealed' : 'let the site act as you')
}

async function refreshConsent () {
  let sites
  try {
    const [users, stored] = await Promise.all([api('user/sites'), api('private/sites')])
    const usage = new Map(stored.map(u => [u.site, u]))
    sites = users.map(site => ({ ...site, private: usage.get(site.name) }))
  } catch (err) {
    // a node without its users service has nothing to allow
    if (err instanceof ApiError && err.code === 'ERR_OFFLINE') {
      $('consent-section').hidden = true
      return
    }
    throw err
  }
  $('consent-section').hidden = false
  syncRows($('consent'), sites, s => s.name, consentRow, updateConsentRow)
  $('consent-empty').hidden = sites.length > 0
}

// ---- refresh loop and forms ----

let running
let queued

/** One refresh at a time (a call during one runs once more after it); a failure shows in the banner until the node answers again. */
async function refresh () {
  if (token === null) return
  if (running !== undefined) {
    queued ??= running.then(() => { queued = undefined; return refresh() })
    return await queued
  }
  running = (async () => {
    try {
      await Promise.all([refreshStatus(), refreshSites(), refreshFollowing(), refreshConsent()])
      $('banner').hidden = true
    } catch (err) {
      if (token === null) return
      $('banner').hidden = false
      showError($('banner'), err)
    }
  })().finally(() => { running = undefined })
  return await running
}

function start () {
  $('token-section').hidden = true
  $('app').hidden = false
  void refresh()
}

$('token-form').addEventListener('submit', event => {
  event.preventDefault()
  // The daemon's whole link pasted here works too: its #token= part is the token.
  const pasted = $('token-input').value.trim()
  const link = /#(?:.*&)?token=([^&]+)/.exec(pasted)
  const value = link === null ? pasted : decodeURIComponent(link[1])
  if (value === '') return
  sessionStorage.setItem(TOKEN_KEY, value)
  token = value
  $('token-input').value = ''
  start()
})

$('forget-token').addEventListener('click', () => { showTokenForm() })

// The daemon's link pasted into the address bar of this tab changes only the hash: no reload.
window.addEventListener('hashchange', () => {
  const next = takeToken()
  if (next === null || next === token) return
  token = next
  start()
})

/** Resolvers whose answers can be proven against a chain: an unproven one is worth a warning. */
const CHAIN_RESOLVERS = new Set(['ens', 'hns', 'namecoin'])
/** The input whose unproven answer was shown: a second Open opens it anyway. */
let warnedFor = ''

$('open-input').addEventListener('input', () => { setText($('open-note'), ''); warnedFor = '' })

$('open-form').addEventListener('submit', event => {
  event.preventDefault()
  const input = $('open-input').value
  void withButton($('open-button'), $('open-error'), async () => {
    const url = openUrl(input, location.port)
    const name = nameIn(input)
    // a chain name whose answer the node could not prove is said so before the site opens
    if (name !== undefined && warnedFor !== input) {
      const resolved = await api('name/resolve', { name })
      if (!resolved.proven && CHAIN_RESOLVERS.has(resolved.resolver)) {
        warnedFor = input
        setText($('open-note'), `${name} is not proven against its chain (${resolved.proof ?? 'no proof'}): the ${resolved.resolver} endpoint's word is all there is. Press Open again to open it anyway.`)
        return
      }
    }
    setText($('open-note'), '')
    location.assign(url)
  })
})

$('create-form').addEventListener('submit', event => {
  event.preventDefault()
  void withButton($('create-button'), $('create-error'), async () => {
    await api('site/create', { label: $('create-label').value.trim() })
    $('create-label').value = ''
    await refresh()
  })
})

$('follow-form').addEventListener('submit', event => {
  event.preventDefault()
  const button = $('follow-button')
  void withButton(button, $('follow-error'), async () => {
    button.textContent = 'Following…'
    try {
      await api('follow', { name: $('follow-name').value.trim() })
      $('follow-name').value = ''
      await refresh()
    } finally {
      button.textContent = 'Follow'
    }
  })
})

setInterval(() => { if (!document.hidden) void refresh() }, REFRESH_MS)
document.addEventListener('visibilitychange', () => { if (!document.hidden) void refresh() })

if (token === null) showTokenForm()
else start()
