/**
 * Finished answers for immutable content, kept in memory and sent again without running
 * the gateway: `/ipfs/` answers never change, so the same request gets the same bytes.
 * Only 200s whose Cache-Control says `immutable`, with a body of at most 1 MiB, are kept,
 * up to 64 MiB in all, least recently used out first. The key is everything the answer
 * depends on: Host, URL, Accept and the browser's Sec-Fetch-Mode/-Dest. Range requests
 * always go to the gateway; If-None-Match is answered 304 from the kept ETag.
 *
 * An answer never outlives the blocks it was built from: when blocks leave the store (gc,
 * or a damaged block quarantined) every kept answer is dropped, and an answer whose
 * request began before a removal is not kept.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AnswerHooks } from '../http/index.ts'

const MAX_BODY = 1024 * 1024
const MAX_BYTES = 64 * 1024 * 1024

interface Answer {
  /** name, value, name, value…: node:http's cheapest form */
  headers: string[]
  etag: string
  cacheControl: string
  body: Buffer
}

function keyOf (req: IncomingMessage): string | undefined {
  if ((req.method !== 'GET' && req.method !== 'HEAD') || req.headers.range !== undefined) return undefined
  const h = req.headers
  return `${h.host ?? ''}\n${req.url ?? ''}\n${h.accept ?? ''}\n${String(h['sec-fetch-mode'] ?? '')}\n${String(h['sec-fetch-dest'] ?? '')}`
}

export interface AnswerCacheOptions {
  /** The block store's removal count (Blocks.deletions): answers kept before it moved are dropped. */
  deletions?: () => number
}

export class AnswerCache implements AnswerHooks {
  private readonly answers = new Map<string, Answer>()
  private bytes = 0
  private readonly deletions: () => number
  /** The removal count the kept answers were built under. */
  private generation: number
  /** The removal count when each request the handler answers began. */
  private readonly begun = new WeakMap<IncomingMessage, number>()

  constructor (options: AnswerCacheOptions = {}) {
    this.deletions = options.deletions ?? (() => 0)
    this.generation = this.deletions()
  }

  serve (req: IncomingMessage, res: ServerResponse): boolean {
    const now = this.deletions()
    if (now !== this.generation) {
      this.answers.clear()
      this.bytes = 0
      this.generation = now
    }
    const key = keyOf(req)
    const answer = key === undefined ? undefined : this.answers.get(key)
    if (key !== undefined && answer === undefined) this.begun.set(req, now)
    if (key === undefined || answer === undefined) return false
    this.answers.delete(key)
    this.answers.set(key, answer)
    const match = req.headers['if-none-match']?.split(',').some(t => t.trim().replace(/^W\//, '') === answer.etag || t.trim() === '*') === true
    if (match) {
      res.writeHead(304, { etag: answer.etag, 'cache-control': answer.cacheControl })
      res.end()
    } else {
      res.writeHead(200, answer.headers)
      res.end(req.method === 'HEAD' ? undefined : answer.body)
    }
    return true
  }

  wants (req: IncomingMessage, status: number, headers: Headers): boolean {
    if (req.method !== 'GET' || status !== 200 || keyOf(req) === undefined) return false
    const length = Number(headers.get('content-length') ?? NaN)
    return (headers.get('cache-control') ?? '').includes('immutable') && headers.get('etag') !== null && length <= MAX_BODY
  }

  keep (req: IncomingMessage, headers: Headers, body: Buffer): void {
    const key = keyOf(req)
    if (key === undefined || body.byteLength !== Number(headers.get('content-length')) || this.answers.has(key)) return
    // Blocks left the store while this answer was built: it may rest on some of them.
    const now = this.deletions()
    if (this.begun.get(req) !== now || now !== this.generation) return
    this.answers.set(key, { headers: [...headers].flat(), etag: headers.get('etag') as string, cacheControl: headers.get('cache-control') as string, body })
    this.bytes += body.byteLength
    for (const [old, a] of this.answers) {
      if (this.bytes <= MAX_BYTES) break
      this.answers.delete(old)
      this.bytes -= a.body.byteLength
    }
  }
}
