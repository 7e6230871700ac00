/**
 * What a site's owner says about its users, read from the `users` and `db` sections of
 * weft.json in the version of the site this node holds. Read once per root: a root is
 * immutable, so its rules are too.
 */
import type { CID } from 'multiformats/cid'
import { catBytes, type ContentBlockstore } from '../content/index.ts'
import { isWeftError } from '../errors.ts'
import { globMatch, parseUserRules, type UserRules } from './rules.ts'
import { parseDbSchema, type SiteDbSchema } from './site-db.ts'

/** weft.json with rules and a schema stays far below this; more is not a site's metadata. */
export const MAX_WEFT_JSON_BYTES = 256 * 1024

export interface SiteConfig {
  root: string
  sequence: bigint
  /** Undefined: the site takes no contributions. */
  rules?: UserRules
  schema?: SiteDbSchema
  /** Why weft.json's users or db section was refused, when it was. */
  problem?: string
}

/** The rules of the version at `root`; undefined while its blocks are not all here. */
export async function readSiteConfig (store: Pick<ContentBlockstore, 'get' | 'has' | 'put' | 'flush'>, root: CID, sequence: bigint): Promise<SiteConfig | undefined> {
  const config: SiteConfig = { root: root.toString(), sequence }
  let parsed: unknown
  try {
    const path = { cid: root, segments: ['weft.json'], text: `${root.toString()}/weft.json` }
    parsed = JSON.parse((await catBytes(store as ContentBlockstore, path, { length: MAX_WEFT_JSON_BYTES })).toString('utf8'))
  } catch (err) {
    if (isWeftError(err, 'ERR_DAG_PATH_NOT_FOUND')) return config
    // not here yet (a version still being fetched): nothing to remember, ask again when it is
    if (isWeftError(err, 'ERR_BLOCK_NOT_FOUND')) return undefined
    config.problem = `weft.json could not be read: ${(err as Error).message}`
    return config
  }
  try {
    config.rules = parseUserRules(parsed)
  } catch (err) {
    // a site whose rules do not parse takes no contributions until a version fixes them
    config.problem = (err as Error).message
    return config
  }
  try {
    config.schema = parseDbSchema(parsed)
  } catch (err) {
    // a bad schema costs the site its database, not its rules (and the bans in them)
    config.problem = (err as Error).message
  }
  return config
}

/** Whether a contribution file feeds the site's database. */
export function schemaTakes (schema: SiteConfig['schema'], path: string): boolean {
  return schema?.maps.some(map => globMatch(map.file, path)) === true
}
