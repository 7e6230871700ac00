/**
 * The IPFS Pinning Service API over HTTP (ipfs/pinning-services-api-spec v1.0.0), on the
 * daemon's API port behind the API token:
 *
 *   GET    /pins               PinResults  (filters: cid, name+match, status, before, after, limit, meta)
 *   POST   /pins               202 PinStatus  (body: Pin)
 *   GET    /pins/{requestid}   PinStatus
 *   POST   /pins/{requestid}   202 PinStatus  (replaces: a new requestid, the old one removed)
 *   DELETE /pins/{requestid}   202, no body
 *
 * Failures answer the spec's Failure object, `{"error":{"reason":"<weft code>","details":"…"}}`,
 * with the code's HTTP status (400, 401, 404, 413, 5XX).
 */
import { WeftError, errorToStatus, toWeftError } from '../../errors.ts'
import { drainBody, readBody } from '../../http/index.ts'
import { MAX_PIN_BODY_BYTES, parsePin, parsePinQuery } from './schemas.ts'
import type { PinningService } from './service.ts'
import type { PinObject, PinRequest, PinStatusName } from './requests.ts'

export const PINS_PATH = '/pins'

/** Whether the pinning API answers this path. */
export function isPinningPath (pathname: string): boolean {
  return pathname === PINS_PATH || pathname.startsWith(`${PINS_PATH}/`)
}

/** The spec's PinStatus. */
export interface PinStatusWire {
  requestid: string
  status: PinStatusName
  created: string
  pin: PinObject
  delegates: string[]
  info?: Record<string, string>
}

export interface PinResultsWire {
  count: number
  results: PinStatusWire[]
}

export interface PinningHandlerComponents {
  /** Absent on a node without the network: every route answers 503. */
  service?: PinningService
  /** Throws ERR_API_UNAUTHORIZED unless the request carries the API token (the control API's check). */
  authorize: (request: Request) => void
}

/** The spec's Failure body with the code's status. */
export function failureResponse (err: unknown): Response {
  const e = toWeftError(err)
  return Response.json({ error: { reason: e.code, details: e.message } }, { status: errorToStatus(e) })
}

function statusOf (request: PinRequest, delegates: string[]): PinStatusWire {
  return { requestid: request.requestid, status: request.status, created: new Date(request.created).toISOString(), pin: request.pin, delegates, info: request.info }
}

/** Reads the JSON body, refusing one over MAX_PIN_BODY_BYTES before (by its length) or while reading it. */
async function readJson (request: Request): Promise<unknown> {
  const bytes = await readBody(request, MAX_PIN_BODY_BYTES, () => new WeftError('ERR_REQUEST_TOO_LARGE', `a pin request body may be at most ${MAX_PIN_BODY_BYTES} bytes`))
  try {
    return JSON.parse(bytes.toString('utf8'))
  } catch {
    throw new WeftError('ERR_USAGE', 'pins: the body must be a JSON Pin object')
  }
}

export function createPinningHandler (components: PinningHandlerComponents): (request: Request) => Promise<Response> {
  const route = async (request: Request): Promise<Response> => {
    components.authorize(request)
    const url = new URL(request.url)
    const service = components.service
    if (service === undefined) throw new WeftError('ERR_OFFLINE', 'this node runs no pinning service (it is offline)')
    const rest = url.pathname.slice(PINS_PATH.length)
    const method = request.method
    if (rest === '' || rest === '/') {
      if (method === 'GET') {
        const found = service.list(parsePinQuery(url.searchParams))
        const delegates = service.delegates()
        const body: PinResultsWire = { count: found.count, results: found.results.map(r => statusOf(r, delegates)) }
        return Response.json(body)
      }
      if (method === 'POST') {
        if (url.search !== '') throw new WeftError('ERR_USAGE', 'pins: POST /pins takes no query')
        const pin = parsePin(await readJson(request))
        return Response.json(statusOf(service.add(pin), service.delegates()), { status: 202 })
      }
      throw new WeftError('ERR_USAGE', `pins: ${method} /pins is not a route (GET or POST)`)
    }
    let requestid: string
    try {
      requestid = decodeURIComponent(rest.slice(1))
    } catch {
      throw new WeftError('ERR_USAGE', 'pins: the requestid is not a valid URL segment')
    }
    if (requestid === '' || requestid.includes('/')) throw new WeftError('ERR_USAGE', `pins: ${url.pathname.slice(0, 200)} is not a route`)
    if (url.search !== '') throw new WeftError('ERR_USAGE', `pins: ${method} /pins/{requestid} takes no query`)
    if (method === 'GET') return Response.json(statusOf(service.get(requestid), service.delegates()))
    if (method === 'POST') {
      const pin = parsePin(await readJson(request))
      return Response.json(statusOf(service.replace(requestid, pin), service.delegates()), { status: 202 })
    }
    if (method === 'DELETE') {
      service.remove(requestid)
      return new Response(null, { status: 202 })
    }
    throw new WeftError('ERR_USAGE', `pins: ${method} /pins/{requestid} is not a route (GET, POST or DELETE)`)
  }
  return async request => {
    try {
      return await route(request)
    } catch (err) {
      // what is left of a refused body is read (at most a body's limit), so a client still sending gets the answer, not a reset
      await drainBody(request, MAX_PIN_BODY_BYTES)
      return failureResponse(err)
    }
  }
}
