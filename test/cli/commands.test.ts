import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdir, readFile, readdir, symlink, writeFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { tmpDir, tmpHome } from '../helpers/home.ts'
import { runWeft, type CliResult } from '../helpers/cli.ts'

async function makeSite (dir: string): Promise<{ root: string, big: Buffer }> {
  const root = join(dir, 'site')
  await mkdir(join(root, 'css'), { recursive: true })
  await mkdir(join(root, 'empty'))
  await writeFile(join(root, 'index.html'), '<h1>hello</h1>\n')
  await writeFile(join(root, 'css', 'style.css'), 'h1 { color: teal }\n')
  const big = randomBytes(3 * 1024 * 1024 + 5)
  await writeFile(join(root, 'big.bin'), big)
  await writeFile(join(root, '.secret'), 'not published by default')
  return { root, big }
}

function ok (r: CliResult): CliResult {
  assert.equal(r.code, 0, `exit ${r.code}: ${r.stderr}`)
  return r
}

/** A user's mistake: the given exit status, one line on stderr naming the code, no stack. */
function fails (r: CliResult, code: string): void {
  assert.notEqual(r.code, 0)
  const lines = r.stderr.trim().split('\n')
  assert.equal(lines.length, 1, `expected one line, got:\n${r.stderr}`)
  assert.match(lines[0], new RegExp(`^weft: .+ \\(${code}\\)$`))
  assert.doesNotMatch(r.stderr, /\n\s+at /)
}

async function treeOf (dir: string, prefix = ''): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  for (const e of (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    const rel = prefix + e.name
    if (e.isDirectory()) {
      out[rel + '/'] = 'dir'
      Object.assign(out, await treeOf(join(dir, e.name), rel + '/'))
    } else {
      out[rel] = (await readFile(join(dir, e.name))).toString('base64')
    }
  }
  return out
}

describe('weft add, cat, get, ls', () => {
  test('add prints every entry, -Q only the root, --json both; get writes the folder back byte-identical', async t => {
    const dir = await tmpDir(t)
    const home = await tmpHome(t)
    const { root, big } = await makeSite(dir)
    const added = ok(await runWeft(['add', root], { home }))
    const lines = added.out.trim().split('\n')
    assert.equal(lines.length, 6) // index.html, style.css, big.bin, css, empty, site
    const rootLine = lines[lines.length - 1].split(' ')
    assert.equal(rootLine[0], 'added')
    assert.equal(rootLine[2], 'site')
    const cid = rootLine[1]
    assert.equal(added.stderr, '', 'no progress bar on a pipe')
    assert.equal(ok(await runWeft(['add', '-Q', root], { home })).out, `${cid}\n`)
    const json = JSON.parse(ok(await runWeft(['add', '--json', root], { home })).out)
    assert.equal(json.roots[0].cid, cid)
    assert.equal(json.roots[0].files, 3)
    assert.ok(json.entries.some((e: { path: string }) => e.path === 'site/empty'))

    assert.deepEqual(ok(await runWeft(['cat', `${cid}/big.bin`], { home })).stdout, big)
    assert.equal(ok(await runWeft(['cat', `/ipfs/${cid}/index.html`], { home })).out, '<h1>hello</h1>\n')
    assert.deepEqual(ok(await runWeft(['cat', '--offset', '1048570', '--length', '10', `${cid}/big.bin`], { home })).stdout, big.subarray(1048570, 1048580))

    const listing = JSON.parse(ok(await runWeft(['ls', '--json', cid], { home })).out)
    assert.deepEqual(listing.map((e: { name: string, type: string }) => `${e.name}:${e.type}`), ['big.bin:file', 'css:directory', 'empty:directory', 'index.html:file'])
    assert.equal(listing[0].size, big.length)
    assert.match(ok(await runWeft(['ls', cid], { home })).out, /css\/\n/)

    const out = join(dir, 'copy')
    ok(await runWeft(['get', cid, '-o', out], { home }))
    const expected = await treeOf(root)
    delete expected['.secret']
    assert.deepEqual(await treeOf(out), expected)
    const single = join(dir, 'one.bin')
    ok(await runWeft(['get', `${cid}/big.bin`, '-o', single], { home }))
    assert.deepEqual(await readFile(single), big)
    fails(await runWeft(['get', cid, '-o', out], { home }), 'ERR_OUTPUT_EXISTS')
  })

  test('dotfiles only with --hidden; symlinks are reported and not followed; --no-pin leaves no pin', async t => {
    const dir = await tmpDir(t)
    const home = await tmpHome(t)
    const { root } = await makeSite(dir)
    await symlink('/etc/passwd', join(root, 'link'))
    const plain = ok(await runWeft(['add', '--json', root], { home }))
    assert.match(plain.stderr, /skipped symlink .*link/)
    const hidden = JSON.parse(ok(await runWeft(['add', '--json', '--hidden', root], { home })).out)
    assert.notEqual(JSON.parse(plain.out).roots[0].cid, hidden.roots[0].cid)
    assert.equal(ok(await runWeft(['cat', `${hidden.roots[0].cid}/.secret`], { home })).out, 'not published by default')
    fails(await runWeft(['cat', `${JSON.parse(plain.out).roots[0].cid}/link`], { home }), 'ERR_DAG_PATH_NOT_FOUND')

    const other = await tmpHome(t)
    const unpinned = ok(await runWeft(['add', '-Q', '--no-pin', root], { home: other })).out.trim()
    assert.equal(ok(await runWeft(['pin', 'ls'], { home: other })).out, '')
    const gc = JSON.parse(ok(await runWeft(['gc', '--json'], { home: other })).out)
    assert.ok(gc.blocks >= 5)
    fails(await runWeft(['cat', `${unpinned}/index.html`], { home: other }), 'ERR_BLOCK_NOT_FOUND')
  })

  test('--preserve-mode and --preserve-mtime are recorded and restored by get', async t => {
    const dir = await tmpDir(t)
    const home = await tmpHome(t)
    const file = join(dir, 'script.sh')
    await writeFile(file, '#!/bin/sh\necho hi\n', { mode: 0o750 })
    const { utimes } = await import('node:fs/promises')
    await utimes(file, 1_600_000_000, 1_600_000_000)
    const plain = ok(await runWeft(['add', '-Q', file], { home })).out.trim()
    const kept = ok(await runWeft(['add', '-Q', '--preserve-mode', '--preserve-mtime', file], { home })).out.trim()
    assert.notEqual(plain, kept)
    assert.match(plain, /^bafkrei/, 'a small file with no metadata is a single raw block')
    const out = join(dir, 'restored.sh')
    ok(await runWeft(['get', kept, '-o', out], { home }))
    const st = await stat(out)
    assert.equal(st.mode & 0o777, 0o750)
    assert.equal(Math.round(st.mtimeMs / 1000), 1_600_000_000)
  })
})

describe('pins, gc, repo, config and CAR from the command line', () => {
  test('pin add/rm/ls and gc', async t => {
    const dir = await tmpDir(t)
    const home = await tmpHome(t)
    const { root } = await makeSite(dir)
    const cid = ok(await runWeft(['add', '-Q', root], { home })).out.trim()
    const pins = JSON.parse(ok(await runWeft(['pin', 'ls', '--json'], { home })).out)
    assert.deepEqual(pins.map((p: { cid: string, type: string }) => [p.cid, p.type]), [[cid, 'recursive']])
    fails(await runWeft(['pin', 'rm', `${cid}/index.html`], { home }), 'ERR_PINNED_INDIRECTLY')
    const index = JSON.parse(ok(await runWeft(['ls', '--json', cid], { home })).out).find((e: { name: string }) => e.name === 'index.html').cid
    ok(await runWeft(['pin', 'add', '--direct', `${cid}/index.html`], { home }))
    assert.equal(JSON.parse(ok(await runWeft(['pin', 'ls', '--type', 'direct', '--json'], { home })).out).length, 1)
    ok(await runWeft(['pin', 'rm', cid], { home }))
    fails(await runWeft(['pin', 'rm', cid], { home }), 'ERR_NOT_PINNED')
    fails(await runWeft(['pin', 'ls', '--type', 'sideways'], { home }), 'ERR_USAGE')
    const gc = JSON.parse(ok(await runWeft(['gc', '--json'], { home })).out)
    assert.ok(gc.blocks >= 5)
    assert.ok(gc.bytesReclaimed >= 3 * 1024 * 1024)
    // The directly pinned file survives; the rest is gone.
    assert.equal(ok(await runWeft(['cat', index], { home })).out, '<h1>hello</h1>\n')
    fails(await runWeft(['cat', `${cid}/index.html`], { home }), 'ERR_BLOCK_NOT_FOUND')
    const stat = JSON.parse(ok(await runWeft(['repo', 'stat', '--json'], { home })).out)
    assert.equal(stat.blocks, 1)
    assert.equal(stat.pins, 1)
    assert.match(ok(await runWeft(['repo', 'verify'], { home })).out, /verified 1 blocks, 0 damaged/)
  })

  test('config get/set/show', async t => {
    const home = await tmpHome(t)
    assert.equal(ok(await runWeft(['config', 'get', 'datastore.storageMax'], { home })).out.trim(), '"10GB"')
    ok(await runWeft(['config', 'set', 'datastore.storageMax', '"1GiB"'], { home }))
    assert.equal(JSON.parse(ok(await runWeft(['config', 'show'], { home })).out).datastore.storageMax, '1GiB')
    fails(await runWeft(['config', 'set', 'datastore.storageMax', 'lots'], { home }), 'ERR_CONFIG_VALUE')
    fails(await runWeft(['config', 'set', 'datastore.colour', '"red"'], { home }), 'ERR_CONFIG_KEY')
    fails(await runWeft(['config', 'get', 'nope'], { home }), 'ERR_CONFIG_KEY')
    assert.equal(ok(await runWeft(['config', 'get', 'datastore.storageMax'], { home })).out.trim(), '"1GiB"')
    // Networks: private by default, with nothing to dial; "ipfs" by choice.
    assert.deepEqual(JSON.parse(ok(await runWeft(['config', 'get', 'network'], { home })).out), { name: 'default' })
    assert.deepEqual(JSON.parse(ok(await runWeft(['config', 'get', 'bootstrap'], { home })).out), [])
    ok(await runWeft(['config', 'set', 'network', '"ipfs"'], { home }))
    fails(await runWeft(['config', 'set', 'network', '{"name":"No Spaces"}'], { home }), 'ERR_CONFIG_VALUE')
    fails(await runWeft(['config', 'set', 'addresses.listen', '["not a multiaddr"]'], { home }), 'ERR_CONFIG_VALUE')
    ok(await runWeft(['config', 'set', 'bootstrap', '["/ip4/127.0.0.1/tcp/4101/p2p/12D3KooWBfg5Sb5gnkJ7RKrkFhQYo12gzRGrnqMbPMBQF4NSgnSK"]'], { home }))
    const other = await tmpHome(t)
    const init = JSON.parse(ok(await runWeft(['init', '--network', 'ipfs', '--json'], { home: other })).out)
    assert.equal(init.network, 'ipfs')
  })

  test('car export and import move a DAG between homes; every block is checked', async t => {
    const dir = await tmpDir(t)
    const home = await tmpHome(t)
    const { root } = await makeSite(dir)
    const cid = ok(await runWeft(['add', '-Q', root], { home })).out.trim()
    const car = ok(await runWeft(['car', 'export', cid], { home })).stdout
    const carFile = join(dir, 'site.car')
    await writeFile(carFile, car)
    ok(await runWeft(['car', 'export', cid, '-o', join(dir, 'same.car')], { home }))
    assert.deepEqual(await readFile(join(dir, 'same.car')), car)

    const other = await tmpHome(t)
    const imported = JSON.parse(ok(await runWeft(['car', 'import', '--json', carFile], { home: other })).out)
    assert.deepEqual(imported[0].roots, [cid])
    assert.equal(imported[0].blocks, 10) // 3 folders, 2 small files, big.bin's 4 leaves and its node
    const out = join(dir, 'copy')
    ok(await runWeft(['get', cid, '-o', out], { home: other }))
    assert.deepEqual((await readFile(join(out, 'big.bin'))).length, 3 * 1024 * 1024 + 5)
    const viaStdin = await tmpHome(t)
    ok(await runWeft(['car', 'import', '-'], { home: viaStdin, input: car }))
    assert.equal(JSON.parse(ok(await runWeft(['pin', 'ls', '--json'], { home: viaStdin })).out)[0].cid, cid)
  })
})
