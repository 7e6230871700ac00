/**
 * The site API's messages, on the site's own origin (called from site-api.ts after its
 * same-origin and key-origin checks, and only once the person allowed the site, as a write
 * to `/.weft/user/files/` needs: a site's script reading or sending the person's messages
 * acts as them just as much):
 *
 * - `POST /.weft/messages/<user id>` (body: the message, text or bytes, at most
 *   MAX_BODY_BYTES): sealed to that user of the site, signed as this person's user there,
 *   and handed to the site's carriers → `{ id, from, to, sent, size, announced }`;
 * - `GET /.weft/messages`: the letters this person opened on the site, newest first →
 *   `{ messages: [{ id, from, sent, body, encoding }] }`, `body` as UTF-8 text when it is
 *   valid UTF-8 (`encoding: "utf8"`), else base64 (`encoding: "base64"`).
 */
import { WeftError } from '../errors.ts'
import { MAX_BODY_BYTES, inboxMessageJson, type Messages } from '../private/index.ts'
import { isUserId } from '../users/index.ts'

/** What the site API needs of messages (src/private/). */
export type SiteApiMessages = Pick<Messages, 'send' | 'list' | 'addEventListener' | 'removeEventListener'>

export interface MessagesRouteContext {
  site: string
  /** Whether the person allowed the site to act as them. */
  allowed: boolean
  /** Answers, as the rest of the site API gives them. */
  json: (value: unknown, status?: number) => Response
  refuse: (err: WeftError) => Response
  readBody: (request: Request, limit: number) => Promise<Uint8Array>
}

/** `segments`: the path after `/.weft/messages`. Undefined: not a messages route. */
export async function serveMessages (request: Request, segments: string[], method: string, messages: SiteApiMessages | undefined, ctx: MessagesRouteContext): Promise<Response | undefined> {
  const list = segments.length === 0 && method === 'GET'
  const send = segments.length === 1 && method === 'POST'
  if (!list && !send) return undefined
  if (messages === undefined) throw new WeftError('ERR_OFFLINE', 'this node runs without its messages service; start the daemon to send and read messages')
  if (!ctx.allowed) return ctx.refuse(new WeftError('ERR_SITE_NOT_ALLOWED', 'this site may not send or read messages as you until you allow it once on the confirmation page'))
  if (list) return ctx.json({ messages: messages.list(ctx.site).map(inboxMessageJson) })
  const to = segments[0]
  if (!isUserId(to)) throw new WeftError('ERR_MESSAGE_REFUSED', `"${String(to).slice(0, 100)}" is not a user id (k51…): POST /.weft/messages/<user id>`)
  let body: Uint8Array
  try {
    body = await ctx.readBody(request, MAX_BODY_BYTES)
  } catch (err) {
    if (err instanceof WeftError && err.code === 'ERR_USAGE') throw new WeftError('ERR_MESSAGE_TOO_LARGE', `a message may carry at most ${MAX_BODY_BYTES} bytes`)
    throw err
  }
  const sent = await messages.send(ctx.site, to, body, { signal: request.signal })
  return ctx.json(sent)
}
