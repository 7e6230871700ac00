/**
 * Issue 20: what a person meets pointing weft at a live Namecoin Core node. The replay node
 * serves the recorded regtest answers, plus names built in the same formats
 * (syntheticName: a real name_update transaction, its block and Merkle proof).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { isWeftError, type ErrorCode } from '../../src/errors.ts'
import { createNamecoinResolver, type NamecoinInit } from '../../src/naming/namecoin.ts'
import { createDnslinkResolver, createNaming } from '../../src/naming/index.ts'
import { loadRecorded, nameShowAnswer, startReplayNode, syntheticName, type Recorded, type Rewrite } from '../helpers/namecoin-fixtures.ts'

const SITE = '/ipns/k51qzi5uqu5dlvj2baxnqndepeb86cbk3ng7n3i46uzyxzyqj2xjonzllnv0v8'
const MAP_CID = '/ipfs/bafybeicjr6dtxqdvc5evr6k4qupabieqbnetn5637e7rpuigkgbvfffpva'

function rejectsWith (code: ErrorCode, message?: RegExp): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(isWeftError(err, code), `expected ${code}, got ${String((err as { code?: string }).code)}: ${(err as Error).message}`)
    if (message !== undefined) assert.match((err as Error).message, message)
    return true
  }
}

async function replay (t: Parameters<typeof startReplayNode>[0], extra: Recorded[] = [], rewrite?: Rewrite): Promise<NamecoinInit> {
  const node = await startReplayNode(t, rewrite, [...loadRecorded(), ...extra])
  return { rpc: node.rpc, user: node.user, password: node.password, network: 'regtest' }
}

test('namecoin: a value with non-ASCII bytes resolves, proven (name_show asked in hex)', async t => {
  const values = {
    'd/weft-cafe': JSON.stringify({ txt: `dnslink=${SITE}`, info: 'café' }),
    'd/weft-kanji': JSON.stringify({ map: { _dnslink: { txt: `dnslink=${MAP_CID}` } }, info: '名前 🌐' })
  }
  const init = await replay(t, [
    ...syntheticName({ name: 'd/weft-cafe', value: values['d/weft-cafe'], height: 401 }),
    ...syntheticName({ name: 'd/weft-kanji', value: values['d/weft-kanji'], height: 402 })
  ])
  const nmc = createNamecoinResolver(init)
  const cafe = await nmc.resolve('weft-cafe.bit')
  assert.deepEqual([cafe.value, cafe.proven], [SITE, true])
  assert.match(cafe.proof ?? '', /in block 401 .* Merkle proof/)
  const kanji = await nmc.resolve('weft-kanji.bit')
  assert.deepEqual([kanji.value, kanji.proven], [MAP_CID, true])
  // the value is checked byte for byte against the transaction: a node that re-encodes it is caught
  const recoded = await replay(t, syntheticName({ name: 'd/weft-cafe', value: values['d/weft-cafe'], height: 401 }), (method, _p, r) => {
    if (method !== 'name_show' || r === null || r === undefined) return undefined
    const result = r.result as { value: string }
    return { ...r, result: { ...result, value: Buffer.from(Buffer.from(result.value, 'hex').toString('latin1'), 'utf8').toString('hex') } }
  })
  await assert.rejects(createNamecoinResolver(recoded).resolve('weft-cafe.bit'), rejectsWith('ERR_NAME_PROOF_INVALID', /another value/))
})

test('namecoin: naming.namecoin.network is checked against getblockchaininfo (main by default)', async t => {
  const init = await replay(t)
  const { network: _, ...noNetwork } = init
  await assert.rejects(createNamecoinResolver(noNetwork).resolve('weft-txt.bit'), rejectsWith('ERR_NAME_WRONG_CHAIN', /regtest chain, not main/))
  await assert.rejects(createNamecoinResolver({ ...noNetwork, verify: 'none' }).resolve('weft-txt.bit'), rejectsWith('ERR_NAME_WRONG_CHAIN'))
  await assert.rejects(createNamecoinResolver({ ...init, network: 'test' }).resolve('weft-txt.bit'), rejectsWith('ERR_NAME_WRONG_CHAIN', /not test/))
  assert.equal((await createNamecoinResolver(init).resolve('weft-txt.bit')).proven, true)
})

test('namecoin: in proof mode an answer the node cannot prove is refused (ERR_NAME_UNPROVEN); acceptUnproven serves it marked', async t => {
  const failures: Record<string, Rewrite> = {
    'getrawtransaction is not a method': (m) => m === 'getrawtransaction' ? { result: null, error: { code: -32601, message: 'Method not found' }, id: 1 } : undefined,
    'gettxoutproof says the block is pruned': (m) => m === 'gettxoutproof' ? { result: null, error: { code: -1, message: 'Block not available (pruned data)' }, id: 1 } : undefined,
    'getrawtransaction says the block is not available': (m) => m === 'getrawtransaction' ? { result: null, error: { code: -1, message: 'Block not available' }, id: 1 } : undefined
  }
  for (const [what, rewrite] of Object.entries(failures)) {
    await t.test(what, async t => {
      const init = await replay(t, [], rewrite)
      await assert.rejects(createNamecoinResolver(init).resolve('weft-txt.bit'), rejectsWith('ERR_NAME_UNPROVEN', /cannot prove d\/weft-txt.*naming\.namecoin\.acceptUnproven/))
      const accepted = await createNamecoinResolver({ ...init, acceptUnproven: true }).resolve('weft-txt.bit')
      assert.deepEqual([accepted.value, accepted.proven], [SITE, false])
      assert.match(accepted.proof ?? '', /^not proven: /)
    })
  }
})

test('namecoin: an update older than the expiry depth is refused (ERR_NAME_STALE)', async t => {
  const value = JSON.stringify({ txt: `dnslink=${SITE}` })
  const init = await replay(t, [
    // the newest block a regtest name can live in: 30 confirmations, expires_in 1
    ...syntheticName({ name: 'd/weft-edge', value, height: 410, confirmations: 30 }),
    // one block more: expired, name_show hiding it
    ...syntheticName({ name: 'd/weft-gone', value, height: 411, confirmations: 31, expiresIn: 5 }),
    // what the issue saw on a live regtest node: a replayed old update (55) and an expired name shown as live (85)
    ...syntheticName({ name: 'd/weft-replayed', value, height: 412, confirmations: 55, expiresIn: 30 }),
    ...syntheticName({ name: 'd/weft-hidden', value, height: 413, confirmations: 85, expiresIn: 12 })
  ])
  const nmc = createNamecoinResolver(init)
  assert.equal((await nmc.resolve('weft-edge.bit')).proven, true)
  for (const name of ['weft-gone.bit', 'weft-replayed.bit', 'weft-hidden.bit']) {
    await assert.rejects(nmc.resolve(name), rejectsWith('ERR_NAME_STALE', /past the 30 after which a regtest Namecoin name expires/), name)
  }
  // mainnet's depth is 36,000 blocks
  const mainChain: Rewrite = (m, _p, r) => m === 'getblockchaininfo' && r !== undefined ? { ...r, result: { ...(r.result as object), chain: 'main' } } : undefined
  const main = await replay(t, [
    ...syntheticName({ name: 'd/weft-old', value, height: 420, confirmations: 36_000, expiryDepth: 36_000 }),
    ...syntheticName({ name: 'd/weft-older', value, height: 421, confirmations: 36_001, expiresIn: 100 })
  ], mainChain)
  const mainnet = createNamecoinResolver({ ...main, network: 'main' })
  assert.equal((await mainnet.resolve('weft-old.bit')).proven, true)
  await assert.rejects(mainnet.resolve('weft-older.bit'), rejectsWith('ERR_NAME_STALE', /36000/))
})

test('namecoin: alias, translate and txt as the domain spec reads them; alias hops in via', async t => {
  const shown: Record<string, string> = {
    // alias is a CNAME: the name itself only, and it overrides the name's other fields
    'd/weft-al2': '{"alias":"weft-sub.bit."}',
    'd/weft-both': JSON.stringify({ alias: 'weft-txt.bit.', txt: `dnslink=${MAP_CID}` }),
    // translate is a DNAME: subdomains map does not name
    'd/weft-tr': JSON.stringify({ translate: 'weft-sub.bit.', map: { shop: { txt: `dnslink=${MAP_CID}` } } }),
    'd/weft-hop1': '{"alias":"weft-hop2.bit."}',
    'd/weft-hop2': '{"alias":"weft-txt.bit."}'
  }
  const init = await replay(t, [
    ...syntheticName({ name: 'd/weft-proven-alias', value: '{"alias":"weft-txt.bit."}', height: 430 })
  ], (m, p) => m === 'name_show' && shown[p[0] as string] !== undefined ? nameShowAnswer(p[0] as string, shown[p[0] as string]) : undefined)
  const plain = createNamecoinResolver({ ...init, verify: 'none' })

  await assert.rejects(plain.resolve('blog.weft-al2.bit'), rejectsWith('ERR_NAME_NOT_FOUND', /no entry for blog/))
  const both = await plain.resolve('weft-both.bit')
  assert.deepEqual([both.value, both.via], [SITE, ['weft-txt.bit']])
  const translated = await plain.resolve('blog.weft-tr.bit')
  assert.deepEqual([translated.value, translated.via], [SITE, ['blog.weft-sub.bit']])
  assert.equal((await plain.resolve('shop.weft-tr.bit')).value, MAP_CID, 'map wins over translate')
  await assert.rejects(plain.resolve('weft-tr.bit'), rejectsWith('ERR_NAME_NOT_FOUND'), 'translate does not apply to the name itself')

  // every hop is in naming's via, and a proven alias chain is proven as a whole
  const naming = createNaming([createNamecoinResolver(init), createDnslinkResolver({ servers: ['127.0.0.1:9'] })], { timeout: 5_000, negativeTtl: 0 })
  const proven = await naming.resolve('weft-proven-alias.bit')
  assert.deepEqual([proven.value, proven.proven, proven.via], [SITE, true, ['weft-proven-alias.bit', 'weft-txt.bit']])
  assert.match(proven.proof ?? '', /block 430 .*; then tx .* in block 345/)
  const plainNaming = createNaming([plain], { timeout: 5_000, negativeTtl: 0 })
  assert.deepEqual((await plainNaming.resolve('weft-hop1.bit')).via, ['weft-hop1.bit', 'weft-hop2.bit', 'weft-txt.bit'])
})

test('naming: "no resolver handles x.bit" names the setting that would', async () => {
  const naming = createNaming([createDnslinkResolver({ servers: ['127.0.0.1:9'] })], { timeout: 1_000, negativeTtl: 0 })
  await assert.rejects(naming.resolve('weft-txt.bit'), rejectsWith('ERR_NAME_NOT_FOUND', /no resolver handles "weft-txt\.bit".*naming\.namecoin\.rpc/))
  await assert.rejects(naming.resolve('mysite.eth'), rejectsWith('ERR_NAME_NOT_FOUND', /naming\.ens\.rpc/))
})
