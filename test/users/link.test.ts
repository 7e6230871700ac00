import { test } from 'node:test'
import assert from 'node:assert/strict'
import { lpStream } from '@libp2p/utils'
import { createTestnet, createTestNode, type OnlineNode } from '../helpers/testnet.ts'
import { formatLinkCode, linkProof, parseLinkCode, LINK_PROTOCOL, LINK_CODE_TTL_MS, MAX_WRONG_PROOFS } from '../../src/users/index.ts'
import { isWeftError } from '../../src/errors.ts'
import { until } from '../helpers/until.ts'

const SITE = 'k51qzi5uqu5dlvj2baxnqndepeb86cbk3ng7n3i46uzyxzyqj2xjonzllnv0v8'
const code = (c: string, message?: RegExp) => (err: unknown): boolean => {
  assert.ok(isWeftError(err), String(err))
  assert.equal(err.code, c, err.message)
  if (message !== undefined) assert.match(err.message, message)
  return true
}

/** Nodes on the test network, each seeing its connection to every other (the dialled side registers it a moment after the dialler). */
async function testnet (t: Parameters<typeof createTestnet>[0], n: number): Promise<OnlineNode[]> {
  const nodes = await createTestnet(t, n)
  await until('every node sees its connections', () => nodes.every(x => x.libp2p.getConnections().length === n - 1))
  return nodes
}

/** The same code with its secret's last byte changed: a mistyped or guessed code. */
function wrongCode (text: string): string {
  const { peer, secret, addresses } = parseLinkCode(text)
  const wrong = new Uint8Array(secret)
  wrong[wrong.length - 1] ^= 1
  return formatLinkCode(peer, wrong, addresses)
}

test('a right code hands over the master key: both homes then have the same id on a site; the code works once', async t => {
  const [a, b, c] = await testnet(t, 3)
  const mine = a.userIdentity.id(SITE)
  assert.equal(b.userIdentity.hasKey(), false, 'a new home has no user key until something needs one')
  // no addresses: b finds a among its connections
  const issued = a.userLink!.issue({ addresses: false })
  assert.match(issued.code, /^12D3Koo[1-9A-Za-z]+\.[a-z2-7]{32}$/)
  assert.ok(issued.expires > Date.now() + LINK_CODE_TTL_MS - 60_000)
  assert.deepEqual(await b.userLink!.accept(issued.code), { outcome: 'added' })
  assert.equal(b.userIdentity.id(SITE), mine)
  assert.equal(b.userIdentity.recoveryPhrase(), a.userIdentity.recoveryPhrase())

  // used: refused to anyone, and the issuer's key stays as it was
  c.userIdentity.id(SITE)
  await assert.rejects(c.userLink!.accept(issued.code, { force: true }), code('ERR_LINK_CODE_INVALID', /used, expired/))
  await assert.rejects(b.userLink!.accept(issued.code, { force: true }), code('ERR_LINK_CODE_INVALID'))
  assert.notEqual(c.userIdentity.id(SITE), mine)
  assert.equal(a.userIdentity.id(SITE), mine)
})

test('a home with its own key refuses before the code is spent; --force then links with the same code', async t => {
  const [a, b] = await testnet(t, 2)
  const theirs = b.userIdentity.id(SITE)
  const issued = a.userLink!.issue()
  await assert.rejects(b.userLink!.accept(issued.code), code('ERR_USER_KEY_EXISTS', /--force/))
  assert.equal(b.userIdentity.id(SITE), theirs)
  assert.deepEqual(await b.userLink!.accept(issued.code, { force: true }), { outcome: 'replaced' })
  assert.equal(b.userIdentity.id(SITE), a.userIdentity.id(SITE))
})

test(`wrong codes are refused; ${MAX_WRONG_PROOFS} wrong tries void the code, fewer do not`, async t => {
  const [a, b] = await testnet(t, 2)
  const first = a.userLink!.issue({ addresses: false }).code
  for (let i = 0; i < MAX_WRONG_PROOFS - 1; i++) {
    await assert.rejects(b.userLink!.accept(wrongCode(first)), code('ERR_LINK_CODE_INVALID', /wrong/))
  }
  assert.equal(b.userIdentity.hasKey(), false, 'a wrong code wrote nothing')
  assert.deepEqual(await b.userLink!.accept(first), { outcome: 'added' })

  const second = a.userLink!.issue({ addresses: false }).code
  for (let i = 0; i < MAX_WRONG_PROOFS; i++) {
    await assert.rejects(b.userLink!.accept(wrongCode(second), { force: true }), code('ERR_LINK_CODE_INVALID', /wrong/))
  }
  await assert.rejects(b.userLink!.accept(second, { force: true }), code('ERR_LINK_CODE_INVALID', /voided/))
  // malformed codes never reach the network
  for (const bad of ['', 'nonsense', `${second.split('.')[0]}.abc`, `not-a-peer.${second.split('.')[1]}`, `${second}@not-an-address`]) {
    await assert.rejects(b.userLink!.accept(bad, { force: true }), code('ERR_LINK_CODE_INVALID'))
  }
  // a code issued here is for the other device
  await assert.rejects(a.userLink!.accept(a.userLink!.issue().code, { force: true }), code('ERR_LINK_CODE_INVALID', /this node/))
})

test('a code for another peer id fails: Noise refuses the issuer\'s address under another id, and a peer with no code refuses it', async t => {
  const [a, b, c] = await testnet(t, 3)
  const issued = a.userLink!.issue()
  const { secret, addresses } = parseLinkCode(issued.code)
  // a's secret and addresses, c's peer id: the dial to a's address as c fails its handshake
  const stranger = await createTestNode(t)
  await assert.rejects(stranger.userLink!.accept(formatLinkCode(c.libp2p.peerId, secret, addresses)), code('ERR_DIAL_FAILED'))
  // c is reachable and answers, but issued nothing
  await assert.rejects(b.userLink!.accept(formatLinkCode(c.libp2p.peerId, secret)), code('ERR_LINK_CODE_INVALID', /no live code/))
  // neither try counted against a's code
  assert.deepEqual(await b.userLink!.accept(issued.code), { outcome: 'added' })
})

test('a proof is bound to the peer that sends it: one seen on the way is refused from another node', async t => {
  const [a, b, c] = await testnet(t, 3)
  const { secret } = parseLinkCode(a.userLink!.issue().code)
  // c replays the proof b would send
  const stream = await c.libp2p.dialProtocol(a.libp2p.peerId, LINK_PROTOCOL)
  const lp = lpStream(stream)
  await lp.write(linkProof(secret, a.libp2p.peerId, b.libp2p.peerId))
  assert.deepEqual([...(await lp.read()).subarray()], [1], "refused as a wrong proof")
  await stream.close()
})

test('an expired code fails', async t => {
  let clock = Date.now()
  const a = await createTestNode(t, { userLink: { now: () => clock } })
  const b = await createTestNode(t)
  const issued = a.userLink!.issue()
  clock = issued.expires + 1
  await assert.rejects(b.userLink!.accept(issued.code), code('ERR_LINK_CODE_INVALID', /expired/))
  assert.equal(b.userIdentity.hasKey(), false)
})

test('a code carrying the issuer\'s addresses works with no connection and no DHT between the nodes', async t => {
  const a: OnlineNode = await createTestNode(t)
  const b = await createTestNode(t)
  assert.equal(b.libp2p.getConnections().length, 0)
  const issued = a.userLink!.issue()
  assert.ok(parseLinkCode(issued.code).addresses.length > 0)
  assert.deepEqual(await b.userLink!.accept(issued.code), { outcome: 'added' })
  assert.equal(b.userIdentity.id(SITE), a.userIdentity.id(SITE))
})

test('a code without addresses finds an issuer the holder never met through peer routing (the DHT)', async t => {
  const nodes = await createTestnet(t, 5, { topology: 'dht' })
  const [a, b] = [nodes[3], nodes[4]]
  // a may dial b again meanwhile (b is in its DHT routing table) and identify tell b of it:
  // b hangs up and forgets a until neither is so
  await until('b has forgotten a', async () => {
    await b.libp2p.hangUp(a.libp2p.peerId)
    await b.libp2p.peerStore.delete(a.libp2p.peerId)
    return b.libp2p.getConnections(a.libp2p.peerId).length === 0 && !(await b.libp2p.peerStore.has(a.libp2p.peerId))
  })
  assert.deepEqual(await b.userLink!.accept(a.userLink!.issue({ addresses: false }).code), { outcome: 'added' })
  assert.equal(b.userIdentity.id(SITE), a.userIdentity.id(SITE))
})
