import type { Command } from 'commander'
import { WeftError } from '../../errors.ts'
import type { PinType } from '../../blocks/index.ts'
import { formatBytes, printJson, printTable } from '../format.ts'
import { withApi, writeOut } from '../context.ts'
import { createProgressBar } from '../progress.ts'
import { checkContentArg, networkFlags, showProgress, type NetworkFlags } from './content.ts'

export function registerPinCommands (program: Command): void {
  const pin = program.command('pin').description('keep content from garbage collection')

  networkFlags(pin.command('add')
    .description('pin CIDs (recursively by default: the whole DAG); with the daemon running, what the home lacks is fetched from peers first, verified')
    .argument('<cids...>', 'CIDs, /ipfs/ or /ipns/ paths')
    .option('--direct', 'pin only the named block, not what it links to')
    .option('--no-progress', 'never draw a progress bar'))
    .action(async (args: string[], opts: NetworkFlags & { direct?: boolean, progress: boolean }, cmd: Command) => {
      for (const arg of args) await checkContentArg(arg)
      await withApi(cmd, async (api, where) => {
        for (const arg of args) {
          if (where === 'daemon' && opts.offline !== true && opts.direct !== true) {
            // Fetch first, with a bar on a terminal, as cat does; the pin then finds it all here.
            const bar = createProgressBar({ label: 'fetching', enabled: opts.progress })
            try {
              await api.fetch(arg, opts, showProgress(bar))
            } finally {
              bar.done()
            }
          }
          for (const p of await api.pinAdd([arg], opts.direct === true, { offline: opts.offline, timeout: opts.timeout })) await writeOut(`pinned ${p.cid} ${p.type}ly\n`)
        }
      })
    })

  pin.command('rm')
    .description('unpin CIDs (their blocks go at the next gc unless another pin keeps them)')
    .argument('<cids...>', 'CIDs or /ipfs/ paths')
    .action(async (args: string[], _opts: unknown, cmd: Command) => {
      await withApi(cmd, async api => {
        for (const p of await api.pinRm(args)) await writeOut(`unpinned ${p.cid}\n`)
      })
    })

  pin.command('ls')
    .description('list pins')
    .option('--type <type>', 'recursive, direct or all', 'all')
    .option('--json', 'print the pins as a JSON array')
    .action(async (opts: { type: string, json?: boolean }, cmd: Command) => {
      if (!['recursive', 'direct', 'all'].includes(opts.type)) {
        throw new WeftError('ERR_USAGE', `--type must be recursive, direct or all (got ${opts.type})`)
      }
      await withApi(cmd, async api => {
        const pins = await api.pinLs(opts.type === 'all' ? undefined : opts.type as PinType)
        if (opts.json === true) printJson(pins)
        else printTable(pins.map(p => [p.cid, p.type]))
      })
    })

  program.command('gc')
    .description('delete every block that no pin reaches and reclaim its space')
    .option('--json', 'print what was removed as JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      await withApi(cmd, async api => {
        const result = await api.gc()
        if (opts.json === true) printJson(result)
        else await writeOut(`removed ${result.blocks} blocks (${formatBytes(result.bytes)}); reclaimed ${formatBytes(result.bytesReclaimed)} of disk\n`)
      })
    })
}
