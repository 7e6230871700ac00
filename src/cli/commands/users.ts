import { readFile, writeFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import type { Command } from 'commander'
import { WeftError } from '../../errors.ts'
import { printJson } from '../format.ts'
import { withApi, writeOut } from '../context.ts'
import { readPassphrase, type PassphraseFlags } from './sites.ts'

const IMPORTED = {
  added: 'imported the user key: your ids on every site are now those of the home it was exported from\n',
  same: 'this home already has this user key; nothing changed\n',
  replaced: 'replaced the user key: the old identity on every site is lost; your ids are now those of the home it was exported from\n'
}

export function registerUserCommands (program: Command): void {
  const user = program.command('user').description('you as a user of sites: one master key per home, a different id on every site')

  user.command('id')
    .description('your user id on a site (k51…); the master key is made the first time')
    .requiredOption('--site <name>', 'the site: its address (k51… or /ipns/k51…), the label of one of your sites, or a name that leads to one (a petname, .eth, …)')
    .option('--json', 'print { "site", "id" } as JSON')
    .action(async (opts: { site: string, json?: boolean }, cmd: Command) => {
      await withApi(cmd, async api => {
        const answer = await api.userId(opts.site)
        if (opts.json === true) printJson(answer)
        else await writeOut(`${answer.id}\n`)
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

  user.command('import-key')
    .description('take the user master key written by export-key, so this home has the same ids on every site')
    .argument('<file>', 'the exported key')
    .option('--force', 'replace a different user key already in this home: its identity on every site is lost')
    .option('--passphrase-file <path>', 'read the passphrase from this file (else $WEFT_PASSPHRASE, else ask)')
    .option('--json', 'print { "outcome": "added" | "same" | "replaced" } as JSON')
    .action(async (file: string, opts: PassphraseFlags & { force?: boolean, json?: boolean }, cmd: Command) => {
      let text: string
      try {
        text = await readFile(file, 'utf8')
      } catch (err) {
        throw new WeftError('ERR_PATH_NOT_FOUND', `cannot read ${file}: ${(err as Error).message}`)
      }
      const passphrase = await readPassphrase(opts, 'passphrase of the exported key: ')
      await withApi(cmd, async api => {
        const result = await api.userImportKey(text, passphrase, opts.force === true)
        if (opts.json === true) printJson(result)
        else await writeOut(IMPORTED[result.outcome])
      })
    })
}
