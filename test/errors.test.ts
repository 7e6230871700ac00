import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { ERROR_CODES, WeftError, errorToExitCode, errorToStatus, toWeftError } from '../src/errors.ts'

const root = new URL('..', import.meta.url).pathname

async function sourceFiles (dir: string): Promise<string[]> {
  const out: string[] = []
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) out.push(...await sourceFiles(p))
    else if (p.endsWith('.ts')) out.push(p)
  }
  return out
}

test('docs/errors.md lists exactly the registered codes, with their exit and HTTP statuses', async () => {
  const doc = await readFile(join(root, 'docs/errors.md'), 'utf8')
  const rows = new Map<string, { exit: number, http: number }>()
  for (const m of doc.matchAll(/^\| `(ERR_[A-Z_]+)` \| (\d+) \| (\d+) \|/gm)) {
    assert.equal(rows.has(m[1]), false, `${m[1]} is listed twice`)
    rows.set(m[1], { exit: Number(m[2]), http: Number(m[3]) })
  }
  assert.deepEqual([...rows.keys()].sort(), Object.keys(ERROR_CODES).sort())
  for (const [code, row] of rows) {
    const entry = ERROR_CODES[code as keyof typeof ERROR_CODES]
    assert.equal(row.exit, entry.exit, `${code} exit status`)
    assert.equal(row.http, entry.http, `${code} HTTP status`)
  }
})

test('every code the source raises is registered, and every registered code is raised somewhere', async () => {
  const used = new Set<string>()
  for (const file of await sourceFiles(join(root, 'src'))) {
    if (file === join(root, 'src/errors.ts')) continue
    for (const m of (await readFile(file, 'utf8')).matchAll(/'(ERR_[A-Z_]+)'|\((ERR_[A-Z_]+)\)/g)) used.add(m[1] ?? m[2])
  }
  for (const code of used) assert.ok(code in ERROR_CODES, `${code} is used in src/ but not registered`)
  for (const code of Object.keys(ERROR_CODES)) {
    if (code === 'ERR_INTERNAL') continue // the fallback for anything unexpected
    assert.ok(used.has(code), `${code} is registered but never raised`)
  }
})

test('codes map to exit statuses and HTTP statuses; unknown errors become ERR_INTERNAL', () => {
  const err = new WeftError('ERR_REPO_LOCKED', 'held by 42')
  assert.equal(errorToExitCode(err), 3)
  assert.equal(errorToStatus(err), 409)
  const wrapped = toWeftError(new TypeError('boom'))
  assert.equal(wrapped.code, 'ERR_INTERNAL')
  assert.equal(wrapped.message, 'boom')
  assert.equal(errorToStatus(new Error('x')), 500)
})
