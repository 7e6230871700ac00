import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { createNode } from './src/node/index.ts'
import { importBytes } from './src/content/index.ts'
const SIZE = 20 * 1024 * 1024
async function node (listen: string) {
  const home = join(mkdtempSync(join(tmpdir(), 'qb-')), 'home')
  const t0 = performance.now()
  const n: any = await createNode({ home, online: true, net: { listen: [listen], network: { name: 'qb' }, bootstrap: [], mdns: false, reach: { serve: false, use: false, holePunch: false } }, exchange: { requestTimeout: 5000 }, reprovideInterval: 0, sites: { republishInterval: 0, pollInterval: 0 } })
  return { n, startMs: performance.now() - t0 }
}
for (let round = 0; round < 3; round++) {
  for (const kind of ['tcp', 'quic']) {
    const listen = kind === 'tcp' ? '/ip4/127.0.0.1/tcp/0' : '/ip4/127.0.0.1/udp/0/quic-v1'
    const a = await node(listen); const b = await node(listen)
    const cid = await importBytes(a.n.blocks, randomBytes(SIZE))
    await a.n.blocks.pin(cid, 'recursive')
    let t = performance.now()
    await b.n.libp2p.dial(a.n.libp2p.getMultiaddrs()[0])
    const dialMs = performance.now() - t
    t = performance.now()
    await b.n.exchange.fetch(cid, { recursive: true, signal: AbortSignal.timeout(120000) })
    const s = (performance.now() - t) / 1000
    console.log(kind, 'start', a.startMs.toFixed(0), 'ms dial', dialMs.toFixed(0), 'ms', (SIZE / 1e6 / s).toFixed(1), 'MB/s', b.n.libp2p.getConnections().map((c: any) => c.remoteAddr.toString().split('/p2p')[0]).join(' '))
    await a.n.stop(); await b.n.stop()
  }
}
