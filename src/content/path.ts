/**
 * What a person types for content: `<cid>`, `<cid>/a/b` or `/ipfs/<cid>/a/b`. Apart from
 * the exporter so the CLI can check an argument without loading it.
 */
import { CID } from 'multiformats/cid'
import { WeftError } from '../errors.ts'

export interface ContentPath {
  cid: CID
  /** Segments below the root, already split. */
  segments: string[]
  /** `<cid>/a/b`, as the exporter takes it. */
  text: string
}

/** `./x`, `../x`, `~/x`, `.` or `/home/x`: what a person types for a file on their disk. */
const LOCAL_PATH = /^(\.{1,2}|~)(\/|$)|^\/(?!ipfs(\/|$)|ipns(\/|$))/

/** Parses `<cid>`, `<cid>/a/b` or `/ipfs/<cid>/a/b`. */
export function parseContentPath (arg: string): ContentPath {
  if (LOCAL_PATH.test(arg.trim())) {
    throw new WeftError('ERR_INVALID_CID', `"${arg}" looks like a local path, not a CID: \`weft add ${arg}\` stores it and prints its CID`)
  }
  let rest = arg.trim()
  if (rest.startsWith('/ipfs/')) rest = rest.slice('/ipfs/'.length)
  else if (rest.startsWith('ipfs://')) rest = rest.slice('ipfs://'.length)
  const [first, ...segments] = rest.split('/')
  let cid: CID
  try {
    cid = CID.parse(first)
  } catch {
    throw new WeftError('ERR_INVALID_CID', `"${first}" is not a valid CID`)
  }
  const clean = segments.filter(s => s !== '').map(s => {
    try {
      return decodeURIComponent(s)
    } catch {
      return s
    }
  })
  return { cid, segments: clean, text: [cid.toString(), ...clean].join('/') }
}
