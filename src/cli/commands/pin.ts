import type { Command } from 'commander'
import { parseContentPath, resolveEntry } from '../../content/index.ts'
import { WeftError } from '../../errors.ts'
import type { PinType } from '../../blocks/index.ts'
import type { WeftNode } from '../../node/index.ts'
import { formatBytes, printJson, printTable } from '../format.ts'
import { withNode, writeOut } from '../context.ts'

/** A bare CID, or a path whose target is resolved first (as kubo's `pin add /ipfs/<cid>/a`). */
async function targetCid (node: WeftNode, arg: string) {
  const path = parseContentPath(arg)
  return path.segments.length === 0 ? path.cid : (await resolveEntry(node.blocks, path)).cid
}

export function registerPinCommands (program: Command): void {
  const pin = program.command('pin').description('keep content from garbage collection')

  pin.command('add')
    .description('pin CIDs (recursively by default: the whole DAG must be present)')
    .argument('<cids...>', 'CIDs or /ipfs/ paths')
    .option('--direct', 'pin only the named block, not what it links to')
    .action(async (args: string[], opts: { direct?: boolean }, cmd: Command) => {
      const type: PinType = opts.direct === true ? 'direct' : 'recursive'
      await withNode(cmd, async node => {
        for (const arg of args) {
          const cid = await targetCid(node, arg)
          await node.blocks.pin(cid, type)
          await writeOut(`pinned ${cid} ${type}ly\n`)
        }
      })
    })

  pin.command('rm')
    .description('unpin CIDs (their blocks go at the next gc unless another pin keeps them)')
    .argument('<cids...>', 'CIDs or /ipfs/ paths')
    .action(async (args: string[], _opts: unknown, cmd: Command) => {
      await withNode(cmd, async node => {
        for (const arg of args) {
          const cid = await targetCid(node, arg)
          await node.blocks.unpin(cid)
          await writeOut(`unpinned ${cid}\n`)
        }
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
      await withNode(cmd, async node => {
        const pins = node.blocks.pins(opts.type === 'all' ? undefined : opts.type as PinType)
        if (opts.json === true) {
          printJson(pins.map(p => ({ cid: p.cid.toString(), type: p.type, created: p.created.toISOString() })))
        } else {
          printTable(pins.map(p => [p.cid.toString(), p.type]))
        }
      })
    })

  program.command('gc')
    .description('delete every block that no pin reaches and reclaim its space')
    .option('--json', 'print what was removed as JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      await withNode(cmd, async node => {
        const result = await node.blocks.gc()
        if (opts.json === true) printJson(result)
        else await writeOut(`removed ${result.blocks} blocks (${formatBytes(result.bytes)}); reclaimed ${formatBytes(result.bytesReclaimed)} of disk\n`)
      })
    })
}
