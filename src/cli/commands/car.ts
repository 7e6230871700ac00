import { createReadStream, createWriteStream } from 'node:fs'
import { rename, rm } from 'node:fs/promises'
import { pipeline } from 'node:stream/promises'
import { Readable } from 'node:stream'
import type { Command } from 'commander'
import { checkContentArg } from './content.ts'
import { WeftError } from '../../errors.ts'
import { formatBytes, printJson } from '../format.ts'
import { withApi, writeOut } from '../context.ts'

async function openCar (file: string): Promise<AsyncIterable<Uint8Array>> {
  if (file === '-') return process.stdin
  const stream = createReadStream(file)
  try {
    await new Promise<void>((resolve, reject) => { stream.once('open', () => { resolve() }).once('error', reject) })
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw new WeftError(code === 'ENOENT' ? 'ERR_PATH_NOT_FOUND' : 'ERR_PATH_UNREADABLE', `${file}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`)
  }
  return stream
}

export function registerCarCommands (program: Command): void {
  const car = program.command('car').description('CARv1 archives')

  car.command('export')
    .description('write the DAG under a CID as a CARv1 archive (to stdout unless -o)')
    .argument('<cid>', 'a CID or /ipfs/ path')
    .option('-o, --output <file>', 'write to this file instead of stdout')
    .option('--offline', 'use only blocks already in the home')
    .action(async (arg: string, opts: { output?: string, offline?: boolean }, cmd: Command) => {
      await checkContentArg(arg)
      if (opts.output === undefined && process.stdout.isTTY === true) {
        throw new WeftError('ERR_USAGE', 'refusing to write a binary CAR to a terminal; redirect stdout or use -o <file>')
      }
      await withApi(cmd, async api => {
        const source = api.carExport(arg, { offline: opts.offline })
        if (opts.output === undefined) {
          for await (const chunk of source) await writeOut(chunk)
          return
        }
        const tmp = `${opts.output}.weft-partial-${process.pid}`
        try {
          await pipeline(Readable.from(source), createWriteStream(tmp, { flags: 'wx' }))
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
    .option('--json', 'print [{ "file", "roots", "blocks", "bytes" }] as JSON')
    .action(async (files: string[], opts: { pin: boolean, json?: boolean }, cmd: Command) => {
      await withApi(cmd, async api => {
        const reports = []
        for (const file of files) reports.push({ file, ...await api.carImport(await openCar(file), opts.pin) })
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
