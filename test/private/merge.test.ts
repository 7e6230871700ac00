import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mergeIndexes, conflictPath, emptyIndex, type Entry, type FileEntry, type PrivateIndex, type Tombstone } from '../../src/private/index.ts'

const DEV_A = 'a'.repeat(32)
const DEV_B = 'b'.repeat(32)
const id = (): string => randomBytes(16).toString('hex')

function file (device: string, seq: number, cid: string, replaces?: Entry): FileEntry {
  return {
    cid, size: 1, folder: '', generation: 0, wrapped: 'w', mtime: seq, id: id(),
    history: replaces === undefined ? [] : [replaces.id, ...replaces.history], seq, device
  }
}

function tombstone (device: string, seq: number, replaces: Entry): Tombstone {
  return { deleted: true, id: id(), history: [replaces.id, ...replaces.history], seq, device, mtime: seq }
}

function index (seq: number, entries: Record<string, Entry>): PrivateIndex {
  return { ...emptyIndex(), seq, entries }
}

/** merge(a, b) and merge(b, a) must hold the same entries: two devices merging each other's index agree. */
function merged (a: PrivateIndex, b: PrivateIndex): PrivateIndex {
  const ab = mergeIndexes(a, b)
  const ba = mergeIndexes(b, a)
  assert.deepEqual(ab.entries, ba.entries, 'the merge is symmetric')
  assert.deepEqual(ab.seen, ba.seen, 'so is what it has seen')
  assert.equal(ab.seq, Math.max(a.seq, b.seq))
  return ab
}

test('fast-forward: an entry written over the other (its history holds the other\'s id) wins with no conflict copy, whatever the seqs', () => {
  const base = file(DEV_A, 5, 'cid-1')
  // B saw A's write and wrote over it, though B's counter is lower
  const over = file(DEV_B, 2, 'cid-2', base)
  const result = merged(index(5, { 'notes.txt': base }), index(2, { 'notes.txt': over }))
  assert.deepEqual(Object.keys(result.entries), ['notes.txt'])
  assert.equal(result.entries['notes.txt'].id, over.id)
  // further back in history counts too
  const third = file(DEV_B, 3, 'cid-3', over)
  assert.equal(merged(index(5, { 'notes.txt': base }), index(3, { 'notes.txt': third })).entries['notes.txt'].id, third.id)
})

test('concurrent writes: the higher seq wins; the loser is kept as <path>.conflict-<device8>', () => {
  const base = file(DEV_A, 1, 'cid-0')
  const a = file(DEV_A, 2, 'cid-a', base)
  const b = file(DEV_B, 3, 'cid-b', base)
  const result = merged(index(2, { 'x/doc': a }), index(3, { 'x/doc': b }))
  assert.equal(result.entries['x/doc'].id, b.id)
  assert.equal(conflictPath('x/doc', a), 'x/doc.conflict-aaaaaaaa')
  assert.equal(result.entries['x/doc.conflict-aaaaaaaa'].id, a.id)
  assert.equal(Object.keys(result.entries).length, 2)
})

test('concurrent writes at the same seq: the greater device wins, then the greater id', () => {
  const a = file(DEV_A, 4, 'cid-a')
  const b = file(DEV_B, 4, 'cid-b')
  const result = merged(index(4, { doc: a }), index(4, { doc: b }))
  assert.equal(result.entries.doc.id, b.id)
  assert.equal(result.entries[`doc.conflict-${DEV_A.slice(0, 8)}`].id, a.id)
  const low = { ...file(DEV_A, 4, 'cid-1'), id: '0'.repeat(32) }
  const high = { ...file(DEV_A, 4, 'cid-2'), id: 'f'.repeat(32) }
  const same = merged(index(4, { doc: low }), index(4, { doc: high }))
  assert.equal(same.entries.doc.id, high.id)
})

test('concurrent writes of the same content keep no conflict copy', () => {
  const a = file(DEV_A, 2, 'cid-same')
  const b = file(DEV_B, 2, 'cid-same')
  assert.deepEqual(Object.keys(merged(index(2, { doc: a }), index(2, { doc: b })).entries), ['doc'])
})

test('tombstones: a delete over a write wins; a write concurrent with a delete is never lost', () => {
  const base = file(DEV_A, 1, 'cid-0')
  const deleted = tombstone(DEV_A, 2, base)
  // B still has only the base: the delete was written over it
  const ff = merged(index(2, { doc: deleted }), index(1, { doc: base }))
  assert.equal(ff.entries.doc.deleted, true)
  assert.equal(Object.keys(ff.entries).length, 1)
  // B edited the base while A deleted it: the delete has the higher seq, so it wins, and B's edit survives as a conflict copy
  const edit = file(DEV_B, 2, 'cid-edit', base)
  const deleteLater = tombstone(DEV_A, 3, base)
  const lost = merged(index(3, { doc: deleteLater }), index(2, { doc: edit }))
  assert.equal(lost.entries.doc.deleted, true)
  assert.equal(lost.entries[`doc.conflict-${DEV_B.slice(0, 8)}`].id, edit.id)
  // the edit wins over a lower-seq delete: nothing to keep of a delete
  const editLater = file(DEV_B, 4, 'cid-edit2', base)
  const kept = merged(index(3, { doc: deleteLater }), index(4, { doc: editLater }))
  assert.equal(kept.entries.doc.id, editLater.id)
  assert.equal(Object.keys(kept.entries).length, 1)
})

test('paths on one side only are taken; folders keep the higher generation', () => {
  const a: PrivateIndex = { ...index(1, { one: file(DEV_A, 1, 'c1') }), folders: { '': { generation: 0 }, x: { generation: 2 } } }
  const b: PrivateIndex = { ...index(1, { two: file(DEV_B, 1, 'c2') }), folders: { '': { generation: 1 }, x: { generation: 1 } } }
  const result = merged(a, b)
  assert.deepEqual(Object.keys(result.entries).sort(), ['one', 'two'])
  assert.deepEqual(result.folders, { '': { generation: 1 }, x: { generation: 2 } })
})

test('merging a merge again changes nothing (the devices converge)', () => {
  const a = file(DEV_A, 2, 'cid-a')
  const b = file(DEV_B, 2, 'cid-b')
  const once = merged(index(2, { doc: a }), index(2, { doc: b }))
  const again = merged(once, index(2, { doc: a }))
  assert.deepEqual(again.entries, once.entries)
  assert.deepEqual(merged(once, index(2, { doc: b })).entries, once.entries)
})

/** `count` writes of one path on `device` after `start`, each over the one before: the last, and the seq it ends at. */
function overwrite (device: string, start: Entry, count: number): FileEntry {
  let last = start
  for (let i = 1; i <= count; i++) {
    const next = file(device, start.seq + i, `cid-${device.slice(0, 1)}-${i}`, last)
    // as the store writes it: at most 16 ids (MAX_HISTORY)
    last = { ...next, history: next.history.slice(0, 16) }
  }
  return last as FileEntry
}

test('seen: a draft autosaved 17 times (past history\'s 16 ids) and then deleted on A is not brought back by B, who held its first version', () => {
  const e0 = file(DEV_A, 1, 'cid-0')
  const onB = index(1, { draft: e0 })
  const e17 = overwrite(DEV_A, e0, 17)
  assert.equal(e17.history.includes(e0.id), false, 'e0 fell out of history')
  const gone = tombstone(DEV_A, e17.seq + 1, e17)
  const onA: PrivateIndex = { ...index(gone.seq, { draft: gone }), seen: { [DEV_A]: gone.seq } }
  const result = merged(onA, onB)
  assert.deepEqual(Object.keys(result.entries), ['draft'], 'no conflict copy')
  assert.equal(result.entries.draft.deleted, true)
  assert.deepEqual(result.seen, { [DEV_A]: gone.seq })
  // overwritten 17 times, not deleted: the last write, no copy of e0
  const kept = merged({ ...index(e17.seq, { draft: e17 }), seen: { [DEV_A]: e17.seq } }, onB)
  assert.deepEqual(Object.keys(kept.entries), ['draft'])
  assert.equal(kept.entries.draft.id, e17.id)
})

test('seen: a side that has seen the other\'s entry wins over it, whatever the seqs', () => {
  // B took A's e5 (seq 9) and, before writing anything, A's index was merged there; B's own write carries a lower seq
  const e5 = file(DEV_A, 9, 'cid-a')
  const over = file(DEV_B, 3, 'cid-b')
  const result = merged({ ...index(3, { doc: over }), seen: { [DEV_A]: 9, [DEV_B]: 3 } }, index(9, { doc: e5 }))
  assert.deepEqual(Object.keys(result.entries), ['doc'])
  assert.equal(result.entries.doc.id, over.id)
})

test('seen: genuinely concurrent writes still keep a conflict copy, past 17 writes too', () => {
  const e0 = file(DEV_A, 1, 'cid-0')
  // B, having seen e0, edits it while A writes 17 times and deletes
  const edit = file(DEV_B, 2, 'cid-edit', e0)
  const onB: PrivateIndex = { ...index(2, { draft: edit }), seen: { [DEV_A]: 1, [DEV_B]: 2 } }
  const gone = tombstone(DEV_A, 19, overwrite(DEV_A, e0, 17))
  const onA: PrivateIndex = { ...index(19, { draft: gone }), seen: { [DEV_A]: 19 } }
  const result = merged(onA, onB)
  assert.equal(result.entries.draft.deleted, true)
  assert.equal(result.entries[`draft.conflict-${DEV_B.slice(0, 8)}`].id, edit.id, 'B\'s edit, which A never saw, is kept')
  assert.deepEqual(result.seen, { [DEV_A]: 19, [DEV_B]: 2 })
  // two plain concurrent writes, both sides with seen
  const a = file(DEV_A, 2, 'cid-a', e0)
  const b = file(DEV_B, 2, 'cid-b', e0)
  const both = merged({ ...index(2, { doc: a }), seen: { [DEV_A]: 2 } }, { ...index(2, { doc: b }), seen: { [DEV_A]: 1, [DEV_B]: 2 } })
  assert.equal(Object.keys(both.entries).length, 2)
})

test('seen: an index written before seen (none) opens, and its entries count as what it has seen', async () => {
  const { openIndex, sealIndex } = await import('../../src/private/index-doc.ts')
  const key = randomBytes(32)
  const e0 = file(DEV_A, 1, 'cid-0')
  const old = index(1, { draft: e0 })
  assert.equal('seen' in old, false)
  const opened = openIndex(key, sealIndex(key, old))
  assert.equal(opened.seen, undefined)
  const result = merged(opened, { ...index(1, {}), seen: { [DEV_B]: 4 } })
  assert.deepEqual(result.seen, { [DEV_A]: 1, [DEV_B]: 4 })
  assert.throws(() => openIndex(key, sealIndex(key, { ...old, seen: { 'not-a-device': 1 } })), /not valid/)
})
