import type { Command } from 'commander'
import { printJson, printTable } from '../format.ts'
import { homeOf, withApi, writeOut } from '../context.ts'
import { drillGate } from '../drill.ts'

export function registerNetCommands (program: Command): void {
  program.command('daemon')
    .description('run the node: peers, DHT, block exchange, and the control API the other commands use')
    .action(async (_opts: unknown, cmd: Command) => {
      await drillGate()
      const { startDaemon } = await import('../../daemon/index.ts')
      const daemon = await startDaemon({ home: homeOf(cmd) })
      const { node } = daemon
      const libp2p = node.libp2p as NonNullable<typeof node.libp2p>
      const network = node.repo.config.network === 'ipfs' ? 'ipfs (public)' : `private "${node.repo.config.network.name}"`
      await writeOut(`weft daemon: peer ${node.repo.peerId} on network ${network}\n`)
      for (const ma of libp2p.getMultiaddrs()) await writeOut(`listening on ${ma.toString()}\n`)
      await writeOut(`control API on ${daemon.apiUrl}\ngateway on ${daemon.gatewayUrl}\nweb UI: ${daemon.uiUrl}\ndaemon is ready\n`)
      // A stray rejection inside a library (a stream reset while a peer hangs up, say) is
      // logged, not allowed to take the whole node and its peers' connections down.
      process.on('unhandledRejection', err => {
        process.stderr.write(`weft: unhandled rejection (kept running): ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
      })
      await new Promise<void>(resolve => {
        const shutdown = (signal: string): void => {
          process.stderr.write(`weft: ${signal}: shutting down\n`)
          // Whatever hangs, the process is gone within 5 s.
          setTimeout(() => { process.exit(1) }, 5_000).unref()
          daemon.stop().finally(resolve)
        }
        process.once('SIGINT', () => { shutdown('SIGINT') })
        process.once('SIGTERM', () => { shutdown('SIGTERM') })
      })
    })

  program.command('id')
    .description('this node\'s peer id and, when the daemon runs, its addresses')
    .option('--json', 'print { "id", "addresses" } as JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      await withApi(cmd, async api => {
        const id = await api.id()
        if (opts.json === true) printJson(id)
        else await writeOut(`${id.id}\n${id.addresses.map(a => `  ${a}\n`).join('')}`)
      })
    })

  program.command('peers')
    .description('the peers connected to the daemon, with their round-trip latency')
    .option('--json', 'print [{ "id", "address", "latencyMs" }] as JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      await withApi(cmd, async api => {
        const peers = await api.peers()
        if (opts.json === true) printJson(peers)
        else printTable(peers.map(p => [p.id, p.address, p.latencyMs === undefined ? '-' : `${p.latencyMs} ms`]))
      })
    })

  program.command('connect')
    .description('dial a peer by multiaddr (…/p2p/<peer id>)')
    .argument('<multiaddr>', 'e.g. /ip4/127.0.0.1/tcp/4101/p2p/12D3KooW…')
    .action(async (address: string, _opts: unknown, cmd: Command) => {
      await withApi(cmd, async api => {
        const { id } = await api.connect(address)
        await writeOut(`connected to ${id}\n`)
      })
    })
}
