/**
 * One weft node of the `gateway` benchmark, in a process of its own, so the load
 * generator, nginx and weft never share a JavaScript thread:
 *
 *   gateway-node.ts visitor <home> <folder> [noverify]
 *                                             `startDaemon` (gateway and API on 127.0.0.1,
 *                                             free ports), <folder> added and pinned;
 *                                             `noverify`: blocks read unhashed (verifyReads off)
 *   gateway-node.ts publisher <home>          an online node that publishes sites on request
 *   gateway-node.ts swarm <dir> <count>       <count> plain online nodes (homes under <dir>)
 *                                             joined into one DHT through the first three: the
 *                                             network the visitor and the publisher join, so a
 *                                             new site's record and provider records land on
 *                                             the peers closest to their keys, not on the visitor
 *   gateway-node.ts bare <folder>             no weft at all: node:http answering the folder's
 *                                             files from memory with the gateway's headers, the
 *                                             ceiling for any server in one Node process
 *
 * Both are on a private network of their own on 127.0.0.1, with no bootstrap peers, mDNS,
 * republish, poll or reprovide schedule. When ready the process prints one JSON line
 * (`Ready`), then answers each JSON command on stdin (one a line) with one JSON line:
 *
 *   { "op": "dial", "address": "<multiaddr>" }                → { "ok": true }
 *   { "op": "join", "addresses": ["<multiaddr>", …] }          → { "ok": true } (a Kademlia join through them)
 *   { "op": "publish", "label": "<l>", "folder": "<path>",
 *     "far": { "peer": "<id>", "peers": ["<id>", …], "k": 20 } } → `Published` (publisher)
 *   { "op": "holds", "targets": ["/ipns/<name>" | "<cid>", …] } → { "held": [true | false, …] }
 *
 * With `far`, the publisher publishes only where `peer` (the visitor) is not among the k
 * of `peers` closest to the key: it makes new site keys until the record's key is far
 * from it, and answers `rootNear` (publishing nothing) when the folder's root is close,
 * so the caller can change the folder. `holds` says whether the node's DHT store holds
 * each record (by name) or provider record (by CID), so a lookup would not walk.
 *
 * A failure is `{ "error": "<message>" }`. When stdin closes, or on SIGTERM/SIGINT, the
 * node stops and the process exits 0 (so a `--cpu-prof` profile gets written).
 */
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { CID } from 'multiformats/cid'
import { importPath } from '../src/content/index.ts'
import { subdomainCid, subdomainName } from '../src/gateway/index.ts'
import { createNode, type CreateNodeOptions, type WeftNode } from '../src/node/index.ts'
import { startDaemon, type Daemon } from '../src/daemon/index.ts'
import { byKadDistance, joinNetwork } from '../src/routing/index.ts'
import { parseSiteName } from '../src/sites/index.ts'

export interface Ready {
  /** The node's first listen address, for the other node to dial. */
  address: string
  /** The node's peer id (not for `bare`). */
  peer?: string
  /** `swarm`: each node's first listen address and peer id. */
  addresses?: string[]
  peers?: string[]
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
  /** import + pin + publish (record + provide), ms; not the making of site keys. */
  ms: number
  /** Site keys made until one's record key was far from `far.peer` (1 without `far`). */
  keys: number
  /** With `far`: the folder's root is close to `far.peer`; nothing was published. */
  rootNear?: boolean
}

export interface Far { peer: string, peers: string[], k: number }

export type Command =
  { op: 'dial', address: string } |
  { op: 'join', addresses: string[] } |
  { op: 'publish', label: string, folder: string, far?: Far } |
  { op: 'holds', targets: string[] }

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

/** `count` plain nodes joined into one DHT; they serve it until stdin closes. */
async function swarm (dir: string, count: number): Promise<void> {
  const nodes: WeftNode[] = []
  for (let i = 0; i < count; i++) nodes.push(await createNode(NODE_OPTIONS(join(dir, `node-${i}`))))
  const libp2ps = nodes.map(n => {
    if (n.libp2p === undefined) throw new Error('the node is not online')
    return n.libp2p
  })
  await Promise.all(libp2ps.map(async (libp2p, i) => {
    const bootstrap = [0, 1, 2].filter(j => j !== i && j < count).map(j => libp2ps[j].getMultiaddrs()[0])
    await joinNetwork(libp2p, bootstrap, { signal: AbortSignal.timeout(120_000) })
  }))
  let stopping: Promise<void> | undefined
  const stop = (): void => {
    stopping ??= Promise.all(nodes.map(async n => { await n.stop().catch(() => {}) })).then(() => { process.exit(0) })
  }
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
  createInterface({ input: process.stdin }).on('close', stop)
  const ready: Ready = {
    address: libp2ps[0].getMultiaddrs()[0].toString(),
    addresses: libp2ps.map(l => l.getMultiaddrs()[0].toString()),
    peers: libp2ps.map(l => l.peerId.toString()),
    pid: process.pid
  }
  process.stdout.write(JSON.stringify(ready) + '\n')
}

/** Whether `far.peer` is among the `far.k` of `far.peers` closest to `target`. */
function near (target: CID | Uint8Array, far: Far): boolean {
  const peers = far.peers.map(p => peerIdFromString(p))
  return byKadDistance(target, peers).slice(0, far.k).some(p => p.toString() === far.peer)
}

async function main (): Promise<void> {
  const [role, home, folder, verify] = process.argv.slice(2)
  if (role === 'bare' && home !== undefined) {
    await bare(home)
    return
  }
  if (role === 'swarm' && home !== undefined && Number(folder) > 0) {
    await swarm(home, Number(folder))
    return
  }
  if ((role !== 'visitor' && role !== 'publisher') || home === undefined || (role === 'visitor' && folder === undefined)) {
    process.stderr.write('usage: gateway-node.ts visitor <home> <folder> [noverify] | publisher <home> | swarm <dir> <count> | bare <folder>\n')
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
  ready.peer = libp2p.peerId.toString()
  const routing = node.routing
  if (routing === undefined) throw new Error('the node has no routing')

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
        } else if (command.op === 'join') {
          await joinNetwork(libp2p, command.addresses.map(a => multiaddr(a)), { signal: AbortSignal.timeout(120_000) })
          print({ ok: true })
        } else if (command.op === 'holds') {
          const held = await Promise.all(command.targets.map(async t => await routing.storesLocally(t.startsWith('/ipns/') ? parseSiteName(t).routingKey : CID.parse(t))))
          print({ held })
        } else if (command.op === 'publish') {
          const { far } = command
          const start = performance.now()
          const root = await addPinned(node, command.folder)
          const importMs = performance.now() - start
          if (far !== undefined && near(root, far)) {
            print({ name: '', root: root.toString(), sequence: '', announced: false, ms: importMs, keys: 0, rootNear: true } satisfies Published)
            return
          }
          // the site's key (untimed): with `far`, new keys until its record key is far from the visitor
          let label = command.label
          let site = await node.sites.create(label)
          let keys = 1
          while (far !== undefined && near(parseSiteName(site.name).routingKey, far)) {
            label = `${command.label}-${++keys}`
            site = await node.sites.create(label)
          }
          const publishStart = performance.now()
          const published = await node.sites.publish(label, root, { signal: AbortSignal.timeout(30_000) })
          const answer: Published = { name: subdomainName(site.name), root: root.toString(), sequence: String(published.sequence), announced: published.announced, ms: importMs + performance.now() - publishStart, keys }
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
