/**
 * weft nodes in this process that reach each other over a private Tor network
 * (src/demo/tornet.ts): each runs its own tor, a client of that network, with an onion service.
 */
import type { TestContext } from 'node:test'
import { createHash } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import type { CID } from 'multiformats/cid'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { createNode, type WeftNode } from '../../../src/node/index.ts'
import { importPath, cat, parseContentPath } from '../../../src/content/index.ts'
import type { SiteEvents } from '../../../src/sites/index.ts'
import type { TorClient } from '../../../src/net/index.ts'
import { tmpHome, tmpDir } from '../../helpers/home.ts'
import type { OnlineNode } from '../../helpers/testnet.ts'
import type { TorNet } from '../../../src/demo/tornet.ts'

export type TorNode = OnlineNode & { tor: TorClient }

/** How long tor may take to bootstrap and publish an onion service on the private network (ms; measured ~15 s). */
export const TOR_READY_TIMEOUT = 120_000

export async function createTorNode (t: TestContext, net: TorNet, options: { onionOnly: boolean, listen?: string[], isBanned?: (peer: string) => boolean, requestTimeout?: number }): Promise<TorNode> {
  const node = await createNode({
    home: await tmpHome(t),
    online: true,
    net: {
      listen: options.onionOnly ? [] : (options.listen ?? ['/ip4/127.0.0.1/tcp/0']),
      network: { name: 'tortest', tor: { onionOnly: options.onionOnly, port: 4101, torrc: net.clientTorrc(), binary: 'tor' } },
      bootstrap: [],
      mdns: false,
      isBanned: options.isBanned,
      reach: { serve: false, use: false, holePunch: false }
    },
    // a block over three hops and a rendezvous takes longer than over loopback
    exchange: { requestTimeout: options.requestTimeout ?? 30_000 },
    reprovideInterval: 0,
    sites: { republishInterval: 0, pollInterval: 0 }
  })
  t.after(async () => { await node.stop() })
  if (node.tor === undefined) throw new Error('network.tor was set but the node has no tor')
  const signal = AbortSignal.timeout(TOR_READY_TIMEOUT)
  await node.tor.bootstrapped({ signal })
  await node.tor.published({ signal })
  return node as TorNode
}

/** The node's onion address with its peer id, as a peer dials it. */
export function onionAddr (node: TorNode): Multiaddr {
  return multiaddr(`${node.tor.listenAddr.toString()}/p2p/${node.libp2p.peerId.toString()}`)
}

/**
 * Dials until a connection opens: the first dial after a service is published can fail
 * while the dialler's tor fetches its descriptor.
 */
export async function dialUntilConnected (from: TorNode, to: Multiaddr, ms = 90_000): Promise<void> {
  const signal = AbortSignal.timeout(ms)
  let last: unknown
  while (!signal.aborted) {
    try {
      await from.libp2p.dial(to, { signal: AbortSignal.any([signal, AbortSignal.timeout(30_000)]) })
      return
    } catch (err) {
      last = err
      await new Promise(resolve => setTimeout(resolve, 1_000))
    }
  }
  throw new Error(`could not dial ${to.toString()} within ${ms} ms: ${String(last)}`)
}

/** A folder with an index page and `size` random bytes; returns its files' sha256. */
export async function makeSite (t: TestContext, size: number, version = 'one'): Promise<{ dir: string, files: string[] }> {
  const dir = await tmpDir(t)
  await writeFile(join(dir, 'index.html'), `<h1>version ${version}</h1>`)
  await writeFile(join(dir, 'data.bin'), randomBytes(size))
  return { dir, files: ['index.html', 'data.bin'] }
}

export async function addDir (node: WeftNode, dir: string): Promise<CID> {
  const { root } = await importPath(node.blocks, dir, {})
  await node.blocks.pin(root.cid, 'recursive')
  return root.cid
}

export async function sha256Of (node: WeftNode, path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of cat(node.blocks, parseContentPath(path))) hash.update(chunk)
  return hash.digest('hex')
}

/** Resolves when `node` has fetched every block of `sequence` (or later) of the site. */
export async function fetched (node: OnlineNode, name: string, sequence: bigint, ms: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`sequence ${sequence} of ${name} not fetched within ${ms} ms`)) }, ms)
    const done = (): void => { clearTimeout(timer); node.sites.removeEventListener('fetched', listener); resolve() }
    const listener = (e: Event): void => {
      const d = (e as CustomEvent<SiteEvents['fetched']>).detail
      if (d.name === name && d.sequence >= sequence) done()
    }
    node.sites.addEventListener('fetched', listener)
    void node.sites.following().then(list => {
      const f = list.find(x => x.name === name)
      if (f?.fetched === true && (f.sequence ?? -1n) >= sequence) done()
    })
  })
}
