/**
 * Merging two devices' indexes of one private store. Per path:
 *
 * 1. the same entry (`id`) on both: kept;
 * 2. one entry's `history` holds the other's `id`: it was written over the other, it wins;
 * 3. otherwise the writes were concurrent: the higher `seq` wins, ties broken by the greater
 *    `device`, then the greater `id`. The loser is kept as `<path>.conflict-<first 8 of its
 *    device>` unless it is a tombstone (a deletion loses nothing) or both hold the same
 *    content (`cid`), so no write is lost silently.
 *
 * Folders keep the higher generation. The rule is symmetric (merge(a, b) and merge(b, a)
 * hold the same entries), so two devices that merge each other's index agree.
 */
import { canonicalJson, type Entry, type PrivateIndex } from './index-doc.ts'

const DEVICE_PREFIX = 8

function wins (a: Entry, b: Entry): boolean {
  if (a.history.includes(b.id)) return true
  if (b.history.includes(a.id)) return false
  if (a.seq !== b.seq) return a.seq > b.seq
  if (a.device !== b.device) return a.device > b.device
  return a.id > b.id
}

/** Whether `winner` took `loser`'s place knowing of it (no conflict then). */
function supersedes (winner: Entry, loser: Entry): boolean {
  return winner.history.includes(loser.id)
}

export function conflictPath (path: string, loser: Entry): string {
  return `${path}.conflict-${loser.device.slice(0, DEVICE_PREFIX)}`
}

/** The merged folders and entries of `a` and `b`, with seq = the higher of theirs (the caller bumps it when publishing). */
export function mergeIndexes (a: PrivateIndex, b: PrivateIndex): PrivateIndex {
  const folders: PrivateIndex['folders'] = {}
  for (const side of [a, b]) {
    for (const [folder, { generation }] of Object.entries(side.folders)) {
      if (!Object.hasOwn(folders, folder) || folders[folder].generation < generation) folders[folder] = { generation }
    }
  }
  const entries: PrivateIndex['entries'] = {}
  const losers: Array<{ path: string, entry: Entry }> = []
  const paths = [...new Set([...Object.keys(a.entries), ...Object.keys(b.entries)])].sort()
  for (const path of paths) {
    const x = Object.hasOwn(a.entries, path) ? a.entries[path] : undefined
    const y = Object.hasOwn(b.entries, path) ? b.entries[path] : undefined
    if (x === undefined || y === undefined) {
      entries[path] = (x ?? y) as Entry
      continue
    }
    if (x.id === y.id) {
      entries[path] = x
      continue
    }
    const [winner, loser] = wins(x, y) ? [x, y] : [y, x]
    entries[path] = winner
    if (supersedes(winner, loser) || loser.deleted === true) continue
    if (winner.deleted !== true && winner.cid === loser.cid) continue
    losers.push({ path, entry: loser })
  }
  for (const { path, entry } of losers) {
    let at = conflictPath(path, entry)
    const held = Object.hasOwn(entries, at) ? entries[at] : undefined
    if (held?.id === entry.id) continue
    // the name is taken by another write: the loser's own id makes its copy's name unique
    if (held !== undefined) at = `${at}-${entry.id.slice(0, DEVICE_PREFIX)}`
    entries[at] = entry
  }
  return { v: 1, seq: Math.max(a.seq, b.seq), folders, entries }
}

/** Whether two indexes hold the same folders and entries. */
export function sameEntries (a: PrivateIndex, b: PrivateIndex): boolean {
  return canonicalJson({ f: a.folders, e: a.entries }) === canonicalJson({ f: b.folders, e: b.entries })
}
