import { readFile, writeFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { InvalidArgumentError, type Command } from 'commander'
import { WeftError } from '../../errors.ts'
import { createProgressBar } from '../progress.ts'
import { formatBytes, printJson, printTable } from '../format.ts'
import { withApi, writeOut } from '../context.ts'
import { parseDurationArg, showProgress } from './content.ts'
import { normalizeName } from '../../naming/names.ts'

export interface PassphraseFlags { passphraseFile?: string }

/** A followed site's state in words that are true where the command ran (a daemon fetches; a home alone waits for one). */
function followState (f: { state: string, held?: string }, where: 'daemon' | 'local'): string {
  switch (f.state) {
    case 'held': return 'held'
    case 'updating': return `updating (v${f.held} served meanwhile)`
    case 'fetching': return 'fetching'
    case 'no-record': return where === 'daemon' ? 'no record yet' : 'no record yet (the daemon looks when it starts)'
    default: return where === 'daemon' ? 'waiting for a peer that has it' : 'fetched when the daemon starts'
  }
}

/** From --passphrase-file, else $WEFT_PASSPHRASE, else asked on the terminal without echo. */
/** An exported key file's text (site or user key exports). */
export async function readKeyFile (file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8')
  } catch (err) {
    throw new WeftError('ERR_PATH_NOT_FOUND', `cannot read ${file}: ${(err as Error).message}`)
  }
}

export async function readPassphrase (opts: PassphraseFlags, prompt: string): Promise<string> {
  if (opts.passphraseFile !== undefined) {
    try {
      return (await readFile(opts.passphraseFile, 'utf8')).replace(/\r?\n$/, '')
    } catch (err) {
      throw new WeftError('ERR_PATH_NOT_FOUND', `cannot read the passphrase file ${opts.passphraseFile}: ${(err as Error).message}`)
    }
  }
  const env = process.env.WEFT_PASSPHRASE
  if (env !== undefined && env !== '') return env
  if (process.stdin.isTTY !== true) throw new WeftError('ERR_USAGE', 'give the passphrase with --passphrase-file <path> or WEFT_PASSPHRASE')
  return await promptHidden(prompt)
}

/** One line typed at the terminal without echoing it (a passphrase, a recovery phrase). */
export async function promptHidden (prompt: string): Promise<string> {
  process.stderr.write(prompt)
  process.stdin.setRawMode(true)
  process.stdin.resume()
  let text = ''
  try {
    for await (const chunk of process.stdin) {
      for (const ch of String(chunk)) {
        if (ch === '\r' || ch === '\n') return text
        if (ch === '\u0003') throw new WeftError('ERR_USAGE', 'interrupted')
        text = ch === '\u007f' ? text.slice(0, -1) : text + ch
      }
    }
    return text
  } finally {
    process.stdin.setRawMode(false)
    process.stdin.pause()
    process.stderr.write('\n')
  }
}

function parseKeep (text: string): number {
  const n = Number(text)
  if (!Number.isSafeInteger(n) || n < 1 || n > 1000) throw new InvalidArgumentError(`expected a number of versions from 1 to 1000, got "${text}"`)
  return n
}

const when = (ms?: number): string => ms === undefined ? '-' : new Date(ms).toISOString()

export function registerSiteCommands (program: Command): void {
  const site = program.command('site').description('your own sites: keys, addresses, backups; and what is known of any site')

  site.command('create')
    .description('make a site key; prints the site\'s address (/ipns/k51…)')
    .argument('<label>', 'a local name for the site: lowercase letters, digits, ".", "_", "-"')
    .option('--json', 'print { "label", "name", "address" } as JSON')
    .action(async (label: string, opts: { json?: boolean }, cmd: Command) => {
      await withApi(cmd, async api => {
        const created = await api.siteCreate(label)
        if (opts.json === true) printJson(created)
        else await writeOut(`created site "${created.label}"\naddress ${created.address}\n`)
      })
    })

  site.command('list')
    .description('the sites this home can publish')
    .option('--json', 'print [{ "label", "name", "address", "created", "published" }] as JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      await withApi(cmd, async api => {
        const sites = await api.siteList()
        if (opts.json === true) printJson(sites)
        else printTable(sites.map(s => [s.label, s.address, s.published ? '' : '(waiting for the daemon to announce)']))
      })
    })

  site.command('export-key')
    .description('write the site\'s key, sealed with a passphrase (scrypt + AES-256-GCM), to back it up or move the site')
    .argument('<label>', 'the site')
    .option('-o, --output <file>', 'write it here (0600) instead of stdout')
    .option('--passphrase-file <path>', 'read the passphrase from this file (else $WEFT_PASSPHRASE, else ask)')
    .action(async (label: string, opts: PassphraseFlags & { output?: string }, cmd: Command) => {
      const passphrase = await readPassphrase(opts, 'passphrase for the exported key: ')
      await withApi(cmd, async api => {
        const { key } = await api.siteExportKey(label, passphrase)
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
        process.stderr.write(`wrote the key of "${label}" to ${opts.output}\n`)
      })
    })

  site.command('import-key')
    .description('add a site from a key written by export-key')
    .argument('<file>', 'the exported key')
    .option('--label <label>', 'a local name for it (default: the label it was exported under)')
    .option('--passphrase-file <path>', 'read the passphrase from this file (else $WEFT_PASSPHRASE, else ask)')
    .option('--json', 'print { "label", "name", "address" } as JSON')
    .action(async (file: string, opts: PassphraseFlags & { label?: string, json?: boolean }, cmd: Command) => {
      const text = await readKeyFile(file)
      const passphrase = await readPassphrase(opts, 'passphrase of the exported key: ')
      await withApi(cmd, async api => {
        const imported = await api.siteImportKey(text, passphrase, opts.label)
        if (opts.json === true) printJson(imported)
        else await writeOut(`imported site "${imported.label}"\naddress ${imported.address}\n`)
      })
    })

  site.command('info')
    .description('what is known of a site: current version, versions seen, peers serving it, size, weft.json, refused records')
    .argument('<name>', '/ipns/<name>, k51…, or the label of one of your sites')
    .option('--json', 'print everything as JSON')
    .action(async (name: string, opts: { json?: boolean }, cmd: Command) => {
      await withApi(cmd, async api => {
        const info = await api.siteInfo(name)
        if (opts.json === true) {
          printJson(info)
          return
        }
        const lines = [`address    ${info.address}${info.label !== undefined ? `  (your site "${info.label}")` : ''}`]
        if (info.current === undefined) {
          lines.push('version    none known (weft resolve asks the network)')
        } else {
          const c = info.current
          lines.push(`version    ${c.sequence}  ${c.value}${c.expired ? '  (EXPIRED)' : ''}`)
          const held = !c.held ? '  not all of it is on this node' : c.fetched !== undefined ? `  held since ${when(c.fetched)}` : '  held'
          lines.push(`first seen ${when(c.firstSeen)}  valid until ${c.validity}${held}`)
        }
        if (info.size !== undefined) lines.push(`size       ${formatBytes(info.size)}`)
        if (info.site !== undefined) {
          const s = info.site
          if (s.title !== undefined) lines.push(`title      ${s.title}`)
          if (s.description !== undefined) lines.push(`about      ${s.description}`)
          if (s.author !== undefined) lines.push(`author     ${s.author}`)
          if (s.entry !== undefined) lines.push(`entry      ${s.entry}`)
        }
        lines.push(`following  ${info.following ? 'yes' : 'no'}`)
        lines.push(`versions   ${info.versions.map(v => `${v.sequence}${v.pinned ? '*' : ''}`).join(' ') || '-'}  (* held)`)
        lines.push(`peers      ${info.peers.length === 0 ? '-' : info.peers.slice(0, 8).map(p => p.peer).join('\n           ')}`)
        for (const e of info.equivocations) lines.push(`EQUIVOCATION at sequence ${e.sequence}: ${e.valueA} and ${e.valueB} (the first one seen is kept)`)
        for (const r of info.rejections) lines.push(`refused    ${r.count} × ${r.reason}${r.lastPeer !== undefined ? `, last from ${r.lastPeer}` : ''} at ${when(r.lastSeen)}`)
        await writeOut(lines.join('\n') + '\n')
      })
    })

  program.command('publish')
    .description('add a folder and sign it as the site\'s next version; with the daemon running it goes out at once, else when the daemon starts')
    .argument('<dir>', 'the folder to publish')
    .requiredOption('--site <label>', 'which of your sites (weft site list)')
    .option('--validity <duration>', 'how long the record stays valid (default: sites.validity, 48h)', parseDurationArg)
    .option('--ttl <duration>', 'how long resolvers may cache it (default: sites.ttl, 5m)', parseDurationArg)
    .option('-H, --hidden', 'include files and folders whose names start with a dot')
    .option('--name <name>', 'also print the record to set so that this name (ENS .eth, Namecoin .bit, a Handshake TLD, or a DNS name) points at the site')
    .option('--no-progress', 'never draw a progress bar')
    .option('--json', 'print { "address", "root", "sequence", … } as JSON')
    .action(async (dir: string, opts: { site: string, validity?: number, ttl?: number, hidden?: boolean, name?: string, progress: boolean, json?: boolean }, cmd: Command) => {
      // a bad name fails before anything is published
      if (opts.name !== undefined) normalizeName(opts.name)
      await withApi(cmd, async (api, where) => {
        const bar = createProgressBar({ label: 'publishing', enabled: opts.progress })
        let report
        try {
          report = await api.publish(resolve(dir), { site: opts.site, validity: opts.validity, ttl: opts.ttl, hidden: opts.hidden === true }, showProgress(bar))
        } finally {
          bar.done()
        }
        const records = opts.name === undefined ? undefined : (await import('../../naming/records.ts')).recordsFor(opts.name, report.address)
        if (opts.json === true) {
          printJson(records === undefined ? report : { ...report, records })
          return
        }
        const what = report.changed ? `published version ${report.sequence}` : `unchanged: still version ${report.sequence}`
        // A running daemon with no peer yet keeps the record and sends it when one connects.
        const sent = report.announced ? 'announced to the network' : where === 'daemon' ? 'saved; the daemon has no peer yet and sends it when one connects' : 'saved; it goes out when `weft daemon` starts'
        await writeOut(`${what} of ${report.address} (${sent})\nroot    /ipfs/${report.root}\ngateway ${report.url}\n`)
        if (records?.ens !== undefined) await writeOut(`\nto point ${records.name} at it, set its contenthash (ENS, EIP-1577) to\n  ${records.ens.contenthash}\n(in the ENS app, or setContenthash on its resolver, from the account that owns the name)\n`)
        if (records?.namecoin !== undefined) await writeOut(`\nto point ${records.name} at it, set the Namecoin name ${records.namecoin.name} to this value (keeping any other fields it holds)\n  ${records.namecoin.value}\ne.g. ${records.namecoin.update}\n`)
        if (records?.hns !== undefined) await writeOut(`\nto point the Handshake name ${records.name} at it, add this TXT record to its resource\n  ${records.hns.txt}\ne.g. with your hsd wallet: ${records.hns.update}\n`)
        if (records?.dnslink !== undefined) await writeOut(`\nto point ${records.name} at it, add this DNS TXT record (DNSLink; DNS is not decentralized: the domain's operators can change it)\n  ${records.dnslink.host}  TXT  "${records.dnslink.txt}"\n`)
      })
    })

  program.command('resolve')
    .description('the newest valid version of a site: /ipfs/<root>')
    .argument('<name>', '/ipns/<name> or k51…')
    .option('--offline', 'answer from this home only')
    .option('--fresh', 'ask the network even when a cached answer is still within its TTL')
    .option('--timeout <duration>', 'give up on the network after this long', parseDurationArg)
    .option('--json', 'print { "name", "value", "root", "sequence", "validity", "ttl", "source" } as JSON')
    .action(async (name: string, opts: { offline?: boolean, fresh?: boolean, timeout?: number, json?: boolean }, cmd: Command) => {
      await withApi(cmd, async api => {
        const result = await api.resolve(name, opts)
        if (opts.json === true) printJson(result)
        else await writeOut(`${result.value}\n`)
      })
    })

  program.command('follow')
    .description('subscribe to a site: each new version is fetched, kept and served to others as it is published')
    .argument('<name>', '/ipns/<name> or k51…')
    .option('--keep <n>', 'versions to keep (default: sites.keepVersions, 2)', parseKeep)
    .option('--json', 'print the follow as JSON')
    .action(async (name: string, opts: { keep?: number, json?: boolean }, cmd: Command) => {
      await withApi(cmd, async (api, where) => {
        const info = await api.follow(name, opts.keep)
        if (opts.json === true) {
          printJson(info)
          return
        }
        const state = info.sequence === undefined
          ? (where === 'daemon' ? 'no version found yet; it will be fetched when one is published' : 'the daemon will fetch it when it starts')
          : `version ${info.sequence} (/ipfs/${info.root}), ${followState(info, where)}`
        await writeOut(`following /ipns/${info.name}, keeping ${info.keep} version${info.keep === 1 ? '' : 's'}: ${state}\n`)
      })
    })

  program.command('unfollow')
    .description('stop following a site; the versions it held become garbage for `weft gc`')
    .argument('<name>', '/ipns/<name> or k51…')
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      await withApi(cmd, async api => {
        const { name: canonical } = await api.unfollow(name)
        await writeOut(`no longer following /ipns/${canonical}\n`)
      })
    })

  program.command('following')
    .description('the sites this node follows')
    .option('--json', 'print them as JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      await withApi(cmd, async (api, where) => {
        const list = await api.following()
        if (opts.json === true) printJson(list)
        else printTable(list.map(f => [`/ipns/${f.name}`, f.sequence === undefined ? '-' : `v${f.sequence}`, followState(f, where), when(f.updated)]))
      })
    })
}
