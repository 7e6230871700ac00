import { test } from 'node:test'
import assert from 'node:assert/strict'
import { runWeft } from '../helpers/cli.ts'
import { tmpHome } from '../helpers/home.ts'

const KEY = 'k51qzi5uqu5dlmqya6ozq1a277mrftuh8mnxlrmeinlmzrmmptlgoaqk3uwy69'

test('weft name set, ls, resolve and rm: petnames from the command line, with clear errors', async t => {
  const home = await tmpHome(t)
  const set = await runWeft(['name', 'set', 'Blog', KEY], { home })
  assert.equal(set.code, 0, set.stderr)
  assert.equal(set.out, `blog → /ipns/${KEY}\n`)
  assert.equal((await runWeft(['name', 'set', 'docs', 'blog'], { home })).code, 0)
  const ls = JSON.parse((await runWeft(['name', 'ls', '--json'], { home })).out)
  assert.deepEqual(ls.map((n: { name: string, value: string }) => [n.name, n.value]), [['blog', `/ipns/${KEY}`], ['docs', '/ipns/blog']])
  const resolved = JSON.parse((await runWeft(['name', 'resolve', 'docs', '--json'], { home })).out)
  assert.equal(resolved.value, `/ipns/${KEY}`)
  assert.equal(resolved.resolver, 'petname')
  assert.equal(resolved.proven, false)
  assert.deepEqual(resolved.via, ['docs', 'blog'])
  const text = await runWeft(['name', 'resolve', 'blog'], { home })
  assert.match(text.out, /^\/ipns\/k51.*\nresolver petname\nyour own petname\n/)

  const bad = await runWeft(['name', 'set', 'no spaces', KEY], { home })
  assert.equal(bad.code, 2)
  assert.match(bad.stderr, /\(ERR_NAME_INVALID\)\n$/)
  const notAddress = await runWeft(['name', 'set', 'x', '!!'], { home })
  assert.match(notAddress.stderr, /\(ERR_USAGE\)\n$/)
  assert.equal((await runWeft(['name', 'rm', 'docs'], { home })).code, 0)
  const gone = await runWeft(['name', 'resolve', 'docs'], { home })
  assert.equal(gone.code, 1)
  assert.match(gone.stderr, /\(ERR_NAME_NOT_FOUND\)\n$/)
  const missing = await runWeft(['name', 'rm', 'docs'], { home })
  assert.match(missing.stderr, /\(ERR_NAME_NOT_FOUND\)\n$/)
})

test('weft publish --name prints the record each naming system needs, and a bad name publishes nothing', async t => {
  const { decodeContenthash } = await import('../../src/naming/index.ts')
  const { tmpDir } = await import('../helpers/home.ts')
  const { writeFile } = await import('node:fs/promises')
  const { join } = await import('node:path')
  const home = await tmpHome(t)
  const dir = await tmpDir(t)
  await writeFile(join(dir, 'index.html'), '<p>hi</p>')
  assert.equal((await runWeft(['site', 'create', 'blog'], { home })).code, 0)
  const bad = await runWeft(['publish', dir, '--site', 'blog', '--name', 'bad name.eth'], { home })
  assert.equal(bad.code, 2)
  assert.match(bad.stderr, /\(ERR_NAME_INVALID\)\n$/)
  assert.equal(JSON.parse((await runWeft(['site', 'list', '--json'], { home })).out)[0].sequence ?? null, null, 'nothing was published')

  const ens = JSON.parse((await runWeft(['publish', dir, '--site', 'blog', '--name', 'MySite.eth', '--json'], { home })).out)
  assert.equal(ens.records.name, 'mysite.eth')
  assert.equal(decodeContenthash(Buffer.from(ens.records.ens.contenthash.slice(2), 'hex'), 'mysite.eth'), ens.address)
  const hns = JSON.parse((await runWeft(['publish', dir, '--site', 'blog', '--name', 'weftsite', '--json'], { home })).out)
  assert.equal(hns.records.hns.txt, `dnslink=${ens.address}`)
  const bit = JSON.parse((await runWeft(['publish', dir, '--site', 'blog', '--name', 'blog.weft.bit', '--json'], { home })).out)
  assert.deepEqual(bit.records.namecoin, { name: 'd/weft', value: JSON.stringify({ map: { blog: { txt: `dnslink=${ens.address}` } } }), update: `namecoin-cli name_update d/weft '${JSON.stringify({ map: { blog: { txt: `dnslink=${ens.address}` } } })}'` })
  const dns = await runWeft(['publish', dir, '--site', 'blog', '--name', 'docs.example.org'], { home })
  assert.match(dns.out, new RegExp(`_dnslink\\.docs\\.example\\.org  TXT  "dnslink=${ens.address}"`))
  assert.match(dns.out, /DNS is not decentralized/)
})

test('weft name resolve of a .bit name: proven, refused when unprovable, and "not proven" with the reason once unproven answers are accepted', async t => {
  const { startReplayNode, nameShowAnswer } = await import('../helpers/namecoin-fixtures.ts')
  const replay = await startReplayNode(t, (m, p) => m === 'name_show' && p[0] === 'd/weft-cli' ? nameShowAnswer('d/weft-cli', `{"txt":"dnslink=/ipns/${KEY}"}`) : undefined)
  const home = await tmpHome(t)
  const namecoin = { rpc: replay.rpc, user: replay.user, password: replay.password, network: 'regtest' }
  assert.equal((await runWeft(['config', 'set', 'naming.namecoin', JSON.stringify(namecoin)], { home })).code, 0)
  const proven = await runWeft(['name', 'resolve', 'weft-txt.bit'], { home })
  assert.match(proven.out, /^\/ipns\/k51\w+\nresolver namecoin\nproven \(tx \w+ in block 345 /, proven.stderr)
  const refused = await runWeft(['name', 'resolve', 'weft-cli.bit'], { home })
  assert.equal(refused.code, 1)
  assert.match(refused.stderr, /cannot prove d\/weft-cli.*naming\.namecoin\.acceptUnproven.*\(ERR_NAME_UNPROVEN\)\n$/)
  assert.equal((await runWeft(['config', 'set', 'naming.namecoin.acceptUnproven', 'true'], { home })).code, 0)
  const accepted = await runWeft(['name', 'resolve', 'weft-cli.bit'], { home })
  assert.equal(accepted.code, 0, accepted.stderr)
  assert.match(accepted.out, new RegExp(`^/ipns/${KEY}\\nresolver namecoin\\nnot proven: Namecoin Core at 127\\.0\\.0\\.1:\\d+ cannot prove d/weft-cli's value`))
})
