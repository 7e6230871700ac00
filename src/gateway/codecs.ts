/**
 * Blocks asked for by codec (the path gateway spec, IPIP-0524): `?format=dag-cbor|dag-json|cbor|json`
 * or `Accept: application/vnd.ipld.dag-cbor|dag-json`, `application/cbor|json`. A dag-cbor block is
 * answered as it is stored (`application/vnd.ipld.dag-cbor`, or `application/cbor` when plain
 * CBOR is asked), as it is with no format at all; any other pairing of codec and format is 406
 * `ERR_NOT_ACCEPTABLE`, since the gateway converts nothing. `Accept: application/json|cbor` is a
 * preference, not a demand: a UnixFS file asked so (a page's `fetch` of `data.json`) is served as
 * the file it is. dag-json and json blocks are not stored (src/blocks refuses their codecs).
 */
import type { CID } from 'multiformats/cid'
import { WeftError } from '../errors.ts'

export type CodecFormat = 'dag-cbor' | 'dag-json' | 'cbor' | 'json'

export interface CodecRequest {
  format: CodecFormat
  /** Asked by `?format=` or a `vnd.ipld.dag-*` type; a plain `application/json|cbor` Accept is not. */
  explicit: boolean
}

const FORMATS = new Set<string>(['dag-cbor', 'dag-json', 'cbor', 'json'])

const MEDIA_TYPES: Record<string, CodecFormat> = {
  'application/vnd.ipld.dag-cbor': 'dag-cbor',
  'application/vnd.ipld.dag-json': 'dag-json',
  'application/cbor': 'cbor',
  'application/json': 'json'
}

export const DAG_CBOR = 0x71

/** The codec a request asks for, by `?format=` first, then by the first Accept type that names one. */
export function requestedCodec (url: URL, accept: string | null): CodecRequest | undefined {
  const format = url.searchParams.get('format')
  if (format !== null) return FORMATS.has(format) ? { format: format as CodecFormat, explicit: true } : undefined
  for (const part of (accept ?? '').split(',')) {
    const type = part.split(';')[0].trim().toLowerCase()
    if (MEDIA_TYPES[type] !== undefined) return { format: MEDIA_TYPES[type], explicit: type.startsWith('application/vnd.ipld.') }
  }
  return undefined
}

/** True for `?format=` values this module answers (so the trustless formats' check lets them through). */
export function isCodecFormat (format: string): boolean {
  return FORMATS.has(format)
}

/** The media type a dag-cbor block is answered with for a request (none: the default), or ERR_NOT_ACCEPTABLE. */
export function dagCborMediaType (cid: CID, codec: CodecRequest | undefined): string {
  if (codec === undefined || codec.format === 'dag-cbor') return 'application/vnd.ipld.dag-cbor'
  if (codec.format === 'cbor') return 'application/cbor'
  throw notAcceptable(cid, codec.format)
}

export function notAcceptable (cid: CID, format: CodecFormat): WeftError {
  return new WeftError('ERR_NOT_ACCEPTABLE', `${cid} is ${codecName(cid)}, not ${format}; the gateway converts nothing (ask for ?format=raw for the block as it is)`)
}

function codecName (cid: CID): string {
  if (cid.code === DAG_CBOR) return 'dag-cbor'
  if (cid.code === 0x70) return 'UnixFS (dag-pb)'
  if (cid.code === 0x55) return 'a raw block'
  return `of codec 0x${cid.code.toString(16)}`
}
