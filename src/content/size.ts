/**
 * The size of a DAG as its root block tells it, so a fetch's progress can show a total
 * before the rest arrives: a raw block is its own size; a dag-pb node is its own bytes
 * plus its links' Tsize (the serialized size of each subtree, as kubo reports it).
 */
import * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import type { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import type { ContentBlockstore } from './types.ts'

/** Bytes of blocks under `cid`, from its root block's bytes; undefined when the root does not say. */
export function dagSizeOf (cid: CID, bytes: Uint8Array): number | undefined {
  if (cid.code === raw.code) return bytes.length
  if (cid.code !== dagPb.code) return undefined
  try {
    const node = dagPb.decode(bytes)
    if (node.Links.every(l => l.Tsize !== undefined)) return node.Links.reduce((sum, l) => sum + (l.Tsize as number), bytes.length)
    // No Tsize on some link: a file's own size is the best guess there is (it leaves out the DAG's overhead).
    const unixfs = node.Data === undefined ? undefined : UnixFS.unmarshal(node.Data)
    return unixfs?.isDirectory() === false ? Number(unixfs.fileSize()) : undefined
  } catch {
    return undefined
  }
}

/**
 * Wraps a fetch's progress callback so that its events carry `totalBytes` as soon as the
 * root block is in `store` (it is the first block a fetch brings).
 */
export function withDagTotal<E extends { bytes: number }> (store: Pick<ContentBlockstore, 'has' | 'get'>, root: CID, onProgress: (e: E & { totalBytes?: number }) => void): (e: E) => void {
  let totalBytes: number | undefined
  let reading = false
  const read = (): void => {
    if (reading || !store.has(root)) return
    reading = true
    store.get(root).then(bytes => { totalBytes = dagSizeOf(root, bytes) }, () => { /* no total, as before */ })
  }
  read()
  return e => {
    read()
    onProgress(totalBytes === undefined ? e : { ...e, totalBytes })
  }
}
