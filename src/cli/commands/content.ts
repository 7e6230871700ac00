import { InvalidArgumentError, type Command } from 'commander'
import { importPath, parseContentPath, cat, ls, get, type ImportResult } from '../../content/index.ts'
import { createProgressBar } from '../progress.ts'
import { formatBytes, printJson, printTable } from '../format.ts'
import { withNode, writeOut } from '../context.ts'

interface AddOptions {
  quiet?: boolean
  hidden?: boolean
  preserveMode?: boolean
  preserveMtime?: boolean
  pin: boolean
  json?: boolean
  progress: boolean
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
      await withNode(cmd, async node => {
        const results: ImportResult[] = []
        for (const path of paths) {
          const bar = createProgressBar({ label: 'adding', enabled: opts.progress })
          try {
            const result = await importPath(node.blocks, path, {
              hidden: opts.hidden === true,
              preserveMode: opts.preserveMode === true,
              preserveMtime: opts.preserveMtime === true,
              onProgress: e => { bar.update(e.bytes, e.totalBytes, `${e.files}/${e.totalFiles} files`) }
            })
            if (opts.pin) await node.blocks.pin(result.root.cid, 'recursive')
            results.push(result)
          } finally {
            bar.done()
          }
        }
        for (const result of results) {
          for (const link of result.symlinks) process.stderr.write(`weft: skipped symlink ${link} (symlinks are not followed)\n`)
        }
        if (opts.json === true) {
          printJson({
            roots: results.map(r => ({ path: r.root.path, cid: r.root.cid.toString(), size: r.bytes, files: r.files })),
            entries: results.flatMap(r => r.entries.map(e => ({ path: e.path, cid: e.cid.toString(), size: e.size }))),
            skippedSymlinks: results.flatMap(r => r.symlinks)
          })
        } else if (opts.quiet === true) {
          for (const r of results) await writeOut(`${r.root.cid}\n`)
        } else {
          for (const r of results) {
            for (const e of r.entries) await writeOut(`added ${e.cid} ${e.path}\n`)
          }
        }
      })
    })

  program.command('cat')
    .description('write a file\'s bytes to stdout')
    .argument('<path>', '<cid>[/path], or /ipfs/<cid>[/path]')
    .option('--offset <bytes>', 'start at this byte', parseNonNegative)
    .option('--length <bytes>', 'write at most this many bytes', parseNonNegative)
    .action(async (arg: string, opts: { offset?: number, length?: number }, cmd: Command) => {
      const path = parseContentPath(arg)
      await withNode(cmd, async node => {
        for await (const chunk of cat(node.blocks, path, opts)) await writeOut(chunk)
      })
    })

  program.command('get')
    .description('write a file or folder to disk, byte-identical to what was added')
    .argument('<path>', '<cid>[/path], or /ipfs/<cid>[/path]')
    .option('-o, --output <path>', 'where to write it (default: ./<last path segment or cid>)')
    .option('--no-progress', 'never draw a progress bar')
    .action(async (arg: string, opts: { output?: string, progress: boolean }, cmd: Command) => {
      const path = parseContentPath(arg)
      const out = opts.output ?? (path.segments.length > 0 ? path.segments[path.segments.length - 1] : path.cid.toString())
      await withNode(cmd, async node => {
        const bar = createProgressBar({ label: 'getting', enabled: opts.progress })
        try {
          const { bytes } = await get(node.blocks, path, out, { onProgress: e => { bar.update(e.bytes, e.totalBytes) } })
          bar.done()
          process.stderr.write(`saved ${formatBytes(bytes)} to ${out}\n`)
        } finally {
          bar.done()
        }
      })
    })

  program.command('ls')
    .description('list a folder\'s entries')
    .argument('<path>', '<cid>[/path], or /ipfs/<cid>[/path]')
    .option('--json', 'print the entries as a JSON array')
    .action(async (arg: string, opts: { json?: boolean }, cmd: Command) => {
      const path = parseContentPath(arg)
      await withNode(cmd, async node => {
        const entries = await ls(node.blocks, path)
        if (opts.json === true) {
          printJson(entries.map(e => ({ name: e.name, cid: e.cid.toString(), size: e.size, type: e.type })))
        } else {
          printTable(entries.map(e => [e.cid.toString(), e.type === 'directory' ? '-' : String(e.size), e.type === 'directory' ? `${e.name}/` : e.name]))
        }
      })
    })
}

export function parseNonNegative (text: string): number {
  const n = Number(text)
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError(`expected a whole number of bytes, got "${text}"`)
  return n
}
