/**
 * kubo's content commands: add, cat, ls, block get/put/stat, dag export/import. Files
 * come as multipart parts whose filenames carry their paths (URI-encoded), as
 * kubo-rpc-client and `curl -F` send them.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { WeftError } from '../../errors.ts'
import { parseContentPath } from '../../content/index.ts'
// the gateway's `?format=tar` writer: one tar format for both surfaces
import { tarEntries, tarStream } from '../../gateway/tar.ts'
import type { Operations } from '../operations.ts'
import { streamBody } from '../../http/index.ts'
import { args, flag, integer, json, ndjson, network, type KuboCall, type KuboCommand } from './request.ts'

/** The multipart parts of a request, as (path, file) in the order sent. */
async function parts (call: KuboCall): Promise<Array<{ path: string, file: File, dir: boolean }>> {
  const type = call.request.headers.get('content-type') ?? ''
  if (!type.startsWith('multipart/form-data')) throw new WeftError('ERR_USAGE', 'the files must come as a multipart/form-data body')
  let form: FormData
  try {
    form = await call.request.formData()
  } catch (err) {
    throw new WeftError('ERR_USAGE', `the multipart body cannot be read: ${(err as Error).message}`)
  }
  const out = []
  for (const [, value] of form) {
    if (typeof value === 'string') continue
    let path: string
    try {
      path = decodeURIComponent(value.name)
    } catch {
      throw new WeftError('ERR_USAGE', `the part name "${value.name.slice(0, 100)}" is not URI-encoded`)
    }
    out.push({ path, file: value, dir: value.type === 'application/x-directory' })
  }
  return out
}

/** Segments of a part's relative path; `..`, `.` and empty segments are refused (they would leave the upload). */
function segments (path: string): string[] {
  const list = path.replace(/^\/+|\/+$/g, '').split('/')
  if (list.some(s => s === '' || s === '.' || s === '..')) throw new WeftError('ERR_USAGE', `the part path "${path.slice(0, 200)}" has an empty, . or .. segment`)
  return list
}

/**
 * Options kubo has and weft's importer cannot honour are refused, not ignored, so a CID
 * never silently differs from what the caller asked for. weft imports with the IPIP-499
 * `unixfs-v1-2025` profile: CIDv1, raw leaves, 1 MiB chunks, sha2-256.
 */
function assertImportOptions (call: KuboCall): void {
  const q = call.query
  const refuse = (what: string): never => { throw new WeftError('ERR_USAGE', `weft imports with the unixfs-v1-2025 profile (CIDv1, raw leaves, 1 MiB chunks, sha2-256) and cannot honour ${what}`) }
  const version = q.get('cid-version')
  if (version !== null && version !== '1') refuse(`cid-version=${version.slice(0, 20)} (CIDv0 needs dag-pb leaves and 256 KiB chunks)`)
  if (!flag(call, 'raw-leaves', true)) refuse('raw-leaves=false')
  const chunker = q.get('chunker')
  if (chunker !== null && chunker !== 'size-1048576') refuse(`chunker=${chunker.slice(0, 40)}`)
  const hash = q.get('hash')
  if (hash !== null && hash !== 'sha2-256') refuse(`hash=${hash.slice(0, 40)}`)
  if (flag(call, 'trickle', false)) refuse('trickle=true')
  if (flag(call, 'wrap-with-directory', false)) refuse('wrap-with-directory=true')
  if (flag(call, 'only-hash', false)) refuse('only-hash=true')
  if (flag(call, 'nocopy', false)) refuse('nocopy=true')
  if (flag(call, 'inline', false)) refuse('inline=true')
}

/**
 * `add`: the parts are written under `$WEFT_HOME/tmp` as the files and folders they name,
 * then added by weft's own add, so the CIDs are those `weft add` gives the same files.
 * The body is read whole before the import starts.
 */
const add: KuboCommand = async (ops, call) => {
  assertImportOptions(call)
  const pin = flag(call, 'pin', true)
  const quieter = flag(call, 'quieter', false)
  const received = await parts(call)
  if (received.length === 0) throw new WeftError('ERR_USAGE', 'add needs at least one file part')
  const tmp = join(ops.node.repo.paths.home, 'tmp')
  await mkdir(tmp, { recursive: true, mode: 0o700 })
  const dir = await mkdtemp(join(tmp, 'kubo-add-'))
  try {
    const tops: string[] = []
    // a part without a name (kubo-rpc-client's add of bare bytes) is reported under its CID, as kubo does
    const unnamed = new Set<string>()
    for (const [i, part] of received.entries()) {
      const list = part.path === '' ? [`unnamed-${i}`] : segments(part.path)
      if (part.path === '') unnamed.add(list[0])
      if (!tops.includes(list[0])) tops.push(list[0])
      const target = join(dir, ...list)
      if (part.dir) {
        await mkdir(target, { recursive: true })
      } else {
        await mkdir(dirname(target), { recursive: true })
        await writeFile(target, part.file.stream() as unknown as AsyncIterable<Uint8Array>)
      }
    }
    // the caller chose every part, hidden names included
    const report = await ops.add(tops.map(t => join(dir, t)), { pin, hidden: true })
    const lines = (quieter ? report.roots.map(r => ({ path: r.path, cid: r.cid, size: r.size })) : report.entries)
      .map(e => {
        const name = e.path.startsWith(dir) ? e.path.slice(dir.length + 1) : e.path
        return { Name: unnamed.has(name) ? e.cid : name, Hash: e.cid, Size: String(e.size) }
      })
    return await ndjson((async function * () { yield * lines })())
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

const cat: KuboCommand = async (ops, call) => {
  const [path] = args(call)
  const source = ops.cat(path, { ...network(call), offset: integer(call, 'offset'), length: integer(call, 'length') })
  return new Response(await streamBody(source), { headers: { 'content-type': 'text/plain', 'x-stream-output': '1' } })
}

/**
 * `get`: the file or folder as a tar whose entries sit under the arg's last path segment
 * (the CID for a bare CID), as kubo names them. The DAG is made local first.
 */
const get: KuboCommand = async (ops, call) => {
  const [arg] = args(call)
  if (flag(call, 'compress', false) || call.query.get('compression-level') !== null) throw new WeftError('ERR_USAGE', 'weft answers get as a plain tar: compress is not supported')
  const options = network(call)
  const { cid } = await ops.fetch(arg, options)
  const listed = await ops.ls(cid, { offline: true })
  const isFile = listed.length === 1 && listed[0].type === 'file' && listed[0].cid === cid
  const name = arg.replace(/\/+$/, '').split('/').at(-1) ?? cid
  const root = { cid: parseContentPath(cid).cid, type: isFile ? 'file' as const : 'directory' as const, size: isFile ? listed[0].size : 0 }
  const entries = await tarEntries(ops.node.blocks, root, name, { signal: call.request.signal })
  return new Response(await streamBody(tarStream(ops.node.blocks, entries)), { headers: { 'content-type': 'application/x-tar', 'x-stream-output': '1' } })
}

/** UnixFS type numbers kubo's ls answers with. */
const UNIXFS_TYPE = { directory: 1, file: 2 } as const

const ls: KuboCommand = async (ops, call) => {
  const objects = []
  for (const path of args(call)) {
    const entries = await ops.ls(path, network(call))
    // weft's ls answers a file with the file itself, named by the path's last segment (a
    // folder holding one file of its own name reads the same; such a folder lists as a file)
    const last = path.replace(/\/+$/, '').split('/').at(-1)
    const isFile = entries.length === 1 && entries[0].type === 'file' && entries[0].name === last
    // a file is answered under its CID (kubo gives the path, and kubo-rpc-client then asks files/stat for the CID)
    objects.push(isFile
      ? { Hash: entries[0].cid, Name: entries[0].name, Size: entries[0].size, Type: UNIXFS_TYPE.file, Links: [] }
      : { Hash: path, Links: entries.map(e => ({ Name: e.name, Hash: e.cid, Size: e.size, Type: UNIXFS_TYPE[e.type], Target: '' })) })
  }
  return json({ Objects: objects })
}

function parseCid (arg: string): CID {
  const path = parseContentPath(arg)
  if (path.segments.length > 0) throw new WeftError('ERR_INVALID_CID', `${arg.slice(0, 200)}: a block is named by a CID, not a path inside one`)
  return path.cid
}

/** A block from the store, fetched from peers first if the node lacks it (and may ask). */
async function block (ops: Operations, call: KuboCall, cid: CID): Promise<Uint8Array> {
  const { offline, timeout } = network(call)
  const exchange = ops.node.exchange
  if (!ops.node.blocks.has(cid) && exchange !== undefined && offline !== true) {
    await exchange.fetch(cid, { recursive: false, signal: timeout === undefined ? undefined : AbortSignal.timeout(timeout) })
  }
  return await ops.node.blocks.get(cid)
}

const blockGet: KuboCommand = async (ops, call) => {
  const bytes = await block(ops, call, parseCid(args(call)[0]))
  return new Response(bytes as Uint8Array<ArrayBuffer>, { headers: { 'content-type': 'text/plain', 'x-stream-output': '1' } })
}

const blockStat: KuboCommand = async (ops, call) => {
  const cid = parseCid(args(call)[0])
  const bytes = await block(ops, call, cid)
  return json({ Key: cid.toString(), Size: bytes.byteLength })
}

/** Codecs a block may be put with (kubo's `cid-codec`, or the older `format`). */
const CODECS: Record<string, number> = { raw: 0x55, 'dag-pb': 0x70, protobuf: 0x70, 'dag-cbor': 0x71, cbor: 0x71, 'dag-json': 0x0129 }

const blockPut: KuboCommand = async (ops, call) => {
  const codecName = call.query.get('cid-codec') ?? call.query.get('format') ?? 'raw'
  const codec = CODECS[codecName]
  if (codec === undefined) throw new WeftError('ERR_UNSUPPORTED_CODEC', `weft stores blocks of the codecs ${Object.keys(CODECS).join(', ')}, not ${codecName.slice(0, 40)}`)
  const mhtype = call.query.get('mhtype')
  if (mhtype !== null && mhtype !== 'sha2-256') throw new WeftError('ERR_UNSUPPORTED_HASH', `weft hashes blocks with sha2-256, not ${mhtype.slice(0, 40)}`)
  const pin = flag(call, 'pin', false)
  const received = await parts(call)
  if (received.length !== 1) throw new WeftError('ERR_USAGE', `block/put takes one file part, not ${received.length}`)
  const bytes = new Uint8Array(await received[0].file.arrayBuffer())
  const cid = CID.createV1(codec, await sha256.digest(bytes))
  await ops.node.blocks.put(cid, bytes)
  await ops.node.blocks.flush()
  if (pin) await ops.node.blocks.pin(cid, 'direct')
  return json({ Key: cid.toString(), Size: bytes.byteLength })
}

const dagExport: KuboCommand = async (ops, call) => {
  const source = ops.carExport(args(call)[0], network(call))
  return new Response(await streamBody(source), { headers: { 'content-type': 'application/vnd.ipld.car', 'x-stream-output': '1' } })
}

/** Each file part is a CAR; with `pin-roots` (the default) its roots are pinned and reported, as kubo does. */
const dagImport: KuboCommand = async (ops, call) => {
  const pin = flag(call, 'pin-roots', true)
  const received = await parts(call)
  if (received.length === 0) throw new WeftError('ERR_USAGE', 'dag/import needs at least one CAR file part')
  const roots: string[] = []
  for (const part of received) {
    const result = await ops.carImport(part.file.stream() as unknown as AsyncIterable<Uint8Array>, pin)
    roots.push(...result.roots)
  }
  const lines = pin ? roots.map(cid => ({ Root: { Cid: { '/': cid }, PinErrorMsg: '' } })) : []
  if (lines.length === 0) return new Response('', { headers: { 'content-type': 'application/json', 'x-chunked-output': '1' } })
  return await ndjson((async function * () { yield * lines })())
}

export const CONTENT_COMMANDS: Record<string, KuboCommand> = {
  add,
  cat,
  get,
  ls,
  'block/get': blockGet,
  'block/put': blockPut,
  'block/stat': blockStat,
  'dag/export': dagExport,
  'dag/import': dagImport
}
