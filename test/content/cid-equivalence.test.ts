/**
 * weft's importer must name content exactly as the reference `ipfs-unixfs-importer` does
 * with the IPIP-499 `unixfs-v1-2025` profile, or a site added with weft and the same
 * folder added elsewhere would get different CIDs. The reference side is fed candidates
 * read straight from the filesystem, every folder as `{ path }` and every file as
 * `{ path, content }`, so it shares none of weft's code.
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { chmod, lstat, mkdir, readdir, symlink, utimes, writeFile } from 'node:fs/promises'
import { basename, join, relative } from 'node:path'
import * as dagPb from '@ipld/dag-pb'
import { MemoryBlockstore } from 'blockstore-core'
import { UnixFS } from 'ipfs-unixfs'
import { importer, type ImportCandidate, type ImportResult as ReferenceEntry } from 'ipfs-unixfs-importer'
import type { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { createNode, type WeftNode } from '../../src/node/index.ts'
import { importPath, type ImportOptions, type ImportResult } from '../../src/content/index.ts'
import { tmpDir, tmpHome } from '../helpers/home.ts'

const KiB = 1024
const MiB = 1024 * KiB
/** The profile's HAMT threshold: a folder whose estimated block is larger is sharded. */
const SHARD_THRESHOLD = 256 * KiB

// ---------------------------------------------------------------------------------------
// Deterministic content

/** mulberry32: the same seed gives the same bytes on every machine, so failures reproduce. */
function pseudoRandomBytes (size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size)
  let state = seed >>> 0
  for (let i = 0; i < size; i += 4) {
    state = (state + 0x6D2B79F5) >>> 0
    let z = state
    z = Math.imul(z ^ (z >>> 15), z | 1)
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61)
    z = (z ^ (z >>> 14)) >>> 0
    for (let j = 0; j < 4 && i + j < size; j++) out[i + j] = (z >>> (8 * j)) & 0xff
  }
  return out
}

// ---------------------------------------------------------------------------------------
// Trees on disk

class Symlink {
  readonly target: string
  constructor (target: string) { this.target = target }
}

interface Folder { [name: string]: Entry }
type Entry = Uint8Array | string | Symlink | Folder

/** Writes `spec` at `path`; a folder's entries are written in parallel. */
async function writeTree (path: string, spec: Entry): Promise<void> {
  if (typeof spec === 'string' || spec instanceof Uint8Array) {
    await writeFile(path, spec)
  } else if (spec instanceof Symlink) {
    await symlink(spec.target, path)
  } else {
    await mkdir(path)
    await Promise.all(Object.entries(spec).map(async ([name, child]) => { await writeTree(join(path, name), child) }))
  }
}

// ---------------------------------------------------------------------------------------
// The reference side

/** dag-pb's link order: names compared as UTF-8 bytes. */
function byUtf8 (a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b))
}

/** UnixFS time: whole seconds, floored, and 0 <= nsecs < 1e9, also before 1970. */
function unixfsMtime (ns: bigint): { secs: bigint, nsecs: number } {
  const nsecs = ((ns % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n
  return { secs: (ns - nsecs) / 1_000_000_000n, nsecs: Number(nsecs) }
}

/**
 * Synchronous on purpose: node:test tracks every promise, and the four or so an async
 * read makes per file cost seconds over the 10,000-file folder.
 */
function readWhole (path: string): Uint8Array {
  return readFileSync(path)
}

/** The candidates a plain `ipfs add -r` of `path` would give the importer, straight from disk. */
async function * referenceCandidates (path: string, options: ImportOptions): AsyncGenerator<ImportCandidate> {
  const meta = async (absPath: string): Promise<Pick<ImportCandidate, 'mode' | 'mtime'>> => {
    if (options.preserveMode !== true && options.preserveMtime !== true) return {}
    const st = await lstat(absPath, { bigint: true })
    return {
      ...(options.preserveMode === true ? { mode: Number(st.mode & 0o7777n) } : {}),
      ...(options.preserveMtime === true ? { mtime: unixfsMtime(st.mtimeNs) } : {})
    }
  }
  const visitFolder = async function * (absPath: string, dagPath: string): AsyncGenerator<ImportCandidate> {
    yield { path: dagPath, ...await meta(absPath) }
    const children = (await readdir(absPath, { withFileTypes: true })).sort((a, b) => byUtf8(a.name, b.name))
    for (const child of children) {
      if (options.hidden !== true && child.name.startsWith('.')) continue
      const childPath = join(absPath, child.name)
      if (child.isDirectory()) yield * visitFolder(childPath, `${dagPath}/${child.name}`)
      // Symlinks are not followed.
      else if (child.isFile()) yield { path: `${dagPath}/${child.name}`, content: readWhole(childPath), ...await meta(childPath) }
    }
  }
  if ((await lstat(path)).isDirectory()) yield * visitFolder(path, basename(path))
  else yield { path: basename(path), content: readWhole(path), ...await meta(path) }
}

interface Reference {
  root: ReferenceEntry
  entries: ReferenceEntry[]
}

async function referenceImport (path: string, options: ImportOptions = {}): Promise<Reference> {
  const blocks = new MemoryBlockstore()
  const entries: ReferenceEntry[] = []
  for await (const entry of importer(referenceCandidates(path, options), blocks, { profile: 'unixfs-v1-2025' })) {
    entries.push(entry)
  }
  const root = entries.find(e => e.path === basename(path))
  assert.ok(root !== undefined, `the reference importer returned no entry for ${basename(path)}`)
  return { root, entries }
}

// ---------------------------------------------------------------------------------------
// The comparison

async function startNode (t: TestContext): Promise<WeftNode> {
  let node: WeftNode | undefined
  // Registered before tmpHome's cleanup so the node stops before its home is removed.
  t.after(async () => { await node?.stop() })
  node = await createNode({ home: await tmpHome(t) })
  return node
}

function unixfsType (block: Uint8Array): string {
  const { Data } = dagPb.decode(block)
  assert.ok(Data !== undefined, 'a dag-pb node without UnixFS data')
  return UnixFS.unmarshal(Data).type
}

/**
 * Imports `path` with weft and with the reference and asserts the two DAGs are the same:
 * the root and every entry the reference reports; and that weft stored the whole DAG.
 */
async function assertSameAsReference (node: WeftNode, path: string, options: ImportOptions = {}): Promise<{ weft: ImportResult, reference: Reference }> {
  const weft = await importPath(node.blocks, path, options)
  const reference = await referenceImport(path, options)

  // Deepest differences first, so a failure names the entry that went wrong, not just the root.
  const weftByPath = new Map(weft.entries.map(e => [e.path, e.cid.toString()]))
  const differences = reference.entries
    .filter(e => weftByPath.get(e.path ?? '') !== e.cid.toString())
    .map(e => `${e.path}: weft ${weftByPath.get(e.path ?? '') ?? '(missing)'}, reference ${e.cid}`)
  assert.deepEqual(differences, [], `entries of ${basename(path)} differ`)
  assert.equal(weft.root.path, reference.root.path)
  assert.equal(weft.root.cid.toString(), reference.root.cid.toString(), `root CID of ${basename(path)}`)
  assert.equal(weft.root.size, Number(reference.root.size), `root size of ${basename(path)}`)

  await assertDagStored(node, weft.root.cid)
  return { weft, reference }
}

/**
 * Every block under `root` is in weft's store. With `verify()` finding every stored block
 * hashes to its CID, an equal root CID then means weft holds the reference's DAG.
 */
async function assertDagStored (node: WeftNode, root: CID): Promise<void> {
  const seen = new Set<string>()
  const stack = [root]
  while (stack.length > 0) {
    const cid = stack.pop() as CID
    if (seen.has(cid.toString())) continue
    seen.add(cid.toString())
    assert.ok(node.blocks.has(cid), `block ${cid} under ${root} is missing from weft's store`)
    // Raw leaves have no links: presence is enough, verify() checks their bytes.
    if (cid.code !== raw.code) stack.push(...dagPb.decode(await node.blocks.get(cid)).Links.map(l => l.Hash))
  }
}

async function assertStoreVerifies (node: WeftNode): Promise<void> {
  const report = await node.blocks.verify()
  assert.deepEqual(report.problems, [])
  assert.ok(report.ok > 0)
}

// ---------------------------------------------------------------------------------------
// Cases

// From 8 MiB a file is read, hashed and written by the import's own thread (content/import.ts):
// either side of that, and more chunks than the thread keeps in memory at once.
const FILE_SIZES = [0, 1, MiB - 1, MiB, MiB + 1, 2 * MiB, 3 * MiB + 17, 5 * MiB, 8 * MiB - 1, 8 * MiB, 21 * MiB + 3]

test('single files around the 1 MiB chunk size have the reference CIDs', async t => {
  const node = await startNode(t)
  const dir = await tmpDir(t)
  for (const [i, size] of FILE_SIZES.entries()) {
    await t.test(`${size} bytes`, async () => {
      const path = join(dir, `file-${size}.bin`)
      await writeFile(path, pseudoRandomBytes(size, i + 1))
      const { weft } = await assertSameAsReference(node, path)
      assert.equal(weft.root.path, `file-${size}.bin`)
      assert.equal(weft.bytes, size)
      // One chunk is the file itself; more are a dag-pb node over raw leaves.
      assert.equal(weft.root.cid.code, size <= MiB ? raw.code : dagPb.code)
    })
  }
  await assertStoreVerifies(node)
})

test('a large file whose chunks repeat, and one whose chunks are stored already, have the reference CIDs', async t => {
  const node = await startNode(t)
  const dir = await tmpDir(t)
  const chunk = pseudoRandomBytes(MiB, 99)
  const repeated = new Uint8Array(12 * MiB)
  for (let at = 0; at < repeated.byteLength; at += MiB) repeated.set(chunk, at)
  await writeFile(join(dir, 'repeated.bin'), repeated)
  await assertSameAsReference(node, join(dir, 'repeated.bin'))
  // one leaf and the file node: the thread wrote the repeated chunk once
  assert.equal(node.blocks.stat().blocks, 2)
  assert.equal(node.blocks.stat().packBytes, node.blocks.stat().bytes, 'no bytes written for the repeats')
  // the same bytes with one more chunk: all but the last leaf are held already
  await writeFile(join(dir, 'longer.bin'), Buffer.concat([repeated, pseudoRandomBytes(MiB, 100)]))
  await assertSameAsReference(node, join(dir, 'longer.bin'))
  assert.equal(node.blocks.stat().packBytes, node.blocks.stat().bytes)
  await assertStoreVerifies(node)
})

test('a folder of mixed files, unicode names and empty folders has the reference CID', async t => {
  const node = await startNode(t)
  const root = join(await tmpDir(t), 'site')
  await writeTree(root, {
    'empty.txt': '',
    'also-empty': '',
    'one.txt': 'x',
    'index.html': '<!doctype html><title>weft</title>\n',
    'below-a-chunk.bin': pseudoRandomBytes(MiB - 1, 11),
    'one-chunk.bin': pseudoRandomBytes(MiB, 12),
    'just-over.bin': pseudoRandomBytes(MiB + 1, 13),
    'name with spaces.txt': 'spaces\n',
    '  leading and trailing  ': 'blank-edged\n',
    häuser: { 'straße.md': '# Straße\n', 'ünïcödé': {} },
    '日本語.txt': 'こんにちは\n',
    '🦀 crab.txt': 'emoji\n',
    // The same word precomposed and with a combining accent: two distinct names.
    'caf\u00e9.txt': 'precomposed\n',
    'cafe\u0301.txt': 'combining\n',
    // U+FB01 sorts after the emoji's surrogates as UTF-16 but before it as UTF-8.
    '\ufb01le.txt': 'ligature\n',
    nested: {
      'a.txt': pseudoRandomBytes(1000, 14),
      deeper: {
        deepest: { 'leaf.bin': pseudoRandomBytes(2 * MiB + 3, 15) },
        'empty-here': {}
      }
    },
    'empty-dir': {},
    'empty-outer': { 'empty-inner': {} }
  })
  const { weft } = await assertSameAsReference(node, root)
  assert.equal(weft.root.path, 'site')
  assert.equal(weft.files, 17)
  await assertStoreVerifies(node)
})

test('50 levels of nested folders have the reference CID', async t => {
  const node = await startNode(t)
  const root = join(await tmpDir(t), 'deep')
  let spec: Folder = { 'bottom.txt': 'the bottom\n', 'empty-at-the-bottom': {} }
  for (let level = 50; level >= 1; level--) {
    spec = { [`level-${level}`]: spec, [`file-${level}.bin`]: pseudoRandomBytes(level * 37, 100 + level) }
  }
  await writeTree(root, spec)
  const { weft } = await assertSameAsReference(node, root)
  assert.ok(weft.entries.some(e => e.path.split('/').length === 52 && e.path.endsWith('/bottom.txt')))
  await assertStoreVerifies(node)
})

test('a 10,000-entry folder becomes the reference HAMT shard', async t => {
  const node = await startNode(t)
  const root = join(await tmpDir(t), 'many')
  const spec: Folder = { sub: { 'inner.txt': 'inside a shard\n' }, empty: {} }
  for (let i = 0; i < 10_000; i++) spec[`file-${String(i).padStart(5, '0')}.txt`] = `file ${i}\n`
  await writeTree(root, spec)
  const { weft } = await assertSameAsReference(node, root)
  assert.equal(unixfsType(await node.blocks.get(weft.root.cid)), 'hamt-sharded-directory')
  await assertStoreVerifies(node)
})

/** Bytes one link adds to a dag-pb node (Hash, Name, Tsize, and the link's own framing). */
function pbLinkBytes (nameBytes: number, cidBytes: number, tsize: number): number {
  const varint = (n: number): number => { let len = 1; while (n >= 0x80) { n = Math.floor(n / 0x80); len++ } return len }
  const link = 1 + varint(cidBytes) + cidBytes + 1 + varint(nameBytes) + nameBytes + 1 + varint(tsize)
  return 1 + varint(link) + link
}

/**
 * A folder whose flat block is exactly `blockBytes` long (with `extra` added to the last
 * name's length): 250-byte names keep the file count low. The importer shards a folder
 * when its estimated block, the exact serialized size for `block-bytes`, exceeds 256 KiB.
 */
function folderOfBlockSize (blockBytes: number, extra = 0): Folder {
  const content = 'sixteen bytes..\n'
  const cidBytes = 36 // CIDv1, raw, sha2-256
  const dataBytes = 4 // UnixFS { type: directory }
  const longName = 250
  const perLink = pbLinkBytes(longName, cidBytes, content.length)
  const count = Math.floor((blockBytes - dataBytes - pbLinkBytes(1, cidBytes, content.length)) / perLink)
  const rest = blockBytes - dataBytes - count * perLink
  let lastName = 1
  while (pbLinkBytes(lastName, cidBytes, content.length) < rest) lastName++
  assert.equal(pbLinkBytes(lastName, cidBytes, content.length), rest, 'no name length fills the block exactly')
  const spec: Folder = {}
  for (let i = 0; i < count; i++) spec[String(i).padStart(4, '0').padEnd(longName, 'n')] = content
  spec['z'.repeat(lastName + extra)] = content
  return spec
}

test('folders either side of the 256 KiB sharding threshold match the reference', async t => {
  const node = await startNode(t)
  const dir = await tmpDir(t)
  await t.test('a 256 KiB flat block stays flat', async () => {
    const root = join(dir, 'at-threshold')
    await writeTree(root, folderOfBlockSize(SHARD_THRESHOLD))
    const { weft } = await assertSameAsReference(node, root)
    const block = await node.blocks.get(weft.root.cid)
    assert.equal(block.length, SHARD_THRESHOLD)
    assert.equal(unixfsType(block), 'directory')
  })
  await t.test('one byte more is sharded', async () => {
    const root = join(dir, 'over-threshold')
    await writeTree(root, folderOfBlockSize(SHARD_THRESHOLD, 1))
    const { weft } = await assertSameAsReference(node, root)
    assert.equal(unixfsType(await node.blocks.get(weft.root.cid)), 'hamt-sharded-directory')
  })
  await assertStoreVerifies(node)
})

test('hidden names are skipped by default and included with hidden: true, as in the reference', async t => {
  const node = await startNode(t)
  const root = join(await tmpDir(t), 'with-hidden')
  await writeTree(root, {
    '.env': 'SECRET=1\n',
    '.git': { HEAD: 'ref: refs/heads/main\n', objects: { '.keep': '' } },
    'only-hidden': { '.keep': '' },
    visible: { '.htaccess': 'deny from all\n', 'page.html': '<p>hi</p>\n' },
    'readme.md': '# hidden test\n'
  })
  const skipped = await assertSameAsReference(node, root)
  assert.ok(!skipped.weft.entries.some(e => e.path.split('/').some(part => part.startsWith('.'))))
  const included = await assertSameAsReference(node, root, { hidden: true })
  assert.notEqual(included.weft.root.cid.toString(), skipped.weft.root.cid.toString())
  assert.ok(included.weft.entries.some(e => e.path === 'with-hidden/.git/objects/.keep'))
  await assertStoreVerifies(node)
})

test('preserveMode and preserveMtime give the reference CIDs', async t => {
  const node = await startNode(t)
  const root = join(await tmpDir(t), 'with-metadata')
  await writeTree(root, {
    'script.sh': '#!/bin/sh\necho hi\n',
    'private.txt': 'mine\n',
    'empty.txt': '',
    'big.bin': pseudoRandomBytes(MiB + 5, 21),
    bin: { tool: 'binary\n' },
    shared: { 'notes.txt': 'notes\n' },
    'empty-dir': {}
  })
  const modes: Array<[string, number]> = [
    ['script.sh', 0o755], ['private.txt', 0o600], ['empty.txt', 0o444], ['big.bin', 0o640],
    ['bin/tool', 0o4755], ['bin', 0o700], ['shared', 0o1777], ['empty-dir', 0o750], ['.', 0o750]
  ]
  for (const [name, mode] of modes) await chmod(join(root, name), mode)
  // Epoch, a day before it, past 2106, and fractional seconds; folders last, as writes
  // touch them. A Date, because utimes() takes a negative number to mean now.
  const mtimes: Array<[string, number | Date]> = [
    ['script.sh', 0], ['private.txt', new Date(-86_400_000)], ['empty.txt', 2 ** 32 + 0.5], ['big.bin', 1_700_000_000.25],
    ['bin/tool', 1_234_567_890.123], ['bin', 1_600_000_000], ['shared/notes.txt', 1], ['shared', 1_650_000_000.75],
    ['empty-dir', 1_000_000_000.5], ['.', 1_700_000_123.5]
  ]
  for (const [name, secs] of mtimes) await utimes(join(root, name), secs, secs)

  const plain = await assertSameAsReference(node, root)
  for (const options of [{ preserveMode: true }, { preserveMtime: true }, { preserveMode: true, preserveMtime: true }]) {
    await t.test(JSON.stringify(options), async () => {
      const { weft } = await assertSameAsReference(node, root, options)
      assert.notEqual(weft.root.cid.toString(), plain.weft.root.cid.toString())
      const { Data } = dagPb.decode(await node.blocks.get(weft.root.cid))
      const unixfs = UnixFS.unmarshal(Data as Uint8Array)
      if (options.preserveMode === true) assert.equal(unixfs.mode, 0o750)
      if ('preserveMtime' in options) {
        assert.deepEqual(unixfs.mtime, { secs: 1_700_000_123n, nsecs: 500_000_000 })
        const before1970 = weft.entries.find(e => e.path === 'with-metadata/private.txt')
        assert.ok(before1970 !== undefined)
        const { Data: fileData } = dagPb.decode(await node.blocks.get(before1970.cid))
        assert.deepEqual(UnixFS.unmarshal(fileData as Uint8Array).mtime, { secs: -86_400n, nsecs: 0 })
      }
    })
  }
  await assertStoreVerifies(node)
})

test('symlinks are skipped and reported; the root is the reference root of the tree without them', async t => {
  const node = await startNode(t)
  const dir = await tmpDir(t)
  const spec: Folder = {
    'target.txt': 'the target\n',
    folder: { 'inside.txt': 'inside\n' },
    'only-links': {}
  }
  const root = join(dir, 'with-links')
  const plainRoot = join(dir, 'without-links', 'with-links')
  await mkdir(join(dir, 'without-links'))
  await writeTree(plainRoot, spec)
  await writeTree(root, {
    ...spec,
    'link-to-file': new Symlink('target.txt'),
    'link-to-folder': new Symlink('folder'),
    dangling: new Symlink('nowhere'),
    'only-links': { up: new Symlink('..') }
  })
  const weft = await importPath(node.blocks, root)
  const reference = await referenceImport(plainRoot)
  assert.equal(weft.root.cid.toString(), reference.root.cid.toString())
  // The reference reading the tree with symlinks in place also skips them, so it agrees too.
  await assertSameAsReference(node, root)
  assert.deepEqual(weft.symlinks.map(p => relative(root, p)).sort(), ['dangling', 'link-to-file', 'link-to-folder', join('only-links', 'up')])
  await assertStoreVerifies(node)
})

// Two cases that once differed from the reference: a folder's own entry counts in its
// parent's size estimate, and times before 1970 round down.

test('a folder at the threshold whose last entry is a non-empty sub-folder matches the reference', async t => {
  const node = await startNode(t)
  const root = join(await tmpDir(t), 'edge')
  // '~' sorts after every name folderOfBlockSize makes, so the sub-folder comes last.
  await writeTree(root, { ...folderOfBlockSize(SHARD_THRESHOLD), '~sub': { 'inner.txt': 'inner\n' } })
  await assertSameAsReference(node, root)
})

test('a fractional mtime before 1970 is stored as floored seconds and 0 <= nsecs < 1e9', async t => {
  const node = await startNode(t)
  const root = join(await tmpDir(t), 'old')
  await writeTree(root, { 'file.txt': 'old\n' })
  await utimes(join(root, 'file.txt'), new Date(-1500), new Date(-1500))
  await utimes(root, 1_700_000_000, 1_700_000_000)
  const { weft } = await assertSameAsReference(node, root, { preserveMtime: true })
  const file = weft.entries.find(e => e.path === 'old/file.txt')
  assert.ok(file !== undefined)
  const { Data } = dagPb.decode(await node.blocks.get(file.cid))
  assert.deepEqual(UnixFS.unmarshal(Data as Uint8Array).mtime, { secs: -2n, nsecs: 500_000_000 })
})
