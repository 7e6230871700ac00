/**
 * A client of any IPFS Pinning Service API (weft's own, or a commercial one): what `weft
 * remote pin add|ls|rm` speak. The service's answers are checked before they are believed:
 * a PinStatus without a requestid or a status the spec does not know is the service's
 * fault (ERR_REMOTE_SERVICE_FAILED), not a crash.
 */
import { z } from 'zod'
import { WeftError } from '../../errors.ts'
import { PIN_STATUSES, type PinObject, type PinStatusName, type TextMatch } from './requests.ts'
import type { PinResultsWire, PinStatusWire } from './http.ts'

/** A service that has not answered in this long is taken to be down. */
const REQUEST_TIMEOUT = 30_000
/** The most of an answer read: a page of 1000 PinStatus objects fits. */
const MAX_ANSWER_BYTES = 16 * 1024 * 1024

const STATUS = z.object({
  requestid: z.string().min(1),
  status: z.enum(PIN_STATUSES),
  created: z.string(),
  pin: z.object({
    cid: z.string(),
    name: z.string().optional(),
    origins: z.array(z.string()).optional(),
    meta: z.record(z.string(), z.string()).optional()
  }),
  delegates: z.array(z.string()),
  info: z.record(z.string(), z.string()).optional()
})
const RESULTS = z.object({ count: z.number().int().min(0), results: z.array(STATUS) })
const FAILURE = z.object({ error: z.object({ reason: z.string(), details: z.string().optional() }) })

export interface RemoteQuery {
  cid?: string[]
  name?: string
  match?: TextMatch
  status?: PinStatusName[]
  before?: string
  after?: string
  limit?: number
  meta?: Record<string, string>
}

export class PinningClient {
  readonly endpoint: string
  private readonly token: string

  /** `endpoint` is the service's base URL (the part before /pins). */
  constructor (endpoint: string, token: string) {
    this.endpoint = endpoint.replace(/\/+$/, '')
    this.token = token
  }

  async add (pin: PinObject, options: { signal?: AbortSignal } = {}): Promise<PinStatusWire> {
    return this.answer(STATUS, await this.call('POST', '/pins', pin, 202, options.signal)) as PinStatusWire
  }

  async get (requestid: string, options: { signal?: AbortSignal } = {}): Promise<PinStatusWire> {
    return this.answer(STATUS, await this.call('GET', `/pins/${encodeURIComponent(requestid)}`, undefined, 200, options.signal)) as PinStatusWire
  }

  async replace (requestid: string, pin: PinObject, options: { signal?: AbortSignal } = {}): Promise<PinStatusWire> {
    return this.answer(STATUS, await this.call('POST', `/pins/${encodeURIComponent(requestid)}`, pin, 202, options.signal)) as PinStatusWire
  }

  async remove (requestid: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    await this.call('DELETE', `/pins/${encodeURIComponent(requestid)}`, undefined, 202, options.signal)
  }

  async list (query: RemoteQuery = {}, options: { signal?: AbortSignal } = {}): Promise<PinResultsWire> {
    const params = new URLSearchParams()
    if (query.cid !== undefined) params.set('cid', query.cid.join(','))
    if (query.name !== undefined) params.set('name', query.name)
    if (query.match !== undefined) params.set('match', query.match)
    if (query.status !== undefined) params.set('status', query.status.join(','))
    if (query.before !== undefined) params.set('before', query.before)
    if (query.after !== undefined) params.set('after', query.after)
    if (query.limit !== undefined) params.set('limit', String(query.limit))
    if (query.meta !== undefined) params.set('meta', JSON.stringify(query.meta))
    const search = params.size > 0 ? `?${params.toString()}` : ''
    return this.answer(RESULTS, await this.call('GET', `/pins${search}`, undefined, 200, options.signal)) as PinResultsWire
  }

  /**
   * Every match, newest first, paging with `before` as the spec says (its `created` values are
   * unique), until `count` are read or a page adds nothing new.
   */
  async listAll (query: RemoteQuery, options: { signal?: AbortSignal } = {}): Promise<PinStatusWire[]> {
    const out: PinStatusWire[] = []
    const seen = new Set<string>()
    let before = query.before
    for (;;) {
      const page = await this.list({ ...query, before, limit: query.limit ?? 1000 }, options)
      const fresh = page.results.filter(r => !seen.has(r.requestid))
      for (const r of fresh) { seen.add(r.requestid); out.push(r) }
      if (fresh.length === 0 || out.length >= page.count || query.limit !== undefined) return out
      before = page.results.at(-1)?.created
    }
  }

  /** The answer as the spec shapes it, or the service's fault. */
  private answer<T> (schema: z.ZodType<T>, value: unknown): T {
    const result = schema.safeParse(value)
    if (result.success) return result.data
    const issue = result.error.issues[0]
    throw new WeftError('ERR_REMOTE_SERVICE_FAILED', `the pinning service at ${this.endpoint} answered outside the spec: ${issue.path.join('.') || 'the body'}: ${issue.message.slice(0, 200)}`)
  }

  private async call (method: string, path: string, body: unknown, expected: number, signal?: AbortSignal): Promise<unknown> {
    const url = `${this.endpoint}${path}`
    let response: Response
    try {
      response = await fetch(url, {
        method,
        headers: { authorization: `Bearer ${this.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
        redirect: 'error',
        signal: signal === undefined ? AbortSignal.timeout(REQUEST_TIMEOUT) : AbortSignal.any([signal, AbortSignal.timeout(REQUEST_TIMEOUT)])
      })
    } catch (err) {
      throw new WeftError('ERR_REMOTE_SERVICE_UNREACHABLE', `the pinning service at ${this.endpoint} did not answer ${method} ${path.split('?')[0]}: ${(err as Error).message}`)
    }
    const text = await readCapped(response)
    if (response.status !== expected) {
      let why = text.slice(0, 300)
      try {
        const failure = FAILURE.parse(JSON.parse(text))
        why = `${failure.error.reason}${failure.error.details !== undefined ? `: ${failure.error.details}` : ''}`
      } catch { /* not the spec's Failure: shown as it came */ }
      throw new WeftError('ERR_REMOTE_SERVICE_FAILED', `the pinning service at ${this.endpoint} answered ${method} ${path.split('?')[0]} with ${response.status}${why === '' ? '' : ` (${why})`}`)
    }
    if (method === 'DELETE') return undefined
    try {
      return JSON.parse(text)
    } catch {
      throw new WeftError('ERR_REMOTE_SERVICE_FAILED', `the pinning service at ${this.endpoint} answered ${method} ${path.split('?')[0]} with something that is not JSON`)
    }
  }
}

async function readCapped (response: Response): Promise<string> {
  const chunks: Uint8Array[] = []
  let size = 0
  for await (const chunk of (response.body ?? []) as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength
    if (size > MAX_ANSWER_BYTES) throw new WeftError('ERR_REMOTE_SERVICE_FAILED', `the pinning service's answer is over ${MAX_ANSWER_BYTES} bytes`)
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}
