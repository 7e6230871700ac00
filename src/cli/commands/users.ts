import { writeFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import type { Command } from 'commander'
import { WeftError } from '../../errors.ts'
import type { UserWriteReport } from '../../api/operations.ts'
import { MAX_BYTES_CEILING as MAX_USER_FILE_BYTES } from '../../users/rules.ts'
import { formatBytes, printJson, printTable } from '../format.ts'
import { readInput } from '../input.ts'
import { withApi, writeOut } from '../context.ts'
import { promptHidden, readKeyFile, readPassphrase, type PassphraseFlags } from './sites.ts'

const SITE_HELP = 'the site: its address (k51… or /ipns/k51…), the label of one of your sites, or a name that leads to one (a petname, .eth, …)'

function tooLarge (what: string): WeftError {
  return new WeftError('ERR_CONTRIBUTION_REFUSED', `${what} is over ${formatBytes(MAX_USER_FILE_BYTES)}; no site takes a larger file (the ceiling of every site's maxBytes)`)
}


/** Where a written record went, in words true where the command ran. */
function sent (report: UserWriteReport, where: 'daemon' | 'local'): string {
  if (report.announced) return 'announced to the site\'s followers'
  return where === 'daemon' ? 'saved; no follower of the site is connected yet: they catch up on it when they connect' : 'saved; it goes out when `weft daemon` starts'
}

async function printWrite (what: string, report: UserWriteReport, where: 'daemon' | 'local'): Promise<void> {
  await writeOut(`${what} your contribution to ${report.site} (${sent(report, where)})\n` +
    `user      ${report.user}\nsequence  ${report.sequence}\nroot      /ipfs/${report.root}\n` +
    `files     ${report.files.length} (${formatBytes(report.files.reduce((n, f) => n + f.size, 0))})\n`)
}

const IMPORTED = {
  added: 'imported the user key: your ids on every site are now those of the home it was exported from\n',
  same: 'this home already has this user key; nothing changed\n',
  replaced: 'replaced the user key: the old identity on every site is lost; your ids are now those of the home it was exported from\n'
}

/** A recovery phrase is 24 words; anything much longer on stdin is not one, so it is not read whole. */
const MAX_PHRASE_INPUT_BYTES = 4096

/** The recovery phrase: typed at a hidden prompt on a terminal, else read from stdin (never from argv, which other users of the machine can see). */
async function readRecoveryPhrase (): Promise<string> {
  if (process.stdin.isTTY === true) return await promptHidden('recovery phrase (24 words): ')
  let text = ''
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    text += chunk.toString('utf8')
    if (text.length > MAX_PHRASE_INPUT_BYTES) throw new WeftError('ERR_RECOVERY_PHRASE_INVALID', 'stdin holds far more than a recovery phrase of 24 words')
  }
  return text
}

const PHRASE_WARNING = 'These 24 words are your user identity on every site: whoever has them can write as you everywhere and read your private data.\n' +
  'Write them on paper and keep it safe; never type them into a website. `weft user recover` restores them on a new home.\n'

const LINKED = {
  added: 'linked: this home now has the user key of the other node, and the same ids on every site\n',
  same: 'this home already had the other node\'s user key; nothing changed\n',
  replaced: 'linked: the old user key here is replaced (its identity on every site is lost); this home now has the same ids as the other node\n'
}

const RECOVERED = {
  added: 'recovered the user key: your ids on every site are now those the phrase belongs to\n',
  same: 'this home already has the user key of this phrase; nothing changed\n',
  replaced: 'replaced the user key with the recovered one: the old identity on every site is lost\n'
}

export function registerUserCommands (program: Command): void {
  const user = program.command('user').description('you as a user of sites: one master key per home, a different id on every site')

  user.command('id')
    .description('your user id on a site (k51…); the master key is made the first time')
    .requiredOption('--site <name>', SITE_HELP)
    .option('--json', 'print { "site", "id" } as JSON')
    .action(async (opts: { site: string, json?: boolean }, cmd: Command) => {
      await withApi(cmd, async api => {
        const answer = await api.userId(opts.site)
        if (opts.json === true) printJson(answer)
        else await writeOut(`${answer.id}\n`)
      })
    })

  user.command('write')
    .description('write one file of your contribution to a site, signed as your user there; followers check it against the owner\'s rules')
    .requiredOption('--site <name>', SITE_HELP)
    .argument('<file>', 'the path inside your contribution, e.g. posts.json (the site\'s rules say which names it takes)')
    .argument('[path]', 'where the bytes come from: a local file, or - (the default) for stdin')
    .option('--json', 'print { "site", "user", "sequence", "root", "files", "announced" } as JSON')
    .action(async (file: string, path: string | undefined, opts: { site: string, json?: boolean }, cmd: Command) => {
      const bytes = await readInput(path, { max: MAX_USER_FILE_BYTES, tooLarge, folder: 'write one file at a time', prompt: 'reading the file from stdin' })
      await withApi(cmd, async (api, where) => {
        const report = await api.userWrite(opts.site, file, bytes)
        if (opts.json === true) printJson(report)
        else await printWrite(`wrote ${file} (${formatBytes(bytes.byteLength)}) to`, report, where)
      })
    })

  user.command('rm')
    .description('remove one file from your contribution to a site (a new signed version without it)')
    .requiredOption('--site <name>', SITE_HELP)
    .argument('<file>', 'the path inside your contribution')
    .option('--json', 'print { "site", "user", "sequence", "root", "files", "announced" } as JSON')
    .action(async (file: string, opts: { site: string, json?: boolean }, cmd: Command) => {
      await withApi(cmd, async (api, where) => {
        const report = await api.userRm(opts.site, file)
        if (opts.json === true) printJson(report)
        else await printWrite(`removed ${file} from`, report, where)
      })
    })

  user.command('list')
    .description('every contribution known on a site: its user, version, state (accepted, refused and why, pending), files and bytes; records refused by reason; equivocations')
    .requiredOption('--site <name>', SITE_HELP)
    .option('--json', 'print { "site", "me", "takesContributions", "problem"?, "contributions", "rejections", "equivocations" } as JSON')
    .action(async (opts: { site: string, json?: boolean }, cmd: Command) => {
      await withApi(cmd, async api => {
        const info = await api.userList(opts.site)
        if (opts.json === true) {
          printJson(info)
          return
        }
        const takes = info.takesContributions ? 'takes contributions' : `takes no contributions${info.problem !== undefined ? `: ${info.problem}` : ' (its weft.json has no users section, or no version of it is held yet)'}`
        await writeOut(`${info.site} ${takes}\nyou are ${info.me}\n`)
        if (info.contributions.length === 0) await writeOut('no contributions known yet\n')
        printTable(info.contributions.map(c => [
          c.mine ? `${c.user} (you)` : c.user,
          `v${c.sequence}`,
          c.reason !== undefined ? `${c.state}: ${c.reason}` : c.state,
          `${c.files} file${c.files === 1 ? '' : 's'}`,
          formatBytes(c.bytes)
        ]))
        for (const r of info.rejections) await writeOut(`refused records: ${r.count} × ${r.reason}${r.lastPeer !== undefined ? `, last from ${r.lastPeer}` : ''}\n`)
        for (const e of info.equivocations) await writeOut(`EQUIVOCATION: ${e.user} signed two versions at sequence ${e.sequence} (the first one seen is kept)\n`)
      })
    })

  user.command('cat')
    .description('write one file of a user\'s accepted contribution to stdout, verified from the store')
    .requiredOption('--site <name>', SITE_HELP)
    .argument('<user>', 'the user id (k51…; `weft user list` shows them)')
    .argument('<file>', 'the path inside their contribution')
    .action(async (user: string, file: string, opts: { site: string }, cmd: Command) => {
      await withApi(cmd, async api => {
        for await (const chunk of api.userCat(opts.site, user, file)) await writeOut(chunk)
      })
    })

  user.command('export-key')
    .description('write the user master key, sealed with a passphrase (scrypt + AES-256-GCM), to back up or move your identity on every site')
    .option('-o, --output <file>', 'write it here (0600) instead of stdout')
    .option('--passphrase-file <path>', 'read the passphrase from this file (else $WEFT_PASSPHRASE, else ask)')
    .action(async (opts: PassphraseFlags & { output?: string }, cmd: Command) => {
      const passphrase = await readPassphrase(opts, 'passphrase for the exported key: ')
      await withApi(cmd, async api => {
        const { key } = await api.userExportKey(passphrase)
        if (opts.output === undefined) {
          await writeOut(key)
          return
        }
        try {
          await writeFile(resolve(opts.output), key, { mode: 0o600, flag: 'wx' })
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new WeftError('ERR_OUTPUT_EXISTS', `${opts.output} already exists`)
          throw err
        }
        process.stderr.write(`wrote the user key to ${opts.output}\n`)
      })
    })

  user.command('link')
    .description('link another node of yours (both running `weft daemon`): without a code, print a one-time code here; with one, receive this user\'s master key from the node that printed it')
    .argument('[code]', 'the code `weft user link` printed on the other node')
    .option('--force', 'replace a different user key already in this home: its identity on every site is lost')
    .option('--short', 'print the code without this node\'s addresses (the other node then finds it through its connections or the DHT)')
    .option('--json', 'print { "code", "expires" } (issuing) or { "outcome" } (receiving) as JSON')
    .action(async (code: string | undefined, opts: { force?: boolean, short?: boolean, json?: boolean }, cmd: Command) => {
      await withApi(cmd, async api => {
        if (code === undefined) {
          const issued = await api.userLinkIssue(opts.short !== true)
          if (opts.json === true) {
            printJson(issued)
            return
          }
          process.stderr.write('On your other node (its daemon running), run `weft user link <code>` with this code. It hands over your identity on every site: give it to no one else.\n' +
            `It works once, until ${new Date(issued.expires).toISOString()} (10 minutes).\n`)
          await writeOut(`${issued.code}\n`)
          return
        }
        const result = await api.userLinkAccept(code, opts.force === true)
        if (opts.json === true) printJson(result)
        else await writeOut(LINKED[result.outcome])
      })
    })

  user.command('recovery-phrase')
    .description('print the user master key as 24 words (BIP-39) to write down: they restore your identity on every site')
    .option('--json', 'print { "phrase" } as JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      await withApi(cmd, async api => {
        const { phrase } = await api.userRecoveryPhrase()
        // the warning goes to stderr, so stdout is the phrase alone (to pipe into `weft user recover` elsewhere)
        process.stderr.write(PHRASE_WARNING)
        if (opts.json === true) printJson({ phrase })
        else await writeOut(`${phrase}\n`)
      })
    })

  user.command('recover')
    .description('restore the user master key from its 24-word recovery phrase (typed at a prompt, or on stdin), so this home has the same ids on every site')
    .option('--force', 'replace a different user key already in this home: its identity on every site is lost')
    .option('--json', 'print { "outcome": "added" | "same" | "replaced" } as JSON')
    .action(async (opts: { force?: boolean, json?: boolean }, cmd: Command) => {
      const phrase = await readRecoveryPhrase()
      await withApi(cmd, async api => {
        const result = await api.userRecover(phrase, opts.force === true)
        if (opts.json === true) printJson(result)
        else await writeOut(RECOVERED[result.outcome])
        if (result.outcome !== 'same') process.stderr.write('The phrase is your identity on every site: keep it as safe as this home.\n')
      })
    })

  user.command('import-key')
    .description('take the user master key written by export-key, so this home has the same ids on every site')
    .argument('<file>', 'the exported key')
    .option('--force', 'replace a different user key already in this home: its identity on every site is lost')
    .option('--passphrase-file <path>', 'read the passphrase from this file (else $WEFT_PASSPHRASE, else ask)')
    .option('--json', 'print { "outcome": "added" | "same" | "replaced" } as JSON')
    .action(async (file: string, opts: PassphraseFlags & { force?: boolean, json?: boolean }, cmd: Command) => {
      const text = await readKeyFile(file)
      const passphrase = await readPassphrase(opts, 'passphrase of the exported key: ')
      await withApi(cmd, async api => {
        const result = await api.userImportKey(text, passphrase, opts.force === true)
        if (opts.json === true) printJson(result)
        else await writeOut(IMPORTED[result.outcome])
      })
    })
}
