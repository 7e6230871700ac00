/**
 * The owner's rules for a site's users: the `users` section of its weft.json (the analogue
 * of ZeroNet's `user_contents`). A site without one takes no contributions.
 *
 *   "users": {
 *     "files": ["posts.json", "img/*.png"],  patterns every path of a contribution must match
 *     "maxBytes": 65536,                     the most bytes of one user's files together
 *     "maxFiles": 16,                        the most files one user may have
 *     "banned": ["k51…"],                    user ids whose contributions are dropped (optional)
 *     "moderators": ["k51…"]                 user ids whose bans count like the owner's (optional)
 *   }
 *
 * Unknown keys are refused, so a misspelt limit is an error instead of no limit.
 *
 * Patterns are a safe glob subset: literal characters, `*` (any run of characters except
 * `/`), `?` (one character except `/`); no escapes, no `**`, no classes. A pattern matches
 * segment by segment (same number of `/`-separated segments), each segment by the
 * two-pointer wildcard match, which only ever returns to the last `*` seen: at most
 * pattern × path steps, with no regex built from site input.
 *
 * Paths of a contribution: relative, `/`-separated, no empty, `.` or `..` segment, no
 * backslash or NUL, at most 255 bytes of UTF-8.
 *
 * Moderators: a moderator's own contribution may hold `bans.json` = `{"banned": ["k51…"]}`,
 * allowed whatever `files` says; its ids count as banned, except the owner's moderators
 * (a moderator cannot ban a moderator). The owner's list wins over everything: a moderator
 * the owner also bans is banned, and their bans.json counts for nothing. A bans.json that
 * is not that shape, or lists more than 1,000 ids, counts for nothing either; it is the
 * moderator's file, not the site's, so it is never an error. It counts toward the
 * moderator's maxFiles and maxBytes like any file.
 *
 * Shares: any user's contribution may hold files under `.weft-shares/` (one segment deep),
 * allowed whatever `files` says: weft's sealed shares of private folders
 * (src/private/share-format.ts), opaque ciphertext the owner could not foresee in a
 * pattern. They count toward maxFiles and maxBytes like any file, so what a follower holds
 * per user stays within the owner's bounds.
 */
import { WeftError } from '../errors.ts'

/** The spec's limit: enough for a forum's posts, profile and images, few enough that every contribution is checked in microseconds. */
export const MAX_PATTERNS = 32
/** The spec's limit: a pattern is a file name with wildcards, not a document. */
export const MAX_PATTERN_CHARS = 128
/** NAME_MAX on the common filesystems, so a contribution's path fits wherever a node may write it. */
export const MAX_PATH_BYTES = 255
/** The IPIP-499 profile's 1024 links per folder block: a flat contribution stays one block. */
export const MAX_FILES_CEILING = 1024
/** Every follower holds every user's files: 64 MiB × 1,000 users is 64 GB, already past what most followers give one site. */
export const MAX_BYTES_CEILING = 64 * 1024 * 1024
/** A large forum's ban list; 10,000 ids are 640 KB of weft.json, looked up in a Set either way. */
export const MAX_BANNED = 10_000
/** Moderators are people the owner names one by one. */
export const MAX_MODERATORS = 100
/** Every follower keeps every ban: 100 moderators × 1,000 ids is about 12 MB at most; longer lists belong in the owner's. */
export const MAX_MODERATOR_BANS = 1_000
/** The file a moderator bans with, allowed whatever `files` says. */
export const BANS_FILE = 'bans.json'
/** The folder of a contribution weft keeps its sealed folder shares in, allowed whatever `files` says. */
export const SHARES_FOLDER = '.weft-shares'
/** `.weft-shares/<one segment>`: a share file (src/private/share-format.ts). */
export function isShareFile (path: string): boolean {
  return path.startsWith(`${SHARES_FOLDER}/`) && path.indexOf('/', SHARES_FOLDER.length + 1) < 0 && path.length > SHARES_FOLDER.length + 1
}

export interface UserRules {
  /** Patterns every path of a contribution must match. */
  readonly files: readonly string[]
  readonly maxBytes: number
  readonly maxFiles: number
  /** User ids, `k51…`. */
  readonly banned: readonly string[]
  /** User ids, `k51…`. */
  readonly moderators: readonly string[]
}

export type ContributionCheck =
  | { ok: true }
  | { ok: false, reason: 'pattern' | 'too-many-files' | 'too-large' | 'banned', detail: string }

const KEYS = new Set(['files', 'maxBytes', 'maxFiles', 'banned', 'moderators'])

function invalid (field: string, problem: string): WeftError {
  return new WeftError('ERR_SITE_RULES_INVALID', `weft.json users.${field}: ${problem}`)
}

const shown = (value: unknown): string => (JSON.stringify(value) ?? String(value)).slice(0, 80)

function count (users: Record<string, unknown>, field: string, ceiling: number): number {
  const value = users[field]
  if (value === undefined) throw invalid(field, `missing: give the most a user may have (1 to ${ceiling})`)
  if (!Number.isSafeInteger(value) || (value as number) < 1 || (value as number) > ceiling) throw invalid(field, `expected a whole number from 1 to ${ceiling}, got ${shown(value)}`)
  return value as number
}

function ids (users: Record<string, unknown>, field: string, max: number): string[] {
  const value = users[field]
  if (value === undefined) return []
  if (!Array.isArray(value)) throw invalid(field, `expected an array of user ids (k51…), got ${shown(value)}`)
  if (value.length > max) throw invalid(field, `${value.length} ids, more than the ${max} allowed`)
  const out = new Set<string>()
  value.forEach((id, i) => {
    if (!isUserId(id)) throw invalid(`${field}[${i}]`, `${shown(id)} is not a user id (k51…, as \`weft user id\` prints it)`)
    out.add(id)
  })
  return [...out]
}

/**
 * A user id as weft writes it: an ed25519 key's IPNS name in base36, always these 12
 * characters and 50 more. Checked by form alone: a full parse costs 50 µs, half a second for
 * a long ban list, and a well-formed string that is no key only bans nobody.
 */
const USER_ID = /^k51qzi5uqu5d[0-9a-z]{50}$/

/** Whether `text` has the form of a user id (`k51…`). */
export function isUserId (text: unknown): text is string {
  return typeof text === 'string' && USER_ID.test(text)
}

/** Why `path` cannot be a contribution's file path, or undefined when it can. */
export function pathProblem (path: string): string | undefined {
  if (typeof path !== 'string' || path === '') return 'the path is empty'
  if (Buffer.byteLength(path) > MAX_PATH_BYTES) return `the path is longer than ${MAX_PATH_BYTES} bytes`
  if (path.includes('\\')) return 'the path has a backslash (use "/")'
  if (path.includes('\0')) return 'the path has a NUL character'
  if (path.startsWith('/')) return 'the path is absolute; it must be relative to the contribution'
  for (const segment of path.split('/')) {
    if (segment === '') return 'the path has an empty segment ("//" or a trailing "/")'
    if (segment === '.' || segment === '..') return `the path has a "${segment}" segment`
  }
  return undefined
}

function pattern (value: unknown, i: number): string {
  const field = `files[${i}]`
  if (typeof value !== 'string') throw invalid(field, `expected a pattern string, got ${shown(value)}`)
  if ([...value].length > MAX_PATTERN_CHARS) throw invalid(field, `the pattern is longer than ${MAX_PATTERN_CHARS} characters`)
  if (value.includes('**')) throw invalid(field, `"${value}": "**" is not supported ("*" never crosses "/"; write one pattern per folder depth)`)
  const problem = pathProblem(value)
  if (problem !== undefined) throw invalid(field, `"${value}": ${problem.replace('the path', 'the pattern')}`)
  return value
}

/**
 * The `users` section of a site's weft.json, checked; undefined when there is none (the
 * site takes no contributions). ERR_SITE_RULES_INVALID names the first field that is wrong.
 */
export function parseUserRules (weftJson: unknown): UserRules | undefined {
  if (weftJson === null || typeof weftJson !== 'object' || Array.isArray(weftJson)) return undefined
  if (!Object.hasOwn(weftJson, 'users')) return undefined
  const users = (weftJson as Record<string, unknown>).users
  if (users === null || typeof users !== 'object' || Array.isArray(users)) throw new WeftError('ERR_SITE_RULES_INVALID', `weft.json users: expected an object, got ${shown(users)}`)
  const section = users as Record<string, unknown>
  for (const key of Object.keys(section)) {
    if (!KEYS.has(key)) throw invalid(key, `unknown key (the keys are ${[...KEYS].join(', ')})`)
  }
  const files = section.files
  if (!Array.isArray(files)) throw invalid('files', `expected an array of file patterns, got ${shown(files)}`)
  if (files.length > MAX_PATTERNS) throw invalid('files', `${files.length} patterns, more than the ${MAX_PATTERNS} allowed`)
  return {
    files: [...new Set(files.map(pattern))],
    maxBytes: count(section, 'maxBytes', MAX_BYTES_CEILING),
    maxFiles: count(section, 'maxFiles', MAX_FILES_CEILING),
    banned: ids(section, 'banned', MAX_BANNED),
    moderators: ids(section, 'moderators', MAX_MODERATORS)
  }
}

/** One segment against one pattern segment: neither holds "/", so no wildcard crosses one. */
function matchSegment (pattern: string[], text: string[]): boolean {
  let p = 0
  let t = 0
  // the last "*" seen and the text position it was tried from: the only place to return to
  let star = -1
  let from = 0
  while (t < text.length) {
    if (p < pattern.length && (pattern[p] === '?' || (pattern[p] !== '*' && pattern[p] === text[t]))) {
      p++
      t++
    } else if (p < pattern.length && pattern[p] === '*') {
      star = p++
      from = t
    } else if (star >= 0) {
      // let the last "*" take one more character and try the rest again
      p = star + 1
      t = ++from
    } else {
      return false
    }
  }
  while (p < pattern.length && pattern[p] === '*') p++
  return p === pattern.length
}

/**
 * Whether `path` matches `pattern` (literal characters, `*` and `?`, neither crossing `/`).
 * Characters are Unicode code points. At most |pattern| × |path| steps.
 */
export function globMatch (pattern: string, path: string): boolean {
  const ps = pattern.split('/')
  const ts = path.split('/')
  if (ps.length !== ts.length) return false
  for (let i = 0; i < ps.length; i++) {
    if (!matchSegment([...ps[i]], [...ts[i]])) return false
  }
  return true
}

/** Whether a contribution by `user` with these files is within the rules, and if not, why. */
export function checkContribution (rules: UserRules, files: Array<{ path: string, size: number }>, user: string, bans: Set<string>): ContributionCheck {
  if (bans.has(user) || rules.banned.includes(user)) return { ok: false, reason: 'banned', detail: `user ${user} is banned on this site` }
  if (files.length > rules.maxFiles) return { ok: false, reason: 'too-many-files', detail: `${files.length} files, more than the ${rules.maxFiles} the site allows` }
  const moderator = rules.moderators.includes(user)
  const seen = new Set<string>()
  let bytes = 0
  for (const file of files) {
    const problem = pathProblem(file.path)
    if (problem !== undefined) return { ok: false, reason: 'pattern', detail: `${shown(file.path)}: ${problem}` }
    if (seen.has(file.path)) return { ok: false, reason: 'pattern', detail: `${shown(file.path)} is listed twice` }
    seen.add(file.path)
    if (!(moderator && file.path === BANS_FILE) && !isShareFile(file.path) && !rules.files.some(p => globMatch(p, file.path))) {
      return { ok: false, reason: 'pattern', detail: `${shown(file.path)} matches none of the site's patterns (${rules.files.join(', ') || 'none'})` }
    }
    if (!Number.isSafeInteger(file.size) || file.size < 0) return { ok: false, reason: 'too-large', detail: `${shown(file.path)} has no valid size (${shown(file.size)})` }
    bytes += file.size
  }
  if (bytes > rules.maxBytes) return { ok: false, reason: 'too-large', detail: `${bytes} bytes, more than the ${rules.maxBytes} the site allows` }
  return { ok: true }
}

/**
 * Every banned user id on the site: the owner's list, and the ids in each moderator's
 * bans.json (`moderatorBans`: moderator id → its parsed bans.json), less the moderators.
 * Entries from someone the rules do not name as a moderator are ignored.
 */
export function bannedUsers (rules: UserRules, moderatorBans: Map<string, unknown>): Set<string> {
  const banned = new Set(rules.banned)
  const moderators = new Set(rules.moderators.filter(id => !banned.has(id)))
  for (const [who, bans] of moderatorBans) {
    if (!moderators.has(who)) continue
    if (bans === null || typeof bans !== 'object' || Array.isArray(bans)) continue
    const list = (bans as Record<string, unknown>).banned
    if (!Array.isArray(list) || list.length > MAX_MODERATOR_BANS) continue
    for (const id of list) {
      if (isUserId(id) && !moderators.has(id)) banned.add(id)
    }
  }
  return banned
}
