import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { API_ROUTES, Operations, createApiHandler } from '../src/api/index.ts'
import { createNode } from '../src/node/index.ts'
import { tmpHome } from './helpers/home.ts'

test('docs/api.md lists exactly the routes the API serves', async () => {
  const doc = await readFile(new URL('../docs/api.md', import.meta.url), 'utf8')
  const documented = [...doc.matchAll(/^\| `([a-z/-]+)` \|/gm)].map(m => m[1])
  assert.deepEqual(documented.sort(), [...API_ROUTES].sort())
})

test('the handler is a function from Request to Response: token, JSON errors, routes', async t => {
  const node = await createNode({ home: await tmpHome(t) })
  t.after(async () => { await node.stop() })
  const handle = createApiHandler(new Operations(node), 'secret-token-0123456789abcdef0123')
  const call = async (route: string, body?: unknown, token = 'secret-token-0123456789abcdef0123') => await handle(new Request(`http://127.0.0.1/api/weft/v1/${route}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
    body: body === undefined ? undefined : JSON.stringify(body)
  }))
  assert.equal((await call('id', undefined, 'wrong')).status, 401)
  assert.equal((await (await call('id')).json()).id, node.repo.peerId)
  const bad = await call('cat', { path: 'not-a-cid' })
  assert.equal(bad.status, 400)
  assert.equal((await bad.json()).code, 'ERR_INVALID_CID')
  const offline = await call('peers')
  assert.equal(offline.status, 503)
  assert.equal((await offline.json()).code, 'ERR_OFFLINE')
  assert.equal((await call('config/get', { key: 'datastore.sync' })).status, 200)
  const notJson = await handle(new Request('http://127.0.0.1/api/weft/v1/id', { method: 'POST', headers: { authorization: 'Bearer secret-token-0123456789abcdef0123' }, body: '{' }))
  assert.equal(notJson.status, 400)
})
