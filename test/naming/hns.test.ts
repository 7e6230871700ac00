import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import { isWeftError, type ErrorCode } from '../../src/errors.ts'
import { createHnsResolver, type HnsInit } from '../../src/naming/hns.ts'
import { freePort, REGTEST, startHsd, startLyingProxy, type Hsd, type RpcRewrite } from '../helpers/hsd.ts'
import { resolverCompliance } from './compliance.ts'

const SITE = '/ipns/k51qzi5uqu5dlvj2baxnqndepeb86cbk3ng7n3i46uzyxzyqj2xjonzllnv0v8'
const LIE = '/ipns/k51qzi5uqu5dkkciu33khkzbcmxtyhn376i1e83tya8kuy7z9euedzyr5nhoew'
const ROOT_CID = '/ipfs/bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi'

function rejectsWith (code: ErrorCode): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(isWeftError(err, code), `expected ${code}, got ${String((err as { code?: string }).code)}: ${(err as Error).message}`)
    return true
  }
}

function hexOf (text: string): string {
  return Buffer.from(text, 'latin1').toString('hex')
}

test('hns: Handshake names from a real regtest hsd, checked with urkel proofs', async (t) => {
  const hsd: Hsd = await startHsd(t)
  await hsd.register({
    weftsite: [`dnslink=${SITE}`],
    weftipfs: ['v=spf1 -all', `dnslink=${ROOT_CID}`],
    weftplain: ['hello=world'],
    weftbroken: ['dnslink=/ipfs/not-a-cid']
  })
  const init: HnsInit = { rpc: hsd.rpc, apiKey: hsd.apiKey, network: 'regtest' }
  const hns = createHnsResolver(init)

  await resolverCompliance(t, async () => ({ resolver: hns, known: { name: 'weftsite', value: SITE }, unknown: 'weftabsent', proven: true }))

  await t.test('a registered name resolves to its dnslink, proven against the header\'s tree root', async () => {
    const answer = await hns.resolve('WeftSite.')
    assert.equal(answer.value, SITE)
    assert.equal(answer.resolver, 'hns')
    assert.equal(answer.proven, true)
    const info = await hsd.call<{ treeroot: string }>('getblockchaininfo')
    assert.match(answer.proof ?? '', new RegExp(`tree root ${info.treeroot}`))
    assert.equal((await hns.resolve('weftipfs')).value, ROOT_CID)
  })

  await t.test('cold and warm verified resolve times', async () => {
    const cold: number[] = []
    const warm: number[] = []
    for (let i = 0; i < 20; i++) {
      const fresh = createHnsResolver(init)
      let t0 = performance.now()
      await fresh.resolve('weftsite')
      cold.push(performance.now() - t0)
      t0 = performance.now()
      await fresh.resolve('weftsite')
      warm.push(performance.now() - t0)
    }
    const p50 = (xs: number[]): string => xs.sort((a, b) => a - b)[xs.length >> 1].toFixed(2)
    t.diagnostic(`hns verified resolve p50: cold ${p50(cold)} ms (chain check + proof + header), warm ${p50(warm)} ms (proof + header)`)
  })

  await t.test('a name without a dnslink TXT, and a name that is not on the chain, are ERR_NAME_NOT_FOUND', async () => {
    await assert.rejects(hns.resolve('weftplain'), rejectsWith('ERR_NAME_NOT_FOUND'))
    await assert.rejects(hns.resolve('weftabsent'), (err: unknown) => {
      assert.ok(isWeftError(err, 'ERR_NAME_NOT_FOUND'))
      assert.match(err.message, /proof of absence/)
      return true
    })
    await assert.rejects(createHnsResolver({ ...init, verify: 'none' }).resolve('weftabsent'), rejectsWith('ERR_NAME_NOT_FOUND'))
  })

  await t.test('a malformed dnslink value is ERR_CONTENTHASH_INVALID', async () => {
    await assert.rejects(hns.resolve('weftbroken'), rejectsWith('ERR_CONTENTHASH_INVALID'))
  })

  await t.test('names that cannot be Handshake names are ERR_NAME_INVALID; handles() by shape', async () => {
    for (const bad of ['-weft', 'weft-', 'we ft', 'a'.repeat(64), 'mysite.eth', '']) {
      await assert.rejects(hns.resolve(bad), rejectsWith('ERR_NAME_INVALID'), bad)
    }
    const withTlds = createHnsResolver({ ...init, tlds: ['weftsite'] })
    assert.equal(withTlds.handles('weftsite'), true)
    assert.equal(withTlds.handles('otherlabel'), undefined)
    assert.equal(withTlds.handles('mysite.eth'), false)
    assert.equal(withTlds.handles('www.weftsite'), false)
    assert.equal(withTlds.handles('-bad'), false)
  })

  await t.test('a proxy that rewrites getnameresource\'s TXT is ignored: the value comes from the proof', async () => {
    const proxy = await startLyingProxy(t, hsd.rpc, (method, _params, result) => {
      if (method !== 'getnameresource') return result
      return { records: [{ type: 'TXT', txt: [`dnslink=${LIE}`] }] }
    })
    const reported = await createHnsResolver({ ...init, rpc: proxy, verify: 'none' }).resolve('weftsite')
    assert.deepEqual([reported.value, reported.proven], [LIE, false], 'unverified mode believes the proxy (and says so)')
    const proven = await createHnsResolver({ ...init, rpc: proxy }).resolve('weftsite')
    assert.deepEqual([proven.value, proven.proven], [SITE, true])
  })

  await t.test('a node without getnameproof is refused in proof mode (ERR_NAME_UNPROVEN); acceptUnproven answers unproven', async () => {
    const proxy = await startLyingProxy(t, hsd.rpc, (_m, _p, r) => r, { getnameproof: { code: -32601, message: 'Method not found.' } })
    await assert.rejects(createHnsResolver({ ...init, rpc: proxy }).resolve('weftsite'), rejectsWith('ERR_NAME_UNPROVEN'))
    const accepted = await createHnsResolver({ ...init, rpc: proxy, acceptUnproven: true }).resolve('weftsite')
    assert.deepEqual([accepted.value, accepted.proven], [SITE, false])
    assert.match(accepted.proof ?? '', /^not proven: hsd at .* cannot prove weftsite/)
  })

  await t.test('a proxy that tampers with getnameproof or the header is ERR_NAME_PROOF_INVALID', async () => {
    type NameProof = { hash: string, root: string, proof: { type: string, depth: number, nodes: unknown[], value?: string } }
    const early = await hsd.call<string>('getblockhash', [1])
    const otherProof = await hsd.call<NameProof>('getnameproof', ['weftplain'])
    const lies: Record<string, RpcRewrite> = {
      'the proven value carries another dnslink': (method, _p, r) => {
        if (method !== 'getnameproof') return r
        const np = r as NameProof
        np.proof.value = np.proof.value?.replace(hexOf(SITE), hexOf(LIE))
        return np
      },
      'a flipped byte in a sibling hash': (method, _p, r) => {
        if (method !== 'getnameproof') return r
        const np = r as NameProof
        const nodes = np.proof.nodes as Array<[string, string]>
        assert.ok(nodes.length > 0, 'the tree has more than one name, so the proof has siblings')
        const [prefix, hash] = nodes[0]
        nodes[0] = [prefix, (hash[0] === '0' ? '1' : '0') + hash.slice(1)]
        return np
      },
      'another name\'s proof': (method, _p, r) => method === 'getnameproof' ? { ...(r as NameProof), proof: otherProof.proof } : r,
      'a claim that the name does not exist': (method, _p, r) => method === 'getnameproof' ? { ...(r as NameProof), proof: { type: 'TYPE_DEADEND', depth: 0, nodes: [] } } : r,
      'another root': (method, _p, r) => method === 'getnameproof' ? { ...(r as NameProof), root: 'ab'.repeat(32) } : r,
      'another root, and the header rewritten to match': (method, _p, r) => {
        if (method === 'getnameproof') return { ...(r as NameProof), root: 'ab'.repeat(32) }
        if (method === 'getblockheader') return { ...(r as object), treeroot: 'ab'.repeat(32) }
        return r
      },
      'an older block whose tree does not hold the name': (method, _p, r) => method === 'getnameproof' ? { ...(r as NameProof), hash: early } : r,
      'garbage instead of a proof': (method, _p, r) => method === 'getnameproof' ? { ...(r as NameProof), proof: { type: 'TYPE_EXISTS', depth: 9999, nodes: 'x' } } : r
    }
    for (const [lie, rewrite] of Object.entries(lies)) {
      const proxy = await startLyingProxy(t, hsd.rpc, rewrite)
      await assert.rejects(createHnsResolver({ ...init, rpc: proxy }).resolve('weftsite'), rejectsWith('ERR_NAME_PROOF_INVALID'), lie)
    }
  })

  await t.test('a node on another network is ERR_NAME_WRONG_CHAIN', async () => {
    await assert.rejects(createHnsResolver({ ...init, network: 'main' }).resolve('weftsite'), rejectsWith('ERR_NAME_WRONG_CHAIN'))
    await assert.rejects(createHnsResolver({ rpc: hsd.rpc, apiKey: hsd.apiKey }).resolve('weftsite'), rejectsWith('ERR_NAME_WRONG_CHAIN'), 'main is the default')
  })

  await t.test('an endpoint that is down, refuses the key or is too slow is ERR_NAME_UNREACHABLE', async () => {
    const closed = `http://127.0.0.1:${await freePort()}/`
    await assert.rejects(createHnsResolver({ ...init, rpc: closed }).resolve('weftsite'), rejectsWith('ERR_NAME_UNREACHABLE'))
    await assert.rejects(createHnsResolver({ ...init, apiKey: 'wrong' }).resolve('weftsite'), rejectsWith('ERR_NAME_UNREACHABLE'))
    await assert.rejects(hns.resolve('weftsite', { signal: AbortSignal.abort() }), rejectsWith('ERR_NAME_UNREACHABLE'))
    await assert.rejects(createHnsResolver(init).resolve('weftsite', { signal: AbortSignal.abort() }), rejectsWith('ERR_NAME_UNREACHABLE'))
    const silent = createServer(() => {}) // accepts and never answers
    await new Promise<void>(resolve => silent.listen(0, '127.0.0.1', resolve))
    t.after(() => { silent.closeAllConnections(); silent.close() })
    const started = performance.now()
    const hung = createHnsResolver({ ...init, rpc: `http://127.0.0.1:${(silent.address() as { port: number }).port}/` })
    await assert.rejects(hung.resolve('weftsite', { signal: AbortSignal.timeout(200) }), rejectsWith('ERR_NAME_UNREACHABLE'))
    assert.ok(performance.now() - started < 2000, 'the caller\'s signal ends the wait')
  })

  await t.test('a proof lags until the tree commits: an update shows after the next commit', async () => {
    // the update goes into the block after a commit, so no tree commits it yet
    await hsd.mineToTreeCommit()
    await hsd.wallet('sendupdate', ['weftplain', { records: [{ type: 'TXT', txt: [`dnslink=${SITE}`] }] }])
    await hsd.mine(1)
    assert.equal((await hsd.height()) % REGTEST.treeInterval, 2, 'the update\'s block is no tree commit')
    await assert.rejects(hns.resolve('weftplain'), rejectsWith('ERR_NAME_NOT_FOUND'), 'not yet committed')
    await hsd.mineToTreeCommit()
    assert.equal((await hns.resolve('weftplain')).value, SITE)
  })

  await hsd.stop()
})
