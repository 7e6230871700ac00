/**
 * Fuzzing the proof decoders that read what a chain node answers: Namecoin transactions,
 * merkleblocks and name scripts (namecoin-proof.ts), Handshake block headers, urkel proofs,
 * name states and resources (hns-proof.ts), and Ethereum account and storage proofs
 * (ens-proof.ts). Each is fed mutations of real, valid encodings.
 *
 * What each may do on bad input is what its caller handles: namecoin-proof throws
 * ProofError (namecoin.ts makes it ERR_NAME_PROOF_INVALID); hns-proof's checkHeader and
 * verifyNameProof return a reason and never throw, while decodeNameState and resourceTxt
 * throw Errors that hns.ts wraps; ens-proof throws ERR_NAME_PROOF_INVALID.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { createMPT, createMerkleProof } from '@ethereumjs/mpt'
import { RLP } from '@ethereumjs/rlp'
import { bytesToHex, hexToBytes, keccak256, numberToHex, type Hex } from 'viem'
import { extractMatches, parseMerkleBlock, parseNameScript, parseTx, ProofError } from '../../src/naming/namecoin-proof.ts'
import { checkHeader, decodeNameState, resourceTxt, verifyNameProof, hashName, type HeaderJson } from '../../src/naming/hns-proof.ts'
import { verifyAccountProof } from '../../src/naming/ens-proof.ts'
import { loadRecorded } from '../helpers/namecoin-fixtures.ts'
import { CaseCounter, isCodedRefusal, mutated, mutatedJson, params, refusesCleanly } from './fuzz.ts'

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const isProofError = (err: unknown): boolean => err instanceof ProofError && err.message.length > 0

// ---- Namecoin: recorded from a regtest Namecoin Core (test/fixtures/namecoin)
const recorded = loadRecorded()
const result = (method: string): unknown => recorded.find(r => r.request.method === method && JSON.stringify(r.request.params).includes('7a471680') || (r.request.method === method && method === 'getblockheader'))?.response.result
const txHex = (result('getrawtransaction') as { hex: string }).hex
const merkleblockHex = result('gettxoutproof') as string
const nameScript = parseTx(txHex).outputs[0]

test('fuzz: Namecoin transactions parse, and their name scripts read, or throw ProofError', async () => {
  assert.ok(parseNameScript(nameScript) !== undefined, 'the recorded transaction carries a name update')
  const counter = new CaseCounter()
  await fc.assert(fc.asyncProperty(mutated([Buffer.from(txHex, 'hex')]), async bytes => {
    counter.tick()
    await refusesCleanly(() => {
      const tx = parseTx(hex(bytes))
      assert.match(tx.txid, /^[0-9a-f]{64}$/)
      for (const script of tx.outputs) parseNameScript(script)
    }, isProofError)
  }), params(5_000))
  // script opcodes set anywhere (pushes with 1-, 2- and 4-byte lengths, the drops), then the usual edits
  const withOpcode = fc.tuple(mutated([nameScript]), fc.nat(), fc.constantFrom(0x4c, 0x4d, 0x4e, 0x6d, 0x75, 0x52, 0x53))
    .chain(([s, at, op]) => { const c = Uint8Array.from(s); if (c.length > 0) c[at % c.length] = op; return mutated([c]) })
  // and short scripts made of name opcodes and pushes, where a length runs off the end
  const short = fc.tuple(fc.constantFrom(0x52, 0x53), fc.array(fc.constantFrom(0x00, 0x01, 0x02, 0x4c, 0x4d, 0x4e, 0x6d, 0x75, 0xff), { maxLength: 6 }))
    .map(([op, rest]) => Uint8Array.from([op, ...rest]))
  await fc.assert(fc.asyncProperty(fc.oneof(mutated([nameScript]), withOpcode, short), async script => {
    counter.tick()
    await refusesCleanly(() => {
      const op = parseNameScript(Buffer.from(script))
      if (op !== undefined) assert.ok(Buffer.isBuffer(op.name) && Buffer.isBuffer(op.value))
    }, isProofError)
  }), params(5_000))
  console.log(counter.report('Namecoin transactions and name scripts'))
})

test('regression: a name script whose push length runs off its end is a ProofError', () => {
  // found by the fuzzer: a RangeError escaped readUInt16LE/readUInt32LE, which namecoin.ts passed on as ERR_INTERNAL
  for (const script of [[0x53, 0x4d, 0x01], [0x53, 0x4e, 0x01, 0x02], [0x52, 0x4c]]) {
    assert.throws(() => parseNameScript(Buffer.from(script)), isProofError)
  }
})

test('fuzz: Namecoin merkleblocks parse and their partial Merkle trees walk, or throw ProofError', async () => {
  const counter = new CaseCounter()
  await fc.assert(fc.asyncProperty(mutated([Buffer.from(merkleblockHex, 'hex')]), async bytes => {
    counter.tick()
    await refusesCleanly(() => {
      const { root, matched } = extractMatches(parseMerkleBlock(hex(bytes)))
      assert.equal(root.byteLength, 32)
      for (const txid of matched) assert.match(txid, /^[0-9a-f]{64}$/)
    }, isProofError)
  }), params(5_000))
  console.log(counter.report('Namecoin merkleblocks'))
})

// ---- Handshake: encodings as hsd writes them (hns-proof.ts header)
function nameState (name: string, resource: Buffer): Buffer {
  const u16 = (n: number): Buffer => { const b = Buffer.alloc(2); b.writeUInt16LE(n); return b }
  const u32 = (n: number): Buffer => { const b = Buffer.alloc(4); b.writeUInt32LE(n); return b }
  return Buffer.concat([
    Buffer.from([name.length]), Buffer.from(name, 'latin1'), u16(resource.length), resource, u32(100), u32(90),
    u16(0x1f), Buffer.alloc(32, 7), Buffer.from([0xfd, 0x10, 0x27]), Buffer.from([0x05]), Buffer.from([0xfe, 1, 2, 3, 4]), u32(5), u32(0)
  ])
}
const txt = (s: string): Buffer => Buffer.concat([Buffer.from([6, 1, s.length]), Buffer.from(s, 'latin1')])
const resource = Buffer.concat([
  Buffer.from([0]),
  Buffer.from([1, 3, 0x6e, 0x73, 0x31, 4, 0x77, 0x65, 0x66, 0x74, 0]), // NS ns1.weft.
  Buffer.from([2, 3, 0x6e, 0x73, 0x31, 0xc0, 0x0c, 127, 0, 0, 1]), // GLUE4 with a compression pointer
  txt('dnslink=/ipns/k51qzi5uqu5dlvj2baxnqndepeb86cbk3ng7n3i46uzyxzyqj2xjonzllnv0v8'),
  Buffer.from([4, 10, 0, 0, 1])
])
const HNS_POW_LIMIT = 0x7fffff0000000000000000000000000000000000000000000000000000000000n
const header: HeaderJson = {
  hash: 'aa'.repeat(32), height: 100, confirmations: 1, version: 0, merkleroot: '11'.repeat(32), witnessroot: '22'.repeat(32),
  treeroot: '33'.repeat(32), reservedroot: '44'.repeat(32), mask: '55'.repeat(32), time: 1_700_000_000, nonce: 7,
  extranonce: '66'.repeat(24), bits: '207fffff', previousblockhash: '77'.repeat(32)
}
// the shape of hsd's getnameproof proof (urkel Proof.toJSON) for an existing key
const proofJson = { type: 'TYPE_EXISTS', depth: 2, nodes: [['00', '88'.repeat(32)], ['', '99'.repeat(32)]], value: hex(nameState('weft', resource)) }

test('fuzz: Handshake name states and resources decode or throw an Error hns.ts wraps', async () => {
  const valid = nameState('weft', resource)
  assert.deepEqual(resourceTxt(decodeNameState(valid).data), ['dnslink=/ipns/k51qzi5uqu5dlvj2baxnqndepeb86cbk3ng7n3i46uzyxzyqj2xjonzllnv0v8'])
  const counter = new CaseCounter()
  await fc.assert(fc.asyncProperty(fc.oneof(mutated([valid]), mutated([resource]).map(r => nameState('weft', Buffer.from(r)))), async bytes => {
    counter.tick()
    await refusesCleanly(() => {
      const ns = decodeNameState(Buffer.from(bytes))
      for (const t of resourceTxt(ns.data)) assert.equal(typeof t, 'string')
    }, err => err instanceof Error && !(err instanceof TypeError) && !(err instanceof RangeError))
  }), params(8_000))
  console.log(counter.report('Handshake name states'))
})

test('fuzz: Handshake headers and urkel proofs in any shape give a verdict, never an exception', async () => {
  const counter = new CaseCounter()
  await fc.assert(fc.asyncProperty(mutatedJson(header), mutatedJson(proofJson), async (h, proof) => {
    counter.tick()
    await refusesCleanly(() => {
      const verdict = checkHeader(h as HeaderJson, HNS_POW_LIMIT)
      assert.ok(verdict === undefined || typeof verdict === 'string')
      const checked = verifyNameProof(proof, Buffer.alloc(32, 0x33), hashName('weft'))
      assert.ok(checked.ok ? checked.value === null || Buffer.isBuffer(checked.value) : typeof checked.reason === 'string')
    }, () => false)
  }), params(4_000))
  console.log(counter.report('Handshake headers and proofs'))
})

// ---- Ethereum: a state trie and a storage trie built per case, so the proofs verify and
// the decoders behind them (the account leaf, the slot's value) see the fuzzed bytes.
const ADDRESS: Hex = '0x1111111111111111111111111111111111111111'
const SLOT = 5n
const slotKey = hexToBytes(numberToHex(SLOT, { size: 32 }))
const EMPTY_CODE = hexToBytes(keccak256(new Uint8Array(0)))

async function accountCase (leafEdit: (leaf: Uint8Array) => Uint8Array, value: Uint8Array): Promise<{ root: Hex, json: { accountProof: Hex[], storageProof: Array<{ key: Hex, value: Hex, proof: Hex[] }> } }> {
  const storage = await createMPT({ useKeyHashing: true })
  await storage.put(slotKey, value)
  const leaf = leafEdit(RLP.encode([new Uint8Array(0), Uint8Array.of(1), storage.root(), EMPTY_CODE]))
  const state = await createMPT({ useKeyHashing: true })
  await state.put(hexToBytes(ADDRESS), leaf)
  const accountProof = (await createMerkleProof(state, hexToBytes(ADDRESS))).map(n => bytesToHex(n))
  const storageProof = [{ key: numberToHex(SLOT, { size: 32 }), value: '0x0' as Hex, proof: (await createMerkleProof(storage, slotKey)).map(n => bytesToHex(n)) }]
  return { root: bytesToHex(state.root()), json: { accountProof, storageProof } }
}

test('fuzz: Ethereum account and storage proofs over fuzzed leaves verify to words or are ERR_NAME_PROOF_INVALID', async () => {
  const word = RLP.encode(hexToBytes('0x0123456789abcdef'))
  const good = await accountCase(leaf => leaf, word)
  assert.equal((await verifyAccountProof(good.root, ADDRESS, [SLOT], good.json)).slots.get(SLOT), 0x0123456789abcdefn)
  const validLeaf = RLP.encode([new Uint8Array(0), Uint8Array.of(1), new Uint8Array(32), EMPTY_CODE])
  const counter = new CaseCounter()
  const cases = fc.oneof(
    // the account leaf damaged (its storage root then rarely matches: the leaf's decoding is what is fuzzed)
    mutated([validLeaf]).map(leaf => ({ leaf: (): Uint8Array => leaf, value: word })),
    // the slot's stored value damaged under a valid account
    mutated([word, RLP.encode(new Uint8Array(32).fill(0xff))]).map(value => ({ leaf: (l: Uint8Array) => l, value }))
  )
  await fc.assert(fc.asyncProperty(cases, async ({ leaf, value }) => {
    counter.tick()
    if (value.byteLength === 0) return // the trie stores nothing for an empty value
    const { root, json } = await accountCase(leaf, value)
    await refusesCleanly(async () => {
      const proven = await verifyAccountProof(root, ADDRESS, [SLOT], json)
      const v = proven.slots.get(SLOT)
      assert.ok(typeof v === 'bigint' && v >= 0n && v < 2n ** 256n)
    }, err => isCodedRefusal(err, ['ERR_NAME_PROOF_INVALID']))
  }), params(1_500))
  // and the proof JSON itself in any shape
  await fc.assert(fc.asyncProperty(mutatedJson(good.json), async json => {
    counter.tick()
    await refusesCleanly(async () => { await verifyAccountProof(good.root, ADDRESS, [SLOT], json as never) }, err => isCodedRefusal(err, ['ERR_NAME_PROOF_INVALID']))
  }), params(1_500))
  console.log(counter.report('Ethereum account and storage proofs'))
})

test('regression: a proven storage value that is not RLP, or is RLP\'s empty string, is refused or read as 0', async () => {
  // found by the fuzzer: RLP.decode's Error and viem's SyntaxError on no bytes escaped as ERR_INTERNAL
  const notRlp = await accountCase(l => l, Uint8Array.of(0x88, 0x01, 0x23))
  await assert.rejects(verifyAccountProof(notRlp.root, ADDRESS, [SLOT], notRlp.json), (err: unknown) => isCodedRefusal(err, ['ERR_NAME_PROOF_INVALID']))
  const empty = await accountCase(l => l, Uint8Array.of(0x80))
  assert.equal((await verifyAccountProof(empty.root, ADDRESS, [SLOT], empty.json)).slots.get(SLOT), 0n)
})
