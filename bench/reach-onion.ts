/**
 * onion_MBps for `npm run bench -- reach`: a 20 MiB site fetched over a private Tor network
 * on 127.0.0.1 (src/demo/tornet.ts: 3 authorities, 3 relays), from a publisher's onion
 * service by an onion-only follower, each weft node with its own tor; and how long that
 * network took to reach a consensus and the two tors to bootstrap and publish.
 * Every cell crosses a 3-hop circuit from each side to a rendezvous relay, on 2 shared cores.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { startTorNet, torUnavailable } from '../src/demo/tornet.ts'
import { addDir, createTorNode, dialUntilConnected, onionAddr, sha256Of } from '../test/net/tor/tor-node.ts'
import { tmpDir } from '../test/helpers/home.ts'

export interface OnionFigures {
  onion_MBps: number | null
  /** Fetches it took (each goes on from the blocks the last one got). */
  onion_fetch_tries?: number
  tor_consensus_ms: number | null
  tor_ready_ms: number | null
  /** Why onion_MBps is null. */
  onion_skipped?: string
}

export async function measureOnion (siteBytes: number): Promise<OnionFigures> {
  const why = await torUnavailable()
  if (why !== undefined) return { onion_MBps: null, tor_consensus_ms: null, tor_ready_ms: null, onion_skipped: why }
  const cleanups: Array<() => Promise<void>> = []
  const t = { after: (fn: () => Promise<void>) => { cleanups.push(fn) }, diagnostic: () => {} } as any
  try {
    const tornet = await startTorNet()
    cleanups.push(tornet.stop)
    const began = performance.now()
    const [publisher, follower] = await Promise.all([
      createTorNode(t, tornet, { onionOnly: false }),
      createTorNode(t, tornet, { onionOnly: true, requestTimeout: 120_000 })
    ])
    const ready = performance.now() - began
    const dir = await tmpDir(t)
    writeFileSync(join(dir, 'big.bin'), randomBytes(siteBytes))
    const root = await addDir(publisher, dir)
    await dialUntilConnected(follower, onionAddr(publisher))
    const start = performance.now()
    // a fetch that gives up (a block's request failed over the circuit) is asked again and
    // goes on from the blocks it has; the time counts every try
    let tries = 0
    while (true) {
      tries++
      try {
        await follower.exchange.fetch(root, { recursive: true, signal: AbortSignal.timeout(1_200_000) })
        break
      } catch (err) {
        process.stderr.write(`onion fetch try ${tries} failed after ${Math.round(performance.now() - start)} ms: ${(err as Error).message}\n`)
        if (tries >= 5) throw err
        await dialUntilConnected(follower, onionAddr(publisher))
      }
    }
    const seconds = (performance.now() - start) / 1000
    if (await sha256Of(follower, `${root}/big.bin`) !== await sha256Of(publisher, `${root}/big.bin`)) throw new Error('onion bytes differ')
    return { onion_MBps: Number((siteBytes / 1e6 / seconds).toFixed(2)), onion_fetch_tries: tries, tor_consensus_ms: Math.round(tornet.consensusMs), tor_ready_ms: Math.round(ready) }
  } finally {
    for (const fn of cleanups.reverse()) await fn().catch(() => {})
  }
}
