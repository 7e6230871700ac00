/**
 * `/weft/storage/1.0.0`: one request and one answer per stream, each a single frame (an
 * unsigned varint length, then that many bytes of UTF-8 JSON, at most MAX_FRAME_BYTES).
 *
 * Requests (`t`):
 * - `offer`: what the holder would take → `{ t: 'offer', free, quota }` (bytes: left in the
 *   whole offer, and left for this requester).
 * - `hold`: `{ kind: 'site' | 'cid', target, keep, bytes, seeds? }` → `accepted` or
 *   `refused` with a `code` and a `reason`. `target` is a site's `k51…` name or a CID;
 *   `keep` the site versions to keep; `bytes` what it will take (the fetch stops past it);
 *   `seeds` peer ids that hold it now; `copies` the holders wanted, which the holders keep up
 *   among themselves once the requester is gone (repair).
 * - `release`: `{ target }` → `released`.
 * - `audit`: `{ target, nonce, cids }` (nonce: 32 bytes base64; at most MAX_AUDIT_CIDS block
 *   CIDs of the DAG) → `{ t: 'proof', hashes }`: for each CID in order, base64
 *   SHA-256(nonce ‖ block bytes), or null for a block not held.
 *
 * Only nodes with `storage.offer` set handle the protocol, so identify's protocol list
 * tells a requester which peers offer storage at all, at no cost.
 */
import { createHash } from 'node:crypto'
import { lpStream } from '@libp2p/utils'
import type { Stream } from '@libp2p/interface'
import { z } from 'zod'
import { WeftError } from '../errors.ts'

export const STORAGE_PROTOCOL = '/weft/storage/1.0.0'

/** A frame, either way: 64 CIDs of an audit are ~4 KiB, 20 seeds ~1 KiB. */
export const MAX_FRAME_BYTES = 16 * 1024
export const MAX_AUDIT_CIDS = 64
export const MAX_SEEDS = 20
export const NONCE_BYTES = 32
/** Site versions a holder keeps at most for one request. */
export const MAX_KEEP = 16

const base64 = z.string().max(128).regex(/^[A-Za-z0-9+/]+={0,2}$/)
const target = z.string().min(1).max(128)

export const requestSchema = z.discriminatedUnion('t', [
  z.strictObject({ t: z.literal('offer') }),
  z.strictObject({
    t: z.literal('hold'),
    kind: z.enum(['site', 'cid']),
    target,
    keep: z.number().int().min(1).max(MAX_KEEP),
    bytes: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    seeds: z.array(z.string().max(128)).max(MAX_SEEDS).optional(),
    copies: z.number().int().min(1).max(64).optional()
  }),
  z.strictObject({ t: z.literal('release'), target }),
  z.strictObject({ t: z.literal('audit'), target, nonce: base64, cids: z.array(z.string().max(128)).min(1).max(MAX_AUDIT_CIDS) })
])

export type StorageRequest = z.infer<typeof requestSchema>

/** Why a holder refused: stable, so a requester can tell "full" from "slow down". */
export type RefusalCode = 'no-offer' | 'over-offer' | 'over-quota' | 'rate' | 'invalid' | 'not-held' | 'fetching' | 'unavailable'

export const answerSchema = z.discriminatedUnion('t', [
  z.strictObject({ t: z.literal('offer'), free: z.number().int().min(0), quota: z.number().int().min(0) }),
  z.strictObject({ t: z.literal('accepted') }),
  z.strictObject({ t: z.literal('released') }),
  z.strictObject({
    t: z.literal('refused'),
    code: z.enum(['no-offer', 'over-offer', 'over-quota', 'rate', 'invalid', 'not-held', 'fetching', 'unavailable']),
    reason: z.string().max(512)
  }),
  z.strictObject({ t: z.literal('proof'), hashes: z.array(base64.nullable()).max(MAX_AUDIT_CIDS) })
])

export type StorageAnswer = z.infer<typeof answerSchema>

function parseFrame<T> (schema: z.ZodType<T>, bytes: Uint8Array): T {
  let json: unknown
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes))
  } catch {
    throw new WeftError('ERR_STORAGE_MALFORMED', 'a storage frame is not JSON')
  }
  const parsed = schema.safeParse(json)
  if (!parsed.success) throw new WeftError('ERR_STORAGE_MALFORMED', `a storage frame does not match the protocol: ${parsed.error.issues[0]?.message ?? ''}`)
  return parsed.data
}

const encode = (message: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(message))

/** The holder's side: reads one request; `answer` decides; writes its answer and closes. */
export async function serveRequest (stream: Stream, answer: (request: StorageRequest) => Promise<StorageAnswer>, options: { signal: AbortSignal }): Promise<void> {
  const lp = lpStream(stream, { maxDataLength: MAX_FRAME_BYTES })
  const request = parseFrame(requestSchema, (await lp.read({ signal: options.signal })).subarray())
  await lp.write(encode(await answer(request)), { signal: options.signal })
  await stream.close({ signal: options.signal })
}

/** The requester's side: one request on a fresh stream, one answer. */
export async function sendRequest (stream: Stream, request: StorageRequest, options: { signal: AbortSignal }): Promise<StorageAnswer> {
  const lp = lpStream(stream, { maxDataLength: MAX_FRAME_BYTES })
  try {
    await lp.write(encode(request), { signal: options.signal })
    const answer = parseFrame(answerSchema, (await lp.read({ signal: options.signal })).subarray())
    await stream.close({ signal: options.signal }).catch(() => {})
    return answer
  } catch (err) {
    stream.abort(err as Error)
    throw err
  }
}

/** SHA-256(nonce ‖ block), base64: what a holder answers for one sampled block. */
export function proofOf (nonce: Uint8Array, block: Uint8Array): string {
  return createHash('sha256').update(nonce).update(block).digest('base64')
}
