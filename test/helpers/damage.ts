import { open } from 'node:fs/promises'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'

/** Where one indexed block lives in a home's packs. */
export interface StoredBlock { mh: Uint8Array, pack: number, off: number, len: number }

/** Every indexed block of a home, in pack order (read from weft.db, so a running node may hold the home). */
export function storedBlocks (home: string): StoredBlock[] {
  const db = new DatabaseSync(join(home, 'weft.db'), { readOnly: true })
  try {
    return (db.prepare('SELECT mh, pack, off, len FROM blocks ORDER BY pack, off').all() as unknown as StoredBlock[])
      .map(r => ({ mh: r.mh, pack: Number(r.pack), off: Number(r.off), len: Number(r.len) }))
  } finally {
    db.close()
  }
}

/** The stored block whose multihash is `mh`. */
export function storedBlock (home: string, mh: Uint8Array): StoredBlock {
  const found = storedBlocks(home).find(b => Buffer.from(b.mh).equals(mh))
  if (found === undefined) throw new Error('the block is not indexed in this home')
  return found
}

/** Flips one byte of a stored block in its pack file, as a failing disk would (the node may be running). */
export async function flipByte (home: string, block: StoredBlock, at = 0): Promise<void> {
  const file = await open(join(home, 'blocks', `${String(block.pack).padStart(8, '0')}.pack`), 'r+')
  try {
    const one = Buffer.alloc(1)
    await file.read(one, 0, 1, block.off + at)
    one[0] ^= 0xff
    await file.write(one, 0, 1, block.off + at)
  } finally {
    await file.close()
  }
}
