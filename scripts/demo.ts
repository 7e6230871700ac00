/**
 * `npm start`: makes a temporary home, adds the bundled sample site through the real
 * CLI, prints its CID, reads it back (ls, cat, get) and checks every byte. Later issues
 * grow this into a whole local network.
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const weftBin = join(root, 'bin', 'weft')
const site = join(root, 'examples', 'sample-site')
const work = mkdtempSync(join(tmpdir(), 'weft-demo-'))
const home = join(work, 'home')

function weft (args: string[], show = true): string {
  if (show) process.stdout.write(`\n$ weft ${args.join(' ')}\n`)
  const r = spawnSync(weftBin, ['--home', home, ...args], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`weft ${args.join(' ')} failed (${r.status}): ${r.stderr}`)
  if (show) process.stdout.write(r.stdout)
  return r.stdout
}

function files (dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter(p => statSync(join(dir, p)).isFile()).sort()
}

try {
  console.log(`weft demo: a temporary home at ${home}`)
  weft(['init'])
  weft(['add', site])
  const cid = weft(['add', '-Q', site], false).trim()
  console.log(`\nThe sample site's address is /ipfs/${cid}`)
  weft(['ls', cid])
  weft(['cat', `${cid}/index.html`])
  const out = join(work, 'copy')
  weft(['get', cid, '-o', out])
  let same = 0
  for (const f of files(site)) {
    if (!readFileSync(join(site, f)).equals(readFileSync(join(out, f)))) throw new Error(`${f} differs after the round trip`)
    same++
  }
  if (files(out).length !== same) throw new Error(`the copy has ${files(out).length} files, the site ${same}`)
  weft(['repo', 'verify'])
  weft(['repo', 'stat'])
  console.log(`\nRead back ${same} files from ${relative(root, site)}: every byte matches. Demo complete.`)
} finally {
  rmSync(work, { recursive: true, force: true })
}
