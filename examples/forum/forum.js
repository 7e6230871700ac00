// The weft forum: posts and replies, newest first. It uses only the site API (/.weft/client.js):
// reads go through the site's database (query), writes go into this user's posts.json (write),
// and the list refreshes when a contribution arrives or leaves (on). Drafts are this person's
// private files (privateFiles: sealed by their node, seen by no one else), and a "message" link
// by each author seals a letter only that author can open (sendMessage; the inbox is messages()).
import { allow, messages, on, privateFiles, query, sendMessage, user, write } from '/.weft/client.js'

const $ = id => document.getElementById(id)
/** A draft is saved once typing pauses this long: often enough to lose little, rarely enough that a burst of keys is one write. */
const DRAFT_SAVE_MS = 1000
let me
/** Whether the person allowed this site: drafts and messages, like posts, need it. */
let allowed = false
/** The draft the new-post form holds: drafts/<draftId>.json in the private store. */
let draftId
let draftTimer
let draftSaving = Promise.resolve()
/** This user's posts as last written: posts.json is rewritten whole with each new post. */
let mine

function el (tag, className, text) {
  const e = document.createElement(tag)
  if (className) e.className = className
  if (text !== undefined) e.textContent = text
  return e
}

function meta (post) {
  const line = el('div', 'meta', `${new Date(Number(post.date)).toLocaleString()} · ${post.user === me ? 'you' : post.user}`)
  if (me !== null && post.user !== me) line.append(messageLink(post.user))
  return line
}

function messageLink (to) {
  const button = el('button', 'link message', 'message')
  button.type = 'button'
  button.addEventListener('click', () => {
    const form = $('message-form')
    form.hidden = false
    form.elements.to.value = to
    form.elements.body.focus()
  })
  return button
}

/** A refusal shown to the person; the site not being allowed yet brings back its button. */
function failed (err) {
  if (err.code === 'ERR_SITE_NOT_ALLOWED') $('allow-box').hidden = false
  $('status').textContent = err.message
}

/** A call that needs consent worked: the person allowed the site meanwhile (in the window the node opened). */
function nowAllowed () {
  if (allowed) return
  allowed = true
  $('allow-box').hidden = true
  loadPrivate().catch(failed)
}

/** Asks the node again whether the person allowed the site (or withdrew it). */
async function checkAllowed () {
  const v = await user()
  $('allow-box').hidden = v.allowed || v.id === null
  if (v.allowed) nowAllowed()
  else allowed = false
}

// ---- drafts (private files) ----

function draftPath (id) { return `drafts/${id}.json` }

/** Saves what the new-post form holds as this draft; nothing typed, nothing saved. */
function saveDraft () {
  clearTimeout(draftTimer)
  const form = $('new-post')
  const draft = { title: form.elements.title.value, body: form.elements.body.value, saved: Date.now() }
  if (draft.title === '' && draft.body === '') return draftSaving
  draftId ??= `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`
  const path = draftPath(draftId)
  draftSaving = draftSaving.then(() => privateFiles.put(path, draft)).then(() => {
    nowAllowed()
    $('draft-state').textContent = `draft saved ${new Date(draft.saved).toLocaleTimeString()}`
    return loadDrafts()
  }, failed)
  return draftSaving
}

async function openDraft (id) {
  const draft = JSON.parse(await privateFiles.text(draftPath(id)))
  const form = $('new-post')
  form.elements.title.value = draft.title ?? ''
  form.elements.body.value = draft.body ?? ''
  draftId = id
  $('draft-state').textContent = 'draft opened'
}

async function deleteDraft (id) {
  await privateFiles.remove(draftPath(id))
  if (draftId === id) draftId = undefined
  await loadDrafts()
}

async function loadDrafts () {
  if (!allowed) return
  const { files } = await privateFiles.list()
  const read = await Promise.all(files
    .filter(f => /^drafts\/[a-z0-9-]+\.json$/.test(f.path))
    // a file there that is no draft (written some other way, say `weft private put`) is left out
    .map(async f => ({ id: f.path.slice('drafts/'.length, -'.json'.length), ...JSON.parse(await privateFiles.text(f.path)) }))
    .map(p => p.catch(err => { if (err instanceof SyntaxError) return undefined; throw err })))
  const drafts = read.filter(d => d !== undefined)
  drafts.sort((a, b) => b.saved - a.saved)
  const list = $('drafts')
  list.replaceChildren()
  for (const d of drafts) {
    const item = el('li', 'draft')
    item.dataset.id = d.id
    const open = el('button', 'open', 'Open')
    open.type = 'button'
    open.addEventListener('click', () => { openDraft(d.id).catch(failed) })
    const del = el('button', 'delete', 'Delete')
    del.type = 'button'
    del.addEventListener('click', () => { deleteDraft(d.id).catch(failed) })
    item.append(el('strong', 'title', d.title || '(untitled)'), el('span', 'meta', ` saved ${new Date(d.saved).toLocaleString()}`), open, del)
    list.append(item)
  }
  $('drafts-box').hidden = drafts.length === 0
}

// ---- messages ----

async function loadInbox () {
  if (!allowed) return
  const letters = await messages()
  const list = $('inbox')
  list.replaceChildren()
  for (const m of letters) {
    const item = el('li', 'letter')
    const line = el('div', 'meta', `${new Date(m.sent).toLocaleString()} · from ${m.from === me ? 'you' : m.from}`)
    if (m.from !== me) line.append(messageLink(m.from))
    item.append(line, el('p', 'body', m.encoding === 'utf8' ? m.body : '(not text)'))
    list.append(item)
  }
  if (letters.length === 0) list.append(el('li', 'meta', 'No messages yet.'))
  $('inbox-box').hidden = false
}

async function loadPrivate () {
  await Promise.all([loadDrafts(), loadInbox()])
}

async function myPosts () {
  if (mine !== undefined) return mine
  const answer = await fetch(`/users/${me}/posts.json`, { cache: 'no-cache' })
  mine = answer.ok ? ((await answer.json()).posts ?? []) : []
  return mine
}

async function post (fields) {
  const posts = await myPosts()
  const entry = { id: `${me.slice(-10)}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`, title: fields.title ?? null, body: fields.body, date: Date.now(), reply_to: fields.reply_to ?? null }
  try {
    await write('posts.json', { posts: [...posts, entry] })
    mine = [...posts, entry]
    $('status').textContent = ''
    nowAllowed()
    await load()
  } catch (err) {
    failed(err)
    throw err
  }
}

function replyForm (parent) {
  const form = el('form', 'reply-form')
  const body = el('textarea')
  body.name = 'body'
  body.rows = 2
  body.required = true
  body.maxLength = 4000
  body.placeholder = 'Reply'
  const button = el('button', '', 'Reply')
  button.type = 'submit'
  form.append(body, button)
  form.addEventListener('submit', e => {
    e.preventDefault()
    post({ body: body.value, reply_to: parent.id }).then(() => { body.value = '' }, () => {})
  })
  return form
}

async function load () {
  const [posts, replies] = await Promise.all([
    query('SELECT id, title, body, date, user FROM posts WHERE reply_to IS NULL ORDER BY date DESC LIMIT 50'),
    query('SELECT id, body, date, user, reply_to FROM posts WHERE reply_to IS NOT NULL ORDER BY date DESC LIMIT 500')
  ])
  const byParent = new Map()
  for (const r of replies) {
    if (!byParent.has(r.reply_to)) byParent.set(r.reply_to, [])
    byParent.get(r.reply_to).push(r)
  }
  const list = $('posts')
  list.replaceChildren()
  if (posts.length === 0) list.append(el('p', '', 'No posts yet. Write the first one.'))
  for (const p of posts) {
    const article = el('article', 'post')
    article.dataset.id = p.id
    article.append(el('h3', 'title', p.title ?? '(untitled)'), meta(p), el('p', 'body', p.body ?? ''))
    const thread = el('div', 'replies')
    for (const r of byParent.get(p.id) ?? []) {
      const reply = el('div', 'reply')
      reply.append(el('p', 'body', r.body ?? ''), meta(r))
      thread.append(reply)
    }
    article.append(thread, replyForm(p))
    list.append(article)
  }
}

let loading
let again = false
/** load(), at most one at a time: a burst of events (a catch-up brings hundreds) costs two reads, not hundreds. */
function reload () {
  if (loading !== undefined) {
    again = true
    return
  }
  loading = load().catch(err => { $('status').textContent = err.message }).finally(() => {
    loading = undefined
    if (again) {
      again = false
      reload()
    }
  })
}

async function main () {
  const u = await user()
  me = u.id
  $('who').textContent = me === null ? 'This node cannot write on sites.' : `You are ${me} on this site.`
  allowed = u.allowed
  $('allow-box').hidden = u.allowed || me === null
  $('allow').addEventListener('click', () => { allow() })
  const form = $('new-post')
  form.addEventListener('submit', e => {
    e.preventDefault()
    clearTimeout(draftTimer)
    post({ title: form.elements.title.value, body: form.elements.body.value }).then(async () => {
      form.reset()
      // posted: its draft has done its job
      await draftSaving
      const id = draftId
      draftId = undefined
      $('draft-state').textContent = ''
      if (id !== undefined) await deleteDraft(id).catch(err => { if (err.code !== 'ERR_PRIVATE_NOT_FOUND') throw err })
    }).catch(failed)
  })
  form.addEventListener('input', () => {
    if (me === null) return
    clearTimeout(draftTimer)
    // not allowed when the page loaded: the person may have allowed it since, in the node's window
    draftTimer = setTimeout(() => { (allowed ? Promise.resolve() : checkAllowed()).then(() => { if (allowed) saveDraft() }) }, DRAFT_SAVE_MS)
  })
  $('save-draft').addEventListener('click', () => { saveDraft() })
  $('message-cancel').addEventListener('click', () => { $('message-form').hidden = true })
  $('message-form').addEventListener('submit', e => {
    e.preventDefault()
    const m = e.target
    sendMessage(m.elements.to.value.trim(), m.elements.body.value).then(() => {
      m.reset()
      m.hidden = true
      $('status').textContent = 'Message sent: only they can read it.'
    }, failed)
  })
  // a write elsewhere (another tab, the person allowing the site) shows when the page is looked at again
  window.addEventListener('focus', () => { checkAllowed() })
  on('contribution', reload)
  on('removed', reload)
  // the node sends this event only to an allowed site's pages
  on('message', () => {
    if (allowed) loadInbox().catch(failed)
    else nowAllowed()
  })
  await Promise.all([load(), loadPrivate()])
}

main().catch(err => { $('status').textContent = err.message })
