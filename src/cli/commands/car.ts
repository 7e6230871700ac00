import { createReadStream, createWriteStream } from 'node:fs'
import { rename, rm } from 'node:fs/promises'
import { pipeline } from 'node:stream/promises'
import { Readable } from 'node:stream'
import type { Command } from 'commander'
import { exportCar, importCar, parseContentPath, resolveEntry } from '../../content/index.ts'
import { WeftError } from '../../errors.ts'
import { formatBytes, printJson } from '../format.ts'
import { withNode, writeOut } from '../context.ts'

export function registerCarCommands (program: Command): void {
  const car = program.command('car').description('CARv1 archives')

  car.command('export')
    .description('write the DAG under a CID as a CARv1 archive (to stdout unless -o)')
    .argument('<cid>', 'a CID or /ipfs/ path')
    .option('-o, --output <file>', 'write to this file instead of stdout')
    .action(async (arg: string, opts: { output?: string }, cmd: Command) => {
      const path = parseContentPath(arg)
      await withNode(cmd, async node => {
        const root = path.segments.length === 0 ? path.cid : (await resolveEntry(node.blocks, path)).cid
        if (opts.output === undefined) {
          if (process.stdout.isTTY === true) throw new WeftError('ERR_USAGE', 'refusing to write a binary CAR to a terminal; redirect stdout or use -o <file>')
          for await (const chunk of exportCar(node.blocks, root)) await writeOut(chunk)
          return
        }
        const tmp = `${opts.output}.weft-partial-${process.pid}`
        try {
          await pipeline(Readable.from(exportCar(node.blocks, root)), createWriteStream(tmp, { flags: 'wx' }))
          await rename(tmp, opts.output)
        } catch (err) {
          await rm(tmp, { force: true })
          throw err
        }
      })
    })

  car.command('import')
    .description('store every block of CARv1 archives (each checked against its CID) and pin their roots')
    .argument('<files...>', 'CAR files, or - for stdin')
    .option('--no-pin', 'do not pin the roots')
    .option('--json', 'print { "roots", "blocks", "bytes" } as JSON')
    .action(async (files: string[], opts: { pin: boolean, json?: boolean }, cmd: Command) => {
      await withNode(cmd, async node => {
        const reports = []
        for (const file of files) {
          const source = file === '-' ? process.stdin : createReadStream(file)
          const opened = new Promise<void>((resolve, reject) => {
            if (file === '-') resolve()
            else source.once('open', () => { resolve() }).once('error', reject)
          })
          try {
            await opened
          } catch (err) {
            const code = (err as NodeJS.ErrnoException).code
            throw new WeftError(code === 'ENOENT' ? 'ERR_PATH_NOT_FOUND' : 'ERR_PATH_UNREADABLE', `${file}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`)
          }
          const result = await importCar(node.blocks, source)
          if (opts.pin) {
            for (const root of result.roots) await node.blocks.pin(root, 'recursive')
          }
          reports.push({ file, roots: result.roots.map(r => r.toString()), blocks: result.blocks, bytes: result.bytes })
        }
        if (opts.json === true) {
          printJson(reports)
        } else {
          for (const r of reports) {
            await writeOut(`imported ${r.blocks} blocks (${formatBytes(r.bytes)}) from ${r.file}\n`)
            for (const root of r.roots) await writeOut(`${opts.pin ? 'pinned' : 'root'} ${root}\n`)
          }
        }
      })
    })
}
