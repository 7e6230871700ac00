import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createProgressBar } from '../../src/cli/progress.ts'
import { formatBytes, formatDuration } from '../../src/cli/format.ts'

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
  assert.match(stream.text, /adding \[#{12}-{12}\]\s+50% 50\.0 MiB\/100 MiB [\d.]+ [KMG]?i?B\/s ETA \d+s 3\/7 files/)
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
  assert.equal(formatDuration(42), '42s')
  assert.equal(formatDuration(125), '2m05s')
  assert.equal(formatDuration(Number.NaN), '--')
})
