/**
 * Name syntax: what a human-readable name may look like before any resolver is asked, and
 * what a resolver's answer may point at. Names are DNS-shaped: labels of a-z, 0-9, `-` and
 * `_`, 1 to 63 bytes each, 253 in all, compared in lower case.
 */
import { CID } from 'multiformats/cid'
import { WeftError } from '../errors.ts'

const LABEL = /^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?$/

/** The name in lower case without a trailing dot; ERR_NAME_INVALID when it cannot be a name. */
export function normalizeName (text: string): string {
  const name = text.trim().toLowerCase().replace(/\.$/, '')
  if (name === '' || name.length > 253) throw new WeftError('ERR_NAME_INVALID', `"${text.slice(0, 80)}" is ${name === '' ? 'empty' : 'longer than 253 characters'}`)
  for (const label of name.split('.')) {
    if (label === '') throw new WeftError('ERR_NAME_INVALID', `"${text.slice(0, 80)}" has an empty label`)
    if (Buffer.byteLength(label) > 63) throw new WeftError('ERR_NAME_INVALID', `"${label.slice(0, 20)}…" is a label over 63 bytes`)
    if (!LABEL.test(label)) throw new WeftError('ERR_NAME_INVALID', `"${label.slice(0, 63)}" has characters a name cannot have (a-z, 0-9, - and _ only)`)
  }
  return name
}

/**
 * A resolver's value as weft uses it: `/ipfs/<cid>[/path]`, `/ipns/<key or name>[/path]`.
 * ERR_CONTENTHASH_INVALID when it is neither.
 */
export function parseValue (text: string, from: string): { namespace: 'ipfs' | 'ipns', id: string, rest: string } {
  const m = /^\/(ipfs|ipns)\/([^/\s]+)(\/[^\s]*)?$/.exec(text.trim())
  // quoted as JSON: the text comes from a chain or DNS, and a newline in it must not become a line of output
  if (m === null) throw new WeftError('ERR_CONTENTHASH_INVALID', `${from} points to ${JSON.stringify(text.slice(0, 120))}, which is not /ipfs/<cid> or /ipns/<name>`)
  const [, namespace, id, rest = ''] = m
  if (namespace === 'ipfs') {
    try {
      CID.parse(id)
    } catch {
      throw new WeftError('ERR_CONTENTHASH_INVALID', `${from} points to /ipfs/${id.slice(0, 80)}, which is not a valid CID`)
    }
  }
  return { namespace: namespace as 'ipfs' | 'ipns', id, rest }
}
