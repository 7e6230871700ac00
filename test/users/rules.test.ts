import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  parseUserRules, checkContribution, bannedUsers, globMatch, pathProblem, siteUserKey, userIdOf,
  isShareFile, MAX_PATTERNS, MAX_PATTERN_CHARS, MAX_MODERATOR_BANS, type UserRules
} from '../../src/users/index.ts'
import { isWeftError } from '../../src/errors.ts'

const SITE = 'k51qzi5uqu5dlvj2baxnqndepeb86cbk3ng7n3i46uzyxzyqj2xjonzllnv0v8'
/** Real user ids: the keys of five masters on one site. */
const [alice, bob, carol, mod1, mod2] = [1, 2, 3, 4, 5].map(n => userIdOf(siteUserKey(new Uint8Array(32).fill(n), SITE)))

const rules = (users: Record<string, unknown>): UserRules => {
  const parsed = parseUserRules({ title: 'forum', users })
  assert.ok(parsed !== undefined)
  return parsed
}
const base = { files: ['posts.json', 'profile.json', 'img/*.png'], maxBytes: 1000, maxFiles: 4 }

function refused (users: unknown, field: RegExp): void {
  assert.throws(() => parseUserRules({ users }), (err: unknown) => {
    assert.ok(isWeftError(err, 'ERR_SITE_RULES_INVALID'), String(err))
    assert.match(err.message, field)
    assert.ok(!err.message.includes('\n'))
    return true
  }, JSON.stringify(users))
}

test('no users section: the site takes no contributions', () => {
  assert.equal(parseUserRules(undefined), undefined)
  assert.equal(parseUserRules({ title: 'plain site' }), undefined)
  assert.equal(parseUserRules([]), undefined)
  assert.equal(parseUserRules('users'), undefined)
})

test('a valid users section parses, with defaults only for the lists', () => {
  const r = rules({ ...base, banned: [bob], moderators: [mod1] })
  assert.deepEqual(r, { ...base, banned: [bob], moderators: [mod1] })
  const plain = rules(base)
  assert.deepEqual(plain.banned, [])
  assert.deepEqual(plain.moderators, [])
})

test('every malformed users section is refused with the field named', () => {
  refused(null, /weft\.json users: expected an object/)
  refused([], /users: expected an object/)
  refused({ ...base, maxbytes: 5 }, /users\.maxbytes: unknown key/)
  refused({ maxBytes: 1, maxFiles: 1 }, /users\.files: expected an array/)
  refused({ ...base, files: 'posts.json' }, /users\.files: expected an array/)
  refused({ ...base, files: [1] }, /users\.files\[0\]: expected a pattern string/)
  refused({ ...base, files: Array.from({ length: MAX_PATTERNS + 1 }, (_, i) => `f${i}.json`) }, /users\.files: 33 patterns/)
  refused({ ...base, files: ['x'.repeat(MAX_PATTERN_CHARS + 1)] }, /users\.files\[0\]: the pattern is longer than 128/)
  refused({ ...base, files: ['img/**'] }, /"\*\*" is not supported/)
  refused({ ...base, files: ['/etc/*'] }, /absolute/)
  refused({ ...base, files: ['../x'] }, /"\.\." segment/)
  refused({ ...base, files: ['img//x'] }, /empty segment/)
  refused({ ...base, files: ['img\\x'] }, /backslash/)
  refused({ ...base, files: [''] }, /empty/)
  refused({ files: base.files, maxFiles: 4 }, /users\.maxBytes: missing/)
  refused({ ...base, maxBytes: 0 }, /users\.maxBytes: expected a whole number from 1/)
  refused({ ...base, maxBytes: 1.5 }, /users\.maxBytes/)
  refused({ ...base, maxBytes: '65536' }, /users\.maxBytes/)
  refused({ ...base, maxBytes: 2 ** 40 }, /users\.maxBytes/)
  refused({ ...base, maxFiles: 5000 }, /users\.maxFiles: expected a whole number from 1 to 1024/)
  refused({ ...base, banned: bob }, /users\.banned: expected an array/)
  refused({ ...base, banned: [bob, 'mallory'] }, /users\.banned\[1\]: "mallory" is not a user id/)
  refused({ ...base, moderators: [`/ipns/${mod1}`] }, /users\.moderators\[0\]/)
  refused({ ...base, moderators: Array.from({ length: 101 }, () => mod1) }, /users\.moderators: 101 ids/)
})

test('globMatch: literals, * and ? within one segment, never across "/"', () => {
  const cases: Array<[string, string, boolean]> = [
    ['posts.json', 'posts.json', true],
    ['posts.json', 'posts.jsonx', false],
    ['posts.json', 'Posts.json', false],
    ['*.json', 'posts.json', true],
    ['*.json', '.json', true],
    ['*.json', 'dir/posts.json', false],
    ['img/*.png', 'img/cat.png', true],
    ['img/*.png', 'img/a/cat.png', false],
    ['img/*.png', 'img/cat.png.exe', false],
    ['*', 'anything', true],
    ['*', 'a/b', false],
    ['*/*', 'a/b', true],
    ['?.txt', 'a.txt', true],
    ['?.txt', 'ab.txt', false],
    ['?.txt', 'é.txt', true], // one code point, two UTF-8 bytes
    ['?', '/', false],
    ['a*b*c', 'aXbYc', true],
    ['a*b*c', 'aXbY', false],
    ['a*a', 'a', false],
    ['*a*', 'bab', true]
  ]
  for (const [pattern, path, expected] of cases) assert.equal(globMatch(pattern, path), expected, `${pattern} ~ ${path}`)
})

test('globMatch: a pathological pattern against 10,000 characters comes back false at once', () => {
  // a backtracking regex takes exponential time here; the two-pointer match takes about
  // 180,000 steps (under 10 ms on the 2-core test machine)
  assert.equal(globMatch('*a*a*a*a*a*a*a*a*b', 'a'.repeat(10_000)), false)
  assert.equal(globMatch('*a*a*a*a*a*a*a*a*a', 'a'.repeat(10_000)), true)
  assert.equal(globMatch('?'.repeat(64) + '*b', 'a'.repeat(10_000)), false)
})

test('contribution paths: relative, no empty, "." or ".." segments, no backslash or NUL, at most 255 bytes', () => {
  assert.equal(pathProblem('posts.json'), undefined)
  assert.equal(pathProblem('img/cat.png'), undefined)
  assert.equal(pathProblem('x'.repeat(255)), undefined)
  for (const bad of ['', '/posts.json', 'img/', 'img//x', './x', 'a/../b', '..', 'a\\b', 'a\0b', 'x'.repeat(256), 'é'.repeat(128)]) {
    assert.notEqual(pathProblem(bad), undefined, JSON.stringify(bad))
  }
})

test('checkContribution: within the rules', () => {
  const r = rules(base)
  assert.deepEqual(checkContribution(r, [{ path: 'posts.json', size: 500 }, { path: 'img/cat.png', size: 500 }], alice, new Set()), { ok: true })
  assert.deepEqual(checkContribution(r, [], alice, new Set()), { ok: true })
})

test('checkContribution: share files (.weft-shares/<one segment>) pass whatever the patterns say, counted in the limits', () => {
  const r = rules(base)
  const tag = '.weft-shares/0123456789abcdef0123456789abcdef'
  assert.ok(isShareFile(tag))
  assert.deepEqual(checkContribution(r, [{ path: 'posts.json', size: 100 }, { path: tag, size: 900 }], alice, new Set()), { ok: true })
  assert.equal(checkContribution(r, [{ path: 'posts.json', size: 100 }, { path: tag, size: 901 }], alice, new Set()).ok, false, 'over maxBytes')
  const five = Array.from({ length: 5 }, (_, i) => ({ path: `.weft-shares/${i}`, size: 1 }))
  assert.equal(checkContribution(r, five, alice, new Set()).ok, false, 'over maxFiles')
  for (const path of ['.weft-shares/a/b', '.weft-shares', '.weft-shares/', 'x/.weft-shares/a', '.weft-sharesx/a']) {
    assert.equal(isShareFile(path), false, path)
    assert.equal(checkContribution(r, [{ path, size: 1 }], alice, new Set()).ok, false, path)
  }
})

test('checkContribution: every reason', () => {
  const r = rules({ ...base, banned: [carol] })
  const check = (files: Array<{ path: string, size: number }>, user = alice, bans = new Set<string>()) => checkContribution(r, files, user, bans)
  const reason = (result: ReturnType<typeof check>): string => result.ok ? 'ok' : result.reason

  assert.equal(reason(check([{ path: 'notes.txt', size: 1 }])), 'pattern')
  assert.equal(reason(check([{ path: 'img/a/cat.png', size: 1 }])), 'pattern')
  assert.equal(reason(check([{ path: '../posts.json', size: 1 }])), 'pattern')
  assert.equal(reason(check([{ path: 'posts.json', size: 1 }, { path: 'posts.json', size: 1 }])), 'pattern')
  // bans.json is a moderator's file only
  assert.equal(reason(check([{ path: 'bans.json', size: 1 }])), 'pattern')
  const outside = check([{ path: 'notes.txt', size: 1 }])
  assert.ok(!outside.ok && outside.detail.includes('notes.txt'))

  assert.equal(reason(check(Array.from({ length: 5 }, (_, i) => ({ path: `img/${i}.png`, size: 1 })))), 'too-many-files')
  assert.equal(reason(check([{ path: 'posts.json', size: 600 }, { path: 'profile.json', size: 401 }])), 'too-large')
  assert.equal(reason(check([{ path: 'posts.json', size: -1 }])), 'too-large')
  assert.equal(reason(check([{ path: 'posts.json', size: Number.NaN }])), 'too-large')

  assert.equal(reason(check([{ path: 'posts.json', size: 1 }], carol)), 'banned') // the owner's list
  assert.equal(reason(check([{ path: 'posts.json', size: 1 }], bob, new Set([bob]))), 'banned') // a moderator's
  assert.equal(reason(check([], bob, new Set([bob]))), 'banned')
})

test('bans: the owner\'s and moderators\' count; a moderator cannot ban a moderator; others\' bans.json counts for nothing', () => {
  const r = rules({ ...base, banned: [carol], moderators: [mod1, mod2] })
  const bans = bannedUsers(r, new Map<string, unknown>([
    [mod1, { banned: [bob, mod2, 'not an id', 42] }], // mod2 is a moderator: not banned
    [mod2, { banned: [mod1] }], // nor is mod1
    [alice, { banned: [carol, mod1] }] // alice is no moderator: her list counts for nothing
  ]))
  assert.deepEqual([...bans].sort(), [bob, carol].sort())
  assert.equal(checkContribution(r, [{ path: 'posts.json', size: 1 }], bob, bans).ok, false)
  assert.equal(checkContribution(r, [{ path: 'posts.json', size: 1 }], mod2, bans).ok, true)
  assert.equal(checkContribution(r, [{ path: 'posts.json', size: 1 }], alice, bans).ok, true)
  // moderators may hold bans.json whatever the patterns say
  assert.deepEqual(checkContribution(r, [{ path: 'bans.json', size: 100 }, { path: 'posts.json', size: 1 }], mod1, bans), { ok: true })
})

test('bans: malformed or overlong bans.json counts for nothing; the owner banning a moderator silences their bans', () => {
  const r = rules({ ...base, banned: [mod2], moderators: [mod1, mod2] })
  const bans = bannedUsers(r, new Map<string, unknown>([
    [mod1, { banned: Array.from({ length: MAX_MODERATOR_BANS + 1 }, () => alice) }],
    [mod2, { banned: [bob] }]
  ]))
  assert.deepEqual([...bans], [mod2])
  assert.deepEqual([...bannedUsers(r, new Map<string, unknown>([[mod1, null], [mod2, [bob]]]))], [mod2])
  assert.deepEqual([...bannedUsers(r, new Map<string, unknown>([[mod1, { banned: 'x' }]]))], [mod2])
  assert.equal(checkContribution(r, [], mod2, bans).ok, false)
})

test('new rules apply to contributions already accepted: the check depends only on its arguments', () => {
  const files = [{ path: 'posts.json', size: 800 }]
  assert.equal(checkContribution(rules(base), files, alice, new Set()).ok, true)
  assert.equal(checkContribution(rules({ ...base, maxBytes: 500 }), files, alice, new Set()).ok, false)
  assert.equal(checkContribution(rules({ ...base, files: ['profile.json'] }), files, alice, new Set()).ok, false)
})
