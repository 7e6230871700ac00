import type { Command } from 'commander'
import { WeftError } from '../../errors.ts'
// The config schema alone: `repo stat` and `config get` through the daemon never open the
// home here (its database and keys are init's, loaded when it runs).
import { checkConfigKey, checkConfigSetting, defaultConfig, encodeConfig, getConfigValue } from '../../repo/config.ts'
import { formatBytes, printJson, printTable, unitSystemOf } from '../format.ts'
import { homeExists, homeOf, withApi, writeOut } from '../context.ts'

export function registerRepoCommands (program: Command): void {
  program.command('init')
    .description('create a weft home (config, identity key, metadata db)')
    .option('--network <name>', 'ipfs for the public IPFS network, or the name of a private network', 'default')
    .option('--json', 'print { "home", "peerId", "network" } as JSON')
    .action(async (opts: { network: string, json?: boolean }, cmd: Command) => {
      const { openRepo, setConfigValue } = await import('../../repo/index.ts')
      const network = opts.network === 'ipfs' ? '"ipfs"' : JSON.stringify({ name: opts.network })
      const repo = await openRepo(homeOf(cmd), { init: true, configOverrides: c => setConfigValue(c, 'network', network) })
      try {
        const net = repo.config.network === 'ipfs' ? 'the public IPFS network' : `the private network "${repo.config.network.name}"`
        if (opts.json === true) printJson({ home: repo.paths.home, peerId: repo.peerId, network: repo.config.network })
        else await writeOut(`initialised weft home at ${repo.paths.home}\npeer identity: ${repo.peerId}\nnetwork: ${net}\n`)
      } finally {
        repo.close()
      }
    })

  const repoCmd = program.command('repo').description('inspect and check the home')

  repoCmd.command('stat')
    .description('blocks, bytes and quota of the local store')
    .option('--json', 'print the figures as JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      await withApi(cmd, async api => {
        const report = await api.repoStat()
        if (opts.json === true) {
          printJson(report)
        } else {
          // in the units the quota was set in: "10GB" shows as 10 GB, "8GiB" as 8 GiB
          const units = unitSystemOf(String(await api.configGet('datastore.storageMax')))
          printTable([
            ['home', report.home],
            ['peer id', report.peerId],
            ['blocks', String(report.blocks)],
            ['size', `${formatBytes(report.bytes, units)} of ${formatBytes(report.storageMax, units)} (${(100 * report.bytes / report.storageMax).toFixed(1)}%)`],
            ['on disk', `${formatBytes(report.diskBytes, units)} in ${report.packs} pack${report.packs === 1 ? '' : 's'}`],
            ['pins', String(report.pins)]
          ])
        }
      })
    })

  repoCmd.command('verify')
    .description('re-hash every stored block and report any that are damaged')
    .option('--repair', 'quarantine damaged blocks and fetch good copies from peers (needs the daemon)')
    .option('--json', 'print { "ok", "problems" } as JSON')
    .action(async (opts: { json?: boolean, repair?: boolean }, cmd: Command) => {
      await withApi(cmd, async api => {
        const report = await api.repoVerify({ repair: opts.repair === true })
        const left = report.problems.filter(p => p.repaired !== true).length
        if (opts.json === true) {
          printJson(report)
        } else if (opts.repair === true) {
          for (const p of report.problems) process.stderr.write(`${p.repaired === true ? 'repaired' : 'still damaged'}: ${p.cid} (${p.problem}${p.repairError !== undefined ? `; ${p.repairError}` : ''})\n`)
          await writeOut(`verified ${report.ok} blocks, ${report.problems.length} damaged: ${report.problems.length - left} repaired, ${left} still missing\n`)
        } else {
          for (const p of report.problems) process.stderr.write(`damaged: ${p.cid} (${p.problem})\n`)
          await writeOut(`verified ${report.ok} blocks, ${report.problems.length} damaged\n`)
        }
        if (left > 0) {
          throw new WeftError('ERR_REPO_CORRUPT', opts.repair === true
            ? `${left} damaged blocks are quarantined and no peer sent a good copy; connect to a peer that has the content and run \`weft repo verify --repair\` again`
            : `${left} damaged blocks; \`weft repo verify --repair\` with the daemon running fetches good copies from peers`)
        }
      })
    })

  const config = program.command('config').description('read and change config.json (see docs/config.md)')

  config.command('get')
    .description('print a config value as JSON')
    .argument('<key>', 'a dotted key, e.g. datastore.storageMax')
    .action(async (key: string, _opts: unknown, cmd: Command) => {
      checkConfigKey(key)
      // Before there is a home, its settings are the defaults: shown without making one.
      if (!homeExists(cmd)) return printJson(getConfigValue(defaultConfig(), key))
      await withApi(cmd, async api => { printJson(await api.configGet(key)) })
    })

  config.command('set')
    .description('set a config value; the value is JSON and is checked against the schema')
    .argument('<key>', 'a dotted key, e.g. datastore.storageMax')
    .argument('<json>', 'the value as JSON, e.g. \'"20GB"\' or true')
    .action(async (key: string, json: string, _opts: unknown, cmd: Command) => {
      // A misspelt key or a bad value is refused before a home is opened, or created.
      checkConfigSetting(key, json)
      await withApi(cmd, async api => {
        const { value, note } = await api.configSet(key, json)
        if (note !== undefined) process.stderr.write(`weft: note: ${note}\n`)
        printJson(value)
      })
    })

  config.command('show')
    .description('print the whole config')
    .action(async (_opts: unknown, cmd: Command) => {
      if (!homeExists(cmd)) return printJson(encodeConfig(defaultConfig()))
      await withApi(cmd, async api => { printJson(await api.configGet()) })
    })
}
