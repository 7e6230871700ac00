import { CarBlockIterator, CarWriter } from '@ipld/car'
import type { CID } from 'multiformats/cid'
import { WeftError, isWeftError } from '../errors.ts'
import { walkDag, assertCodecSupported, verifyBlock } from '../blocks/index.ts'
import type { ContentBlockstore } from './types.ts'

/** CARv1 of the whole DAG under `root`, blocks in depth-first order, each once. */
export async function * exportCar (store: ContentBlockstore, root: CID): AsyncGenerator<Uint8Array> {
  const { writer, out } = CarWriter.create([root])
  const pump = (async () => {
    try {
      await walkDag(store, root, async (cid, bytes) => {
        await writer.put({ cid: cid as never, bytes: bytes as Uint8Array })
      }, { readRaw: true })
    } finally {
      await writer.close()
    }
  })()
  let failure: unknown
  pump.catch(err => { failure = err })
  for await (const chunk of out) yield chunk
  await pump.catch(() => {})
  if (failure !== undefined) throw failure
}

export interface CarImportResult {
  roots: CID[]
  blocks: number
  bytes: number
}

/**
 * Stores every block of a CARv1 stream, each checked against its CID first. The first
 * bad block stops the import; blocks stored before it stay unpinned, so gc removes them.
 */
export async function importCar (store: ContentBlockstore, source: AsyncIterable<Uint8Array>): Promise<CarImportResult> {
  let iterator: CarBlockIterator
  try {
    iterator = await CarBlockIterator.fromIterable(source)
  } catch (err) {
    throw new WeftError('ERR_CAR_INVALID', `not a CARv1 file: ${(err as Error).message}`)
  }
  const roots = (await iterator.getRoots()) as unknown as CID[]
  let blocks = 0
  let bytes = 0
  try {
    for await (const block of iterator) {
      const cid = block.cid as unknown as CID
      assertCodecSupported(cid)
      verifyBlock(cid, block.bytes)
      await store.put(cid, block.bytes, { hashed: true })
      blocks++
      bytes += block.bytes.byteLength
    }
  } catch (err) {
    await store.flush()
    if (isWeftError(err)) throw err
    throw new WeftError('ERR_CAR_INVALID', `the CAR is damaged after ${blocks} good blocks: ${(err as Error).message}`)
  }
  await store.flush()
  return { roots, blocks, bytes }
}
