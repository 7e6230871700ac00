/**
 * One timed case of the `add` benchmark, run in a child process of its own so its peak
 * RSS is its own: `add-worker.ts <case> <input> <store>`. Prints one JSON line
 * (`AddCaseResult`) on stdout.
 */
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdir, open, readFile, readdir } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { unixfs, globSource } from '@helia/unixfs'
import { FsBlockstore } from 'blockstore-fs'
import { cat, importPath, parseContentPath } from '../src/content/index.ts'
import { createNode } from '../src/node/index.ts'

export const CASES = ['sha256', 'disk', 'weft-file', 'weft-file-nosync', 'weft-file-noverify', 'weft-read', 'weft-read-noverify', 'weft-dir', 'weft-tiny', 'helia-file', 'helia-dir'] as const
export type AddCase = typeof CASES[number]

export interface AddCaseResult {
  case: AddCase
  ms: number
  /** Root CID of what was added; absent for sha256. */
  root?: string
  /** Blocks in the store afterwards: the check that both stores really hold the DAG. */
  blocks?: number
  maxRssMB: number
  /** sha256: each pass over the bytes, ms (the first in a fresh process, then warm). */
  passesMs?: number[]
  /** The disk case: the writes into the page cache alone, before fdatasync. */
  writeMs?: number
}

const PIECE = 1024 * 1024
const SHA256_PASSES = 3
// Helia's own importer defaults are CIDv1, raw leaves, 1 MiB chunks and 1024 links; the
// profile adds the rest of IPIP-499 (links-first field order, block-bytes sharding),
// which is what weft's importPath uses.
const HELIA_ADD_OPTIONS = { profile: 'unixfs-v1-2025' } as const

type Timed = Omit<AddCaseResult, 'case' | 'maxRssMB'>

/**
 * The hash ceiling: node:crypto over the file's bytes in 1 MiB pieces, as the importer
 * hashes them. Three passes in this fresh process; the fastest counts (the first pass
 * is printed too, so a slow first pass shows).
 */
async function sha256 (file: string): Promise<Timed> {
  const bytes = await readFile(file)
  const passesMs: number[] = []
  for (let pass = 0; pass < SHA256_PASSES; pass++) {
    const start = performance.now()
    for (let off = 0; off < bytes.length; off += PIECE) {
      createHash('sha256').update(bytes.subarray(off, off + PIECE)).digest()
    }
    passesMs.push(performance.now() - start)
  }
  return { ms: Math.min(...passesMs), passesMs }
}

/**
 * The disk's ceiling with fsync: the file's bytes (read first, untimed) written into a new
 * file beside the stores in 1 MiB writes, then fdatasync, as a pack is written. The writes
 * alone (into the page cache) are timed too: on this kind of VM their speed swings between
 * ~400 MB/s and ~3.7 GB/s with whether the kernel's fresh pages are already backed by the host.
 */
async function disk (file: string, dir: string): Promise<Timed> {
  const bytes = await readFile(file)
  await mkdir(dir, { recursive: true })
  const fh = await open(join(dir, 'disk.bin'), 'w')
  try {
    const start = performance.now()
    for (let off = 0; off < bytes.length; off += PIECE) await fh.write(bytes, off, Math.min(PIECE, bytes.length - off), off)
    const writeMs = performance.now() - start
    await fh.datasync()
    return { ms: performance.now() - start, writeMs }
  } finally {
    await fh.close()
  }
}

/** What `weft add` does: import into the home, then pin the root (pin reads the DAG's nodes back). */
async function weft (input: string, home: string, sync = true, verifyReads = true): Promise<Timed> {
  const node = await createNode({ home, verifyReads, configOverrides: c => ({ ...c, datastore: { ...c.datastore, sync } }) })
  try {
    const start = performance.now()
    const result = await importPath(node.blocks, input)
    await node.blocks.pin(result.root.cid)
    const ms = performance.now() - start
    return { ms, root: result.root.cid.toString(), blocks: node.blocks.stat().blocks }
  } finally {
    await node.stop()
  }
}

/**
 * What `weft cat` does on a node that holds the file: every block read from the store
 * (hashed against its CID unless verifyReads is off) and the file's bytes put together.
 * The file is added first (untimed), and read by a node opened afresh, so its read cache
 * is empty; the pack is still in the page cache, so the read costs little besides the
 * hashing: the worst case for what verifying adds.
 */
async function weftRead (input: string, home: string, verifyReads: boolean): Promise<Timed> {
  const adder = await createNode({ home, configOverrides: c => ({ ...c, datastore: { ...c.datastore, sync: false } }) })
  let root: string
  try {
    const result = await importPath(adder.blocks, input)
    await adder.blocks.pin(result.root.cid)
    root = result.root.cid.toString()
  } finally {
    await adder.stop()
  }
  const node = await createNode({ home, verifyReads })
  try {
    const start = performance.now()
    let bytes = 0
    for await (const chunk of cat(node.blocks, parseContentPath(root))) bytes += chunk.byteLength
    const ms = performance.now() - start
    if (bytes === 0) throw new Error('read nothing back')
    return { ms, root, blocks: node.blocks.stat().blocks }
  } finally {
    await node.stop()
  }
}

/**
 * Helia's unixfs needs only `Pick<Blockstore, 'get' | 'put' | 'has'>`, so it gets the
 * FsBlockstore directly: no libp2p, no bootstrap, no UPnP, nothing that could touch the
 * network, and no datastore. That means no pin either, which is what Helia's own
 * `addFile`/`addAll` do (pinning is a separate `helia.pins.add`), so Helia does less
 * work here than weft: the comparison leans in Helia's favour, not weft's.
 */
async function helia (input: string, storePath: string, kind: 'file' | 'dir'): Promise<Timed> {
  const blockstore = new FsBlockstore(storePath)
  await blockstore.open()
  try {
    const fs = unixfs({ blockstore })
    const start = performance.now()
    let root: string
    if (kind === 'file') {
      const cid = await fs.addByteStream(createReadStream(input, { highWaterMark: PIECE }), HELIA_ADD_OPTIONS)
      root = cid.toString()
    } else {
      // The folder's own name heads every path, as weft's import names it.
      const name = basename(input)
      let found: string | undefined
      for await (const entry of fs.addAll(globSource(dirname(input), `${name}/**/*`), HELIA_ADD_OPTIONS)) {
        if (entry.path?.replace(/^\/+/, '') === name) found = entry.cid.toString()
      }
      if (found === undefined) throw new Error(`Helia returned no entry for ${name}`)
      root = found
    }
    const ms = performance.now() - start
    return { ms, root, blocks: await countFiles(storePath, '.data') }
  } finally {
    await blockstore.close()
  }
}

async function countFiles (dir: string, ext: string): Promise<number> {
  const names = await readdir(dir, { recursive: true })
  return names.filter(n => n.endsWith(ext)).length
}

async function runCase (name: AddCase, input: string, store: string): Promise<Timed> {
  switch (name) {
    case 'sha256': return await sha256(input)
    case 'disk': return await disk(input, store)
    case 'weft-file':
    case 'weft-dir':
    case 'weft-tiny': return await weft(input, store)
    case 'weft-file-nosync': return await weft(input, store, false)
    case 'weft-file-noverify': return await weft(input, store, true, false)
    case 'weft-read': return await weftRead(input, store, true)
    case 'weft-read-noverify': return await weftRead(input, store, false)
    case 'helia-file': return await helia(input, store, 'file')
    case 'helia-dir': return await helia(input, store, 'dir')
  }
}

if (import.meta.main) {
  const [name, input, store] = process.argv.slice(2)
  if (!(CASES as readonly string[]).includes(name) || input === undefined) {
    process.stderr.write(`usage: add-worker.ts <${CASES.join('|')}> <input> [store]\n`)
    process.exit(2)
  }
  const timed = await runCase(name as AddCase, input, store ?? '')
  const result: AddCaseResult = { case: name as AddCase, ...timed, maxRssMB: process.resourceUsage().maxRSS / 1024 }
  process.stdout.write(JSON.stringify(result) + '\n')
}
