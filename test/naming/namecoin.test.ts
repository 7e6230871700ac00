import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, writeFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isWeftError, type ErrorCode } from '../../src/errors.ts'
import { createNamecoinResolver, type NamecoinInit } from '../../src/naming/namecoin.ts'
import { freePort } from '../helpers/hsd.ts'
import { loadRecorded, nameShowAnswer, startReplayNode, type RpcAnswer } from '../helpers/namecoin-fixtures.ts'
import { resolverCompliance } from './compliance.ts'

const SITE = '/ipns/k51qzi5uqu5dlvj2baxnqndepeb86cbk3ng7n3i46uzyxzyqj2xjonzllnv0v8'
const MAP_CID = '/ipfs/bafybeicjr6dtxqdvc5evr6k4qupabieqbnetn5637e7rpuigkgbvfffpva'
const TXID = '7a471680f1fae8a3c193506a7a060a13fc19fa7381d2651e632ea7a69a2eacc4'
const BLOCK = '54f830efc3408d4285c1de2eec184cbb8b706ad67e91d669b1de60f5302a45c5'

function rejectsWith (code: ErrorCode, message?: RegExp): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(isWeftError(err, code), `expected ${code}, got ${String((err as { code?: string }).code)}: ${(err as Error).message}`)
    if (message !== undefined) assert.match((err as Error).message, message)
    return true
  }
}

const recordedExpired = loadRecorded().find(r => r.request.method === 'name_show' && JSON.stringify(r.request.params) === '["d/weft-expired",{"allowExpired":true}]')

test('namecoin: .bit names from recorded Namecoin Core answers', async (t) => {
  const node = await startReplayNode(t, (method, params) => {
    const [name] = params as [string]
    if (method !== 'name_show') return undefined
    if (name === 'd/weft-loop') return nameShowAnswer(name, '{"alias":"weft-loop.bit."}')
    if (name === 'd/weft-ping') return nameShowAnswer(name, '{"alias":"weft-pong.bit."}')
    if (name === 'd/weft-pong') return nameShowAnswer(name, '{"alias":"weft-ping.bit."}')
    if (name === 'd/weft-malformed') return nameShowAnswer(name, '{"txt":"dnslink=/ipns/k51…"')
    if (name === 'd/weft-big') return nameShowAnswer(name, JSON.stringify({ txt: `dnslink=${SITE}`, info: 'x'.repeat(460) }))
    if (name === 'd/weft-shown-expired') return { ...recordedExpired!.response, result: { ...(recordedExpired!.response.result as object), name } }
    if (name === 'd/weft-relative') return nameShowAnswer(name, '{"map":{"www":{"alias":"blog"},"blog":{"txt":"dnslink=' + MAP_CID + '"}}}')
    return undefined
  })
  const init: NamecoinInit = { rpc: node.rpc, user: node.user, password: node.password, network: 'regtest' }
  const plain = createNamecoinResolver({ ...init, verify: 'none' })
  const verified = createNamecoinResolver(init)

  await resolverCompliance(t, async () => ({ resolver: verified, known: { name: 'weft-txt.bit', value: SITE }, unknown: 'never-registered.bit', proven: true }))
  await resolverCompliance(t, async () => ({ resolver: plain, known: { name: 'weft-txt.bit', value: SITE }, unknown: 'never-registered.bit', proven: false }))

  await t.test('handles *.bit only', () => {
    assert.equal(verified.handles('weft-txt.bit'), true)
    assert.equal(verified.handles('Blog.Weft-Sub.BIT.'), true)
    assert.equal(verified.handles('bit'), false)
    assert.equal(verified.handles('example.eth'), false)
    assert.equal(verified.handles('bitcoin'), false)
    assert.equal(verified.handles('bad name.bit'), false)
  })

  await t.test('txt at the name, proven by the Merkle proof and the name script', async () => {
    const answer = await verified.resolve('weft-txt.bit')
    assert.equal(answer.value, SITE)
    assert.equal(answer.resolver, 'namecoin')
    assert.equal(answer.proven, true)
    assert.match(answer.proof ?? '', new RegExp(`tx ${TXID} in block 345 \\(${BLOCK}, 1 confirmation\\)`))
    assert.equal(answer.ttl, 60 * 60_000, '30 blocks × 10 min, capped at an hour')
  })

  await t.test('txt on map._dnslink (array of strings), other fields ignored', async () => {
    assert.equal((await plain.resolve('weft-map.bit')).value, MAP_CID)
  })

  await t.test('a subdomain through map', async () => {
    assert.equal((await plain.resolve('blog.weft-sub.bit')).value, SITE)
    await assert.rejects(plain.resolve('shop.weft-sub.bit'), rejectsWith('ERR_NAME_NOT_FOUND'))
  })

  await t.test('alias to another name, absolute and relative', async () => {
    const answer = await plain.resolve('weft-alias.bit')
    assert.equal(answer.value, SITE)
    assert.equal(answer.proven, false)
    assert.deepEqual(answer.via, ['weft-txt.bit'])
    assert.equal((await plain.resolve('www.weft-relative.bit')).value, MAP_CID)
    // the alias's own name_show has no recorded proof calls: not provable, so refused in proof mode
    await assert.rejects(verified.resolve('weft-alias.bit'), rejectsWith('ERR_NAME_UNPROVEN', /weft-alias/))
  })

  await t.test('alias loops are ERR_NAME_LOOP', async () => {
    await assert.rejects(plain.resolve('weft-loop.bit'), rejectsWith('ERR_NAME_LOOP'))
    await assert.rejects(plain.resolve('weft-ping.bit'), rejectsWith('ERR_NAME_LOOP', /weft-ping\.bit → weft-pong\.bit → weft-ping\.bit/))
  })

  await t.test('no link, never registered, expired: ERR_NAME_NOT_FOUND', async () => {
    await assert.rejects(plain.resolve('weft-noweft.bit'), rejectsWith('ERR_NAME_NOT_FOUND', /no dnslink/))
    await assert.rejects(plain.resolve('never-registered.bit'), rejectsWith('ERR_NAME_NOT_FOUND', /not registered/))
    await assert.rejects(plain.resolve('weft-expired.bit'), rejectsWith('ERR_NAME_NOT_FOUND', /expired/))
    await assert.rejects(plain.resolve('weft-shown-expired.bit'), rejectsWith('ERR_NAME_NOT_FOUND', /expired/))
  })

  await t.test('bad link, malformed JSON, value over 520 bytes: ERR_CONTENTHASH_INVALID', async () => {
    await assert.rejects(plain.resolve('weft-badlink.bit'), rejectsWith('ERR_CONTENTHASH_INVALID', /not a valid CID/))
    await assert.rejects(plain.resolve('weft-malformed.bit'), rejectsWith('ERR_CONTENTHASH_INVALID', /not JSON/))
    await assert.rejects(plain.resolve('weft-big.bit'), rejectsWith('ERR_CONTENTHASH_INVALID', /over Namecoin's 520/))
  })

  await t.test('invalid names', async () => {
    await assert.rejects(plain.resolve('weft_txt.bit'), rejectsWith('ERR_NAME_INVALID'))
    await assert.rejects(plain.resolve('example.eth'), rejectsWith('ERR_NAME_INVALID'))
  })
})

/** Replaces the result of one recorded call. */
function tamper (method: string, change: (result: unknown) => unknown): (m: string, p: unknown[], r: RpcAnswer | undefined) => RpcAnswer | undefined {
  return (m, _p, r) => m === method && r !== undefined && r.error === null ? { ...r, result: change(r.result) } : undefined
}

test('namecoin: verified answers refuse tampered proofs', async (t) => {
  const cases: Array<[string, ReturnType<typeof tamper>, RegExp]> = [
    ['a flipped byte in the Merkle proof\'s hashes', tamper('gettxoutproof', r => { const s = r as string; const at = s.length - 10; return s.slice(0, at) + (s[at] === '0' ? '1' : '0') + s.slice(at + 1) }), /merkle root/i],
    ['flipped flag bits', tamper('gettxoutproof', r => (r as string).slice(0, -2) + '1b'), /./],
    ['a truncated proof', tamper('gettxoutproof', r => (r as string).slice(0, -2)), /./],
    ['a header that is not the block', tamper('getblockheader', r => typeof r === 'string' ? r.replace(/^04/, '05') : r), /header differs/],
    ['an unconfirmed block', tamper('getblockheader', r => typeof r === 'object' ? { ...(r as object), confirmations: -1 } : r), /main chain/],
    ['another value than the transaction wrote', tamper('name_show', r => ({ ...(r as object), value: '{"txt":"dnslink=/ipns/k51qzi5uqu5dkkciu33khkzbcmxtyhn376i1e83tya8kuy7z9euedzyr5nhoew"}' })), /another value/],
    ['a transaction that is not the txid', tamper('getrawtransaction', r => ({ ...(r as object), hex: (r as { hex: string }).hex.replace(/^00710000/, '00720000') })), /hashes to/]
  ]
  for (const [what, rewrite, message] of cases) {
    await t.test(what, async (t) => {
      const node = await startReplayNode(t, rewrite)
      const nmc = createNamecoinResolver({ rpc: node.rpc, user: node.user, password: node.password, network: 'regtest' })
      await assert.rejects(nmc.resolve('weft-txt.bit'), rejectsWith('ERR_NAME_PROOF_INVALID', message))
    })
  }

  await t.test('a node without gettxoutproof is refused in proof mode, and answers unproven only when that is accepted', async (t) => {
    const node = await startReplayNode(t, (m, _p, r) => m === 'gettxoutproof' ? { result: null, error: { code: -32601, message: 'Method not found' }, id: 1 } : r)
    const init: NamecoinInit = { rpc: node.rpc, user: node.user, password: node.password, network: 'regtest' }
    await assert.rejects(createNamecoinResolver(init).resolve('weft-txt.bit'), rejectsWith('ERR_NAME_UNPROVEN', /cannot prove .*acceptUnproven/))
    const answer = await createNamecoinResolver({ ...init, acceptUnproven: true }).resolve('weft-txt.bit')
    assert.equal(answer.value, SITE)
    assert.equal(answer.proven, false)
    assert.match(answer.proof ?? '', /^not proven: .*Method not found/)
  })
})

test('namecoin: credentials and reachability', async (t) => {
  const node = await startReplayNode(t)
  await t.test('the cookie file', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'weft-nmc-'))
    t.after(async () => { await rm(dir, { recursive: true, force: true }) })
    await writeFile(join(dir, '.cookie'), `${node.user}:${node.password}`)
    const nmc = createNamecoinResolver({ rpc: node.rpc, cookieFile: join(dir, '.cookie'), verify: 'none', network: 'regtest' })
    assert.equal((await nmc.resolve('weft-txt.bit')).value, SITE)
    const missing = createNamecoinResolver({ rpc: node.rpc, cookieFile: join(dir, 'absent'), verify: 'none' })
    await assert.rejects(missing.resolve('weft-txt.bit'), rejectsWith('ERR_NAME_UNREACHABLE', /cookie file/))
  })
  await t.test('wrong credentials are ERR_NAME_UNREACHABLE and say so', async () => {
    const nmc = createNamecoinResolver({ rpc: node.rpc, user: node.user, password: 'wrong' })
    await assert.rejects(nmc.resolve('weft-txt.bit'), rejectsWith('ERR_NAME_UNREACHABLE', /wrong credentials/))
    await assert.rejects(createNamecoinResolver({ rpc: node.rpc }).resolve('weft-txt.bit'), rejectsWith('ERR_NAME_UNREACHABLE', /wrong credentials/))
  })
  await t.test('an unreachable node is ERR_NAME_UNREACHABLE', async () => {
    const port = await freePort()
    const nmc = createNamecoinResolver({ rpc: `http://127.0.0.1:${port}/`, user: 'a', password: 'b', timeout: 2000 })
    await assert.rejects(nmc.resolve('weft-txt.bit'), rejectsWith('ERR_NAME_UNREACHABLE', /did not answer getblockchaininfo/))
  })
  await t.test('a caller\'s abort ends the call', async () => {
    const nmc = createNamecoinResolver({ rpc: node.rpc, user: node.user, password: node.password, network: 'regtest' })
    await assert.rejects(nmc.resolve('weft-txt.bit', { signal: AbortSignal.abort() }), rejectsWith('ERR_NAME_UNREACHABLE'))
  })
})
