/**
 * The gateway conformance port's harness: a weft node's gateway listening on 127.0.0.1,
 * the suite's fixture CARs put into its store, and an HTTP client that reports a reply
 * cut short instead of hiding it.
 *
 * Expected CIDs are found by walking the CAR's own blocks with @ipld/dag-pb and ipfs-unixfs
 * here (not with weft's resolver), as the suite finds them with boxo.
 */
import { request as httpRequest } from 'node:http'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import { CarBlockIterator } from '@ipld/car'
import * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import { CID } from 'multiformats/cid'
import { listen } from '../../../src/http/index.ts'
import { createNode, type WeftNode } from '../../../src/node/index.ts'
import { nodeGateway } from '../../../src/daemon/index.ts'
import { tmpHome } from '../../helpers/home.ts'

const FIXTURES = join(import.meta.dirname, '..', '..', 'fixtures', 'gateway-conformance')

export interface Reply {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: Buffer
  /** Set when the connection ended without a complete reply (no status, or a body cut short). */
  error?: string
  header: (name: string) => string | undefined
}

export interface Gateway {
  node: WeftNode
  port: number
  /** `127.0.0.1:<port>`: the path gateway, served in place to a client that is not a browser. */
  host: string
  request: (path: string, options?: { host?: string, headers?: Record<string, string>, method?: string }) => Promise<Reply>
}

export async function startGateway (t: TestContext, configOverrides?: Parameters<typeof createNode>[0]['configOverrides']): Promise<Gateway> {
  const node = await createNode({ home: await tmpHome(t), configOverrides })
  const { server, port } = await listen(nodeGateway(node), '127.0.0.1', 0)
  t.after(async () => {
    await new Promise<void>(resolve => { server.close(() => { resolve() }); server.closeAllConnections() })
    await node.stop()
  })
  const host = `127.0.0.1:${port}`
  const request: Gateway['request'] = async (path, options = {}) => await new Promise(resolve => {
    const chunks: Buffer[] = []
    let status = 0
    let headers: Reply['headers'] = {}
    const done = (error?: string): void => {
      const body = Buffer.concat(chunks)
      resolve({ status, headers, body, error, header: name => { const v = headers[name.toLowerCase()]; return Array.isArray(v) ? v.join(', ') : v } })
    }
    const req = httpRequest({ host: '127.0.0.1', port, path, method: options.method ?? 'GET', headers: { host: options.host ?? host, ...options.headers }, agent: false }, res => {
      status = res.statusCode ?? 0
      headers = res.headers
      res.on('data', (c: Buffer) => chunks.push(c))
      res.once('end', () => { done(res.complete ? undefined : 'the body was cut short') })
      res.once('error', err => { done(err.message) })
    })
    req.once('error', err => { done(err.message) })
    req.end()
  })
  return { node, port, host, request }
}

export interface Fixture {
  roots: CID[]
  blocks: Map<string, Uint8Array>
  /** The root (or the CAR's single root) followed by UnixFS path segments. */
  cid: (...path: string[]) => Promise<CID>
  /** The CIDs visited resolving the path from the root, root first (HAMT shards on the way included, as the suite's MustGetCIDsInHAMTTraversal). */
  pathCids: (...path: string[]) => Promise<CID[]>
  /** The raw block of the CID at a path. */
  bytes: (...path: string[]) => Promise<Uint8Array>
  /** Every block under the CID at a path, depth first, the CID itself excluded (the suite's MustGetDescendantsCids). */
  descendants: (...path: string[]) => Promise<CID[]>
  /** A UnixFS file's bytes (the suite's ReadFile). */
  content: (...path: string[]) => Promise<Buffer>
  /** A sharded folder's shard blocks below its root, depth first (the suite's MustGetCidsInHAMT). */
  shards: (...path: string[]) => Promise<CID[]>
}

/** Reads a fixture CAR; with a node, puts its blocks into the node's store. */
export async function loadFixture (name: string, node?: WeftNode): Promise<Fixture> {
  const iterator = await CarBlockIterator.fromBytes(await readFile(join(FIXTURES, name)))
  const roots = (await iterator.getRoots()).map(r => CID.asCID(r) ?? CID.parse(r.toString()))
  const blocks = new Map<string, Uint8Array>()
  for await (const { cid, bytes } of iterator) {
    blocks.set(cid.toString(), bytes)
    if (node !== undefined) await node.blocks.put(CID.parse(cid.toString()), bytes)
  }
  await node?.blocks.flush()
  const pbNode = (c: CID): dagPb.PBNode => {
    const b = blocks.get(c.toString())
    if (b === undefined) throw new Error(`${c} is not in ${name}`)
    return dagPb.decode(b)
  }
  const isShard = (n: dagPb.PBNode): boolean => n.Data !== undefined && UnixFS.unmarshal(n.Data).type === 'hamt-sharded-directory'
  /** A shard's entries are named by a hash prefix (two hex digits at fanout 256) and then the name; sub-shards by the prefix alone. */
  const findInShard = (shard: CID, entry: string): { cid: CID, via: CID[] } | undefined => {
    for (const link of pbNode(shard).Links) {
      const linkName = link.Name ?? ''
      if (linkName.length === 2) {
        const found = findInShard(link.Hash, entry)
        if (found !== undefined) return { cid: found.cid, via: [link.Hash, ...found.via] }
      } else if (linkName.slice(2) === entry) {
        return { cid: link.Hash, via: [] }
      }
    }
    return undefined
  }
  const root = roots[0]
  const pathCids = async (...path: string[]): Promise<CID[]> => {
    const out: CID[] = [root]
    let at = root
    for (const segment of path) {
      const n = pbNode(at)
      let next: CID | undefined
      if (isShard(n)) {
        const found = findInShard(at, segment)
        out.push(...found?.via ?? [])
        next = found?.cid
      } else {
        next = n.Links.find(l => l.Name === segment)?.Hash
      }
      if (next === undefined) throw new Error(`${segment} is not in ${name}`)
      out.push(next)
      at = next
    }
    return out
  }
  const shards = async (...path: string[]): Promise<CID[]> => {
    const out: CID[] = []
    const walk = (c: CID): void => {
      for (const link of pbNode(c).Links) {
        if ((link.Name ?? '').length === 2) { out.push(link.Hash); walk(link.Hash) }
      }
    }
    walk(await cid(...path))
    return out
  }
  const cid = async (...path: string[]): Promise<CID> => (await pathCids(...path)).at(-1) as CID
  const descendants = async (...path: string[]): Promise<CID[]> => {
    const out: CID[] = []
    const walk = (c: CID): void => {
      if (c.code !== dagPb.code) return
      for (const link of dagPb.decode(blocks.get(c.toString()) as Uint8Array).Links) {
        out.push(link.Hash)
        if (blocks.has(link.Hash.toString())) walk(link.Hash)
      }
    }
    walk(await cid(...path))
    return out
  }
  return {
    roots,
    blocks,
    cid,
    pathCids,
    bytes: async (...path) => blocks.get((await cid(...path)).toString()) as Uint8Array,
    descendants,
    shards,
    content: async (...path) => {
      const read = (c: CID): Buffer[] => {
        const b = blocks.get(c.toString()) as Uint8Array
        if (c.code !== dagPb.code) return [Buffer.from(b)]
        const n = dagPb.decode(b)
        const data = n.Data === undefined ? undefined : UnixFS.unmarshal(n.Data).data
        return [Buffer.from(data ?? new Uint8Array()), ...n.Links.flatMap(l => read(l.Hash))]
      }
      return Buffer.concat(read(await cid(...path)))
    }
  }
}

/** The CIDs of a CAR body's blocks, in order (the suite's IsCar().HasBlocks().Exactly().InThatOrder()). */
export async function carBlocks (body: Uint8Array): Promise<{ roots: string[], blocks: string[] }> {
  const iterator = await CarBlockIterator.fromBytes(body)
  const roots = (await iterator.getRoots()).map(String)
  const blocks: string[] = []
  for await (const { cid } of iterator) blocks.push(cid.toString())
  return { roots, blocks }
}

/** CIDs compared by multihash and codec, whatever their version and base (the suite compares CIDs so). */
export function cidKeys (cids: Array<CID | string>): string[] {
  return cids.map(c => { const cid = typeof c === 'string' ? CID.parse(c) : c; return `${cid.code}:${cid.toV1().toString()}` })
}
