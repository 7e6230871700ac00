/**
 * Bodies in and out: a response streamed from an async generator, NDJSON progress, a
 * request body read whole but never past a limit, and what is left of a refused upload
 * read and dropped.
 */
import { WeftError, toWeftError } from '../errors.ts'

/**
 * A streamed body from `source`: its first chunk is read before the response exists, so a
 * failure there becomes an error status; a later failure cuts the stream short. When the
 * client goes away the source is closed (and with it what it fetches).
 */
export async function streamBody (source: AsyncGenerator<Uint8Array>, first?: IteratorResult<Uint8Array>): Promise<ReadableStream<Uint8Array>> {
  const head = first ?? await source.next()
  return new ReadableStream<Uint8Array>({
    start (controller) {
      if (head.done === true) controller.close()
      else controller.enqueue(head.value)
    },
    async pull (controller) {
      try {
        const next = await source.next()
        if (next.done === true) controller.close()
        else controller.enqueue(next.value)
      } catch (err) {
        controller.error(err)
      }
    },
    async cancel () { await source.return(undefined) }
  }, { highWaterMark: 0 })
}

/** NDJSON: `{"progress":…}` lines (at most ten a second), then `{"result":…}` or `{"error":{code,message}}`. */
export function progressResponse<P> (run: (onProgress: (e: P) => void) => Promise<unknown>): Response {
  const encoder = new TextEncoder()
  const body = new ReadableStream<Uint8Array>({
    async start (controller) {
      let last = 0
      const line = (value: unknown): void => { controller.enqueue(encoder.encode(JSON.stringify(value) + '\n')) }
      try {
        const result = await run(progress => {
          const now = Date.now()
          if (now - last < 100) return
          last = now
          line({ progress })
        })
        line({ result })
      } catch (err) {
        const e = toWeftError(err)
        line({ error: { code: e.code, message: e.message } })
      }
      controller.close()
    }
  })
  return new Response(body, { headers: { 'content-type': 'application/x-ndjson' } })
}

/**
 * The request's body, whole; `tooLarge` is thrown as soon as the declared length or the
 * bytes read pass `limit`, before more is read.
 */
export async function readBody (request: Request, limit: number, tooLarge: () => WeftError): Promise<Buffer> {
  if (Number(request.headers.get('content-length') ?? NaN) > limit) throw tooLarge()
  const chunks: Uint8Array[] = []
  let size = 0
  for await (const chunk of (request.body ?? []) as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength
    if (size > limit) throw tooLarge()
    chunks.push(chunk)
  }
  return Buffer.concat(chunks)
}

/**
 * Reads and drops what is left of a refused request's body, at most `limit` bytes: a
 * client still sending its upload would otherwise see the connection reset instead of the
 * error, and the limit keeps a refused (say, unauthorised) client from holding the node
 * reading an endless upload.
 */
export async function drainBody (request: Request, limit: number): Promise<void> {
  if (request.body === null || request.bodyUsed) return
  let read = 0
  try {
    for await (const chunk of request.body as unknown as AsyncIterable<Uint8Array>) {
      read += chunk.byteLength
      if (read > limit) break
    }
  } catch { /* the client went away */ }
}

/** The ERR_USAGE a JSON body that does not parse gets; an empty body is `{}`. */
export async function readJson (request: Request): Promise<unknown> {
  const text = await request.text()
  try {
    return text === '' ? {} : JSON.parse(text)
  } catch {
    throw new WeftError('ERR_USAGE', 'the request body must be JSON')
  }
}
