/**
 * Fuzzing DNS answers to DNSLink questions. A DNS server (or anything on the path of a UDP
 * answer) is not trusted, so every answer packet either gives a DNSLink weft can use or a
 * coded refusal. Most cases go straight to the packet decoder and the DNSLink reading the
 * resolver runs on each answer (UDP and DoH alike); fewer go end to end through the resolver
 * to one DNS-over-HTTPS endpoint on 127.0.0.1 (it takes http:// URLs as DoH servers).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import fc from 'fast-check'
import dnsPacket from 'dns-packet'
import { createDnslinkResolver, decodeAnswer, dnslinkAnswer, type TxtAnswer } from '../../src/naming/dnslink.ts'
import { parseValue } from '../../src/naming/names.ts'
import { CaseCounter, hostileBytes, isCodedRefusal, params, refusesCleanly } from './fuzz.ts'

const NAME = 'example.test'
const QUESTION = `_dnslink.${NAME}`
const CID = 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'

function answer (records: Array<{ data: string | string[], ttl?: number }>, rcode = 0): Uint8Array {
  return new Uint8Array(dnsPacket.encode({
    type: 'response',
    id: 0,
    flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | rcode,
    questions: [{ type: 'TXT', name: QUESTION }],
    answers: records.map(r => ({ type: 'TXT', name: QUESTION, ttl: r.ttl ?? 300, data: r.data as string }))
  }))
}

const valid = [
  answer([{ data: `dnslink=/ipfs/${CID}` }]),
  answer([{ data: ['dnslink=/ipns/', 'k51qzi5uqu5dlvj2baxnqndepeb86cbk3ng7n3i46uzyxzyqj2xjonzllnv0v8'], ttl: 60 }, { data: 'v=spf1 -all' }]),
  answer([{ data: `dnslink=/ipfs/${CID}/docs` }, { data: `dnslink=/ipfs/${CID}`, ttl: 0 }]),
  answer([], 3) // NXDOMAIN
]

const CODES = ['ERR_NAME_UNREACHABLE', 'ERR_NAME_NOT_FOUND', 'ERR_CONTENTHASH_INVALID'] as const

function assertUsable (got: { value: string, ttl: number, proven: boolean }): void {
  parseValue(got.value, 'the answer')
  assert.ok(Number.isFinite(got.ttl) && got.ttl >= 0, `ttl ${got.ttl}`)
  assert.equal(got.proven, false)
}

test('fuzz: DNS answer packets decode to TXT records and a usable DNSLink, or a coded refusal', async () => {
  const counter = new CaseCounter()
  await fc.assert(fc.asyncProperty(hostileBytes(valid, 300), async packet => {
    counter.tick()
    let txt: TxtAnswer
    try {
      txt = decodeAnswer(packet)
    } catch {
      return // not an answer: UDP waits for another, DoH counts the server as failed (ERR_NAME_UNREACHABLE)
    }
    assert.equal(typeof txt.rcode, 'string')
    for (const r of txt.records) assert.ok(typeof r.text === 'string' && Number.isFinite(r.ttl))
    await refusesCleanly(() => { assertUsable(dnslinkAnswer(NAME, txt)) }, err => isCodedRefusal(err, [...CODES]))
  }), params(20_000))
  console.log(counter.report('DNS answer packets'))
})

test('fuzz: DNS answers over DoH give a usable DNSLink or a coded refusal', async t => {
  let next: Uint8Array = valid[0]
  const server = createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/dns-message' })
      res.end(next)
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.after(async () => { server.closeAllConnections(); await new Promise(resolve => server.close(resolve)) })
  const resolver = createDnslinkResolver({ servers: [`http://127.0.0.1:${(server.address() as { port: number }).port}/dns-query`] })

  // the valid answers resolve (or, for NXDOMAIN, are not found): the mutations start from real packets
  for (const packet of valid.slice(0, 3)) {
    next = packet
    assert.ok((await resolver.resolve(NAME)).value.startsWith('/ip'))
  }

  const counter = new CaseCounter()
  await fc.assert(fc.asyncProperty(hostileBytes(valid, 300), async packet => {
    counter.tick()
    next = packet
    await refusesCleanly(async () => {
      assertUsable(await resolver.resolve(NAME, { signal: AbortSignal.timeout(5_000) }))
    }, err => isCodedRefusal(err, [...CODES]))
  }), params(200))
  console.log(counter.report('DNS answers (DoH)'))

  // found by the fuzzer: a TXT value with a newline put that newline in the error, so a DNS
  // server could add lines of its choosing to weft's output
  next = answer([{ data: 'dnslink=\nweft: verified /ipfs/' + CID }])
  await assert.rejects(resolver.resolve(NAME), (err: unknown) => isCodedRefusal(err, ['ERR_CONTENTHASH_INVALID']))
})

test('regression: a short packet claiming thousands of records is refused at once', () => {
  // found by the fuzzer: dns-packet reads past the end as zeros, so these 100 bytes (11901
  // questions, 8478 answers claimed) took it half a second of CPU, on every UDP datagram
  const packet = Buffer.from('02db9a73e02e7d211eb5671c112256a1280bc54d0d318cb46359531857788526c81e49d08b15891c20267e66146feb58f4321676c91d1b634b69f8b175b504a401e1087bf9dc5e4c66ca466c83b16e29d2227e7e63c7177dfc93948a66c451562ffb8b89', 'hex')
  const started = performance.now()
  for (let i = 0; i < 20; i++) assert.throws(() => decodeAnswer(packet))
  assert.ok(performance.now() - started < 1_000, `20 refusals took ${Math.round(performance.now() - started)} ms`)
})
