/**
 * The control API's request bodies, one schema per route (docs/api.md). A body is checked
 * before a route runs, so operations get the types they declare: a string where a string is
 * due, a timeout a timer can take. Anything else is ERR_USAGE with one line naming the field.
 * Fields a route does not know are dropped, not refused: the CLI sends its command's options
 * whole (`--json`, `--progress` among them).
 */
import { z } from 'zod'
import { WeftError } from '../errors.ts'

/** setTimeout's (and so AbortSignal.timeout's) largest delay; a longer one fires at once. */
const MAX_TIMER_MS = 2 ** 31 - 1

const text = z.string()
const texts = z.array(z.string())
const ms = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER)
const network = {
  /** Never ask the network. */
  offline: z.boolean().optional(),
  /** ms before giving up on the network. */
  timeout: z.number().min(0).max(MAX_TIMER_MS).optional()
}
const none = z.object({})
const addOptions = {
  hidden: z.boolean().optional(),
  preserveMode: z.boolean().optional(),
  preserveMtime: z.boolean().optional(),
  pin: z.boolean().optional()
}

export const BODIES = {
  id: none,
  peers: none,
  connect: z.object({ address: text }),
  add: z.object({ paths: texts, options: z.object(addOptions).optional() }),
  fetch: z.object({ path: text, ...network }),
  cat: z.object({ path: text, ...network, offset: ms.optional(), length: ms.optional() }),
  get: z.object({ path: text, output: text, ...network }),
  ls: z.object({ path: text, ...network }),
  'pin/add': z.object({ args: texts, direct: z.boolean().optional(), ...network }),
  'pin/rm': z.object({ args: texts }),
  'pin/ls': z.object({ type: z.enum(['recursive', 'direct']).optional() }),
  gc: none,
  'repo/stat': none,
  stats: none,
  'repo/verify': z.object({ repair: z.boolean().optional() }),
  'config/get': z.object({ key: text.optional() }),
  'config/set': z.object({ key: text, json: text }),
  'site/create': z.object({ label: text }),
  'site/list': none,
  'site/export-key': z.object({ label: text, passphrase: text }),
  'site/import-key': z.object({ key: text, passphrase: text, label: text.optional() }),
  'site/info': z.object({ name: text }),
  publish: z.object({
    path: text,
    site: text,
    // the client sends its PublishOptions whole, the site's label included
    options: z.object({ ...addOptions, site: text.optional(), validity: ms.min(1).optional(), ttl: ms.optional() }).optional()
  }),
  resolve: z.object({ name: text, ...network, fresh: z.boolean().optional() }),
  // config's sites.keepVersions range
  follow: z.object({ name: text, keep: z.number().int().min(1).max(1000).optional() }),
  unfollow: z.object({ name: text }),
  following: none,
  replicate: z.object({ target: text, copies: z.number().int().min(1).max(64).optional(), keep: z.number().int().min(1).max(16).optional() }),
  replicas: z.object({ target: text.optional() }),
  'name/set': z.object({ name: text, value: text }),
  'name/rm': z.object({ name: text }),
  'name/ls': none,
  'name/resolve': z.object({ name: text, timeout: network.timeout, fresh: z.boolean().optional() }),
  'car/export': z.object({ path: text, ...network }),
  'user/id': z.object({ site: text }),
  'user/export-key': z.object({ passphrase: text }),
  'user/import-key': z.object({ key: text, passphrase: text, force: z.boolean().optional() }),
  'user/recovery-phrase': none,
  'user/link': z.object({ addresses: z.boolean().optional() }),
  'user/link-accept': z.object({ code: text, force: z.boolean().optional() }),
  'user/recover': z.object({ phrase: text, force: z.boolean().optional() }),
  'user/sites': none,
  'user/allow': z.object({ name: text, allowed: z.boolean() }),
  'user/rm': z.object({ site: text, file: text }),
  'user/list': z.object({ site: text }),
  'user/cat': z.object({ site: text, user: text, file: text }),
  'private/get': z.object({ site: text, path: text }),
  'private/ls': z.object({ site: text }),
  'private/rm': z.object({ site: text, path: text }),
  'private/sites': none,
  'private/share': z.object({ site: text, folder: text, to: text }),
  'private/unshare': z.object({ site: text, folder: text, to: text }),
  'private/shared': z.object({ site: text }),
  'private/shared-ls': z.object({ site: text, from: text, folder: text }),
  'private/shared-get': z.object({ site: text, from: text, folder: text, path: text }),
  'message/ls': z.object({ site: text })
} as const satisfies Record<string, z.ZodType>

/** `user/write` carries the file's bytes as its body, so what it is about travels in the query: `?site=<name>&file=<path>`. */
export const USER_WRITE_QUERY = z.object({ site: text.min(1), file: text.min(1) })

/** `private/put` carries the file's bytes as its body: `?site=<name>&path=<path>`. */
export const PRIVATE_PUT_QUERY = z.object({ site: text.min(1), path: text.min(1) })

export type BodyRoute = keyof typeof BODIES
export type BodyOf<R extends BodyRoute> = z.infer<typeof BODIES[R]>

/** The body of `route` as its schema types it; ERR_USAGE naming the first bad field otherwise. */
export function parseBody<R extends BodyRoute> (route: R, body: unknown): BodyOf<R> {
  return parseWith<unknown>(route, BODIES[route], body, 'the body') as BodyOf<R>
}

/** `message/send` carries the message as its body: `?site=<name>&to=<user id>`. */
export const MESSAGE_SEND_QUERY = z.object({ site: text.min(1), to: text.min(1) })

/** `message/send`'s query parameters, typed; ERR_USAGE naming the one missing or repeated. */
export function parseMessageSendQuery (params: URLSearchParams): z.infer<typeof MESSAGE_SEND_QUERY> {
  const fields: Record<string, unknown> = {}
  for (const key of new Set(params.keys())) {
    const values = params.getAll(key)
    fields[key] = values.length === 1 ? values[0] : values
  }
  return parseWith('message/send', MESSAGE_SEND_QUERY, fields, 'the query')
}

/** `user/write`'s query parameters, typed; ERR_USAGE naming the one missing or repeated. */
export function parseUserWriteQuery (params: URLSearchParams): z.infer<typeof USER_WRITE_QUERY> {
  return parseWith('user/write', USER_WRITE_QUERY, queryFields(params), 'the query')
}

/** `private/put`'s query parameters, typed; ERR_USAGE naming the one missing or repeated. */
export function parsePrivatePutQuery (params: URLSearchParams): z.infer<typeof PRIVATE_PUT_QUERY> {
  return parseWith('private/put', PRIVATE_PUT_QUERY, queryFields(params), 'the query')
}

function queryFields (params: URLSearchParams): Record<string, unknown> {
  const fields: Record<string, unknown> = {}
  // a repeated parameter is ambiguous (which file?): kept as a list, so the schema refuses it
  for (const key of new Set(params.keys())) {
    const values = params.getAll(key)
    fields[key] = values.length === 1 ? values[0] : values
  }
  return fields
}

function parseWith<T> (route: string, schema: z.ZodType<T>, value: unknown, whole: string): T {
  const result = schema.safeParse(value)
  if (result.success) return result.data
  const issue = result.error.issues[0]
  const field = issue.path.length > 0 ? `"${issue.path.join('.')}"` : whole
  const message = issue.message.replace(/\s+/g, ' ').slice(0, 200)
  throw new WeftError('ERR_USAGE', `${route}: ${field}: ${message}`)
}
