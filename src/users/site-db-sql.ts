/**
 * The statement check a site's SQL passes before it reaches SQLite: one statement, a
 * read (SELECT, VALUES, or WITH … SELECT), no extension loading, no pragma_* table-valued
 * functions or dbstat (they describe the file, and its path names the person's home). It reads SQLite's
 * tokens (strings, quoted identifiers, comments, blobs) so a keyword inside a string
 * never counts and a quoted identifier never hides one.
 *
 * This is the first of three walls: the query process also opens the file read-only
 * with `PRAGMA query_only` and extension loading off. The check is not redundant: on
 * such a connection `VACUUM INTO 'file'` still creates the file before it fails, and
 * `PRAGMA writable_schema = 1` succeeds. None of them bounds time; the query process is
 * killed for that (site-db-reader.ts).
 */
import { WeftError } from '../errors.ts'

interface Token { kind: 'word' | 'quoted' | 'punct' | 'literal', text: string }

/** Statement kinds a page may run: the reads. */
const READ_VERBS = new Set(['select', 'values', 'with'])
/** Verbs that may follow a WITH clause; only the reads are let through. */
const MAIN_VERBS = new Set(['select', 'values', 'insert', 'update', 'delete', 'replace'])
/** Words only a write uses (replace only when it is not the replace() function): refused anywhere, not just as the verb. */
const WRITE_WORDS = new Set(['insert', 'update', 'delete', 'replace'])
/** Functions refused wherever they appear (node:sqlite turns extension loading off too). */
const REFUSED_FUNCTIONS = new Set(['load_extension', 'fts3_tokenizer'])
/** Virtual tables that describe the file rather than the site's rows: dbstat and sqlite_dbpage read raw pages, and pragma_* (database_list) names the file's path, which holds the person's home folder. */
const REFUSED_TABLES = new Set(['dbstat', 'sqlite_dbpage'])
const REFUSED_PREFIX = 'pragma_'
/** A site's query is for a page, not a program: 100 KiB of SQL is past anything a page writes. */
export const MAX_SQL_LENGTH = 100 * 1024

function refuse (why: string): never {
  throw new WeftError('ERR_QUERY_REFUSED', `the site database runs only single read statements: ${why}`)
}

function tokenize (sql: string): Token[] {
  const out: Token[] = []
  let i = 0
  const n = sql.length
  const closeQuote = (close: string, kind: Token['kind'], start: number): void => {
    let j = i + 1
    let text = ''
    for (;;) {
      const k = sql.indexOf(close, j)
      if (k < 0) refuse(`an unterminated quote starts at character ${start}`)
      text += sql.slice(j, k)
      // A doubled quote is an escaped quote (not for [ ] identifiers).
      if (close !== ']' && sql[k + 1] === close) { text += close; j = k + 2; continue }
      i = k + 1
      break
    }
    out.push({ kind, text: kind === 'quoted' ? text.toLowerCase() : text })
  }
  while (i < n) {
    const c = sql[i]
    if (/\s/.test(c)) { i++; continue }
    if (c === '-' && sql[i + 1] === '-') { const k = sql.indexOf('\n', i); i = k < 0 ? n : k + 1; continue }
    if (c === '/' && sql[i + 1] === '*') { const k = sql.indexOf('*/', i + 2); i = k < 0 ? n : k + 2; continue }
    if (c === '\'') { closeQuote('\'', 'literal', i); continue }
    if (c === '"' || c === '`') { closeQuote(c, 'quoted', i); continue }
    if (c === '[') { closeQuote(']', 'quoted', i); continue }
    if ((c === 'x' || c === 'X') && sql[i + 1] === '\'') { i++; closeQuote('\'', 'literal', i); continue }
    const word = /^[A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*/.exec(sql.slice(i, i + 256))
    if (word !== null) { out.push({ kind: 'word', text: word[0].toLowerCase() }); i += word[0].length; continue }
    out.push({ kind: 'punct', text: c })
    i++
  }
  return out
}

/** Throws ERR_QUERY_REFUSED unless `sql` is one read statement. */
export function checkReadOnlySql (sql: string): void {
  if (typeof sql !== 'string' || sql.length === 0) refuse('the statement is empty')
  if (sql.length > MAX_SQL_LENGTH) refuse(`the statement is longer than ${MAX_SQL_LENGTH} characters`)
  const tokens = tokenize(sql)
  // Trailing semicolons are fine; anything after the first one is a second statement.
  let end = tokens.length
  while (end > 0 && tokens[end - 1].kind === 'punct' && tokens[end - 1].text === ';') end--
  if (end === 0) refuse('the statement is empty')
  const body = tokens.slice(0, end)
  if (body.some(t => t.kind === 'punct' && t.text === ';')) refuse('the string holds more than one statement')
  const first = body[0]
  if (first.kind !== 'word' || !READ_VERBS.has(first.text)) refuse(`${first.kind === 'word' ? first.text.toUpperCase() : JSON.stringify(first.text)} is not a read`)
  let depth = 0
  let mainVerb: string | undefined
  for (let i = 0; i < body.length; i++) {
    const t = body[i]
    if ((t.kind === 'word' || t.kind === 'quoted') && REFUSED_FUNCTIONS.has(t.text)) refuse(`${t.text} is not allowed`)
    if ((t.kind === 'word' || t.kind === 'quoted') && (REFUSED_TABLES.has(t.text) || t.text.startsWith(REFUSED_PREFIX))) refuse(`${t.text} describes the database file, not the site's rows`)
    if (t.kind === 'word' && WRITE_WORDS.has(t.text) && !(t.text === 'replace' && body[i + 1]?.text === '(')) refuse(`${t.text.toUpperCase()} is a write`)
    if (t.kind === 'punct') {
      if (t.text === '(') depth++
      else if (t.text === ')') depth--
      continue
    }
    // A WITH clause's tables are all in parentheses, so the first verb at depth 0 is the statement's own.
    if (first.text === 'with' && mainVerb === undefined && depth === 0 && t.kind === 'word' && MAIN_VERBS.has(t.text)) mainVerb = t.text
  }
  if (first.text === 'with' && mainVerb !== 'select' && mainVerb !== 'values') refuse(`WITH … ${(mainVerb ?? 'nothing').toUpperCase()} is not a read`)
}
