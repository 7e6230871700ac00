import type { DatabaseSync } from 'node:sqlite'
import { CID } from 'multiformats/cid'
import { WeftError } from '../errors.ts'
import { walkDag, blockKey, type DagReader } from './links.ts'

export type PinType = 'recursive' | 'direct'

export interface Pin {
  cid: CID
  type: PinType
  created: Date
}

export class PinSet {
  private readonly db: DatabaseSync

  constructor (db: DatabaseSync) {
    this.db = db
  }

  /** Records the pin; a recursive pin over a DAG with missing blocks fails with ERR_BLOCK_NOT_FOUND. */
  async add (store: DagReader, cid: CID, type: PinType): Promise<void> {
    if (type === 'recursive') {
      await walkDag(store, cid, () => {})
    } else if (!store.has(cid)) {
      throw new WeftError('ERR_BLOCK_NOT_FOUND', `block ${cid} is not in the local store`)
    }
    // A recursive pin covers a direct one; never downgrade.
    const existing = this.get(cid)
    if (existing === 'recursive' && type === 'direct') return
    this.db.prepare('INSERT OR REPLACE INTO pins (cid, type, created) VALUES (?, ?, ?)').run(cid.toV1().toString(), type, Date.now())
  }

  get (cid: CID): PinType | undefined {
    const row = this.db.prepare('SELECT type FROM pins WHERE cid = ?').get(cid.toV1().toString()) as { type: PinType } | undefined
    return row?.type
  }

  async remove (store: DagReader, cid: CID): Promise<void> {
    if (this.get(cid) === undefined) {
      for (const pin of this.list('recursive')) {
        let inside = false
        try {
          await walkDag(store, pin.cid, c => { if (blockKey(c) === blockKey(cid)) inside = true })
        } catch { /* an incomplete DAG cannot settle the question */ }
        if (inside) throw new WeftError('ERR_PINNED_INDIRECTLY', `${cid} is not pinned itself; it is kept by the recursive pin on ${pin.cid}`)
      }
      throw new WeftError('ERR_NOT_PINNED', `${cid} is not pinned`)
    }
    this.db.prepare('DELETE FROM pins WHERE cid = ?').run(cid.toV1().toString())
  }

  list (type?: PinType): Pin[] {
    const rows = (type === undefined
      ? this.db.prepare('SELECT cid, type, created FROM pins ORDER BY created, cid').all()
      : this.db.prepare('SELECT cid, type, created FROM pins WHERE type = ? ORDER BY created, cid').all(type)) as Array<{ cid: string, type: PinType, created: number }>
    return rows.map(r => ({ cid: CID.parse(r.cid), type: r.type, created: new Date(r.created) }))
  }
}
