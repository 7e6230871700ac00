import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { isWeftError } from '../../src/errors.ts'
import { importPath } from '../../src/content/index.ts'
import { createNode, type WeftNode } from '../../src/node/index.ts'
import type { Config } from '../../src/repo/index.ts'
import { nodeGateway } from '../../src/daemon/index.ts'
import { createDnslinkResolver, createNaming, normalizeName, Petnames, MAX_NAME_DEPTH } from '../../src/naming/index.ts'
import { inlineDnsName } from '../../src/gateway/index.ts'
import { startDnsServer } from '../helpers/dns-server.ts'
import { tmpDir, tmpHome } from '../helpers/home.ts'
import { resolverCompliance } from './compliance.ts'

const KEY = 'k51qzi5uqu5dlmqya6ozq1a277mrftuh8mnxlrmeinlmzrmmptlgoaqk3uwy69'
const CID = 'bafybeic4tzktyng5dirw6tkmci3bpfisjfmkahwp65jlrlsc7oqu7ylghq'
const code = (c: string) => (err: unknown) => isWeftError(err) && err.code === c

/** A node on a new home (with `config` over the defaults) that has published a one-page site; its IPNS name. */
async function nodeWithSite (t: TestContext, page: string, config: (c: Config) => Config = c => c): Promise<{ node: WeftNode, name: string }> {
  const node = await createNode({ home: await tmpHome(t), configOverrides: config })
  t.after(async () => { await node.stop() })
  const dir = await tmpDir(t)
  await writeFile(join(dir, 'index.html'), page)
  const { root } = await importPath(node.blocks, dir, {})
  await node.blocks.pin(root.cid, 'recursive')
  await node.sites.create('site')
  return { node, name: (await node.sites.publish('site', root.cid)).name }
}

/** The node's gateway answering a GET for `url` (its Host taken from the URL). */
async function visit (node: WeftNode, url: string): Promise<Response> {
  return await nodeGateway(node)(new Request(url, { headers: { host: new URL(url).host } }))
}

test('petnames keep the resolver contract', async t => {
  await resolverCompliance(t, async t => {
    const node = await createNode({ home: await tmpHome(t) })
    t.after(async () => { await node.stop() })
    node.petnames.set('blog', KEY)
    return { resolver: node.petnames, known: { name: 'blog', value: `/ipns/${KEY}` }, unknown: 'nope', proven: false }
  })
})

test('DNSLink keeps the resolver contract, against a DNS server on 127.0.0.1', async t => {
  await resolverCompliance(t, async t => {
    const dns = await startDnsServer(t)
    dns.records.set('_dnslink.docs.example.org', [{ text: `dnslink=/ipns/${KEY}`, ttl: 120 }])
    return { resolver: createDnslinkResolver({ servers: [dns.address] }), known: { name: 'docs.example.org', value: `/ipns/${KEY}` }, unknown: 'nothing.example.org', proven: false }
  })
})

test('DNSLink over DNS-over-HTTPS (RFC 8484 POST), against a server on 127.0.0.1', async t => {
  const { createServer } = await import('node:http')
  const dnsPacket = (await import('dns-packet')).default
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const query = dnsPacket.decode(Buffer.concat(chunks))
      const question = query.questions?.[0]
      const known = question?.name === '_dnslink.doh.example.org'
      res.writeHead(req.headers['content-type'] === 'application/dns-message' ? 200 : 415, { 'content-type': 'application/dns-message' })
      res.end(dnsPacket.encode({
        type: 'response', id: query.id, flags: known ? 0 : 3, questions: query.questions,
        answers: known ? [{ type: 'TXT', name: question.name, ttl: 42, data: [`dnslink=/ipfs/${CID}`] }] : []
      }))
    })
  })
  await new Promise<void>(resolve => { server.listen(0, '127.0.0.1', () => { resolve() }) })
  t.after(() => { server.close() })
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/dns-query`
  const doh = createDnslinkResolver({ servers: [url] })
  const answer = await doh.resolve('doh.example.org')
  assert.deepEqual({ value: answer.value, ttl: answer.ttl, proven: answer.proven }, { value: `/ipfs/${CID}`, ttl: 42_000, proven: false })
  await assert.rejects(doh.resolve('other.example.org'), code('ERR_NAME_NOT_FOUND'))
})

test('the chain: petnames first, DNSLink for DNS names, TTL and negative caches, loops, bad names, silent servers', async t => {
  const dns = await startDnsServer(t)
  const node = await createNode({ home: await tmpHome(t) })
  t.after(async () => { await node.stop() })
  const dnslink = createDnslinkResolver({ servers: [dns.address] })
  const naming = createNaming([node.petnames, dnslink], { timeout: 2_000, negativeTtl: 60_000 })
  dns.records.set('_dnslink.a.example.org', [{ text: `dnslink=/ipfs/${CID}/docs`, ttl: 300 }, { text: 'unrelated=1', ttl: 300 }])
  dns.records.set('_dnslink.alias.example.org', [{ text: 'dnslink=/ipns/a.example.org/v2', ttl: 30 }])

  // a DNS name through DNSLink; a name pointing at a name is followed, paths joined, TTL the shortest
  let r = await naming.resolve('A.Example.org.')
  assert.deepEqual({ value: r.value, resolver: r.resolver, proven: r.proven, ttl: r.ttl }, { value: `/ipfs/${CID}/docs`, resolver: 'dnslink', proven: false, ttl: 300_000 })
  r = await naming.resolve('alias.example.org')
  assert.equal(r.value, `/ipfs/${CID}/docs/v2`)
  assert.deepEqual(r.via, ['alias.example.org', 'a.example.org'])
  assert.equal(r.ttl, 30_000)
  // cached within the TTL: no second question
  const asked = dns.queries.get('_dnslink.a.example.org')
  await naming.resolve('a.example.org')
  assert.equal(dns.queries.get('_dnslink.a.example.org'), asked)
  await naming.resolve('a.example.org', { fresh: true })
  assert.equal(dns.queries.get('_dnslink.a.example.org'), (asked ?? 0) + 1)
  // "no such name" is remembered too
  await assert.rejects(naming.resolve('missing.example.org'), code('ERR_NAME_NOT_FOUND'))
  await assert.rejects(naming.resolve('missing.example.org'), code('ERR_NAME_NOT_FOUND'))
  assert.equal(dns.queries.get('_dnslink.missing.example.org'), 1)

  // a petname wins over DNS, and naming forgets when told to
  node.petnames.set('a.example.org', KEY)
  naming.forget('a.example.org')
  assert.equal((await naming.resolve('a.example.org')).value, `/ipns/${KEY}`)
  assert.equal((await naming.resolve('a.example.org')).resolver, 'petname')
  node.petnames.set('home', 'alias.example.org')
  r = await naming.resolve('home')
  assert.equal(r.value, `/ipns/${KEY}/v2`, 'petname → DNSLink → petname')

  // loops: a circle, and a chain past depth 32
  dns.records.set('_dnslink.x.example.org', [{ text: 'dnslink=/ipns/y.example.org', ttl: 60 }])
  dns.records.set('_dnslink.y.example.org', [{ text: 'dnslink=/ipns/x.example.org', ttl: 60 }])
  await assert.rejects(naming.resolve('x.example.org'), code('ERR_NAME_LOOP'))
  for (let i = 0; i <= MAX_NAME_DEPTH; i++) dns.records.set(`_dnslink.n${i}.example.org`, [{ text: `dnslink=/ipns/n${i + 1}.example.org`, ttl: 60 }])
  await assert.rejects(naming.resolve('n0.example.org'), code('ERR_NAME_LOOP'))

  // malformed values and names
  dns.records.set('_dnslink.bad.example.org', [{ text: 'dnslink=/ipfs/not-a-cid', ttl: 60 }])
  await assert.rejects(naming.resolve('bad.example.org'), code('ERR_CONTENTHASH_INVALID'))
  dns.records.set('_dnslink.worse.example.org', [{ text: 'dnslink=https://example.org/', ttl: 60 }])
  await assert.rejects(naming.resolve('worse.example.org'), code('ERR_CONTENTHASH_INVALID'))
  for (const bad of ['', 'a..b', 'sp ace.org', 'ünïcode.org', `${'a'.repeat(64)}.org`, `${'a.'.repeat(127)}org`, '-a.org']) {
    await assert.rejects(naming.resolve(bad), code('ERR_NAME_INVALID'), JSON.stringify(bad))
  }
  assert.equal(normalizeName('Docs.Example.ORG.'), 'docs.example.org')
  assert.throws(() => node.petnames.set('loop', 'loop'), code('ERR_NAME_LOOP'))
  assert.throws(() => node.petnames.set('x', 'not an address!'), code('ERR_USAGE'))

  // a DNS server that does not answer
  const silent = createNaming([createDnslinkResolver({ servers: ['127.0.0.1:9'] })], { timeout: 1_500, negativeTtl: 0 })
  await assert.rejects(silent.resolve('a.example.org'), code('ERR_NAME_UNREACHABLE'))
  // a name no resolver handles
  await assert.rejects(createNaming([new Petnames(node.repo.db)], { timeout: 1_000, negativeTtl: 0 }).resolve('nobody.example.org'), code('ERR_NAME_NOT_FOUND'))
})

test('the gateway serves named sites: a petname and a DNSLink name, by subdomain and by path', async t => {
  const dns = await startDnsServer(t)
  const { node, name } = await nodeWithSite(t, '<p>named site</p>', c => ({ ...c, naming: { ...c.naming, dns: [dns.address] } }))
  node.petnames.set('blog', name)
  dns.records.set('_dnslink.my-site.example.org', [{ text: `dnslink=/ipns/${name}`, ttl: 60 }])

  let r = await visit(node, 'http://blog.ipns.localhost:8080/')
  assert.equal(r.status, 200)
  assert.equal(await r.text(), '<p>named site</p>')
  r = await visit(node, 'http://localhost:8080/ipns/my-site.example.org/')
  assert.equal(r.headers.get('location'), `http://${inlineDnsName('my-site.example.org')}.ipns.localhost:8080/`)
  r = await visit(node, `http://${inlineDnsName('my-site.example.org')}.ipns.localhost:8080/`)
  assert.equal(r.status, 200)
  assert.equal(await r.text(), '<p>named site</p>')
  r = await visit(node, 'http://127.0.0.1:8080/ipns/blog/index.html')
  assert.equal(await r.text(), '<p>named site</p>')
  r = await visit(node, 'http://nobody.ipns.localhost:8080/')
  assert.equal(r.status, 404)
  assert.match(await r.text(), /ERR_NAME_NOT_FOUND/)
})

test('a Handshake name on a real regtest hsd: the node resolves it with a proof and the gateway serves the site', async t => {
  const { startHsd } = await import('../helpers/hsd.ts')
  const hsd = await startHsd(t)
  const { node, name } = await nodeWithSite(t, '<p>on handshake</p>', c => ({ ...c, naming: { ...c.naming, hns: { ...c.naming.hns, rpc: hsd.rpc, apiKey: hsd.apiKey, network: 'regtest' as const } } }))
  await hsd.register({ weftgateway: [`dnslink=/ipns/${name}`] })

  const named = await node.naming.resolve('weftgateway')
  assert.deepEqual({ value: named.value, resolver: named.resolver, proven: named.proven }, { value: `/ipns/${name}`, resolver: 'hns', proven: true })
  const r = await visit(node, 'http://weftgateway.ipns.localhost:8080/')
  assert.equal(r.status, 200)
  assert.equal(await r.text(), '<p>on handshake</p>')
})

test('an ENS name on a local chain with the real contracts: the node resolves it with eth_getProof and the gateway serves the site', async t => {
  const { startEnsChain, CHAIN_ID } = await import('../helpers/ens-chain.ts')
  const { encodeContenthash } = await import('../../src/naming/index.ts')
  const chain = await startEnsChain()
  t.after(async () => { await chain.stop() })
  const { node, name } = await nodeWithSite(t, '<p>on ens</p>', c => ({ ...c, naming: { ...c.naming, ens: { ...c.naming.ens, rpc: chain.url, headerRpc: chain.url, registry: chain.registry, chainId: CHAIN_ID } } }))
  await chain.register('weftsite')
  await chain.setContenthash('weftsite.eth', encodeContenthash(`/ipns/${name}`))

  const named = await node.naming.resolve('weftsite.eth')
  assert.deepEqual({ value: named.value, resolver: named.resolver, proven: named.proven }, { value: `/ipns/${name}`, resolver: 'ens', proven: true })
  const r = await visit(node, 'http://weftsite-eth.ipns.localhost:8080/')
  assert.equal(r.status, 200)
  assert.equal(await r.text(), '<p>on ens</p>')
})

test('a Namecoin name: the node resolves .bit through its Namecoin Core node, and the gateway serves the site at its inlined subdomain (weft--gw-bit), marked proven', async t => {
  const { startReplayNode, nameShowAnswer, loadRecorded, syntheticName } = await import('../helpers/namecoin-fixtures.ts')
  let site = ''
  let other = ''
  // the recorded chain; the names pointing at this test's sites are added once the sites exist
  const recorded = loadRecorded()
  const replay = await startReplayNode(t, (method, params) => {
    if (method !== 'name_show') return undefined
    if (params[0] === 'd/weft-gx') return nameShowAnswer('d/weft-gx', JSON.stringify({ txt: `dnslink=/ipns/${site}` }))
    if (params[0] === 'd/weft-gy') return nameShowAnswer('d/weft-gy', JSON.stringify({ txt: `dnslink=/ipns/${other}` }))
    return undefined
  }, recorded)
  const namecoin = (extra: object) => (c: Config): Config => ({ ...c, naming: { ...c.naming, namecoin: { ...c.naming.namecoin, rpc: replay.rpc, user: replay.user, password: replay.password, network: 'regtest' as const, ...extra } } })
  const { node, name } = await nodeWithSite(t, '<p>on namecoin</p>', namecoin({}))
  site = name
  // d/weft-gw: a name_update in a block of its own, with its proof; d/weft-gx: no transaction, so not provable
  recorded.push(...syntheticName({ name: 'd/weft-gw', value: JSON.stringify({ txt: `dnslink=/ipns/${site}` }), height: 500 }))
  // a recorded name: proven by the Merkle proof of its transaction
  const recorded1 = await node.naming.resolve('weft-txt.bit')
  assert.equal(recorded1.resolver, 'namecoin')
  assert.equal(recorded1.proven, true)
  assert.match(recorded1.value, /^\/ipns\/k51/)
  const proven = await node.naming.resolve('weft-gw.bit')
  assert.deepEqual({ value: proven.value, proven: proven.proven }, { value: `/ipns/${name}`, proven: true })
  const ok = await visit(node, `http://${inlineDnsName('weft-gw.bit')}.ipns.localhost:8080/`)
  assert.equal(ok.status, 200)
  assert.equal(await ok.text(), '<p>on namecoin</p>')
  assert.equal(ok.headers.get('x-weft-name-resolver'), 'namecoin')
  assert.equal(ok.headers.get('x-weft-name-proven'), 'true')

  // proof mode fails closed: the unprovable name is refused, by naming and by the gateway
  await assert.rejects(node.naming.resolve('weft-gx.bit'), code('ERR_NAME_UNPROVEN'))
  const refused = await visit(node, `http://${inlineDnsName('weft-gx.bit')}.ipns.localhost:8080/`)
  assert.equal(refused.status, 502)
  assert.match(await refused.text(), /ERR_NAME_UNPROVEN/)

  // a node that accepts unproven answers serves it, and marks it
  const accepting = await nodeWithSite(t, '<p>unproven</p>', namecoin({ acceptUnproven: true }))
  other = accepting.name
  const unproven = await accepting.node.naming.resolve('weft-gy.bit')
  assert.deepEqual({ value: unproven.value, proven: unproven.proven }, { value: `/ipns/${other}`, proven: false })
  assert.match(unproven.proof ?? '', /^not proven: /)
  const marked = await visit(accepting.node, `http://${inlineDnsName('weft-gy.bit')}.ipns.localhost:8080/`)
  assert.equal(marked.status, 200)
  assert.equal(await marked.text(), '<p>unproven</p>')
  assert.equal(marked.headers.get('x-weft-name-proven'), 'false')
})
