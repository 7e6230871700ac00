import { readFile, stat } from 'node:fs/promises'
import { WeftError } from '../errors.ts'

export interface InputLimits {
  /** The most bytes taken; past it `tooLarge` is thrown before more is read. */
  max: number
  /** The error for input past `max`, given what it was (a path, or "stdin"). */
  tooLarge: (what: string) => WeftError
  /** What to tell a person who named a folder (after "<path> is a folder: "). */
  folder: string
  /** What stdin on a terminal is waiting for. */
  prompt: string
}

/** One input's bytes for a command: from `path`, or stdin for `-` or none; refused past `limits.max` before more is read. */
export async function readInput (path: string | undefined, limits: InputLimits): Promise<Uint8Array> {
  if (path !== undefined && path !== '-') {
    try {
      if ((await stat(path)).size > limits.max) throw limits.tooLarge(path)
      return await readFile(path)
    } catch (err) {
      if (err instanceof WeftError) throw err
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'EISDIR') throw new WeftError('ERR_NOT_A_FILE', `${path} is a folder: ${limits.folder}`)
      throw new WeftError(code === 'EACCES' ? 'ERR_PATH_UNREADABLE' : 'ERR_PATH_NOT_FOUND', `cannot read ${path}: ${(err as Error).message}`)
    }
  }
  if (process.stdin.isTTY === true) process.stderr.write(`${limits.prompt} (end it with Ctrl-D)\n`)
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    size += chunk.byteLength
    if (size > limits.max) throw limits.tooLarge('stdin')
    chunks.push(chunk)
  }
  return Buffer.concat(chunks)
}
