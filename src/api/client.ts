import { readFile } from 'node:fs/promises'
import { request as httpRequest, type IncomingMessage } from 'node:http'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { join } from 'node:path'
import { WeftError, ERROR_CODES, type ErrorCode } from '../errors.ts'
import type { PinType } from '../blocks/index.ts'
import type { AddOptions, NetworkOptions, Operations, Progress, PublishOptions, ResolveOptions } from './operations.ts'

/** What the CLI can ask of weft, whether the node is in this process or in the daemon. */
export type WeftApi = Pick<Operations, 'id' | 'peers' | 'connect' | 'add' | 'fetch' | 'cat' | 'get' | 'ls' | 'pinAdd' | 'pinRm' | 'pinLs' | 'gc' | 'repoStat' | 'repoVerify' | 'configGet' | 'configSet' | 'carExport' | 'carImport' |
'siteCreate' | 'siteList' | 'siteExportKey' | 'siteImportKey' | 'siteInfo' | 'publish' | 'resolve' | 'follow' | 'unfollow' | 'following' | 'replicate' | 'replicas' |
'nameSet' | 'nameRm' | 'nameLs' | 'nameResolve' | 'userId' | 'userExportKey' | 'userImportKey' | 'userRecoveryPhrase' | 'userRecover' | 'userLinkIssue' | 'userLinkAccept' | 'userWrite' | 'userRm' | 'userList' | 'userCat' |
'privatePut' | 'privateGet' | 'privateLs' | 'privateRm' | 'privateShare' | 'privateUnshare' | 'privateShared' | 'privateSharedLs' | 'privateSharedGet' | 'messageSend' | 'messageList'>

type Result<K extends keyof Operations> = Operations[K] extends (...args: any[]) => Promise<infer R> ? R : never

function toError (body: { code?: string, message?: string }, status: number): WeftError {
  const code = (body.code !== undefined && body.code in ERROR_CODES ? body.code : 'ERR_INTERNAL') as ErrorCode
  return new WeftError(code, body.message ?? `the daemon answered ${status}`)
}

/** Statuses whose answer has no body (a Response refuses one). */
const NO_BODY = new Set([101, 204, 205, 304])

/**
 * One POST over node:http, handed back as a web Response. Not fetch(): its first call
 * costs a command 40–100 ms (undici's HTTP parser is WebAssembly, compiled on first use),
 * which is most of what `weft id` through a daemon takes (bench cli).
 */
async function post (url: string, headers: Record<string, string>, body: string | Uint8Array | AsyncIterable<Uint8Array>): Promise<Response> {
  return await new Promise<Response>((resolve, reject) => {
    const req = httpRequest(url, { method: 'POST', headers }, (res: IncomingMessage) => {
      const answer = new Headers()
      for (let i = 0; i < res.rawHeaders.length; i += 2) answer.append(res.rawHeaders[i], res.rawHeaders[i + 1])
      const status = res.statusCode ?? 500
      if (NO_BODY.has(status)) res.resume()
      resolve(new Response(NO_BODY.has(status) ? null : Readable.toWeb(res) as ReadableStream<Uint8Array>, { status, headers: answer }))
    })
    req.once('error', reject)
    if (typeof body === 'string' || body instanceof Uint8Array) {
      // The length goes first, so the daemon refuses what is too large before reading it.
      req.setHeader('content-length', typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength)
      req.end(body)
    }
    // A daemon that refuses a body may answer and close before it has all of it: the
    // answer (already resolved) says why, so the broken upload is not the error.
    else pipeline(Readable.from(body), req).catch(reject)
  })
}

/** The daemon's address and token, if one has written them into this home. */
export async function readApiEndpoint (home: string): Promise<{ url: string, token: string } | undefined> {
  try {
    const url = (await readFile(join(home, 'api'), 'utf8')).trim()
    const token = (await readFile(join(home, 'api.token'), 'utf8')).trim()
    return { url, token }
  } catch {
    return undefined
  }
}

/** Talks to a running daemon over its control API (docs/api.md). */
export class ApiClient implements WeftApi {
  private readonly url: string
  private readonly token: string

  constructor (url: string, token: string) {
    this.url = url
    this.token = token
  }

  private async request (route: string, body?: unknown, init: { raw?: Uint8Array | AsyncIterable<Uint8Array>, query?: string } = {}): Promise<Response> {
    let response: Response
    try {
      response = await post(`${this.url}/api/weft/v1/${route}${init.query ?? ''}`, {
        authorization: `Bearer ${this.token}`,
        'content-type': init.raw !== undefined ? 'application/octet-stream' : 'application/json'
      }, init.raw ?? JSON.stringify(body ?? {}))
    } catch (err) {
      throw new WeftError('ERR_API_UNREACHABLE', `the daemon at ${this.url} did not answer: ${(err as Error).message}`)
    }
    if (!response.ok) throw toError(await response.json().catch(() => ({})) as { code?: string, message?: string }, response.status)
    return response
  }

  private async json<T> (route: string, body?: unknown): Promise<T> {
    return await (await this.request(route, body)).json() as T
  }

  private async * bytes (route: string, body: unknown): AsyncGenerator<Uint8Array> {
    const response = await this.request(route, body)
    try {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) yield chunk
    } catch (err) {
      throw new WeftError('ERR_API_UNREACHABLE', `the daemon stopped in the middle of ${route}: ${(err as Error).message}`)
    }
  }

  private async progress<T> (route: string, body: unknown, onProgress?: (e: Progress) => void): Promise<T> {
    const response = await this.request(route, body)
    let buffered = ''
    const decoder = new TextDecoder()
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      buffered += decoder.decode(chunk, { stream: true })
      let newline
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = JSON.parse(buffered.slice(0, newline)) as { progress?: Progress, result?: T, error?: { code: string, message: string } }
        buffered = buffered.slice(newline + 1)
        if (line.progress !== undefined) onProgress?.(line.progress)
        if (line.error !== undefined) throw toError(line.error, 500)
        if ('result' in line) return line.result as T
      }
    }
    throw new WeftError('ERR_API_UNREACHABLE', `the daemon stopped in the middle of ${route}`)
  }

  async id () { return await this.json<{ id: string, addresses: string[] }>('id') }
  async peers () { return await this.json<Awaited<ReturnType<Operations['peers']>>>('peers') }
  async connect (address: string) { return await this.json<{ id: string }>('connect', { address }) }
  async add (paths: string[], options: AddOptions, onProgress?: (e: Progress) => void) {
    return await this.progress<Awaited<ReturnType<Operations['add']>>>('add', { paths, options }, onProgress)
  }

  async fetch (path: string, options: NetworkOptions, onProgress?: (e: Progress) => void) {
    return await this.progress<{ cid: string }>('fetch', { path, ...options }, onProgress)
  }

  cat (path: string, options: NetworkOptions & { offset?: number, length?: number }) { return this.bytes('cat', { path, ...options }) }
  async get (path: string, output: string, options: NetworkOptions, onProgress?: (e: Progress) => void) {
    return await this.progress<{ bytes: number }>('get', { path, output, ...options }, onProgress)
  }

  async ls (path: string, options: NetworkOptions) { return await this.json<Awaited<ReturnType<Operations['ls']>>>('ls', { path, ...options }) }
  async pinAdd (args: string[], direct: boolean, options: NetworkOptions = {}) { return await this.json<Array<{ cid: string, type: PinType }>>('pin/add', { args, direct, ...options }) }
  async pinRm (args: string[]) { return await this.json<Array<{ cid: string }>>('pin/rm', { args }) }
  async pinLs (type?: PinType) { return await this.json<Awaited<ReturnType<Operations['pinLs']>>>('pin/ls', { type }) }
  async gc () { return await this.json<Awaited<ReturnType<Operations['gc']>>>('gc') }
  async repoStat () { return await this.json<Awaited<ReturnType<Operations['repoStat']>>>('repo/stat') }
  async repoVerify (options: { repair?: boolean } = {}) { return await this.json<Awaited<ReturnType<Operations['repoVerify']>>>('repo/verify', options) }
  async configGet (key?: string) { return await this.json<unknown>('config/get', { key }) }
  async configSet (key: string, json: string) { return await this.json<{ value: unknown, note?: string }>('config/set', { key, json }) }
  carExport (path: string, options: NetworkOptions) { return this.bytes('car/export', { path, ...options }) }
  async carImport (source: AsyncIterable<Uint8Array>, pin: boolean) {
    return await (await this.request('car/import', undefined, { raw: source, query: `?pin=${pin}` })).json() as Awaited<ReturnType<Operations['carImport']>>
  }

  async siteCreate (label: string) { return await this.json<Result<'siteCreate'>>('site/create', { label }) }
  async siteList () { return await this.json<Result<'siteList'>>('site/list') }
  async siteExportKey (label: string, passphrase: string) { return await this.json<Result<'siteExportKey'>>('site/export-key', { label, passphrase }) }
  async siteImportKey (key: string, passphrase: string, label?: string) { return await this.json<Result<'siteImportKey'>>('site/import-key', { key, passphrase, label }) }
  async siteInfo (name: string) { return await this.json<Result<'siteInfo'>>('site/info', { name }) }
  async publish (path: string, options: PublishOptions, onProgress?: (e: Progress) => void) {
    return await this.progress<Result<'publish'>>('publish', { path, site: options.site, options }, onProgress)
  }

  async resolve (name: string, options: ResolveOptions) { return await this.json<Result<'resolve'>>('resolve', { name, ...options }) }
  async follow (name: string, keep?: number) { return await this.json<Result<'follow'>>('follow', { name, keep }) }
  async unfollow (name: string) { return await this.json<Result<'unfollow'>>('unfollow', { name }) }
  async following () { return await this.json<Result<'following'>>('following') }
  async replicate (target: string, options: { copies?: number, keep?: number } = {}) { return await this.json<Result<'replicate'>>('replicate', { target, ...options }) }
  async replicas (target?: string) { return await this.json<Result<'replicas'>>('replicas', { target }) }
  async nameSet (name: string, value: string) { return await this.json<Result<'nameSet'>>('name/set', { name, value }) }
  async nameRm (name: string) { await this.json<null>('name/rm', { name }) }
  async nameLs () { return await this.json<Result<'nameLs'>>('name/ls') }
  async nameResolve (name: string, options: { timeout?: number, fresh?: boolean } = {}) { return await this.json<Result<'nameResolve'>>('name/resolve', { name, ...options }) }
  async userId (site: string) { return await this.json<Result<'userId'>>('user/id', { site }) }
  async userExportKey (passphrase: string) { return await this.json<Result<'userExportKey'>>('user/export-key', { passphrase }) }
  async userImportKey (key: string, passphrase: string, force: boolean) { return await this.json<Result<'userImportKey'>>('user/import-key', { key, passphrase, force }) }
  async userLinkIssue (addresses: boolean) { return await this.json<Result<'userLinkIssue'>>('user/link', { addresses }) }
  async userLinkAccept (code: string, force: boolean) { return await this.json<Result<'userLinkAccept'>>('user/link-accept', { code, force }) }
  async userRecoveryPhrase () { return await this.json<Result<'userRecoveryPhrase'>>('user/recovery-phrase') }
  async userRecover (phrase: string, force: boolean) { return await this.json<Result<'userRecover'>>('user/recover', { phrase, force }) }
  async userWrite (site: string, file: string, bytes: Uint8Array | undefined) {
    // removing goes by its own route: an empty body is an empty file
    if (bytes === undefined) return await this.userRm(site, file)
    const query = `?${new URLSearchParams({ site, file }).toString()}`
    return await (await this.request('user/write', undefined, { raw: bytes, query })).json() as Result<'userWrite'>
  }

  async userRm (site: string, file: string) { return await this.json<Result<'userRm'>>('user/rm', { site, file }) }
  async userList (site: string) { return await this.json<Result<'userList'>>('user/list', { site }) }
  userCat (site: string, user: string, file: string) { return this.bytes('user/cat', { site, user, file }) }
  async privatePut (site: string, path: string, bytes: Uint8Array) {
    const query = `?${new URLSearchParams({ site, path }).toString()}`
    return await (await this.request('private/put', undefined, { raw: bytes, query })).json() as Result<'privatePut'>
  }

  privateGet (site: string, path: string) { return this.bytes('private/get', { site, path }) }
  async privateLs (site: string) { return await this.json<Result<'privateLs'>>('private/ls', { site }) }
  async privateRm (site: string, path: string) { return await this.json<Result<'privateRm'>>('private/rm', { site, path }) }
  async privateShare (site: string, folder: string, to: string) { return await this.json<Result<'privateShare'>>('private/share', { site, folder, to }) }
  async privateUnshare (site: string, folder: string, to: string) { return await this.json<Result<'privateUnshare'>>('private/unshare', { site, folder, to }) }
  async privateShared (site: string) { return await this.json<Result<'privateShared'>>('private/shared', { site }) }
  async privateSharedLs (site: string, from: string, folder: string) { return await this.json<Result<'privateSharedLs'>>('private/shared-ls', { site, from, folder }) }
  privateSharedGet (site: string, from: string, folder: string, path: string) { return this.bytes('private/shared-get', { site, from, folder, path }) }
  async messageSend (site: string, to: string, body: Uint8Array) {
    const query = `?${new URLSearchParams({ site, to }).toString()}`
    return await (await this.request('message/send', undefined, { raw: body, query })).json() as Result<'messageSend'>
  }

  async messageList (site: string) { return await this.json<Result<'messageList'>>('message/ls', { site }) }
}
