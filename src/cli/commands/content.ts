import { resolve } from 'node:path'
import { InvalidArgumentError, type Command } from 'commander'
import type { Progress } from '../../api/index.ts'
// Their own files, not the folders' index.ts: a command that asks the daemon loads
// neither the exporter nor the config schema to check its arguments.
import { parseContentPath } from '../../content/path.ts'
import { parseDuration } from '../../repo/units.ts'
import { createProgressBar, type ProgressBar } from '../progress.ts'
import { formatBytes, printJson, printTable } from '../format.ts'
import { withApi, writeOut } from '../context.ts'

interface AddOptions {
  quiet?: boolean
  hidden?: boolean
  preserveMode?: boolean
  preserveMtime?: boolean
  pin: boolean
  json?: boolean
  progress: boolean
}

export interface NetworkFlags { offline?: boolean, timeout?: number }

export function parseNonNegative (text: string): number {
  const n = Number(text)
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError(`expected a whole number of bytes, got "${text}"`)
  return n
}

/** "30s", "2m", "500ms" or a number of seconds → ms. */
export function parseDurationArg (text: string): number {
  const ms = parseDuration(text)
  if (ms === undefined) throw new InvalidArgumentError(`expected a duration such as 30s, 2m or 500ms, got "${text}"`)
  return ms
}

/** Checks a content argument before anything runs: `/ipfs/…` and CIDs, or `/ipns/<name>[/path]`. Returns its last segment (or its CID or name). */
export async function checkContentArg (arg: string): Promise<string> {
  // Only an /ipns/ path loads what checks a site's name (libp2p's keys).
  const names = /^(\/ipns\/|ipns:\/\/)/.test(arg.trim()) ? await import('../../sites/names.ts') : undefined
  const ipns = names?.splitIpnsPath(arg)
  if (names === undefined || ipns === undefined) {
    const path = parseContentPath(arg)
    return path.segments.length > 0 ? path.segments[path.segments.length - 1] : path.cid.toString()
  }
  const name = names.parseSiteName(ipns.name).name
  const segments = ipns.rest.split('/').filter(s => s !== '')
  return segments.length > 0 ? decodeURIComponent(segments[segments.length - 1]) : name
}

export function networkFlags (cmd: Command): Command {
  return cmd
    .option('--offline', 'use only blocks already in the home; never ask the network')
    .option('--timeout <duration>', 'give up on the network after this long (e.g. 30s, 2m)', parseDurationArg)
}

/** Draws import, fetch and export progress on one bar. */
export function showProgress (bar: ProgressBar): (e: Progress) => void {
  return e => {
    if (e.type === 'content:import:bytes') bar.update(e.bytes, e.totalBytes, `${e.files}/${e.totalFiles} files`)
    else if (e.type === 'exchange:fetch:progress') bar.update(e.bytes, e.totalBytes ?? 0, `${e.blocks} blocks from ${e.peers} peer${e.peers === 1 ? '' : 's'}`)
    else bar.update(e.bytes, e.totalBytes)
  }
}

export function registerContentCommands (program: Command): void {
  program.command('add')
    .description('import files or folders as UnixFS (CIDv1, raw leaves, 1 MiB chunks) and pin them')
    .argument('<paths...>', 'files or folders to add')
    .option('-Q, --quiet', 'print only the root CID of each path')
    .option('-r, --recursive', 'accepted for kubo habits; folders are always added recursively')
    .option('-H, --hidden', 'include files and folders whose names start with a dot')
    .option('--preserve-mode', 'record each file\'s permission bits')
    .option('--preserve-mtime', 'record each file\'s modification time')
    .option('--no-pin', 'store the blocks without pinning the roots (gc may remove them)')
    .option('--no-progress', 'never draw a progress bar')
    .option('--json', 'print { "roots": [...], "entries": [...] } as JSON')
    .action(async (paths: string[], opts: AddOptions, cmd: Command) => {
      await withApi(cmd, async api => {
        const bar = createProgressBar({ label: 'adding', enabled: opts.progress })
        let report
        try {
          report = await api.add(paths.map(p => resolve(p)), {
            hidden: opts.hidden === true,
            preserveMode: opts.preserveMode === true,
            preserveMtime: opts.preserveMtime === true,
            pin: opts.pin
          }, showProgress(bar))
        } finally {
          bar.done()
        }
        for (const link of report.skippedSymlinks) process.stderr.write(`weft: skipped symlink ${link} (symlinks are not followed)\n`)
        if (opts.json === true) printJson(report)
        else if (opts.quiet === true) for (const r of report.roots) await writeOut(`${r.cid}\n`)
        else for (const e of report.entries) await writeOut(`added ${e.cid} ${e.path}\n`)
      })
    })

  networkFlags(program.command('cat')
    .description('write a file\'s bytes to stdout, fetching missing blocks from peers when the daemon runs')
    .argument('<path>', '<cid>[/path], /ipfs/<cid>[/path] or /ipns/<name>[/path]')
    .option('--offset <bytes>', 'start at this byte', parseNonNegative)
    .option('--length <bytes>', 'write at most this many bytes', parseNonNegative)
    .option('--no-progress', 'never draw a progress bar'))
    .action(async (arg: string, opts: NetworkFlags & { offset?: number, length?: number, progress: boolean }, cmd: Command) => {
      await checkContentArg(arg)
      await withApi(cmd, async (api, where) => {
        let offline = opts.offline
        if (where === 'daemon' && opts.offline !== true) {
          // Fetch first, with a bar on stderr (a terminal only); then stream from the home,
          // without walking the now-local DAG a second time.
          const bar = createProgressBar({ label: 'fetching', enabled: opts.progress })
          try {
            await api.fetch(arg, opts, showProgress(bar))
          } finally {
            bar.done()
          }
          offline = true
        }
        for await (const chunk of api.cat(arg, { ...opts, offline })) await writeOut(chunk)
      })
    })

  networkFlags(program.command('get')
    .description('write a file or folder to disk, byte-identical to what was added, fetching missing blocks from peers')
    .argument('<path>', '<cid>[/path], /ipfs/<cid>[/path] or /ipns/<name>[/path]')
    .option('-o, --output <path>', 'where to write it (default: ./<last path segment or cid>)')
    .option('--no-progress', 'never draw a progress bar'))
    .action(async (arg: string, opts: NetworkFlags & { output?: string, progress: boolean }, cmd: Command) => {
      const out = resolve(opts.output ?? await checkContentArg(arg))
      await withApi(cmd, async api => {
        const bar = createProgressBar({ label: 'getting', enabled: opts.progress })
        let bytes: number
        try {
          ({ bytes } = await api.get(arg, out, opts, showProgress(bar)))
        } finally {
          bar.done()
        }
        process.stderr.write(`saved ${formatBytes(bytes)} to ${out}\n`)
      })
    })

  networkFlags(program.command('ls')
    .description('list a folder\'s entries')
    .argument('<path>', '<cid>[/path], /ipfs/<cid>[/path] or /ipns/<name>[/path]')
    .option('--json', 'print the entries as a JSON array'))
    .action(async (arg: string, opts: NetworkFlags & { json?: boolean }, cmd: Command) => {
      await checkContentArg(arg)
      await withApi(cmd, async api => {
        const entries = await api.ls(arg, opts)
        if (opts.json === true) printJson(entries)
        else printTable(entries.map(e => [e.cid, e.type === 'directory' ? '-' : String(e.size), e.type === 'directory' ? `${e.name}/` : e.name]))
      })
    })
}
