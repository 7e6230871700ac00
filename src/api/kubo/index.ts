/**
 * kubo's RPC API (https://docs.ipfs.tech/reference/kubo/rpc/) under `/api/v0/` on the
 * control API's port, so IPFS tools (kubo-rpc-client, ipfs-webui, pinning scripts) can
 * drive a weft node. kubo's conventions: every call is POST; positional arguments are
 * repeated `?arg=`; options are other query parameters; answers are JSON with kubo's
 * capitalised keys, ndjson where kubo streams, raw bytes for cat/get/block get/dag export;
 * a failure is `{"Message","Code":0,"Type":"error"}` with status 500 (400 for bad input,
 * 401 for a missing token). The same bearer token as weft's own API guards it, as kubo
 * 0.25+ does with `API.Authorizations`. Each command reuses weft's Operations.
 */
import { WeftError, errorToStatus, toWeftError } from '../../errors.ts'
import type { Operations } from '../operations.ts'
import { assertAuthorized, drainBody } from '../../http/index.ts'
import { CONTENT_COMMANDS } from './content.ts'
import { NODE_COMMANDS } from './node.ts'
import type { KuboCommand } from './request.ts'

export const KUBO_PREFIX = '/api/v0/'

const COMMANDS: Record<string, KuboCommand> = { ...CONTENT_COMMANDS, ...NODE_COMMANDS }

/** The kubo commands weft answers (docs: README's "kubo RPC API"). */
export const KUBO_COMMANDS = Object.keys(COMMANDS)

/** A failure as kubo answers it; weft's code is kept at the end of the message. */
export function kuboError (err: unknown): Response {
  const e = toWeftError(err)
  const status = errorToStatus(e)
  return Response.json(
    { Message: `${e.message} (${e.code})`, Code: 0, Type: 'error' },
    { status: status === 400 || status === 401 ? status : 500 }
  )
}

export function createKuboHandler (ops: Operations, token: string): (request: Request) => Promise<Response> {
  return async request => {
    try {
      assertAuthorized(request, token)
      const url = new URL(request.url)
      const name = url.pathname.slice(KUBO_PREFIX.length)
      if (!Object.hasOwn(COMMANDS, name)) {
        const e = new WeftError('ERR_USAGE', `weft does not answer the kubo command ${name.slice(0, 100)} (README: "kubo RPC API" lists the ones it does)`)
        return Response.json({ Message: `${e.message} (${e.code})`, Code: 0, Type: 'error' }, { status: 404 })
      }
      // kubo refuses GET on its RPC API (browsers could be tricked into one)
      if (request.method !== 'POST') throw new WeftError('ERR_USAGE', `kubo's RPC API takes POST, not ${request.method}`)
      return await COMMANDS[name](ops, { request, query: url.searchParams })
    } catch (err) {
      await drainBody(request, DRAIN_LIMIT_BYTES)
      return kuboError(err)
    }
  }
}

/**
 * The most of a refused request's body read before answering (an HTTP client still sending
 * its upload, as kubo-rpc-client streams add's parts, would see the connection reset
 * instead of the error); past it the client may see a reset.
 */
const DRAIN_LIMIT_BYTES = 16 * 1024 * 1024
