/**
 * The issue 12 query figures, shared by `bench sitedb` (a SiteDb on its own) and `bench
 * users` (through a node's `users.query`): a forum's posts table of 10 posts per user,
 * an indexed lookup by id and an `ORDER BY date DESC LIMIT 50`, each timed `count`
 * times; beside them the same statements on an in-process node:sqlite connection to the
 * same file, so the difference is what the path to the query process costs.
 */
import { DatabaseSync } from 'node:sqlite'
import { quantile, timed } from './figures.ts'

export const POSTS_PER_USER = 10
export const TARGET_QUERY_P95_MS = 5

/** The forum's db section (examples/forum/weft.json) with an index on id, which the lookup uses. */
export const FORUM_DB = {
  version: 1,
  tables: { posts: { columns: { id: 'TEXT', title: 'TEXT', body: 'TEXT', date: 'INTEGER', reply_to: 'TEXT' }, indexes: [['id'], ['date'], ['reply_to', 'date']] } },
  maps: [{ file: 'posts.json', table: 'posts', key: 'posts' }]
}

export const LOOKUP = 'SELECT id, title, body, date, user FROM posts WHERE id = ?'
export const NEWEST = 'SELECT id, title, date, user FROM posts ORDER BY date DESC LIMIT 50'

/** User `u`'s posts: ids `<u>-<i>`, dates in order over all users, replies to the user's first post. */
export function forumPosts (u: number): Array<Record<string, unknown>> {
  return Array.from({ length: POSTS_PER_USER }, (_, i) => ({
    id: `${u}-${i}`, title: `post ${i} by ${u}`, body: 'x'.repeat(200), date: u * POSTS_PER_USER + i, reply_to: i === 0 ? null : `${u}-0`
  }))
}

export interface QueryFigures {
  lookups: number[]
  newest: number[]
  directLookupP95: number
  directNewestP95: number
}

/**
 * Times both statements through `query` (over `users` users' posts) and then in-process
 * on the file at `path`; throws when an answer is not the rows expected.
 */
export async function measureQueries (query: (sql: string, params?: unknown[]) => Promise<unknown[]>, path: string, users: number, count: number): Promise<QueryFigures> {
  const id = (i: number): string => `${(i * 7919) % users}-${i % POSTS_PER_USER}`
  const lookups = await timed(count, async i => { if ((await query(LOOKUP, [id(i)])).length !== 1) throw new Error(`no post ${id(i)}`) })
  const newest = await timed(count, async () => { if ((await query(NEWEST)).length !== 50) throw new Error('not 50 rows') })
  const direct = new DatabaseSync(path, { readOnly: true })
  try {
    const lookupStmt = direct.prepare(LOOKUP)
    const newestStmt = direct.prepare(NEWEST)
    const directLookups = await timed(count, i => lookupStmt.all(id(i)))
    const directNewest = await timed(count, () => newestStmt.all())
    return { lookups, newest, directLookupP95: quantile(directLookups, 0.95), directNewestP95: quantile(directNewest, 0.95) }
  } finally {
    direct.close()
  }
}
