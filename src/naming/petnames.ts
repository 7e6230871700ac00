/**
 * Petnames: names this home gives to addresses (`weft name set blog k51…`). Local, private
 * and instant; a petname wins over the same name anywhere else, as /etc/hosts does.
 */
import type { DatabaseSync } from 'node:sqlite'
import { peerIdFromString } from '@libp2p/peer-id'
import { base36 } from 'multiformats/bases/base36'
import { CID } from 'multiformats/cid'
import { WeftError } from '../errors.ts'
import { normalizeName, parseValue } from './names.ts'
import type { NameAnswer, NameResolver } from './types.ts'

export interface Petname { name: string, value: string, created: number }

/** What a petname may point at, in its stored form: a key, a CID, a content path or another name. */
export function petnameValue (text: string): string {
  const t = text.trim()
  if (t.startsWith('/ipfs/') || t.startsWith('/ipns/')) {
    parseValue(t, 'the petname')
    return t
  }
  try {
    return `/ipns/${peerIdFromString(t).toCID().toString(base36)}`
  } catch { /* not a key */ }
  try {
    return `/ipfs/${CID.parse(t).toString()}`
  } catch { /* not a CID */ }
  try {
    return `/ipns/${normalizeName(t)}`
  } catch {
    throw new WeftError('ERR_USAGE', `"${t.slice(0, 120)}" is not a k51… key, a CID, an /ipfs/ or /ipns/ path, or a name`)
  }
}

export class Petnames implements NameResolver {
  readonly kind = 'petname'
  private readonly db: DatabaseSync

  constructor (db: DatabaseSync) {
    this.db = db
  }

  private get (name: string): Petname | undefined {
    return this.db.prepare('SELECT name, value, created FROM petnames WHERE name = ?').get(name) as Petname | undefined
  }

  handles (name: string): boolean {
    return this.get(name) !== undefined
  }

  async resolve (name: string): Promise<NameAnswer> {
    const row = this.get(name)
    if (row === undefined) throw new WeftError('ERR_NAME_NOT_FOUND', `no petname "${name}" in this home (weft name ls)`)
    // a local lookup: nothing to cache
    return { value: row.value, ttl: 0, resolver: this.kind, proven: false }
  }

  set (nameText: string, valueText: string): Petname {
    const name = normalizeName(nameText)
    const value = petnameValue(valueText)
    if (value === `/ipns/${name}`) throw new WeftError('ERR_NAME_LOOP', `the petname "${name}" cannot point to itself`)
    const created = Date.now()
    this.db.prepare('INSERT INTO petnames (name, value, created) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value').run(name, value, created)
    return this.get(name) as Petname
  }

  remove (nameText: string): void {
    const name = normalizeName(nameText)
    if (this.db.prepare('DELETE FROM petnames WHERE name = ?').run(name).changes === 0) {
      throw new WeftError('ERR_NAME_NOT_FOUND', `no petname "${name}" in this home (weft name ls)`)
    }
  }

  list (): Petname[] {
    return this.db.prepare('SELECT name, value, created FROM petnames ORDER BY name').all() as unknown as Petname[]
  }
}
