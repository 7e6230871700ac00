import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { isWeftError } from '../../src/errors.ts'
import { MAX_JSON_BYTES_PER_USER, MAX_ROWS_PER_FILE, MAX_ROWS_PER_USER, openSiteDb, parseDbSchema, type SiteDb, type SiteDbInit, type SiteDbSchema } from '../../src/users/index.ts'
import { fileURLToPath } from 'node:url'
import { SiteDbReader } from '../../src/users/site-db-reader.ts'
import { Operations } from '../../src/api/index.ts'
import { createNode } from '../../src/node/index.ts'
import { tmpDir, tmpHome } from '../helpers/home.ts'
import { until } from '../helpers/until.ts'

const FORUM = fileURLToPath(new URL('../../examples/forum', import.meta.url))
const WEFT_JSON = {
  title: 'forum',
  db: {
    version: 1,
    tables: {
      posts: {
        columns: { id: 'TEXT', title: 'TEXT', body: 'TEXT', date: 'INTEGER', reply_to: 'TEXT' },
        indexes: [['date'], ['reply_to', 'date']]
      },
      profiles: { columns: { name: 'TEXT', tags: 'TEXT' } }
    },
    maps: [
      { file: 'posts.json', table: 'posts', key: 'posts' },
      { file: 'profile.json', table: 'profiles' },
      { file: 'more/*.json', table: 'posts' }
    ]
  }
}
const SCHEMA = parseDbSchema(WEFT_JSON) as SiteDbSchema

const json = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v))

async function open (t: import('node:test').TestContext, init: Partial<SiteDbInit> = {}, dir?: string): Promise<SiteDb> {
  const path = join(dir ?? await tmpDir(t, 'weft-sitedb-'), 'site.db')
  const db = await openSiteDb({ path }, { schema: SCHEMA, ...init })
  t.after(async () => { await db.close() })
  return db
}

async function rejectsWith (p: Promise<unknown>, code: Parameters<typeof isWeftError>[1], what: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(isWeftError(err, code), `${what}: expected ${code}, got ${(err as Error & { code?: string }).code ?? ''} ${(err as Error).message}`)
    return true
  })
}

/** Fills `posts` with `n` rows from as many users as the per-user cap needs. */
function fill (db: SiteDb, n: number): void {
  let done = 0
  for (let u = 0; done < n; u++) {
    const files = new Map<string, Uint8Array>()
    for (let f = 0; done < n && f * MAX_ROWS_PER_FILE < MAX_ROWS_PER_USER; f++) {
      const count = Math.min(MAX_ROWS_PER_FILE, n - done)
      files.set(`more/${f}.json`, json(Array.from({ length: count }, (_, i) => ({ id: `${u}-${f}-${i}`, title: `t${done + i}`, date: done + i }))))
      done += count
    }
    db.putUser(`user${u}`, files)
  }
}

test('parseDbSchema reads the db section and refuses anything outside the format', () => {
  assert.deepEqual(SCHEMA.tables.posts.indexes, [['date'], ['reply_to', 'date']])
  assert.equal(SCHEMA.maps[0].key, 'posts')
  assert.equal(parseDbSchema({ title: 'no db' }), undefined)
  const bad: Array<[string, unknown]> = [
    ['not an object', 'x'],
    ['uppercase table', { Posts: { columns: { a: 'TEXT' } } }],
    ['sqlite_ table', { sqlite_x: { columns: { a: 'TEXT' } } }],
    ['quote in a name', { 'a"b': { columns: { a: 'TEXT' } } }],
    ['64-character name', { ['a'.repeat(64)]: { columns: { a: 'TEXT' } } }],
    ['reserved user column', { t: { columns: { user: 'TEXT' } } }],
    ['rowid column', { t: { columns: { rowid: 'INTEGER' } } }],
    ['unknown type', { t: { columns: { a: 'VARCHAR' } } }],
    ['no columns', { t: { columns: {} } }],
    ['unknown table field', { t: { columns: { a: 'TEXT' }, triggers: [] } }],
    ['index on a missing column', { t: { columns: { a: 'TEXT' }, indexes: [['b']] } }],
    // names every object inherits must not count as columns (they threw a TypeError later)
    ['index on constructor', { t: { columns: { a: 'TEXT' }, indexes: [['constructor']] } }],
    ['table named __proto__', JSON.parse('{"__proto__": { "columns": { "a": "TEXT" } }, "t": { "columns": { "a": "TEXT" } } }')],
    ['column named __proto__', { t: { columns: JSON.parse('{"a": "TEXT", "__proto__": "TEXT"}') } }],
    ['index on toString', { t: { columns: { a: 'TEXT' }, indexes: [['a', 'toString']] } }],
    ['too many tables', Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`t${i}`, { columns: { a: 'TEXT' } }]))],
    ['too many columns', { t: { columns: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`c${i}`, 'TEXT'])) } }],
    ['too many indexes', { t: { columns: { a: 'TEXT' }, indexes: Array.from({ length: 9 }, () => ['a']) } }]
  ]
  for (const [what, tables] of bad) {
    const weft = typeof tables === 'string' ? { db: tables } : { db: { version: 1, tables, maps: [] } }
    assert.throws(() => parseDbSchema(weft), (err: unknown) => isWeftError(err, 'ERR_SITE_DB_SCHEMA_INVALID'), what)
  }
  const tables = { t: { columns: { a: 'TEXT' } } }
  for (const [what, db] of [
    ['version 0', { version: 0, tables, maps: [] }],
    ['unknown db field', { version: 1, tables, maps: [], views: {} }],
    ['map to a missing table', { version: 1, tables, maps: [{ file: 'a.json', table: 'nope' }] }],
    ['map to constructor', { version: 1, tables, maps: [{ file: 'a.json', table: 'constructor' }] }],
    ['map to __proto__', { version: 1, tables, maps: [{ file: 'a.json', table: '__proto__' }] }],
    ['map to hasOwnProperty', { version: 1, tables, maps: [{ file: 'a.json', table: 'hasOwnProperty' }] }],
    ['map with ..', { version: 1, tables, maps: [{ file: '../a.json', table: 't' }] }],
    ['map pattern too long', { version: 1, tables, maps: [{ file: 'a'.repeat(129), table: 't' }] }],
    ['map key not a string', { version: 1, tables, maps: [{ file: 'a.json', table: 't', key: 3 }] }]
  ] as const) {
    assert.throws(() => parseDbSchema({ db }), (err: unknown) => isWeftError(err, 'ERR_SITE_DB_SCHEMA_INVALID'), what)
  }
})

test('putUser turns matching files into rows, replaces them on the next put, and removeUser takes them out', async t => {
  const db = await open(t)
  const first = db.putUser('alice', new Map([
    ['posts.json', json({ posts: [{ id: 'p1', title: 'hello', date: 1, extra: 'ignored', nested: { a: 1 } }, { id: 'p2', date: 2 }] })],
    ['profile.json', json({ name: 'Alice', tags: ['a', 'b'] })],
    ['more/x.json', json([{ id: 'p3', title: true, body: { html: '<b>' } }])],
    ['more/deep/y.json', json([{ id: 'not mapped: * does not cross /' }])],
    ['notes.txt', new TextEncoder().encode('not mapped')]
  ]))
  assert.deepEqual(first, { rows: 4, skipped: [] })
  const posts = await db.query('SELECT id, title, body, date, reply_to, user, file FROM posts ORDER BY id')
  assert.deepEqual(posts.map(r => ({ ...r })), [
    { id: 'p1', title: 'hello', body: null, date: 1, reply_to: null, user: 'alice', file: 'posts.json' },
    { id: 'p2', title: null, body: null, date: 2, reply_to: null, user: 'alice', file: 'posts.json' },
    // true is stored as 1 (TEXT affinity makes it '1'); an object value is its JSON text.
    { id: 'p3', title: '1', body: '{"html":"<b>"}', date: null, reply_to: null, user: 'alice', file: 'more/x.json' }
  ])
  assert.deepEqual((await db.query('SELECT name, json_extract(tags, \'$[1]\') AS second FROM profiles')).map(r => ({ ...r })), [{ name: 'Alice', second: 'b' }])

  db.putUser('bob', new Map([['posts.json', json({ posts: [{ id: 'b1' }] })]]))
  assert.deepEqual(db.users(), ['alice', 'bob'])

  const second = db.putUser('alice', new Map([
    ['posts.json', new TextEncoder().encode('{"posts": [ broken')],
    ['more/ok.json', json([{ id: 'p4' }, 'not an object', 7])],
    ['profile.json', json(['x'])]
  ]))
  assert.equal(second.rows, 1)
  assert.deepEqual(second.skipped.map(s => s.path).sort(), ['more/ok.json', 'posts.json', 'profile.json'])
  assert.deepEqual((await db.query('SELECT id FROM posts WHERE user = ? ORDER BY id', ['alice'])).map(r => r.id), ['p4'])
  assert.deepEqual(await db.query('SELECT * FROM profiles'), [])
  assert.deepEqual((await db.query('SELECT id FROM posts WHERE user = :u', { u: 'bob' })).map(r => r.id), ['b1'])

  // Queries asked together are answered, each with its own rows (one query process, one at a time).
  const together = await Promise.all(Array.from({ length: 50 }, (_, i) => db.query('SELECT ? AS i, count(*) AS n FROM posts', [i])))
  assert.deepEqual(together.map(r => r[0].i), Array.from({ length: 50 }, (_, i) => i))

  db.removeUser('alice')
  assert.deepEqual(db.users(), ['bob'])
  assert.deepEqual((await db.query('SELECT DISTINCT user FROM posts')).map(r => r.user), ['bob'])
})

test('rows per file and per user are capped, and JSON past the per-user byte budget is not read', async t => {
  const db = await open(t)
  // 1e6 items (3 MB) is past the byte budget: skipped without being parsed.
  const million = new TextEncoder().encode(`[${Array.from({ length: 1e6 }, () => '{}').join(',')}]`)
  const started = performance.now()
  const flood = db.putUser('flood', new Map([['more/a.json', million], ['posts.json', json({ posts: [{ id: 'kept' }] })]]))
  const ms = performance.now() - started
  assert.equal(flood.rows, 1, 'the other file still counts')
  assert.deepEqual(flood.skipped, [{ path: 'more/a.json', reason: `past ${MAX_JSON_BYTES_PER_USER} bytes of JSON for one user` }])
  assert.ok(ms < 500, `refusing it took ${ms.toFixed(0)} ms`)

  const one = db.putUser('flood', new Map([['more/a.json', new TextEncoder().encode(`[${Array.from({ length: MAX_ROWS_PER_FILE + 1 }, () => '{}').join(',')}]`)]]))
  assert.equal(one.rows, MAX_ROWS_PER_FILE)
  assert.match(one.skipped[0].reason, /per file/)

  const files = new Map<string, Uint8Array>()
  const filesNeeded = Math.ceil(MAX_ROWS_PER_USER / MAX_ROWS_PER_FILE) + 1
  for (let i = 0; i < filesNeeded; i++) files.set(`more/${i}.json`, json(Array.from({ length: MAX_ROWS_PER_FILE }, (_, j) => ({ id: `${i}-${j}` }))))
  const many = db.putUser('flood', files)
  assert.equal(many.rows, MAX_ROWS_PER_USER)
  assert.ok(many.skipped.some(s => /per user/.test(s.reason)))
  assert.deepEqual((await db.query('SELECT count(*) AS n FROM posts'))[0].n, MAX_ROWS_PER_USER)
})

test('schemaMatches: false for a new file until markBuilt, true on reopening, false (and emptied) after a schema change', async t => {
  const dir = await tmpDir(t, 'weft-sitedb-')
  const path = join(dir, 'site.db')
  const a = await openSiteDb({ path }, { schema: SCHEMA })
  assert.equal(a.schemaMatches, false)
  a.putUser('alice', new Map([['posts.json', json({ posts: [{ id: 'p1' }] })]]))
  a.markBuilt()
  assert.equal(a.schemaMatches, true)
  await a.close()

  const b = await openSiteDb({ path }, { schema: SCHEMA })
  assert.equal(b.schemaMatches, true)
  assert.deepEqual(b.users(), ['alice'])
  await b.close()

  const changed = parseDbSchema({ db: { ...WEFT_JSON.db, version: 2, tables: { posts: { columns: { id: 'TEXT', score: 'REAL' } } }, maps: [{ file: 'posts.json', table: 'posts', key: 'posts' }] } }) as SiteDbSchema
  const c = await openSiteDb({ path }, { schema: changed })
  t.after(async () => { await c.close() })
  assert.equal(c.schemaMatches, false)
  assert.deepEqual(c.users(), [])
  await rejectsWith(c.query('SELECT * FROM profiles'), 'ERR_QUERY_INVALID', 'the old table is gone')
  c.putUser('alice', new Map([['posts.json', json({ posts: [{ id: 'p1', score: 2.5 }] })]]))
  assert.deepEqual((await c.query('SELECT id, score FROM posts')).map(r => ({ ...r })), [{ id: 'p1', score: 2.5 }])
})

test('anything but one read statement is refused, and ATTACH creates no file', async t => {
  const dir = await tmpDir(t, 'weft-sitedb-')
  const db = await open(t, {}, dir)
  db.putUser('alice', new Map([['posts.json', json({ posts: [{ id: 'p1' }] })]]))
  const attached = join(dir, 'stolen.db')
  const refused = [
    "INSERT INTO posts (user, file, id) VALUES ('x', 'y', 'z')",
    "UPDATE posts SET title = 'x'",
    'DELETE FROM posts',
    "REPLACE INTO posts (user, file) VALUES ('x', 'y')",
    'CREATE TABLE x (a)',
    'CREATE TEMP TABLE x (a)',
    'DROP TABLE posts',
    'ALTER TABLE posts ADD COLUMN x',
    `ATTACH DATABASE '${attached}' AS stolen`,
    'DETACH DATABASE main',
    "SELECT load_extension('/tmp/evil.so')",
    "SELECT \"load_extension\"('/tmp/evil.so')",
    'PRAGMA writable_schema = 1',
    'PRAGMA query_only = 0',
    'VACUUM',
    `VACUUM INTO '${attached}'`,
    'SELECT 1; DELETE FROM posts',
    'SELECT 1; SELECT 2',
    'WITH x AS (SELECT 1) DELETE FROM posts',
    'WITH x AS (SELECT 1) INSERT INTO posts (user, file) SELECT 1, 2 FROM x',
    'WITH x AS (SELECT 1), y AS (SELECT 2) UPDATE posts SET title = 1',
    "WITH replace AS (SELECT 1) DELETE FROM posts",
    'BEGIN',
    '',
    ' ; ',
    "SELECT 'unterminated",
    // the file's path names the person's home folder; dbstat and sqlite_dbpage read raw pages
    'SELECT file FROM pragma_database_list',
    'SELECT file FROM "pragma_database_list"',
    'SELECT file FROM main.[PRAGMA_DATABASE_LIST]',
    'SELECT * FROM `pragma_table_info`(\'posts\')',
    'SELECT (SELECT file FROM pragma_database_list) AS f',
    'SELECT * FROM dbstat',
    'SELECT * FROM "DBSTAT"',
    'SELECT * FROM sqlite_dbpage'
  ]
  for (const sql of refused) await rejectsWith(db.query(sql), 'ERR_QUERY_REFUSED', sql)
  assert.equal(existsSync(attached), false)
  assert.deepEqual((await db.query('SELECT count(*) AS n FROM posts'))[0].n, 1)

  // Reads that merely look like writes go through.
  assert.deepEqual((await db.query("SELECT replace('delete; drop', 'drop', 'x') AS s; ")).map(r => r.s), ['delete; x'])
  assert.deepEqual((await db.query('WITH n(x) AS (VALUES (1), (2)) SELECT sum(x) AS s FROM n -- ; DELETE')).map(r => r.s), [3])
  await rejectsWith(db.query('SELECT * FROM nope'), 'ERR_QUERY_INVALID', 'unknown table')
  await rejectsWith(db.query('SELEC 1'), 'ERR_QUERY_REFUSED', 'not a read verb')
  await rejectsWith(db.query('SELECT ?', [{ not: 'bindable' }]), 'ERR_QUERY_INVALID', 'object parameter')
})

test('a query that never ends is stopped at its deadline, the node keeps running, and the next query works', async t => {
  const timeout = 1_000
  const db = await open(t, { queryTimeout: timeout })
  fill(db, 20_000)
  await db.query('SELECT 1') // start the query process: its start is not what this test measures

  // The event loop must keep turning while SQLite spins in the other process.
  let worstGap = 0
  let last = performance.now()
  const ticker = setInterval(() => { const now = performance.now(); worstGap = Math.max(worstGap, now - last); last = now }, 10)
  t.after(() => { clearInterval(ticker) })

  for (const sql of [
    'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c',
    'WITH c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT max(x) FROM c', // recursive without the keyword
    'SELECT count(*) FROM posts a, posts b WHERE a.title <> b.title'
  ]) {
    const started = performance.now()
    await rejectsWith(db.query(sql), 'ERR_QUERY_TIMEOUT', sql)
    const took = performance.now() - started
    assert.ok(took >= timeout - 5 && took < timeout + 1_000, `stopped after ${took.toFixed(0)} ms, deadline ${timeout} ms`)
    assert.deepEqual((await db.query('SELECT count(*) AS n FROM posts'))[0].n, 20_000)
  }
  clearInterval(ticker)
  // Stalled would be the whole deadline; on a loaded 2-core machine the scheduler alone leaves gaps of ~100 ms.
  assert.ok(worstGap < timeout / 2, `the event loop stalled for ${worstGap.toFixed(0)} ms`)
})

test('starting the query process does not count against a query\'s deadline', async t => {
  // Node alone takes ~40 ms to start, the query process 80–300 ms: with the start counted, this deadline could not be met.
  const db = await open(t, { queryTimeout: 60 })
  assert.deepEqual((await db.query('SELECT 1 AS x')).map(r => r.x), [1])
})

test('a query is stopped by its signal, and one waiting behind a slow query meets the same deadline', async t => {
  const db = await open(t, { queryTimeout: 2_000 })
  await db.query('SELECT 1')
  const forever = 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c'
  const controller = new AbortController()
  const running = db.query(forever, [], { signal: controller.signal })
  const started = performance.now()
  setTimeout(() => { controller.abort() }, 100)
  await assert.rejects(running, (err: unknown) => (err as Error).name === 'AbortError')
  assert.ok(performance.now() - started < 1_000)
  assert.deepEqual((await db.query('SELECT 2 AS x')).map(r => r.x), [2])

  const slow = db.query(forever)
  const queued = db.query('SELECT 3 AS x')
  await rejectsWith(slow, 'ERR_QUERY_TIMEOUT', 'slow')
  await rejectsWith(queued, 'ERR_QUERY_TIMEOUT', 'queued behind it')
  assert.deepEqual((await db.query('SELECT 4 AS x')).map(r => r.x), [4])
})

test('a query answering more than maxRows fails with ERR_QUERY_TOO_MANY_ROWS', async t => {
  const db = await open(t, { maxRows: 100 })
  fill(db, 101)
  assert.equal((await db.query('SELECT id FROM posts LIMIT 100')).length, 100)
  await rejectsWith(db.query('SELECT id FROM posts'), 'ERR_QUERY_TOO_MANY_ROWS', '101 rows')
  await rejectsWith(db.query('SELECT randomblob(20000000) AS b'), 'ERR_QUERY_TOO_MANY_ROWS', 'one 20 MB row')
  const blob = await db.query('SELECT x\'0102\' AS b')
  assert.deepEqual([...(blob[0].b as Uint8Array)], [1, 2])
})

test('on Linux a query asking SQLite for a gigabyte fails with out of memory inside the query process, and the next query works', { skip: process.platform !== 'linux' }, async t => {
  const db = await open(t)
  await rejectsWith(db.query('SELECT length(randomblob(900000000)) AS n'), 'ERR_QUERY_INVALID', '900 MB blob')
  assert.deepEqual((await db.query('SELECT length(randomblob(1000)) AS n')).map(r => r.n), [1000])
})

/** Linux: a process's parent and state from /proc, or undefined once it is gone (a zombie counts as gone). */
function procStat (pid: number): { ppid: number, state: string } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return state === 'Z' ? undefined : { ppid: Number(ppid), state }
  } catch {
    return undefined
  }
}

test('on Linux a query process left running by a node that died mid-query kills itself', { skip: process.platform !== 'linux' }, async t => {
  const dir = await tmpDir(t, 'weft-sitedb-')
  const script = join(dir, 'node.ts')
  writeFileSync(script, `
    import { openSiteDb, parseDbSchema } from ${JSON.stringify(new URL('../../src/users/index.ts', import.meta.url).href)}
    const db = await openSiteDb({ path: ${JSON.stringify(join(dir, 'site.db'))} }, { schema: parseDbSchema(${JSON.stringify(WEFT_JSON)}), queryTimeout: 600_000 })
    await db.query('SELECT 1')
    void db.query('WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c')
    process.stdout.write('running\\n')
    setInterval(() => {}, 1000)
  `)
  const node = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', script], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.after(() => { node.kill('SIGKILL') })
  let out = ''
  node.stdout.on('data', (b: Buffer) => { out += b.toString() })
  await until('the node to start its runaway query', () => out.includes('running'), 30_000)
  const queryProcess = () => readdirSync('/proc').filter(f => /^\d+$/.test(f)).map(Number)
    .find(pid => procStat(pid)?.ppid === node.pid && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('site-db-query-process'))
  let child: number | undefined
  await until('the query process to appear', () => (child = queryProcess()) !== undefined, 10_000)
  node.kill('SIGKILL')
  const gone = await until('the orphaned query process to end', () => procStat(child as number) === undefined, 10_000)
  assert.ok(gone < 5_000, `it ran ${gone.toFixed(0)} ms after its node died`)
})

test('an offline node (users never started) that queried a site\'s database ends its query process when it stops', { skip: process.platform !== 'linux' }, async t => {
  const node = await createNode({ home: await tmpHome(t) })
  let stopped = false
  t.after(async () => { if (!stopped) await node.stop() })
  // this process's query processes, from /proc (Linux); elsewhere the test has nothing to count
  const processes = (): number => process.platform !== 'linux' ? 0 : readdirSync('/proc').filter(f => /^\d+$/.test(f)).map(Number)
    .filter(pid => procStat(pid)?.ppid === process.pid && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('site-db-query-process')).length
  const before = processes()
  await node.sites.create('forum')
  const { name } = await new Operations(node).publish(FORUM, { site: 'forum' })
  assert.deepEqual(await node.users.query(name, 'SELECT count(*) AS n FROM posts'), [{ n: 0 }])
  assert.equal(processes(), before + 1, 'the query ran in a process of its own')
  await node.stop()
  stopped = true
  // the process is reaped when it exits; before the fix it idled on for QUERY_PROCESS_IDLE_MS (a minute)
  await until('the query process to be gone', () => processes() === before, 5_000)
})

test('a held reader starts its query process before any query and keeps it past the idle time, until released', async t => {
  const dir = await tmpDir(t, 'weft-sitedb-')
  await open(t, {}, dir)
  const init = { queryTimeout: 5_000, maxRows: 10, maxBytes: 1_000_000, idleMs: 300 }
  const held = new SiteDbReader(join(dir, 'site.db'), init)
  const plain = new SiteDbReader(join(dir, 'site.db'), init)
  t.after(async () => { await held.close(); await plain.close() })
  const release = held.keepWarm()
  await until('the held reader\'s process to start', () => held.pid !== undefined, 10_000)
  const pid = held.pid
  await held.run('SELECT 1 AS x', [])
  await plain.run('SELECT 1 AS x', [])
  // the reader nobody holds lets its process go after the idle time; the held one keeps the same process
  await until('the idle reader\'s process to exit', () => plain.pid === undefined, 10_000)
  assert.equal(held.pid, pid)
  assert.deepEqual((await held.run('SELECT 2 AS x', [])).map(r => r.x), [2])
  release()
  await until('the released reader\'s process to exit', () => held.pid === undefined, 10_000)
})

test('on Linux a query whose process waits for a core past the deadline is answered, not killed; one stopped past five deadlines is', { skip: process.platform !== 'linux' }, async t => {
  const dir = await tmpDir(t, 'weft-sitedb-')
  await open(t, {}, dir)
  const timeout = 400
  const reader = new SiteDbReader(join(dir, 'site.db'), { queryTimeout: timeout, maxRows: 10, maxBytes: 1_000_000 })
  t.after(async () => { await reader.close() })
  await reader.run('SELECT 1 AS x', [])
  const pid = reader.pid as number
  // SIGSTOP: the process gets no CPU, as on a machine where every core is taken; it comes back at twice the deadline
  process.kill(pid, 'SIGSTOP')
  const started = performance.now()
  const asked = reader.run('SELECT 2 AS x', [])
  setTimeout(() => { process.kill(pid, 'SIGCONT') }, timeout * 2)
  assert.deepEqual((await asked).map(r => r.x), [2])
  assert.ok(performance.now() - started >= timeout * 2 - 5, 'answered only once the process ran again')
  assert.equal(reader.pid, pid, 'the same process answered')

  // a process that never runs again is given up at QUERY_WALL_FACTOR (5) deadlines
  process.kill(pid, 'SIGSTOP')
  const again = performance.now()
  await rejectsWith(reader.run('SELECT 3 AS x', []), 'ERR_QUERY_TIMEOUT', 'stopped for good')
  const took = performance.now() - again
  assert.ok(took >= timeout * 5 - 5 && took < timeout * 5 + 1_000, `given up after ${took.toFixed(0)} ms`)
  assert.deepEqual((await reader.run('SELECT 4 AS x', [])).map(r => r.x), [4])
  assert.notEqual(reader.pid, pid, 'a new process answered')
})
