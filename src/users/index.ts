/**
 * Users of a site (issue 12): identities, contributions under the owner's rules, and the
 * site's database. This branch holds only the database; the integrator merges the rest.
 */
export {
  openSiteDb, parseDbSchema, DEFAULT_MAX_ROWS, DEFAULT_QUERY_TIMEOUT_MS, MAX_JSON_BYTES_PER_USER, MAX_ROWS_PER_FILE, MAX_ROWS_PER_USER,
  type SiteDb, type SiteDbComponents, type SiteDbInit, type SiteDbSchema, type ColumnType, type PutResult
} from './site-db.ts'
