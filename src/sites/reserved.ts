/**
 * The top-level names no site may publish: on every site's origin the node itself answers
 * `/users/` (visitors' contributions) and `/.weft/` (the site API), so a folder holding
 * either would publish files no one could ever see, or look like the node's own answers.
 */
import { readdir, stat } from 'node:fs/promises'
import { WeftError } from '../errors.ts'

export const RESERVED_SITE_ENTRIES: readonly string[] = ['users', '.weft']

/** ERR_SITE_RESERVED_PATH when the folder `dir` has a top-level entry the node serves itself (a dot entry only when hidden files are published). */
export async function assertNoReservedEntries (dir: string, options: { hidden?: boolean } = {}): Promise<void> {
  const info = await stat(dir).catch(() => undefined)
  if (info?.isDirectory() !== true) return
  const names = new Set(await readdir(dir))
  for (const reserved of RESERVED_SITE_ENTRIES) {
    if (reserved.startsWith('.') && options.hidden !== true) continue
    if (names.has(reserved)) {
      throw new WeftError('ERR_SITE_RESERVED_PATH', `${dir} has a top-level "${reserved}"; the node serves /${reserved}/ on every site itself, so rename or move it before publishing`)
    }
  }
}
