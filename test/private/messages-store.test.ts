import { test } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createNode } from '../../src/node/index.ts'
import { userIdOfPublicKey } from '../../src/users/index.ts'
import { tmpHome } from '../helpers/home.ts'
import { until } from '../helpers/until.ts'

const text = (s: string): Uint8Array => new TextEncoder().encode(s)
const someone = async (): Promise<string> => userIdOfPublicKey((await generateKeyPair('Ed25519')).publicKey)

test('messages held: at most so many envelopes and bytes per site, the oldest going first; one sender keeps at most so many in an inbox; the home keeps them across a restart', async t => {
  const home = await tmpHome(t)
  let node = await createNode({ home, messages: { maxPerSite: 4, maxPerSender: 2 } })
  t.after(async () => { await node.stop() })
  const site = (await node.sites.create('s')).name
  const other = (await node.sites.create('t')).name
  const to = await someone()
  const ids: string[] = []
  for (let i = 0; i < 6; i++) ids.push((await node.messages.send(site, to, text(`letter ${i}`))).id)
  assert.equal(node.messages.info(site).held, 4, 'the per-site cap')
  const heldIds = (): string[] => (node.repo.db.prepare('SELECT id FROM message_envelopes WHERE site = ?').all(site) as Array<{ id: Uint8Array }>).map(r => Buffer.from(r.id).toString('hex')).sort()
  assert.deepEqual(heldIds(), ids.slice(2).sort(), 'the oldest went first')
  // another site's cap is its own
  await node.messages.send(other, to, text('elsewhere'))
  assert.equal(node.messages.info(other).held, 1)
  assert.equal(node.messages.info(site).held, 4)

  // notes to oneself: three from one sender, two kept (the newest)
  const me = node.users.id(site)
  const notes: string[] = []
  for (const body of ['one', 'two', 'three']) notes.push((await node.messages.send(site, me, text(body))).id)
  assert.deepEqual(node.messages.list(site).map(m => new TextDecoder().decode(m.body)).sort(), ['three', 'two'])
  assert.deepEqual(heldIds(), [ids[5], ...notes].sort())

  // a restart keeps what was held and opened
  await node.stop()
  node = await createNode({ home, messages: { maxPerSite: 4, maxPerSender: 2, maxBytesPerSite: 1_000 } })
  assert.equal(node.messages.list(site).length, 2)
  // a byte cap lower than what is held: the next arrival brings the site under it
  await node.messages.send(site, to, text('x'.repeat(200)))
  const held = node.messages.info(site)
  assert.ok(held.heldBytes <= 1_000, `${held.heldBytes} bytes held`)
  assert.ok(held.held >= 1 && held.held < 4, `${held.held} envelopes held`)
})

test('messages held: an envelope past its expiry is dropped', async t => {
  const node = await createNode({ home: await tmpHome(t), messages: { expiry: 50 } })
  t.after(async () => { await node.stop() })
  const site = (await node.sites.create('s')).name
  const first = await node.messages.send(site, await someone(), text('soon gone'))
  assert.equal(node.messages.info(site).held, 1)
  await until('the first envelope to expire', () => Date.now() > first.sent + 50)
  await node.messages.send(site, await someone(), text('fresh'))
  assert.equal(node.messages.info(site).held, 1, 'the expired one went')
})
