/**
 * Ported from ipfs/gateway-conformance tests/subdomain_gateway_ipns_test.go
 * (TestSubdomainGatewayDNSLinkInlining), against a weft gateway on 127.0.0.1 whose DNSLink
 * resolver asks a DNS server on 127.0.0.1 that holds the suite's dnslink.yml records (no
 * other DNS server is asked). The suite's `example.com` is `localhost:<port>`.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { startGateway, loadFixture } from './harness.ts'
import { startDnsServer } from '../../helpers/dns-server.ts'

const FIXTURES = join(import.meta.dirname, '..', '..', 'fixtures', 'gateway-conformance')
/** The suite's subdomain_gateway/dnslink.yml and dnslink_ipns/dnslink.yml. */
const DNSLINKS = {
  wikipedia: { domain: 'en.wikipedia-on-ipfs.example.org', path: '/ipfs/bafybeiaysi4s6lnjev27ln5icwm6tueaw2vdykrtjkwiphwekaywqhcjze' },
  test: { domain: 'dnslink-test.example.org', path: '/ipfs/bafkreicysg23kiwv34eg2d7qweipxwosdo2py4ldv42nbauguluen5v6am' },
  overIpns: { domain: 'dnslink-over-ipns.example.org', path: '/ipns/12D3KooWLQzUv2FHWGVPXTXSZpdHs7oHbXub2G5WC8Tx4NQhyd2d' },
  overIpnsCidv1: { domain: 'dnslink-over-ipns-cidv1.example.org', path: '/ipns/k51qzi5uqu5dk3v4rmjber23h16xnr23bsggmqqil9z2gduiis5se8dht36dam' }
}

/** The suite's dnslink.InlineDNS: `-` becomes `--`, then `.` becomes `-`. */
function inline (domain: string): string {
  return domain.replaceAll('-', '--').replaceAll('.', '-')
}

test('DNSLink names on the subdomain gateway (TestSubdomainGatewayDNSLinkInlining)', async t => {
  const dns = await startDnsServer(t)
  for (const link of Object.values(DNSLINKS)) dns.records.set(`_dnslink.${link.domain}`, [{ text: `dnslink=${link.path}`, ttl: 60 }])
  const gw = await startGateway(t, c => ({ ...c, naming: { ...c.naming, dns: [dns.address] } }))
  const f = await loadFixture('subdomain_gateway/fixtures.car', gw.node)
  const hello = await f.content('hello-CIDv1')
  const gateway = `localhost:${gw.port}`
  const record = await readFile(join(FIXTURES, 'subdomain_gateway', '12D3KooWLQzUv2FHWGVPXTXSZpdHs7oHbXub2G5WC8Tx4NQhyd2d.ipns-record'))
  assert.equal(await gw.node.sites.receive('k51qzi5uqu5dk3v4rmjber23h16xnr23bsggmqqil9z2gduiis5se8dht36dam', record), 'new')

  await t.test('request for /ipns/{dnslink}/foo/ redirects to {inlined-dnslink}.ipns.example.com', async () => {
    const r = await gw.request(`/ipns/${DNSLINKS.wikipedia.domain}/wiki/`, { host: gateway })
    assert.equal(r.header('location'), `http://${inline(DNSLINKS.wikipedia.domain)}.ipns.${gateway}/wiki/`)
  })
  await t.test('request for {inlineddnslink}.ipns.{gateway} returns expected payload', async () => {
    const r = await gw.request('/', { host: `${inline(DNSLINKS.test.domain)}.ipns.${gateway}` })
    assert.equal(r.status, 200)
    assert.deepEqual(r.body, hello)
    assert.equal(hello.toString(), 'hello\n')
  })
  await t.test('request for example.com/ipns/?uri=ipns%3A%2F%2F.. produces redirect to /ipns/.. content path', async () => {
    const r = await gw.request(`/ipns/?uri=${encodeURIComponent(`ipns://${DNSLINKS.wikipedia.domain}`)}`, { host: gateway })
    assert.equal(r.header('location'), `/ipns/${DNSLINKS.wikipedia.domain}`)
  })
  for (const [name, link] of [['peer-id', DNSLINKS.overIpns], ['cidv1-libp2p-key', DNSLINKS.overIpnsCidv1]] as const) {
    await t.test(`request for {inlined-dnslink}.ipns.{gateway} with dnslink=/ipns/{${name}} returns expected payload`, async () => {
      const r = await gw.request('/', { host: `${inline(link.domain)}.ipns.${gateway}` })
      assert.equal(r.status, 200)
      assert.deepEqual(r.body, hello)
    })
  }
})
