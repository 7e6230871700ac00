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
