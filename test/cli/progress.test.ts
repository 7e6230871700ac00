import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createProgressBar } from '../../src/cli/progress.ts'
import { randomBytes } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { formatBytes, formatDuration, unitSystemOf } from '../../src/cli/format.ts'
import { showProgress } from '../../src/cli/commands/content.ts'
import { Operations, type Progress } from '../../src/api/index.ts'
import { walkDag } from '../../src/blocks/index.ts'
import { importPath } from '../../src/content/index.ts'
import { tmpDir } from '../helpers/home.ts'
import { createTestnet } from '../helpers/testnet.ts'

function fakeStream (isTTY: boolean): NodeJS.WriteStream & { text: string } {
  const s = { isTTY, columns: 200, text: '', write (chunk: string) { s.text += chunk; return true } }
  return s as unknown as NodeJS.WriteStream & { text: string }
}

test('the bar draws on a TTY once the work passes the delay, with bytes, rate and ETA, and clears itself', async () => {
  const stream = fakeStream(true)
  const bar = createProgressBar({ label: 'adding', stream, delay: 20 })
  bar.update(10, 100)
  assert.equal(stream.text, '', 'nothing before the delay')
  await new Promise(resolve => setTimeout(resolve, 30))
  bar.update(50 * 1024 * 1024, 100 * 1024 * 1024, '3/7 files')
  assert.match(stream.text, /adding \[#{12}-{12}\]\s+50% 50 MiB\/100 MiB [\d.]+ [KMG]?i?B\/s ETA \d+s 3\/7 files/)
  bar.done()
  assert.ok(stream.text.endsWith('\r\x1b[2K'))
})

test('no bar on a pipe', async () => {
  const stream = fakeStream(false)
  const bar = createProgressBar({ label: 'adding', stream, delay: 0 })
  bar.update(1, 2)
  bar.done()
  assert.equal(stream.text, '')
})

test('sizes and durations read as a person would write them', () => {
  assert.equal(formatBytes(512), '512 B')
  assert.equal(formatBytes(1536), '1.5 KiB')
  assert.equal(formatBytes(256 * 1024 * 1024), '256 MiB')
  // a quota set as "10GB" reads back as 10 GB (not 9.3 GiB); one set as "8GiB" as 8 GiB
  assert.equal(unitSystemOf('10GB'), 'decimal')
  assert.equal(formatBytes(10e9, unitSystemOf('10GB')), '10 GB')
  assert.equal(formatBytes(2.5e6, 'decimal'), '2.5 MB')
  assert.equal(unitSystemOf('8GiB'), 'binary')
  assert.equal(formatBytes(8 * 2 ** 30, unitSystemOf('8GiB')), '8 GiB')
  assert.equal(unitSystemOf('1024'), 'binary')
  assert.equal(formatDuration(42), '42s')
  assert.equal(formatDuration(125), '2m05s')
  assert.equal(formatDuration(Number.NaN), '--')
})

test('a total not known yet is left out of the bar instead of shown as 0 B', async () => {
  const stream = fakeStream(true)
  const bar = createProgressBar({ label: 'fetching', stream, delay: 0 })
  bar.update(3 * 1024 * 1024, 0, '3 blocks from 1 peer')
  assert.match(stream.text, /fetching 3 MiB [\d.]+ [KMG]?i?B\/s 3 blocks from 1 peer/)
  assert.doesNotMatch(stream.text, /\/0 B/)
})

test('a fetch\'s progress carries the DAG\'s size from its root block, and the bar shows it as the total', async t => {
  const [seeder, leecher] = await createTestnet(t, 2)
  const dir = await tmpDir(t)
  await mkdir(join(dir, 'site'))
  await writeFile(join(dir, 'site', 'big.bin'), randomBytes(3 * 1024 * 1024 + 17))
  await writeFile(join(dir, 'site', 'index.html'), 'hello')
  const { root } = await importPath(seeder.blocks, join(dir, 'site'))
  // What a fetch brings: every block of the DAG.
  let dagBytes = 0
  await walkDag(seeder.blocks, root.cid, (_cid, bytes) => { dagBytes += bytes?.length ?? 0 }, { readRaw: true })
  const events: Progress[] = []
  await new Operations(leecher).fetch(root.cid.toString(), {}, e => { events.push(e) })
  const last = events.at(-1)
  if (last?.type !== 'exchange:fetch:progress') throw new Error(`expected fetch progress, got ${JSON.stringify(last)}`)
  assert.equal(last.totalBytes, dagBytes)
  assert.equal(last.bytes, dagBytes)

  const stream = fakeStream(true)
  const bar = createProgressBar({ label: 'fetching', stream, delay: 0 })
  showProgress(bar)(last)
  assert.match(stream.text, new RegExp(`fetching \\[#{24}\\] 100% ${formatBytes(dagBytes).replace('.', '\\.')}/${formatBytes(dagBytes).replace('.', '\\.')} `))
})
