/**
 * A file's Content-Type: from its name's extension (mime-types, the mime database), else
 * sniffed from its first bytes (file-type's magic numbers, then HTML and text checks).
 */
import mime from 'mime-types'
import { fileTypeFromBuffer } from 'file-type'

const SNIFF_BYTES = 4100
const utf8 = new TextDecoder('utf-8', { fatal: true })

function looksLikeHtml (head: string): boolean {
  return /^\s*(<!doctype html|<html|<head|<body|<!--)/i.test(head)
}

function isText (bytes: Uint8Array): boolean {
  if (bytes.includes(0)) return false
  try {
    // a multi-byte character cut at the end of the sample is still text
    utf8.decode(bytes.subarray(0, Math.max(0, bytes.byteLength - 3)))
    return true
  } catch {
    return false
  }
}

/** By extension alone; undefined when the name says nothing. */
export function typeFromName (name: string): string | undefined {
  const type = mime.contentType(name.includes('.') ? name : '')
  if (type === false) return undefined
  // JSON is UTF-8 and its media type defines no charset parameter (RFC 8259 §11); clients compare it exactly
  return type === 'application/json; charset=utf-8' ? 'application/json' : type
}

/** By the first bytes of the content (up to 4100 are used). */
export async function sniffType (head: Uint8Array): Promise<string> {
  const sample = head.subarray(0, SNIFF_BYTES)
  const found = await fileTypeFromBuffer(sample).catch(() => undefined)
  if (found !== undefined) return found.mime
  if (isText(sample)) {
    const text = new TextDecoder().decode(sample.subarray(0, 512))
    return looksLikeHtml(text) ? 'text/html; charset=utf-8' : 'text/plain; charset=utf-8'
  }
  return 'application/octet-stream'
}
