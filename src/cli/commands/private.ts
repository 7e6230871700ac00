import type { Command } from 'commander'
import { WeftError } from '../../errors.ts'
import { MAX_PRIVATE_FILE_BYTES } from '../../api/operations.ts'
import { formatBytes, printJson, printTable } from '../format.ts'
import { readInput } from '../input.ts'
import { withApi, writeOut } from '../context.ts'

const SITE_HELP = 'the site the data belongs to: its address (k51… or /ipns/k51…), the label of one of your sites, or a name that leads to one'

function tooLarge (what: string): WeftError {
  return new WeftError('ERR_USAGE', `${what} is over ${formatBytes(MAX_PRIVATE_FILE_BYTES)}, the most one private file holds; split it into several`)
}


export function registerPrivateCommands (program: Command): void {
  const priv = program.command('private').description('your private files on a site: sealed on this node before they are stored, readable only with your user key (and on your linked devices)')

  priv.command('put')
    .description('seal and store one private file for a site (replaces one at the same path)')
    .requiredOption('--site <name>', SITE_HELP)
    .argument('<path>', 'the path in your private store on the site, e.g. drafts/post.md')
    .argument('[file]', 'where the bytes come from: a local file, or - (the default) for stdin')
    .option('--json', 'print { "site", "path", "size", "mtime" } as JSON')
    .action(async (path: string, file: string | undefined, opts: { site: string, json?: boolean }, cmd: Command) => {
      const bytes = await readInput(file, { max: MAX_PRIVATE_FILE_BYTES, tooLarge, folder: 'put one file at a time', prompt: 'reading the file from stdin' })
      await withApi(cmd, async api => {
        const entry = await api.privatePut(opts.site, path, bytes)
        if (opts.json === true) printJson(entry)
        else await writeOut(`sealed ${entry.path} (${formatBytes(entry.size)}) in your private store on ${entry.site}\n`)
      })
    })

  priv.command('get')
    .description('write one private file to stdout, read verified from the store and opened here')
    .requiredOption('--site <name>', SITE_HELP)
    .option('--from <user>', 'read from a folder this user (their id on the site, k51…) shares with you; <path> is then <folder>/<path in it>')
    .argument('<path>', 'the path in your private store')
    .action(async (path: string, opts: { site: string, from?: string }, cmd: Command) => {
      await withApi(cmd, async api => {
        if (opts.from === undefined) {
          for await (const chunk of api.privateGet(opts.site, path)) await writeOut(chunk)
          return
        }
        const slash = path.indexOf('/')
        if (slash <= 0) throw new WeftError('ERR_USAGE', `with --from, the path is <shared folder>/<path in it>, not ${JSON.stringify(path)}`)
        for await (const chunk of api.privateSharedGet(opts.site, opts.from, path.slice(0, slash), path.slice(slash + 1))) await writeOut(chunk)
      })
    })

  priv.command('share')
    .description('share a top-level folder of your private store on a site with another user of the site: its key is sealed to them and published with your contributions (the site must be followed or yours)')
    .requiredOption('--site <name>', SITE_HELP)
    .argument('<folder>', 'the folder, e.g. notes (every file under notes/, and those written there later)')
    .argument('<user>', 'their id on the site (k51…; they see it with `weft user id --site <site>`)')
    .option('--json', 'print { "site", "folder", "generation", "recipients" } as JSON')
    .action(async (folder: string, user: string, opts: { site: string, json?: boolean }, cmd: Command) => {
      await withApi(cmd, async api => {
        const share = await api.privateShare(opts.site, folder, user)
        if (opts.json === true) printJson(share)
        else await writeOut(`shared ${share.folder}/ on ${share.site} with ${share.recipients.length} user${share.recipients.length === 1 ? '' : 's'}\n`)
      })
    })

  priv.command('unshare')
    .description('stop sharing a folder with a user: the folder gets a new key, shared again with everyone else. What they already fetched stays theirs; what you write from now on does not reach them')
    .requiredOption('--site <name>', SITE_HELP)
    .argument('<folder>', 'the shared folder')
    .argument('<user>', 'their id on the site (k51…)')
    .option('--json', 'print { "site", "folder", "generation", "recipients" } as JSON')
    .action(async (folder: string, user: string, opts: { site: string, json?: boolean }, cmd: Command) => {
      await withApi(cmd, async api => {
        const share = await api.privateUnshare(opts.site, folder, user)
        if (opts.json === true) printJson(share)
        else await writeOut(`${share.folder}/ on ${share.site} is no longer shared with ${user}; new key (generation ${share.generation})${share.recipients.length > 0 ? `, shared again with ${share.recipients.length} user${share.recipients.length === 1 ? '' : 's'}` : ''}\n`)
      })
    })

  priv.command('shared')
    .description('the folders other users share with you on a site, and those you share; with <user> <folder>, the files of one shared folder')
    .requiredOption('--site <name>', SITE_HELP)
    .argument('[user]', 'the sharer\'s id on the site (k51…)')
    .argument('[folder]', 'the shared folder')
    .option('--json', 'print the report as JSON')
    .action(async (user: string | undefined, folder: string | undefined, opts: { site: string, json?: boolean }, cmd: Command) => {
      await withApi(cmd, async api => {
        if (user !== undefined) {
          if (folder === undefined) throw new WeftError('ERR_USAGE', 'name the shared folder after the user: weft private shared --site <site> <user> <folder>')
          const report = await api.privateSharedLs(opts.site, user, folder)
          if (opts.json === true) {
            printJson(report)
            return
          }
          if (report.files.length === 0) await writeOut(`${folder}/ shared by ${user} holds no files\n`)
          printTable(report.files.map(f => [f.path, formatBytes(f.size), new Date(f.mtime).toISOString()]))
          return
        }
        const report = await api.privateShared(opts.site)
        if (opts.json === true) {
          printJson(report)
          return
        }
        if (report.shared.length === 0) await writeOut(`nothing is shared with you (${report.me}) on ${report.site}\n`)
        else await writeOut('shared with you:\n')
        printTable(report.shared.map(s => [s.from, `${s.folder}/`, `${s.files} file${s.files === 1 ? '' : 's'}`]))
        if (report.mine.length > 0) {
          await writeOut('you share:\n')
          printTable(report.mine.flatMap(s => s.recipients.map(r => [`${s.folder}/`, r])))
        }
        const refused = Object.entries(report.refused)
        if (refused.length > 0) await writeOut(`refused share files: ${refused.map(([k, v]) => `${k} ${v}`).join(', ')}\n`)
      })
    })

  priv.command('ls')
    .description('your private files on a site, with their sizes, and what they take in the store (padded ciphertext)')
    .requiredOption('--site <name>', SITE_HELP)
    .option('--json', 'print { "site", "files": [{ "path", "size", "mtime" }], "usage": { "files", "bytes", "stored" } } as JSON')
    .action(async (opts: { site: string, json?: boolean }, cmd: Command) => {
      await withApi(cmd, async api => {
        const report = await api.privateLs(opts.site)
        if (opts.json === true) {
          printJson(report)
          return
        }
        if (report.files.length === 0) await writeOut(`no private files for ${report.site}\n`)
        printTable(report.files.map(f => [f.path, formatBytes(f.size), new Date(f.mtime).toISOString()]))
        if (report.files.length > 0) await writeOut(`${report.usage.files} file${report.usage.files === 1 ? '' : 's'}, ${formatBytes(report.usage.bytes)} (${formatBytes(report.usage.stored)} sealed)\n`)
      })
    })

  priv.command('rm')
    .description('remove one private file from a site\'s private store')
    .requiredOption('--site <name>', SITE_HELP)
    .argument('<path>', 'the path in your private store')
    .option('--json', 'print { "site", "path" } as JSON')
    .action(async (path: string, opts: { site: string, json?: boolean }, cmd: Command) => {
      await withApi(cmd, async api => {
        const report = await api.privateRm(opts.site, path)
        if (opts.json === true) printJson(report)
        else await writeOut(`removed ${report.path} from your private store on ${report.site}\n`)
      })
    })
}
