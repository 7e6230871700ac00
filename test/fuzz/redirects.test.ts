/**
 * Fuzzing `_redirects`: a site's publisher writes it, so every visitor's gateway parses
 * whatever a publisher (honest or not) put there. The parse gives rules or
 * ERR_REDIRECTS_INVALID; matching any request path against parsed rules never throws
 * and gives a status the spec allows.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { matchRedirect, parseRedirects } from '../../src/gateway/redirects.ts'
import { CaseCounter, isCodedRefusal, mutated, params, refusesCleanly } from './fuzz.ts'

const VALID = [
  '# a single-page app\n/* /index.html 200\n',
  '/old /new 301\n/blog/:year/:month/:slug /posts/:year-:month/:slug 302\n/files/* /downloads/:splat\n/gone /410.html 410\n',
  '/a/:id/b https://example.org/:id?x=1 307\n\n   # comment\n/c/ /d 308\n/forbidden /451.html 451\n/missing /404.html 404\n'
].map(s => new TextEncoder().encode(s))

const utf8 = new TextDecoder()
const text = fc.oneof(
  { arbitrary: mutated(VALID).map(b => utf8.decode(b)), weight: 3 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 400 }), weight: 1 },
  { arbitrary: fc.array(fc.tuple(fc.constantFrom('/', '/:a', '/*', '/x/*', ':a', '*', '/a/*/b', 'http://h/:splat'), fc.constantFrom('/', '/:a', '/:splat', 'https://x/:a', 'x', ''), fc.constantFrom('', '200', '301', '404', '999', '3000', '-1', '2e2', ' 200 1')), { maxLength: 6 }).map(lines => lines.map(l => l.join(' ')).join('\n')), weight: 2 }
)
const path = fc.oneof(fc.constantFrom('/', '/old', '/blog/2020/01/x', '/files/a/b/c', '/a/1/b', '/c/', '/c'), fc.array(fc.string({ maxLength: 6 }), { maxLength: 6 }).map(s => '/' + s.join('/')))

test('fuzz: _redirects parses to rules or is ERR_REDIRECTS_INVALID, and matching never throws', async () => {
  const counter = new CaseCounter()
  await fc.assert(fc.asyncProperty(text, fc.array(path, { minLength: 1, maxLength: 4 }), async (file, paths) => {
    counter.tick()
    await refusesCleanly(() => {
      const rules = parseRedirects(file)
      for (const p of paths) {
        const match = matchRedirect(rules, p)
        if (match !== undefined) {
          assert.ok([200, 301, 302, 303, 307, 308, 404, 410, 451].includes(match.status))
          assert.equal(typeof match.to, 'string')
        }
      }
    }, err => isCodedRefusal(err, ['ERR_REDIRECTS_INVALID']))
  }), params(10_000))
  console.log(counter.report('_redirects'))
})

test('fuzz: the valid _redirects files parse (the mutations start from real files)', () => {
  for (const bytes of VALID) assert.ok(parseRedirects(utf8.decode(bytes)).length > 0)
})

test('fuzz: a _redirects file at the size limit with long lines parses quickly', () => {
  const started = performance.now()
  const line = '/' + ':a/'.repeat(4000) + '* /' + ':a'.repeat(4000) + ' 200\n'
  const file = line.repeat(Math.floor(64 * 1024 / line.length))
  const rules = parseRedirects(file)
  matchRedirect(rules, '/' + 'x/'.repeat(4000) + 'y')
  assert.ok(performance.now() - started < 2_000)
})
