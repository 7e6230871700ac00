/** `weft replicate` and `weft replicas`: replicas of a site or CID held by peers (src/storage/). */
import { InvalidArgumentError, type Command } from 'commander'
import { formatBytes, printJson, printTable } from '../format.ts'
import { withApi, writeOut } from '../context.ts'

const wholeNumber = (least: number, most: number) => (text: string): number => {
  const n = Number(text)
  if (!Number.isSafeInteger(n) || n < least || n > most) throw new InvalidArgumentError(`expected a whole number from ${least} to ${most}, got "${text}"`)
  return n
}

const when = (ms?: number): string => ms === undefined ? '-' : new Date(ms).toISOString()

export function registerStorageCommands (program: Command): void {
  program.command('replicate')
    .description('ask the peers closest to a site or CID that offer storage to hold it; they are audited and replaced when they fail')
    .argument('<target>', 'a site (k51…, /ipns/k51…) or a CID (/ipfs/…)')
    .option('--copies <k>', 'holders wanted (default: storage.copies, 5)', wholeNumber(1, 64))
    .option('--keep <n>', 'a site\'s versions each holder keeps (default 1)', wholeNumber(1, 16))
    .option('--json', 'print the result as JSON')
    .action(async (target: string, opts: { copies?: number, keep?: number, json?: boolean }, cmd: Command) => {
      await withApi(cmd, async api => {
        const result = await api.replicate(target, { copies: opts.copies, keep: opts.keep })
        if (opts.json === true) {
          printJson(result)
          return
        }
        await writeOut(`${result.target}: ${result.holders.length} of ${result.copies} holders (${formatBytes(result.bytes)} each)\n`)
        for (const h of result.holders) await writeOut(`  holder   ${h}\n`)
        for (const r of result.refused) await writeOut(`  refused  ${r.peer}  ${r.code}: ${r.reason}\n`)
      })
    })

  program.command('replicas')
    .description('who holds what this node replicated (last audit, bytes each side), and what it holds for others')
    .argument('[target]', 'one site or CID replicated (default: all)')
    .option('--json', 'print the replicas as JSON')
    .action(async (target: string | undefined, opts: { json?: boolean }, cmd: Command) => {
      await withApi(cmd, async api => {
        const report = await api.replicas(target)
        if (opts.json === true) {
          printJson(report)
          return
        }
        for (const { wanted, holders } of report.replicas) {
          await writeOut(`${wanted.target}: ${holders.filter(h => h.state === 'holding').length} of ${wanted.copies} copies, ${formatBytes(wanted.bytes)}\n`)
          printTable([
            ['holder', 'state', 'last audit', 'result', 'held for me', 'I hold for it'],
            ...holders.map(h => [h.holder, h.state, when(h.lastAudit), h.lastResult ?? '-', formatBytes(h.heldByPeer), formatBytes(h.heldForPeer)])
          ])
        }
        if (report.held.length > 0) {
          await writeOut('held for others:\n')
          printTable([['peer', 'target', 'state', 'bytes'], ...report.held.map(h => [h.peer, h.target, h.state, formatBytes(h.bytes)])])
        }
      })
    })
}
