// The weft forum: posts and replies, newest first. It uses only the site API (/.weft/client.js):
// reads go through the site's database (query), writes go into this user's posts.json (write),
// and the list refreshes when a contribution arrives or leaves (on).
import { allow, on, query, user, write } from '/.weft/client.js'

const $ = id => document.getElementById(id)
let me
/** This user's posts as last written: posts.json is rewritten whole with each new post. */
let mine

function el (tag, className, text) {
  const e = document.createElement(tag)
  if (className) e.className = className
  if (text !== undefined) e.textContent = text
  return e
}

function meta (post) {
  return el('div', 'meta', `${new Date(Number(post.date)).toLocaleString()} · ${post.user === me ? 'you' : post.user}`)
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
    await load()
  } catch (err) {
    if (err.code === 'ERR_SITE_NOT_ALLOWED') $('allow-box').hidden = false
    $('status').textContent = err.message
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
  $('allow-box').hidden = u.allowed || me === null
  $('allow').addEventListener('click', () => { allow() })
  $('new-post').addEventListener('submit', e => {
    e.preventDefault()
    const form = e.target
    post({ title: form.elements.title.value, body: form.elements.body.value }).then(() => { form.reset() }, () => {})
  })
  // a write elsewhere (another tab, the person allowing the site) shows when the page is looked at again
  window.addEventListener('focus', () => { user().then(v => { $('allow-box').hidden = v.allowed || v.id === null }) })
  on('contribution', reload)
  on('removed', reload)
  await load()
}

main().catch(err => { $('status').textContent = err.message })
