/**
 * One weft node of the `gateway` benchmark, in a process of its own, so the load
 * generator, nginx and weft never share a JavaScript thread:
 *
 *   gateway-node.ts visitor <home> <folder> [noverify]
 *                                             `startDaemon` (gateway and API on 127.0.0.1,
 *                                             free ports), <folder> added and pinned;
 *                                             `noverify`: blocks read unhashed (verifyReads off)
 *   gateway-node.ts publisher <home>          an online node that publishes sites on request
 *   gateway-node.ts bare <folder>             no weft at all: node:http answering the folder's
 *                                             files from memory with the gateway's headers, the
 *                                             ceiling for any server in one Node process
 *
 * Both are on a private network of their own on 127.0.0.1, with no bootstrap peers, mDNS,
 * republish, poll or reprovide schedule. When ready the process prints one JSON line
 * (`Ready`), then answers each JSON command on stdin (one a line) with one JSON line:
 *
 *   { "op": "dial", "address": "<multiaddr>" }                → { "ok": true }
 *   { "op": "publish", "label": "<l>", "folder": "<path>" }    → `Published` (publisher)
 *
 * A failure is `{ "error": "<message>" }`. When stdin closes, or on SIGTERM/SIGINT, the
 * node stops and the process exits 0 (so a `--cpu-prof` profile gets written).
 */
import { createInterface } from 'node:readline'
import { multiaddr } from '@multiformats/multiaddr'
import { CID } from 'multiformats/cid'
import { importPath } from '../src/content/index.ts'
import { subdomainCid, subdomainName } from '../src/gateway/index.ts'
import { createNode, type CreateNodeOptions, type WeftNode } from '../src/node/index.ts'
import { startDaemon, type Daemon } from '../src/node/daemon.ts'

export interface Ready {
  /** The node's first listen address, for the other node to dial. */
  address: string
  /** The visitor's gateway, `http://127.0.0.1:<port>`. */
  gatewayUrl?: string
  /** The visitor's folder: its root CID as a subdomain label (CIDv1, base32). */
  root?: string
  /** The visitor's process id, for profiling. */
  pid: number
}

export interface Published {
  /** The site's IPNS name as a subdomain label (`k51…`). */
  name: string
  root: string
  sequence: string
  announced: boolean
  /** import + create + publish, ms. */
  ms: number
}

export type Command = { op: 'dial', address: string } | { op: 'publish', label: string, folder: string }

const NODE_OPTIONS = (home: string): CreateNodeOptions => ({
  home,
  online: true,
  reprovideInterval: 0,
  net: { listen: ['/ip4/127.0.0.1/tcp/0'], network: { name: 'bench-gateway' }, bootstrap: [], mdns: false },
  sites: { republishInterval: 0, pollInterval: 0 }
})

async function addPinned (node: WeftNode, folder: string): Promise<CID> {
  const result = await importPath(node.blocks, folder)
  await node.blocks.pin(result.root.cid, 'recursive')
  await node.blocks.flush()
  return result.root.cid
}

/** node:http alone: each file from memory with the headers weft's gateway sends; nothing looked up. */
async function bare (folder: string): Promise<void> {
  const { createServer } = await import('node:http')
  const { readdirSync, readFileSync } = await import('node:fs')
  const { join } = await import('node:path')
  const files = new Map<string, { body: Buffer, headers: string[] }>()
  for (const name of readdirSync(folder)) {
    const body = readFileSync(join(folder, name))
    files.set(`/${name}`, {
      body,
      headers: ['etag', `"${name}"`, 'cache-control', 'public, max-age=29030400, immutable', 'x-ipfs-path', `/ipfs/x/${name}`, 'accept-ranges', 'bytes', 'content-type', 'application/octet-stream', 'content-length', String(body.byteLength)]
    })
  }
  const server = createServer((req, res) => {
    const file = files.get(req.url ?? '')
    if (file === undefined) { res.writeHead(404); res.end(); return }
    res.writeHead(200, file.headers)
    res.end(file.body)
  })
  await new Promise<void>(resolve => { server.listen(0, '127.0.0.1', () => { resolve() }) })
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  process.once('SIGTERM', () => { process.exit(0) })
  process.once('SIGINT', () => { process.exit(0) })
  createInterface({ input: process.stdin }).on('close', () => { process.exit(0) })
  const ready: Ready = { address: '', gatewayUrl: `http://127.0.0.1:${port}`, pid: process.pid }
  process.stdout.write(JSON.stringify(ready) + '\n')
}

async function main (): Promise<void> {
  const [role, home, folder, verify] = process.argv.slice(2)
  if (role === 'bare' && home !== undefined) {
    await bare(home)
    return
  }
  if ((role !== 'visitor' && role !== 'publisher') || home === undefined || (role === 'visitor' && folder === undefined)) {
    process.stderr.write('usage: gateway-node.ts visitor <home> <folder> [noverify] | publisher <home> | bare <folder>\n')
    process.exit(2)
  }
  const print = (value: unknown): void => { process.stdout.write(JSON.stringify(value) + '\n') }
  let daemon: Daemon | undefined
  let node: WeftNode
  let ready: Ready
  if (role === 'visitor') {
    daemon = await startDaemon({ ...NODE_OPTIONS(home), verifyReads: verify !== 'noverify', apiAddress: '/ip4/127.0.0.1/tcp/0', gatewayAddress: '/ip4/127.0.0.1/tcp/0' })
    node = daemon.node
    const root = await addPinned(node, folder)
    ready = { address: '', gatewayUrl: daemon.gatewayUrl, root: subdomainCid(root.toString()), pid: process.pid }
  } else {
    node = await createNode(NODE_OPTIONS(home))
    ready = { address: '', pid: process.pid }
  }
  const libp2p = node.libp2p
  if (libp2p === undefined) throw new Error('the node is not online')
  ready.address = libp2p.getMultiaddrs()[0]?.toString() ?? ''

  let stopping: Promise<void> | undefined
  const stop = (): void => {
    stopping ??= (daemon?.stop() ?? node.stop()).catch(() => {}).finally(() => { process.exit(0) })
  }
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)

  const commands = createInterface({ input: process.stdin })
  commands.on('close', stop)
  // One command at a time, in order: the orchestrator waits for each answer anyway.
  let queue = Promise.resolve()
  commands.on('line', line => {
    queue = queue.then(async () => {
      try {
        const command = JSON.parse(line) as Command
        if (command.op === 'dial') {
          await libp2p.dial(multiaddr(command.address), { signal: AbortSignal.timeout(10_000) })
          print({ ok: true })
        } else if (command.op === 'publish') {
          const start = performance.now()
          const root = await addPinned(node, command.folder)
          const site = await node.sites.create(command.label)
          const published = await node.sites.publish(command.label, root, { signal: AbortSignal.timeout(30_000) })
          const answer: Published = { name: subdomainName(site.name), root: root.toString(), sequence: String(published.sequence), announced: published.announced, ms: performance.now() - start }
          print(answer)
        } else {
          throw new Error(`unknown command ${line.slice(0, 80)}`)
        }
      } catch (err) {
        print({ error: (err as Error).message })
      }
    })
  })
  print(ready)
}

await main()
