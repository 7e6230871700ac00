/**
 * Merging two devices' indexes of one private store. Per path:
 *
 * 1. the same entry (`id`) on both: kept;
 * 2. one side has seen the other's entry (its `seen[device]` is at or beyond the entry's
 *    `seq`), or one entry's `history` holds the other's `id`: that side's entry was written,
 *    or chosen, knowing of the other. It wins and the other is superseded (no conflict copy);
 * 3. otherwise the writes were concurrent: the higher `seq` wins, ties broken by the greater
 *    `device`, then the greater `id`. The loser is kept as `<path>.conflict-<first 8 of its
 *    device>` unless it is a tombstone (a deletion loses nothing) or both hold the same
 *    content (`cid`), so no write is lost silently.
 *
 * `seen` is what makes 2 hold past the 16 ids of `history`: an entry overwritten 17 times
 * and then deleted on one device is still known there as seen. The merge's `seen` is the
 * higher of both sides per device. An index without `seen` (written before it) counts its
 * own entries as seen, which is all it can show.
 *
 * Folders keep the higher generation. The rule is symmetric (merge(a, b) and merge(b, a)
 * hold the same entries), so two devices that merge each other's index agree.
 */
import { canonicalJson, type Entry, type PrivateIndex } from './index-doc.ts'

const DEVICE_PREFIX = 8

export type Seen = Record<string, number>

/** What `index` has seen: its `seen`, raised by its entries' own (device, seq) (all an older index has). */
export function seenOf (index: PrivateIndex): Seen {
  const seen: Seen = {}
  const raise = (device: string, seq: number): void => {
    if (!Object.hasOwn(seen, device) || seen[device] < seq) seen[device] = seq
  }
  for (const [device, seq] of Object.entries(index.seen ?? {})) raise(device, seq)
  for (const entry of Object.values(index.entries)) raise(entry.device, entry.seq)
  return seen
}

function hasSeen (seen: Seen, entry: Entry): boolean {
  return Object.hasOwn(seen, entry.device) && seen[entry.device] >= entry.seq
}

/** Whether `a` (held by the side that has seen `seenA`) takes the place of `b`, held by the other. */
function wins (a: Entry, seenA: Seen, b: Entry, seenB: Seen): boolean {
  const aKnew = a.history.includes(b.id) || hasSeen(seenA, b)
  const bKnew = b.history.includes(a.id) || hasSeen(seenB, a)
  if (aKnew !== bKnew) return aKnew
  if (a.seq !== b.seq) return a.seq > b.seq
  if (a.device !== b.device) return a.device > b.device
  return a.id > b.id
}

export function conflictPath (path: string, loser: Entry): string {
  return `${path}.conflict-${loser.device.slice(0, DEVICE_PREFIX)}`
}

/** The merged folders, entries and seen of `a` and `b`, with seq = the higher of theirs (the caller bumps it when publishing). */
export function mergeIndexes (a: PrivateIndex, b: PrivateIndex): PrivateIndex {
  const folders: PrivateIndex['folders'] = {}
  for (const side of [a, b]) {
    for (const [folder, { generation }] of Object.entries(side.folders)) {
      if (!Object.hasOwn(folders, folder) || folders[folder].generation < generation) folders[folder] = { generation }
    }
  }
  const seenA = seenOf(a)
  const seenB = seenOf(b)
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
    const [winner, winnerSeen, loser] = wins(x, seenA, y, seenB) ? [x, seenA, y] : [y, seenB, x]
    entries[path] = winner
    // superseded: the winner's side had the loser (or a later write of its device) and kept what it holds
    if (winner.history.includes(loser.id) || hasSeen(winnerSeen, loser) || loser.deleted === true) continue
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
  const seen: Seen = { ...seenA }
  for (const [device, seq] of Object.entries(seenB)) {
    if (!Object.hasOwn(seen, device) || seen[device] < seq) seen[device] = seq
  }
  return { v: 1, seq: Math.max(a.seq, b.seq), folders, entries, seen }
}

/** Whether two indexes hold the same folders, entries and seen (an older index's seen counted from its entries). */
export function sameEntries (a: PrivateIndex, b: PrivateIndex): boolean {
  return canonicalJson({ f: a.folders, e: a.entries, s: seenOf(a) }) === canonicalJson({ f: b.folders, e: b.entries, s: seenOf(b) })
}
