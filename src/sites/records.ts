/**
 * Site versions are IPNS records (https://specs.ipfs.tech/ipns/ipns-record/): a V2
 * signature over DAG-CBOR data holding the value (`/ipfs/<root>`), a sequence number, an
 * end-of-life validity and a TTL. Nothing a peer sends is believed until checkRecord
 * passes: size first (before any parsing), then the key, the signature and the expiry.
 */
import type { PrivateKey } from '@libp2p/interface'
import { createIPNSRecord, marshalIPNSRecord, unmarshalIPNSRecord } from 'ipns'
import { ipnsValidator } from 'ipns/validator'
import type { CID } from 'multiformats/cid'
import { WeftError } from '../errors.ts'
import { parseContentPath } from '../content/index.ts'
import type { SiteName } from './names.ts'

/** The spec's limit, applied before a byte is parsed. */
export const MAX_RECORD_BYTES = 10 * 1024
/** The spec's sequence and TTL are uint64; anything else in the signed CBOR is refused. */
const MAX_UINT64 = 2n ** 64n - 1n

/** Why a record was refused; counted per site and shown by `weft site info`. */
export type RejectReason =
  | 'too-large' | 'malformed' | 'wrong-key' | 'bad-signature' | 'expired' | 'bad-value'
  | 'stale' | 'equivocation' | 'wrong-site'

export class RecordRejected extends Error {
  readonly reason: RejectReason
  constructor (reason: RejectReason, message: string) {
    super(message)
    this.name = 'RecordRejected'
    this.reason = reason
  }
}

export interface SiteRecord {
  /** The record exactly as signed and sent. */
  readonly bytes: Uint8Array
  readonly sequence: bigint
  /** `/ipfs/<root>[/path]` */
  readonly value: string
  readonly root: CID
  /** End of life, ms since the epoch. */
  readonly validity: number
  /** How long a resolver may cache it, ms. */
  readonly ttl: number
}

export interface SignOptions {
  /** ms from now until the record expires. */
  validity: number
  /** ms a resolver may cache it. */
  ttl: number
  /** The signer's clock (ms since the epoch), which the validity counts from; the ipns library counts from Date.now. */
  now?: number
}

export async function signRecord (key: PrivateKey, value: string, sequence: bigint, options: SignOptions): Promise<SiteRecord> {
  const lifetime = options.validity + (options.now === undefined ? 0 : options.now - Date.now())
  const record = await createIPNSRecord(key, value, sequence, lifetime, { v1Compatible: true, ttlNs: BigInt(options.ttl) * 1_000_000n })
  return decode(marshalIPNSRecord(record))
}

/** Parses a record already known to be valid (signed here, or read back from the home). */
export function decode (bytes: Uint8Array): SiteRecord {
  const record = unmarshalIPNSRecord(bytes)
  let root: CID
  try {
    if (!record.value.startsWith('/ipfs/')) throw new Error('not an /ipfs/ path')
    root = parseContentPath(record.value).cid
  } catch {
    throw new RecordRejected('bad-value', `the record's value ${JSON.stringify(record.value.slice(0, 80))} is not an /ipfs/ path`)
  }
  // the signed CBOR may hold anything under these keys; only what a resolver can compare passes
  const { sequence, ttl } = record as { sequence: unknown, ttl: unknown }
  if (typeof sequence !== 'bigint' || sequence < 0n || sequence > MAX_UINT64) throw new RecordRejected('malformed', `the record's sequence ${String(sequence).slice(0, 40)} is not a 64-bit unsigned integer`)
  if (ttl !== undefined && (typeof ttl !== 'bigint' || ttl < 0n || ttl > MAX_UINT64)) throw new RecordRejected('malformed', `the record's TTL ${String(ttl).slice(0, 40)} is not a 64-bit unsigned integer`)
  const validity = Date.parse(record.validity)
  if (!Number.isFinite(validity)) throw new RecordRejected('malformed', `the record's validity ${JSON.stringify(record.validity.slice(0, 40))} is not a time`)
  return {
    bytes,
    sequence,
    value: record.value,
    root,
    validity,
    ttl: Number((ttl ?? 0n) / 1_000_000n)
  }
}

const REASONS: Record<string, RejectReason> = {
  RecordTooLargeError: 'too-large',
  InvalidEmbeddedPublicKeyError: 'wrong-key',
  SignatureVerificationError: 'bad-signature',
  RecordExpiredError: 'expired',
  UnsupportedValidityError: 'malformed',
  InvalidRecordDataError: 'malformed'
}

/** Checks `bytes` as a record for `site`; throws RecordRejected with the reason. */
export async function checkRecord (site: SiteName, bytes: Uint8Array): Promise<SiteRecord> {
  if (bytes.byteLength > MAX_RECORD_BYTES) throw new RecordRejected('too-large', `the record is ${bytes.byteLength} bytes; the limit is ${MAX_RECORD_BYTES}`)
  try {
    await ipnsValidator(site.routingKey, bytes)
  } catch (err) {
    const reason = REASONS[(err as Error).name] ?? 'malformed'
    throw new RecordRejected(reason, `${reason}: ${(err as Error).message}`)
  }
  return decode(bytes)
}

export function rejectionError (err: RecordRejected): WeftError {
  return new WeftError('ERR_RECORD_INVALID', err.message)
}
