import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { resolverCompliance } from './compliance.ts'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { base36 } from 'multiformats/bases/base36'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { encodeAbiParameters, keccak256, numberToHex, pad, type Hex } from 'viem'
import { isWeftError, type ErrorCode } from '../../src/errors.ts'
import { createEnsResolver, type EnsInit } from '../../src/naming/ens.ts'
import { decodeContenthash, encodeContenthash } from '../../src/naming/ens-contenthash.ts'
import { CHAIN_ID, deadEndpoint, startEnsChain, startProxy, type EnsChain, type HttpEndpoint } from '../helpers/ens-chain.ts'

const CONTENTHASH_SELECTOR = '0xbc1c58d1'

async function rejectsWith (p: Promise<unknown>, code: ErrorCode): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(isWeftError(err, code), `expected ${code}, got ${(err as { code?: string }).code}: ${(err as Error).message}`)
    return true
  })
}

describe('ENS resolver against a local chain', () => {
  let chain: EnsChain
  let ipnsPath: string
  let ipfsPath: string
  const proxies: HttpEndpoint[] = []
  const proxy = async (...args: Parameters<typeof startProxy>): Promise<HttpEndpoint> => {
    const p = await startProxy(...args)
    proxies.push(p)
    return p
  }
  const verified = (extra: Partial<EnsInit> = {}): ReturnType<typeof createEnsResolver> =>
    createEnsResolver({ rpc: chain.url, headerRpc: chain.url, registry: chain.registry, chainId: CHAIN_ID, ...extra })

  before(async () => {
    chain = await startEnsChain()
    const key = await generateKeyPair('Ed25519')
    ipnsPath = `/ipns/${peerIdFromPrivateKey(key).toCID().toString(base36)}`
    ipfsPath = `/ipfs/${CID.createV1(0x55, await sha256.digest(new TextEncoder().encode('hello weft'))).toString()}`
    await chain.register('mysite')
    await chain.setContenthash('mysite.eth', encodeContenthash(ipnsPath))
    await chain.register('docs')
    await chain.setContenthash('docs.eth', encodeContenthash(ipfsPath))
    await chain.register('empty')
    await chain.register('noresolver', { resolver: false })
    await chain.register('broken')
    await chain.setContenthash('broken.eth', Uint8Array.from([0xe4, 0x01, 0x01, 0x70, 0x12, 0x20, ...new Uint8Array(32)]))
    await chain.register('tiny')
    await chain.setContenthash('tiny.eth', Uint8Array.from([0xe3, 0x01]))
  })

  after(async () => {
    for (const p of proxies) await p.stop()
    await chain?.stop()
  })

  it('keeps the resolver contract', async t => {
    await resolverCompliance(t, async () => ({ resolver: verified(), known: { name: 'mysite.eth', value: ipnsPath }, unknown: 'nobody-here.eth', proven: true }))
  })

  it('keeps the registry and resolver storage where ens-proof.ts says', async () => {
    const node = keccak256(Uint8Array.from([...Buffer.from('93cdeb708b7545dc668eb9280176169d1c33cfd8ed6f04690a0bcc88a93fc4ae', 'hex'), ...Buffer.from(keccak256(new TextEncoder().encode('mysite')).slice(2), 'hex')]))
    const base = BigInt(keccak256(`${node}${numberToHex(0n, { size: 32 }).slice(2)}` as Hex))
    const resolverWord = await chain.rpc<Hex>('eth_getStorageAt', [chain.registry, numberToHex(base + 1n), 'latest'])
    assert.equal(`0x${resolverWord.slice(-40)}`, chain.resolver.toLowerCase())
    const head = await chain.rpc<Hex>('eth_getStorageAt', [chain.resolver, keccak256(`${node}${numberToHex(2n, { size: 32 }).slice(2)}` as Hex), 'latest'])
    assert.equal(BigInt(head), BigInt(encodeContenthash(ipnsPath).length) * 2n + 1n)
  })

  it('handles .eth names only', () => {
    const ens = verified()
    assert.equal(ens.handles('mysite.eth'), true)
    assert.equal(ens.handles('a.b.eth'), true)
    assert.equal(ens.handles('example.com'), false)
    assert.equal(ens.handles('eth'), false)
    assert.equal(createEnsResolver({ rpc: chain.url, tlds: ['test'] }).handles('x.test'), true)
  })

  it('resolves an ipns-ns contenthash, proven against an independent header', async () => {
    const started = performance.now()
    const answer = await verified().resolve('mysite.eth')
    const cold = performance.now() - started
    assert.equal(answer.value, ipnsPath)
    assert.ok(answer.value.startsWith('/ipns/k51'))
    assert.equal(answer.resolver, 'ens')
    assert.equal(answer.proven, true)
    assert.match(answer.proof ?? '', /eth_getProof at block \d+ state root 0x[0-9a-f]{64}/)
    const ens = verified()
    await ens.resolve('mysite.eth')
    const times: number[] = []
    for (let i = 0; i < 20; i++) {
      const t = performance.now()
      await ens.resolve('mysite.eth')
      times.push(performance.now() - t)
    }
    times.sort((a, b) => a - b)
    console.log(`# ENS verified resolve: first ${cold.toFixed(1)} ms, then p50 ${times[10].toFixed(1)} ms, max ${times[19].toFixed(1)} ms`)
  })

  it('resolves an ipfs-ns contenthash, proven', async () => {
    const answer = await verified().resolve('docs.eth')
    assert.equal(answer.value, ipfsPath)
    assert.equal(answer.proven, true)
  })

  it('proves against a pinned header', async () => {
    const b = await chain.rpc<{ number: Hex, stateRoot: Hex }>('eth_getBlockByNumber', ['latest', false])
    const answer = await createEnsResolver({ rpc: chain.url, registry: chain.registry, pinnedHeader: { number: Number(b.number), stateRoot: b.stateRoot } }).resolve('mysite.eth')
    assert.equal(answer.value, ipnsPath)
    assert.equal(answer.proven, true)
  })

  it('rejects a pinned header whose state root the proofs do not match', async () => {
    const b = await chain.rpc<{ number: Hex }>('eth_getBlockByNumber', ['latest', false])
    const ens = createEnsResolver({ rpc: chain.url, registry: chain.registry, pinnedHeader: { number: Number(b.number), stateRoot: keccak256('0x01') } })
    await rejectsWith(ens.resolve('mysite.eth'), 'ERR_NAME_PROOF_INVALID')
  })

  it('refuses what it cannot prove (no independent header) unless unproven answers are accepted, and says not proven with verify none', async () => {
    await rejectsWith(createEnsResolver({ rpc: chain.url, registry: chain.registry }).resolve('mysite.eth'), 'ERR_NAME_UNPROVEN')
    const own = await createEnsResolver({ rpc: chain.url, registry: chain.registry, acceptUnproven: true }).resolve('mysite.eth')
    assert.equal(own.value, ipnsPath)
    assert.equal(own.proven, false)
    assert.match(own.proof ?? '', /no independent header/)
    const none = await createEnsResolver({ rpc: chain.url, registry: chain.registry, verify: 'none' }).resolve('docs.eth')
    assert.equal(none.value, ipfsPath)
    assert.equal(none.proven, false)
  })

  it('gives ERR_NAME_NOT_FOUND for no contenthash, no resolver, no record', async () => {
    await rejectsWith(verified().resolve('empty.eth'), 'ERR_NAME_NOT_FOUND')
    await rejectsWith(verified().resolve('noresolver.eth'), 'ERR_NAME_NOT_FOUND')
    await rejectsWith(verified().resolve('nobody.eth'), 'ERR_NAME_NOT_FOUND')
    await rejectsWith(verified({ verify: 'none' }).resolve('empty.eth'), 'ERR_NAME_NOT_FOUND')
  })

  it('gives ERR_CONTENTHASH_INVALID for a malformed contenthash', async () => {
    await rejectsWith(verified().resolve('broken.eth'), 'ERR_CONTENTHASH_INVALID')
    await rejectsWith(verified().resolve('tiny.eth'), 'ERR_CONTENTHASH_INVALID')
    assert.throws(() => decodeContenthash(Uint8Array.from([...encodeContenthash(ipfsPath), 0]), 'x.eth'), (err: unknown) => isWeftError(err, 'ERR_CONTENTHASH_INVALID'))
  })

  it('gives ERR_NAME_INVALID for a name ENS cannot have', async () => {
    await rejectsWith(verified().resolve(`${'a'.repeat(64)}.eth`), 'ERR_NAME_INVALID')
    await rejectsWith(verified().resolve('a..eth'), 'ERR_NAME_INVALID')
    await rejectsWith(verified().resolve('bad name!.eth'), 'ERR_NAME_INVALID')
  })

  it('a proxy that rewrites eth_call answers changes nothing: the value comes from the proofs', async () => {
    const truth = async (url: string): Promise<void> => {
      const a = await verified({ rpc: url }).resolve('mysite.eth')
      assert.equal(a.value, ipnsPath)
      assert.equal(a.proven, true)
    }
    const lie = encodeAbiParameters([{ type: 'bytes' }], [`0x${Buffer.from(encodeContenthash(ipfsPath)).toString('hex')}`])
    const liar = await proxy(chain.url, (method, params, result) =>
      method === 'eth_call' && String((params[0] as { data: string }).data).startsWith(CONTENTHASH_SELECTOR) ? lie : result)
    await truth(liar.url)
    // a lie that hides the contenthash
    const hider = await proxy(chain.url, (method, params, result) =>
      method === 'eth_call' && String((params[0] as { data: string }).data).startsWith(CONTENTHASH_SELECTOR) ? encodeAbiParameters([{ type: 'bytes' }], ['0x']) : result)
    await truth(hider.url)
    // one that points the registry at another resolver
    const redirect = await proxy(chain.url, (method, params, result) =>
      method === 'eth_call' && String((params[0] as { to: string }).to).toLowerCase() === chain.registry.toLowerCase() ? pad('0x1234', { size: 32 }) : result)
    await truth(redirect.url)
    // where the proofs leave the answer open (no contenthash in any known layout), eth_call is asked, and its lie caught
    const emptyLiar = await proxy(chain.url, (method, params, result) =>
      method === 'eth_call' && String((params[0] as { to: string }).to).toLowerCase() === chain.registry.toLowerCase() ? pad('0x1234', { size: 32 }) : result)
    await rejectsWith(verified({ rpc: emptyLiar.url }).resolve('empty.eth'), 'ERR_NAME_PROOF_INVALID')
  })

  it('catches a proxy that tampers with eth_getProof answers', async () => {
    type ProofAnswer = { accountProof: Hex[], storageProof: Array<{ key: Hex, value: Hex, proof: Hex[] }> }
    const flip = (node: Hex): Hex => `${node.slice(0, -2)}${node.endsWith('00') ? '01' : '00'}` as Hex
    const storageTamper = await proxy(chain.url, (method, _params, result) => {
      if (method !== 'eth_getProof') return result
      const r = structuredClone(result) as ProofAnswer
      for (const s of r.storageProof) if (s.proof.length > 0) s.proof[s.proof.length - 1] = flip(s.proof[s.proof.length - 1])
      return r
    })
    await rejectsWith(verified({ rpc: storageTamper.url }).resolve('mysite.eth'), 'ERR_NAME_PROOF_INVALID')
    const accountTamper = await proxy(chain.url, (method, _params, result) => {
      if (method !== 'eth_getProof') return result
      const r = structuredClone(result) as ProofAnswer
      r.accountProof[r.accountProof.length - 1] = flip(r.accountProof[r.accountProof.length - 1])
      return r
    })
    await rejectsWith(verified({ rpc: accountTamper.url }).resolve('mysite.eth'), 'ERR_NAME_PROOF_INVALID')
    // the proof of another name's slots, passed off as this name's: the key does not match
    const swapped = await proxy(chain.url, (method, _params, result) => {
      if (method !== 'eth_getProof') return result
      const r = structuredClone(result) as ProofAnswer
      r.storageProof = r.storageProof.map(s => ({ ...s, proof: [] }))
      return r
    })
    await rejectsWith(verified({ rpc: swapped.url }).resolve('mysite.eth'), 'ERR_NAME_PROOF_INVALID')
  })

  it('never takes a wrong value when both eth_call and the proof value fields lie', async () => {
    const lie = encodeAbiParameters([{ type: 'bytes' }], [`0x${Buffer.from(encodeContenthash(ipfsPath)).toString('hex')}`])
    const liar = await proxy(chain.url, (method, params, result) => {
      if (method === 'eth_call' && String((params[0] as { data: string }).data).startsWith(CONTENTHASH_SELECTOR)) return lie
      if (method === 'eth_getProof') {
        const r = structuredClone(result) as { storageProof: Array<{ value: Hex }> }
        for (const s of r.storageProof) s.value = '0x1'
        return r
      }
      return result
    })
    // the value fields are never read (values come from the proof nodes) and eth_call is not needed
    const a = await verified({ rpc: liar.url }).resolve('mysite.eth')
    assert.equal(a.value, ipnsPath)
    assert.equal(a.proven, true)
  })

  it('refuses the answer of an endpoint without eth_getProof (ERR_NAME_UNPROVEN) unless unproven answers are accepted', async () => {
    const noProofs = await proxy(chain.url, (_m, _p, r) => r, { refuse: { eth_getProof: { code: -32601, message: 'the method eth_getProof does not exist/is not available' } } })
    await rejectsWith(verified({ rpc: noProofs.url }).resolve('mysite.eth'), 'ERR_NAME_UNPROVEN')
    const accepted = await verified({ rpc: noProofs.url, acceptUnproven: true }).resolve('mysite.eth')
    assert.deepEqual([accepted.value, accepted.proven], [ipnsPath, false])
    assert.match(accepted.proof ?? '', /not proven: the endpoint does not support eth_getProof/)
  })

  it('gives ERR_NAME_WRONG_CHAIN for an endpoint on another chain', async () => {
    await rejectsWith(verified({ chainId: 1 }).resolve('mysite.eth'), 'ERR_NAME_WRONG_CHAIN')
  })

  it('gives ERR_NAME_UNREACHABLE for an endpoint that is down or does not answer in time', async () => {
    const dead = await deadEndpoint()
    await rejectsWith(verified({ rpc: dead }).resolve('mysite.eth'), 'ERR_NAME_UNREACHABLE')
    await rejectsWith(verified({ headerRpc: dead }).resolve('mysite.eth'), 'ERR_NAME_UNREACHABLE')
    const silent = await proxy(chain.url, (_m, _p, r) => r, { hang: true })
    const started = Date.now()
    await rejectsWith(verified({ rpc: silent.url }).resolve('mysite.eth', { signal: AbortSignal.timeout(200) }), 'ERR_NAME_UNREACHABLE')
    assert.ok(Date.now() - started < 2000)
  })
})
