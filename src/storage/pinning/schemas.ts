/**
 * What the Pinning Service API takes, checked before anything runs (the spec's Pin object
 * and the query of GET /pins, ipfs/pinning-services-api-spec v1.0.0). Stricter than the
 * spec where it leaves room: fields and parameters it does not name are refused, not
 * ignored, so a typo (`?staus=`) is a 400 instead of a silently wider answer.
 */
import { z } from 'zod'
import { multiaddr } from '@multiformats/multiaddr'
import { CID } from 'multiformats/cid'
import { WeftError } from '../../errors.ts'
import { assertHashSupported } from '../../blocks/hashing.ts'
import { assertCodecSupported } from '../../blocks/links.ts'
import { PIN_STATUSES, cidKey, type PinObject, type PinQuery } from './requests.ts'
import { MAX_HINTS } from './addresses.ts'

/** A POST body larger than this is refused unread: a Pin with 20 origins and a modest meta fits many times over. */
export const MAX_PIN_BODY_BYTES = 64 * 1024
/** The spec: `cid` filter takes at most 10 CIDs; `limit` is 1–1000, 10 by default; names are at most 255 characters. */
const MAX_CID_FILTER = 10
const MAX_LIMIT = 1000
const DEFAULT_LIMIT = 10
const MAX_NAME = 255
/** PinMeta holds at most 1000 keys (the spec); each key and value is kept to a line's worth. */
const MAX_META_KEYS = 1000
const MAX_META_TEXT = 1024
/** The longest CID weft verifies (a sha2-512 digest in base32) is far under this. */
const MAX_CID_TEXT = 256
const MAX_MULTIADDR_TEXT = 1024

/** A CID weft can fetch and verify: parsed, with a hash and codec the store checks. */
function checkCid (text: string): CID {
  let cid: CID
  try {
    cid = CID.parse(text)
  } catch {
    throw new WeftError('ERR_INVALID_CID', `"${text.slice(0, 100)}" is not a valid CID`)
  }
  assertHashSupported(cid)
  assertCodecSupported(cid)
  return cid
}

const cidText = z.string().min(1).max(MAX_CID_TEXT)
const meta = z.record(z.string().max(MAX_META_TEXT), z.string().max(MAX_META_TEXT))
  .refine(m => Object.keys(m).length <= MAX_META_KEYS, { message: `at most ${MAX_META_KEYS} keys` })
const unique = (list: string[]): boolean => new Set(list).size === list.length

const PIN = z.strictObject({
  cid: cidText,
  name: z.string().max(MAX_NAME).optional(),
  origins: z.array(z.string().min(1).max(MAX_MULTIADDR_TEXT).refine(isP2pMultiaddr, { message: 'each origin is a multiaddr ending in /p2p/<peer id>' }))
    .max(MAX_HINTS).refine(unique, { message: 'origins must be unique' }).optional(),
  meta: meta.optional()
})

function isP2pMultiaddr (text: string): boolean {
  try {
    return multiaddr(text).getComponents().at(-1)?.name === 'p2p'
  } catch {
    return false
  }
}

const list = (text: string): string[] => text.split(',')
const iso = z.iso.datetime({ offset: true })

const QUERY = z.strictObject({
  cid: z.string().transform(list).pipe(z.array(cidText).min(1).max(MAX_CID_FILTER).refine(unique, { message: 'CIDs must be unique' })).optional(),
  name: z.string().max(MAX_NAME).optional(),
  match: z.enum(['exact', 'iexact', 'partial', 'ipartial']).optional(),
  status: z.string().transform(list).pipe(z.array(z.enum(PIN_STATUSES)).min(1).refine(unique, { message: 'statuses must be unique' })).optional(),
  before: iso.optional(),
  after: iso.optional(),
  limit: z.string().regex(/^[0-9]{1,4}$/, { message: 'expected an integer' }).transform(Number).pipe(z.number().int().min(1).max(MAX_LIMIT)).optional(),
  meta: z.string().transform((text, ctx) => {
    try {
      return JSON.parse(text) as unknown
    } catch {
      ctx.addIssue({ code: 'custom', message: 'expected a JSON object of strings' })
      return z.NEVER
    }
  }).pipe(meta).optional()
})

/** POST /pins and POST /pins/{requestid}: the body as the spec's Pin object, its CID one weft can verify. */
export function parsePin (body: unknown): PinObject {
  const pin = parseWith(PIN, body, 'the body')
  checkCid(pin.cid)
  return pin
}

/** GET /pins: the query as a PinQuery (status defaults to pinned, limit to 10, as the spec says). */
export function parsePinQuery (params: URLSearchParams): PinQuery {
  const fields: Record<string, unknown> = {}
  // a repeated parameter is ambiguous (the spec joins lists with commas): kept as a list, so the schema refuses it
  for (const key of new Set(params.keys())) {
    const values = params.getAll(key)
    fields[key] = values.length === 1 ? values[0] : values
  }
  const q = parseWith(QUERY, fields, 'the query')
  return {
    cids: q.cid?.map(c => { checkCid(c); return cidKey(c) }),
    name: q.name,
    match: q.match,
    statuses: q.status ?? ['pinned'],
    before: q.before === undefined ? undefined : Date.parse(q.before),
    after: q.after === undefined ? undefined : Date.parse(q.after),
    limit: q.limit ?? DEFAULT_LIMIT,
    meta: q.meta
  }
}

function parseWith<T> (schema: z.ZodType<T>, value: unknown, whole: string): T {
  const result = schema.safeParse(value)
  if (result.success) return result.data
  const issue = result.error.issues[0]
  const field = issue.path.length > 0 ? `"${issue.path.join('.')}"` : whole
  const message = issue.message.replace(/\s+/g, ' ').slice(0, 200)
  throw new WeftError('ERR_USAGE', `pins: ${field}: ${message}`)
}
