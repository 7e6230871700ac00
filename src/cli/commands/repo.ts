import type { Command } from 'commander'
import { WeftError } from '../../errors.ts'
import { getConfigValue, setConfigValue, openRepo, parseSize } from '../../repo/index.ts'
import { formatBytes, printJson, printTable } from '../format.ts'
import { homeOf, withNode, writeOut } from '../context.ts'

export function registerRepoCommands (program: Command): void {
  program.command('init')
    .description('create a weft home (config, identity key, metadata db)')
    .option('--json', 'print { "home", "peerId" } as JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const repo = await openRepo(homeOf(cmd), { init: true })
      try {
        if (opts.json === true) printJson({ home: repo.paths.home, peerId: repo.peerId })
        else await writeOut(`initialised weft home at ${repo.paths.home}\npeer identity: ${repo.peerId}\n`)
      } finally {
        repo.close()
      }
    })

  const repoCmd = program.command('repo').description('inspect and check the home')

  repoCmd.command('stat')
    .description('blocks, bytes and quota of the local store')
    .option('--json', 'print the figures as JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      await withNode(cmd, async node => {
        const s = node.blocks.stat()
        const pins = node.blocks.pins().length
        const report = { home: node.repo.paths.home, peerId: node.repo.peerId, blocks: s.blocks, bytes: s.bytes, diskBytes: s.packBytes, packs: s.packs, storageMax: s.storageMax, pins }
        if (opts.json === true) {
          printJson(report)
        } else {
          printTable([
            ['home', report.home],
            ['peer id', report.peerId],
            ['blocks', String(report.blocks)],
            ['size', `${formatBytes(report.bytes)} of ${formatBytes(report.storageMax)} (${(100 * report.bytes / report.storageMax).toFixed(1)}%)`],
            ['on disk', `${formatBytes(report.diskBytes)} in ${report.packs} pack${report.packs === 1 ? '' : 's'}`],
            ['pins', String(pins)]
          ])
        }
      })
    })

  repoCmd.command('verify')
    .description('re-hash every stored block and report any that are damaged')
    .option('--json', 'print { "ok", "problems" } as JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      await withNode(cmd, async node => {
        const report = await node.blocks.verify()
        if (opts.json === true) {
          printJson({ ok: report.ok, problems: report.problems.map(p => ({ cid: p.cid.toString(), problem: p.problem })) })
        } else {
          for (const p of report.problems) process.stderr.write(`damaged: ${p.cid} (${p.problem})\n`)
          await writeOut(`verified ${report.ok} blocks, ${report.problems.length} damaged\n`)
        }
        if (report.problems.length > 0) {
          throw new WeftError('ERR_REPO_CORRUPT', `${report.problems.length} damaged blocks; remove the content that holds them and add it again`)
        }
      })
    })

  const config = program.command('config').description('read and change config.json (see docs/config.md)')

  config.command('get')
    .description('print a config value as JSON')
    .argument('<key>', 'a dotted key, e.g. datastore.storageMax')
    .action(async (key: string, _opts: unknown, cmd: Command) => {
      await withNode(cmd, async node => { printJson(getConfigValue(node.repo.config, key)) })
    })

  config.command('set')
    .description('set a config value; the value is JSON and is checked against the schema')
    .argument('<key>', 'a dotted key, e.g. datastore.storageMax')
    .argument('<json>', 'the value as JSON, e.g. \'"20GB"\' or true')
    .action(async (key: string, json: string, _opts: unknown, cmd: Command) => {
      await withNode(cmd, async node => {
        const next = setConfigValue(node.repo.config, key, json)
        if (key.startsWith('datastore.storageMax') && (parseSize(next.datastore.storageMax) as number) < node.blocks.stat().bytes) {
          process.stderr.write('weft: note: the store already holds more than the new storageMax; adds will fail until gc frees space\n')
        }
        node.repo.saveConfig(next)
        printJson(getConfigValue(next, key))
      })
    })

  config.command('show')
    .description('print the whole config')
    .action(async (_opts: unknown, cmd: Command) => {
      await withNode(cmd, async node => { printJson(node.repo.config) })
    })
}
