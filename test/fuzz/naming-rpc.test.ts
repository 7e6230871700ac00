/**
 * Fuzzing JSON-RPC answers end to end: the Namecoin, Handshake and ENS resolvers against one
 * JSON-RPC server on 127.0.0.1 whose answer to one call per case is damaged: its JSON
 * mutated, its hex bytes mutated, or its body replaced with something that is not JSON-RPC
 * at all. Whatever a chain node (or what stands between weft and it) answers, a resolve
 * gives a usable value or a coded naming error.
 *
 * Namecoin's answers are the ones recorded from a regtest node (test/fixtures/namecoin), so
 * an undamaged case resolves with its proof and the damage lands on a path that verifies.
 * Handshake's and Ethereum's are well-formed shapes that do not verify: the damage reaches
 * the checks before the proof, and the JSON-RPC client below them.
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import fc from 'fast-check'
import { encodeAbiParameters, type Hex } from 'viem'
import { createNamecoinResolver } from '../../src/naming/namecoin.ts'
import { createHnsResolver } from '../../src/naming/hns.ts'
import { createEnsResolver } from '../../src/naming/ens.ts'
import { encodeContenthash } from '../../src/naming/ens-contenthash.ts'
import { parseValue } from '../../src/naming/names.ts'
import type { NameResolver } from '../../src/naming/types.ts'
import { loadRecorded } from '../helpers/namecoin-fixtures.ts'
import { CaseCounter, isCodedRefusal, mutated, mutatedJson, params, refusesCleanly } from './fuzz.ts'

const CODES = ['ERR_NAME_UNREACHABLE', 'ERR_NAME_NOT_FOUND', 'ERR_NAME_PROOF_INVALID', 'ERR_NAME_WRONG_CHAIN', 'ERR_NAME_UNPROVEN', 'ERR_NAME_STALE', 'ERR_CONTENTHASH_INVALID', 'ERR_NAME_LOOP', 'ERR_NAME_INVALID'] as const

interface Answer { status: number, body: string }
/** What the server sends for a call; undefined falls back to the call's normal answer. */
type Damage = { call: string, answer: Answer } | undefined

/** One JSON-RPC server: `normal` answers each call, `damage` replaces one call's answer. */
async function rpcServer (t: TestContext, normal: (method: string, params: unknown[]) => unknown): Promise<{ url: string, damage: (d: Damage) => void }> {
  let damage: Damage
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const { method, params = [], id } = JSON.parse(Buffer.concat(chunks).toString()) as { method: string, params?: unknown[], id: unknown }
      const answer = damage !== undefined && damage.call === callKey(method, params)
        ? damage.answer
        : { status: 200, body: JSON.stringify({ jsonrpc: '2.0', result: normal(method, params) ?? null, error: null, id }) }
      res.writeHead(answer.status, { 'content-type': 'application/json' })
      res.end(answer.body)
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.after(async () => { server.closeAllConnections(); await new Promise(resolve => server.close(resolve)) })
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/`, damage: d => { damage = d } }
}

/** A call by method and, for getblockheader's two forms, its verbosity. */
function callKey (method: string, params: unknown[]): string {
  return method === 'getblockheader' && params[1] === false ? 'getblockheader-raw' : method
}

/** Bodies no JSON-RPC server sends. */
const NOT_JSON_RPC = fc.oneof(
  fc.constantFrom('null', '5', '[]', '"x"', '', '{', '{}', 'true', '{"result":null}', '{"error":5}', '{"error":"boom"}', '{"error":{"code":"x","message":{}}}', '{"error":null}', '{"result":{"hex":5}}'),
  fc.string({ maxLength: 30 }),
  fc.jsonValue({ maxDepth: 2 }).map(v => JSON.stringify(v))
)
const STATUS = fc.constantFrom(200, 200, 200, 401, 404, 500, 502)

/** Damage to one of `calls`: its answer's JSON mutated, its hex mutated (when `hex` finds some), or not JSON-RPC at all. */
function damage (calls: Record<string, unknown>, hex: Record<string, (result: unknown) => [string, (h: string) => unknown]> = {}): fc.Arbitrary<Damage> {
  const names = Object.keys(calls)
  const rpc = (result: unknown): string => JSON.stringify({ jsonrpc: '2.0', result, error: null, id: 1 })
  const options: Array<fc.Arbitrary<Damage>> = [
    fc.constantFrom(...names).chain(call => fc.tuple(mutatedJson({ result: calls[call], error: null, id: 1 }), STATUS)
      .map(([body, status]) => ({ call, answer: { status, body: JSON.stringify(body) ?? '' } }))),
    fc.tuple(fc.constantFrom(...names), NOT_JSON_RPC, STATUS).map(([call, body, status]) => ({ call, answer: { status, body } }))
  ]
  const hexCalls = Object.keys(hex)
  if (hexCalls.length > 0) {
    options.push(fc.constantFrom(...hexCalls).chain(call => {
      const [text, put] = hex[call](calls[call])
      return mutated([Buffer.from(text, 'hex')]).map(bytes => ({ call, answer: { status: 200, body: rpc(put(Buffer.from(bytes).toString('hex'))) } }))
    }))
  }
  return fc.oneof({ arbitrary: fc.constant(undefined), weight: 1 }, ...options.map(arbitrary => ({ arbitrary, weight: 3 })))
}

async function fuzzResolver (resolver: NameResolver, name: string, server: { damage: (d: Damage) => void }, damages: fc.Arbitrary<Damage>, runs: number, what: string): Promise<void> {
  const counter = new CaseCounter()
  await fc.assert(fc.asyncProperty(damages, async d => {
    counter.tick()
    server.damage(d)
    await refusesCleanly(async () => {
      const answer = await resolver.resolve(name, { signal: AbortSignal.timeout(5_000) })
      parseValue(answer.value, 'the answer')
      assert.ok(Number.isFinite(answer.ttl) && answer.ttl >= 0)
    }, err => isCodedRefusal(err, [...CODES]))
  }), params(runs))
  server.damage(undefined)
  console.log(counter.report(what))
}

test('fuzz: Namecoin Core answers (recorded from regtest) damaged one call at a time', async t => {
  const recorded = loadRecorded().filter(r => r.request.method !== 'name_show' || JSON.stringify(r.request.params) === '["d/weft-txt"]')
  const normal = new Map(recorded.map(r => [callKey(r.request.method, r.request.params), r.response.result]))
  const server = await rpcServer(t, (method, params) => normal.get(callKey(method, params)))
  const resolver = createNamecoinResolver({ rpc: server.url, user: 'u', password: 'p', network: 'regtest', timeout: 5_000 })
  assert.equal((await resolver.resolve('weft-txt.bit')).proven, true, 'the recorded answers resolve with a proof')
  const calls = Object.fromEntries([...normal].filter(([k]) => k !== 'getblockchaininfo'))
  await fuzzResolver(resolver, 'weft-txt.bit', server, damage(calls, {
    gettxoutproof: r => [r as string, h => h],
    'getblockheader-raw': r => [r as string, h => h],
    getrawtransaction: r => [(r as { hex: string }).hex, h => ({ ...(r as object), hex: h })]
  }), 400, 'Namecoin answers')
})

test('fuzz: hsd answers damaged one call at a time', async t => {
  const calls: Record<string, unknown> = {
    getblockchaininfo: { chain: 'regtest', blocks: 100 },
    getnameproof: { hash: 'aa'.repeat(32), height: 100, root: '33'.repeat(32), name: 'weft', key: 'bb'.repeat(32), proof: { type: 'TYPE_DEADEND', depth: 1, nodes: [['00', '88'.repeat(32)]] } },
    getblockheader: { hash: 'aa'.repeat(32), height: 100, confirmations: 1, version: 0, merkleroot: '11'.repeat(32), witnessroot: '22'.repeat(32), treeroot: '33'.repeat(32), reservedroot: '44'.repeat(32), mask: '55'.repeat(32), time: 1_700_000_000, nonce: 7, extranonce: '66'.repeat(24), bits: '207fffff', previousblockhash: '77'.repeat(32) },
    getnameresource: { records: [{ type: 'TXT', txt: ['dnslink=/ipns/k51qzi5uqu5dlvj2baxnqndepeb86cbk3ng7n3i46uzyxzyqj2xjonzllnv0v8'] }] }
  }
  const server = await rpcServer(t, method => calls[method])
  const proven = createHnsResolver({ rpc: server.url, network: 'regtest', timeout: 5_000 })
  const reported = createHnsResolver({ rpc: server.url, network: 'regtest', verify: 'none', timeout: 5_000 })
  assert.ok((await reported.resolve('weft')).value.startsWith('/ipns/'), 'the unverified answer resolves')
  await fuzzResolver(proven, 'weft', server, damage(calls), 300, 'hsd answers (verified)')
  await fuzzResolver(reported, 'weft', server, damage(calls), 500, 'hsd answers (verify: none)')
})

test('fuzz: Ethereum endpoint answers damaged one call at a time', async t => {
  const resolverAddress = '0x2222222222222222222222222222222222222222'
  const contenthash = encodeContenthash('/ipns/k51qzi5uqu5dlvj2baxnqndepeb86cbk3ng7n3i46uzyxzyqj2xjonzllnv0v8')
  const word = (hex: Hex): Hex => hex
  const calls: Record<string, unknown> = {
    eth_chainId: '0x539',
    eth_getBlockByNumber: { number: '0x10', stateRoot: '0x' + '56'.repeat(32) },
    eth_getProof: { accountProof: ['0xf8518080'], storageProof: [{ key: '0x00', value: '0x0', proof: ['0xe2a0'] }] },
    eth_call: word(encodeAbiParameters([{ type: 'bytes' }], [`0x${Buffer.from(contenthash).toString('hex')}`]))
  }
  // eth_call asks the registry for the resolver, then the resolver for the contenthash
  const server = await rpcServer(t, (method, params) => {
    if (method !== 'eth_call') return calls[method]
    return (params[0] as { to: string }).to.toLowerCase() === resolverAddress ? calls.eth_call : encodeAbiParameters([{ type: 'address' }], [resolverAddress])
  })
  const unverified = createEnsResolver({ rpc: server.url, chainId: 1337, verify: 'none', timeout: 5_000 })
  // no independent header here: its answers are checked against the endpoint's own block, and accepted unproven
  const verified = createEnsResolver({ rpc: server.url, chainId: 1337, acceptUnproven: true, timeout: 5_000 })
  // the undamaged answers resolve (and ENS name normalisation loads its tables before the clock runs)
  assert.ok((await unverified.resolve('weft.eth')).value.startsWith('/ipns/'))
  const hexOf = (r: unknown): [string, (h: string) => unknown] => [(r as string).slice(2), h => `0x${h}`]
  await fuzzResolver(unverified, 'weft.eth', server, damage(calls, { eth_call: hexOf }), 300, 'Ethereum answers (verify: none)')
  await fuzzResolver(verified, 'weft.eth', server, damage(calls), 200, 'Ethereum answers (proofs)')
})

test('regression: a JSON-RPC answer that is JSON but not an object, hsd resource records that are not a list, an Ethereum block number that is not a number, and an eth_call answer too short for an address, are coded', async t => {
  // found by the fuzzer: hsd's or Namecoin Core's client read .error of a null answer (TypeError),
  // and the ENS resolver passed viem's AbiDecodingDataSizeTooSmallError on: both ERR_INTERNAL
  let answer = 'null'
  let chain = ''
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' })
      const { method } = JSON.parse(Buffer.concat(chunks).toString()) as { method: string }
      res.end(method === 'getblockchaininfo' && chain !== '' ? JSON.stringify({ result: { chain }, error: null, id: 1 }) : answer)
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.after(async () => { server.closeAllConnections(); await new Promise(resolve => server.close(resolve)) })
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/`
  for (const body of ['null', '5', '"x"', '{"error":"boom"}']) {
    answer = body
    await assert.rejects(createHnsResolver({ rpc: url, network: 'regtest' }).resolve('weft'), (err: unknown) => isCodedRefusal(err, ['ERR_NAME_UNREACHABLE']), body)
    await assert.rejects(createNamecoinResolver({ rpc: url }).resolve('weft.bit'), (err: unknown) => isCodedRefusal(err, ['ERR_NAME_UNREACHABLE']), body)
  }
  // found with FUZZ_SEED=7: hsd's getnameresource with records that are not a list (TypeError from .filter)
  chain = 'regtest'
  for (const records of ['""', '{}', '[null]', '5']) {
    answer = `{"result":{"records":${records}},"error":null,"id":1}`
    await assert.rejects(createHnsResolver({ rpc: url, network: 'regtest', verify: 'none' }).resolve('weft'), (err: unknown) => isCodedRefusal(err, ['ERR_NAME_NOT_FOUND']), records)
  }
  // found with FUZZ_SEED=11: a block number that is not a hex quantity (NaN, then a RangeError from numberToHex)
  answer = JSON.stringify({ jsonrpc: '2.0', id: 1, result: { number: 'x10', stateRoot: '0x' + '56'.repeat(32) } })
  await assert.rejects(createEnsResolver({ rpc: url }).resolve('weft.eth'), (err: unknown) => isCodedRefusal(err, ['ERR_NAME_UNREACHABLE']))
  answer = JSON.stringify({ jsonrpc: '2.0', id: 1, result: '0x00' })
  await assert.rejects(createEnsResolver({ rpc: url, verify: 'none' }).resolve('weft.eth'), (err: unknown) => isCodedRefusal(err, ['ERR_NAME_UNREACHABLE']))
})
