/**
 * One follower of the `users` benchmark in a process of its own (forked by bench/users.ts
 * with an IPC channel), so thirty followers do not share one JavaScript thread: in one
 * process a node's push waited behind every other node's checks, queries and gossip, which
 * no deployment of weft (one node per machine) does.
 *
 *   users-node.ts <home>
 *
 * Requests are `{ id, op, … }` messages; each gets `{ id, ok }` or `{ id, error }`. Events
 * the parent asked to watch come as `{ event, … }`. Times are absolute milliseconds
 * (`performance.timeOrigin + performance.now()`), comparable across the processes of one
 * machine. The node stops and the process exits when the channel closes.
 */
import { performance } from 'node:perf_hooks'
import { multiaddr } from '@multiformats/multiaddr'
import { createNode, type WeftNode } from '../src/node/index.ts'
import { joinNetwork } from '../src/routing/index.ts'
import type { SiteEvents } from '../src/sites/index.ts'
import { usersTopic, type UserEvents } from '../src/users/index.ts'

export type Request =
  | { id: number, op: 'join', bootstrap: string[], timeout: number }
  | { id: number, op: 'address' }
  | { id: number, op: 'follow', site: string, timeout: number }
  | { id: number, op: 'ready', site: string }
  | { id: number, op: 'subscribers', site: string }
  | { id: number, op: 'watch', site: string }
  | { id: number, op: 'userId', site: string }
  | { id: number, op: 'expect', site: string, user: string, post: string }
  | { id: number, op: 'write', site: string, posts: unknown[], timeout: number }
  | { id: number, op: 'state', site: string, user: string }

export type Event =
  | { event: 'record', sequence: string, at: number }
  | { event: 'shown', post: string, at: number }

/** How often the database is asked again when the event came before the row (it should not). */
const POLL_MS = 10

const now = (): number => performance.timeOrigin + performance.now()

export type BenchNode = WeftNode & { libp2p: NonNullable<WeftNode['libp2p']> }

export async function createBenchNode (home: string): Promise<BenchNode> {
  return await createNode({
    home,
    online: true,
    reprovideInterval: 0,
    net: { listen: ['/ip4/127.0.0.1/tcp/0'], network: { name: 'bench' }, bootstrap: [], mdns: false },
    sites: { republishInterval: 0, pollInterval: 0 }
  }) as BenchNode
}

/** The requests a follower answers, on `node`; events go to `send`. The same in a process of its own or in the parent's. */
export function serveFollower (node: BenchNode, send: (message: Event) => void): { handle: (req: Request) => Promise<unknown>, stop: () => void } {
  const wanted = new Map<string, string>()
  const releases: Array<() => void> = []
  let stopped = false

  // a post is shown once the database answers it; asked on the author's 'contribution' event
  const look = async (site: string, post: string): Promise<void> => {
    while (!stopped) {
      const rows = await node.users.query(site, 'SELECT 1 AS x FROM posts WHERE id = ?', [post]).catch(() => [])
      if (rows.length > 0) {
        send({ event: 'shown', post, at: now() } satisfies Event)
        return
      }
      await new Promise(resolve => setTimeout(resolve, POLL_MS))
    }
  }

  const handle = async (req: Request): Promise<unknown> => {
    switch (req.op) {
      case 'address': return node.libp2p.getMultiaddrs()[0].toString()
      case 'join':
        await joinNetwork(node.libp2p, req.bootstrap.map(a => multiaddr(a)), { signal: AbortSignal.timeout(req.timeout) })
        return true
      case 'follow':
        await node.sites.follow(req.site, { signal: AbortSignal.timeout(req.timeout) })
        return true
      case 'ready': {
        if ((await node.sites.following()).find(f => f.name === req.site)?.fetched !== true) return false
        try {
          await node.users.query(req.site, 'SELECT 1 FROM posts LIMIT 1')
          return true
        } catch {
          return false
        }
      }
      case 'subscribers': return node.libp2p.services.pubsub.getSubscribers(usersTopic(req.site)).length
      case 'watch': {
        // a reader is a page with the site's event stream open: the site API keeps its query process started meanwhile
        releases.push(node.users.listen(req.site))
        const seen = new Set<bigint>()
        node.sites.addEventListener('record', (event: globalThis.Event) => {
          const d = (event as CustomEvent<SiteEvents['record']>).detail
          if (d.name !== req.site || seen.has(d.sequence)) return
          seen.add(d.sequence)
          send({ event: 'record', sequence: d.sequence.toString(), at: now() } satisfies Event)
        })
        node.users.addEventListener('contribution', (event: globalThis.Event) => {
          const d = (event as CustomEvent<UserEvents['contribution']>).detail
          const post = wanted.get(d.user)
          if (d.site !== req.site || post === undefined) return
          wanted.delete(d.user)
          void look(req.site, post)
        })
        return true
      }
      case 'userId': return node.users.id(req.site)
      case 'expect':
        wanted.set(req.user, req.post)
        return true
      case 'write': {
        const started = now()
        await node.users.write(req.site, 'posts.json', new TextEncoder().encode(JSON.stringify({ posts: req.posts })), { signal: AbortSignal.timeout(req.timeout) })
        return { started, returned: now() }
      }
      case 'state': return node.users.info(req.site).contributions.find(c => c.user === req.user)?.state ?? 'no record'
    }
  }
  return { handle, stop: () => { stopped = true; for (const release of releases.splice(0)) release() } }
}

async function main (): Promise<void> {
  const node = await createBenchNode(process.argv[2])
  // the parent may be gone (a run cut short) while a look still answers
  const send = (message: unknown): void => { if (process.connected) process.send?.(message) }
  const { handle, stop } = serveFollower(node, send)
  process.on('message', (req: Request) => {
    handle(req).then(ok => { send({ id: req.id, ok }) }, err => { send({ id: req.id, error: (err as Error).message }) })
  })
  process.on('disconnect', () => {
    stop()
    void node.stop().finally(() => process.exit(0))
  })
  send({ ready: true })
}

if (process.argv[1] === new URL(import.meta.url).pathname) {
  main().catch(err => {
    process.stderr.write(`users-node: ${(err as Error).stack ?? String(err)}\n`)
    process.exit(1)
  })
}
