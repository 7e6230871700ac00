/**
 * Every failure weft reports has a stable code. The registry below is the single list:
 * docs/errors.md documents it and a test checks the two agree.
 *
 * `user` errors are the caller's mistake or the world's state (a missing file, a locked
 * home): the CLI prints one line and no stack. `internal` errors are weft's bug.
 */

export const ERROR_CODES = {
  ERR_USAGE: { kind: 'user', exit: 2, http: 400, summary: 'the command line or request is malformed' },
  ERR_INTERNAL: { kind: 'internal', exit: 1, http: 500, summary: 'an unexpected failure inside weft (a bug)' },
  ERR_REPO_LOCKED: { kind: 'user', exit: 3, http: 409, summary: 'another process holds the home\'s lock' },
  ERR_REPO_EXISTS: { kind: 'user', exit: 1, http: 409, summary: '`weft init` on a home that is already initialised' },
  ERR_REPO_INVALID: { kind: 'user', exit: 1, http: 500, summary: 'the home is not a weft home or is from a newer version' },
  ERR_REPO_CORRUPT: { kind: 'user', exit: 4, http: 500, summary: '`weft repo verify` found damaged or missing blocks' },
  ERR_REPO_NOT_A_HOME: { kind: 'user', exit: 1, http: 500, summary: 'the folder is neither a weft home nor empty; weft makes a home only in an absent or empty folder' },
  ERR_DISK_FULL: { kind: 'user', exit: 7, http: 507, summary: 'the disk holding the home is full; the failed write was undone' },
  ERR_CONFIG_INVALID: { kind: 'user', exit: 1, http: 500, summary: 'config.json does not match the schema' },
  ERR_CONFIG_KEY: { kind: 'user', exit: 2, http: 400, summary: 'no such config key' },
  ERR_CONFIG_VALUE: { kind: 'user', exit: 2, http: 400, summary: 'a config value is not valid JSON or not valid for its key' },
  ERR_PATH_NOT_FOUND: { kind: 'user', exit: 1, http: 404, summary: 'a local file or folder does not exist' },
  ERR_PATH_UNREADABLE: { kind: 'user', exit: 1, http: 403, summary: 'a local file or folder cannot be read' },
  ERR_OUTPUT_EXISTS: { kind: 'user', exit: 1, http: 409, summary: 'the output path already exists' },
  ERR_INVALID_CID: { kind: 'user', exit: 2, http: 400, summary: 'the argument is not a valid CID or /ipfs/ path' },
  ERR_DAG_PATH_NOT_FOUND: { kind: 'user', exit: 1, http: 404, summary: 'a path segment does not exist inside the DAG' },
  ERR_NOT_A_FILE: { kind: 'user', exit: 1, http: 400, summary: 'the path names a folder where a file was expected' },
  ERR_BLOCK_NOT_FOUND: { kind: 'user', exit: 1, http: 404, summary: 'a block is not in the local store' },
  ERR_BLOCK_HASH_MISMATCH: { kind: 'user', exit: 1, http: 502, summary: 'a block\'s bytes do not hash to its CID' },
  ERR_BLOCK_MALFORMED: { kind: 'user', exit: 1, http: 502, summary: 'a block hashes to its CID but is not valid for its codec (malformed dag-pb, dag-cbor or UnixFS)' },
  ERR_BLOCK_CORRUPT: { kind: 'user', exit: 4, http: 502, summary: 'a block read from the local store no longer matches its CID; it was quarantined and no peer had a good copy' },
  ERR_BLOCK_TOO_LARGE: { kind: 'user', exit: 1, http: 413, summary: 'a block is larger than the 2 MiB limit' },
  ERR_UNSUPPORTED_HASH: { kind: 'user', exit: 1, http: 400, summary: 'a CID uses a hash function weft does not verify' },
  ERR_UNSUPPORTED_CODEC: { kind: 'user', exit: 1, http: 400, summary: 'a CID uses a codec weft cannot decode' },
  ERR_CAR_INVALID: { kind: 'user', exit: 1, http: 400, summary: 'a CAR file is malformed or truncated' },
  ERR_QUOTA_EXCEEDED: { kind: 'user', exit: 5, http: 507, summary: 'storing this would exceed datastore.storageMax' },
  ERR_FETCH_TIMEOUT: { kind: 'user', exit: 6, http: 504, summary: 'fetching from the network was stopped or timed out' },
  ERR_OFFLINE: { kind: 'user', exit: 1, http: 503, summary: 'the command needs the network and no daemon is running' },
  ERR_DIAL_FAILED: { kind: 'user', exit: 1, http: 502, summary: 'a peer could not be reached' },
  ERR_TOR_UNAVAILABLE: { kind: 'user', exit: 1, http: 503, summary: 'network.tor is set and tor could not be run or reached, or its control port refused weft' },
  ERR_PEER_BANNED: { kind: 'user', exit: 1, http: 403, summary: 'the peer is banned for breaking the protocol; the ban ends by itself' },
  ERR_API_UNAUTHORIZED: { kind: 'user', exit: 1, http: 401, summary: 'a control API request without the right token' },
  ERR_API_UNREACHABLE: { kind: 'user', exit: 1, http: 502, summary: 'the daemon stopped answering in the middle of a request' },
  ERR_API_FORBIDDEN: { kind: 'user', exit: 1, http: 403, summary: 'a control API request from another web origin, or with a method other than POST or PUT' },
  ERR_RECORD_NOT_FOUND: { kind: 'user', exit: 1, http: 404, summary: 'no peer holds a valid record under the key' },
  ERR_INVALID_NAME: { kind: 'user', exit: 2, http: 400, summary: 'the argument is not an IPNS name (k51…, a peer id, or /ipns/<name>)' },
  ERR_RECORD_INVALID: { kind: 'user', exit: 1, http: 502, summary: 'an IPNS record failed validation (signature, key, expiry, size)' },
  ERR_SITE_EXISTS: { kind: 'user', exit: 1, http: 409, summary: 'a site with this label or key is already in the home' },
  ERR_SITE_NOT_FOUND: { kind: 'user', exit: 1, http: 404, summary: 'no site with this label in the home' },
  ERR_SITE_RULES_INVALID: { kind: 'user', exit: 1, http: 500, summary: 'the `users` section of a site\'s weft.json is malformed or past its limits' },
  ERR_KEY_INVALID: { kind: 'user', exit: 1, http: 400, summary: 'a key file is not a weft site or user key export, or the passphrase is wrong' },
  ERR_CONTRIBUTION_REFUSED: { kind: 'user', exit: 1, http: 403, summary: 'a contribution the site\'s rules refuse (a file name outside its patterns, too many files or bytes, a banned user) or a site that takes none' },
  ERR_SITE_DB_ABSENT: { kind: 'user', exit: 1, http: 404, summary: 'the site declares no database (its weft.json has no db section)' },
  ERR_USER_KEY_EXISTS: { kind: 'user', exit: 1, http: 409, summary: 'importing a user key over a different one already in the home; --force replaces it and loses the old identity on every site' },
  ERR_RECOVERY_PHRASE_INVALID: { kind: 'user', exit: 2, http: 400, summary: 'a recovery phrase that is not 24 words of the BIP-39 English list, or whose checksum does not match' },
  ERR_LINK_CODE_INVALID: { kind: 'user', exit: 1, http: 403, summary: 'a device link code that is wrong, already used, expired, voided after too many wrong tries, or for another node' },
  ERR_NOT_FOLLOWING: { kind: 'user', exit: 1, http: 404, summary: '`unfollow` of a site that is not followed, or a contribution (`weft user write`, `list`, `cat`) to a site neither followed nor owned here' },
  ERR_NOT_PINNED: { kind: 'user', exit: 1, http: 404, summary: '`pin rm` of a CID that is not pinned' },
  ERR_PINNED_INDIRECTLY: { kind: 'user', exit: 1, http: 409, summary: '`pin rm` of a CID kept only by another pin' },
  ERR_GATEWAY_HOST: { kind: 'user', exit: 2, http: 400, summary: 'the gateway does not serve the request\'s Host' },
  ERR_INVALID_PATH: { kind: 'user', exit: 2, http: 400, summary: 'a URL path segment is malformed or not allowed (`..`, an encoded slash)' },
  ERR_URL_TOO_LONG: { kind: 'user', exit: 2, http: 414, summary: 'a gateway request URL is longer than 8 KiB' },
  ERR_RANGE_NOT_SATISFIABLE: { kind: 'user', exit: 2, http: 416, summary: 'a Range header lies outside the file' },
  ERR_NOT_ACCEPTABLE: { kind: 'user', exit: 1, http: 406, summary: 'a gateway request asks for a codec (`?format=dag-json`, `Accept: application/vnd.ipld.dag-cbor`, …) other than the block\'s own; the gateway converts nothing' },
  ERR_DAG_PATH_INTO_DATA: { kind: 'user', exit: 1, http: 501, summary: 'a path goes on inside a dag-cbor object\'s data, past its links; the gateway serves whole blocks' },
  ERR_NOT_CACHED: { kind: 'user', exit: 1, http: 412, summary: 'a gateway request with `Cache-Control: only-if-cached` names content this node does not hold' },
  ERR_ADDRESS_IN_USE: { kind: 'user', exit: 1, http: 500, summary: 'an address the daemon listens on is taken by another program' },
  ERR_NAME_INVALID: { kind: 'user', exit: 2, http: 400, summary: 'a name has invalid characters, an empty label or a label over 63 bytes' },
  ERR_NAME_NOT_FOUND: { kind: 'user', exit: 1, http: 404, summary: 'no resolver has a content record for the name' },
  ERR_NAME_LOOP: { kind: 'user', exit: 1, http: 508, summary: 'a name points to names that point back, or past depth 32' },
  ERR_NAME_UNREACHABLE: { kind: 'user', exit: 1, http: 502, summary: 'a naming endpoint (Ethereum RPC, hsd, DNS) did not answer' },
  ERR_NAME_PROOF_INVALID: { kind: 'user', exit: 1, http: 502, summary: 'a naming answer came with a proof that does not verify' },
  ERR_NAME_WRONG_CHAIN: { kind: 'user', exit: 1, http: 502, summary: 'a naming endpoint serves another chain than the one configured' },
  ERR_NAME_UNPROVEN: { kind: 'user', exit: 1, http: 502, summary: 'verify is "proof" but the endpoint cannot prove its answer, so the answer is refused' },
  ERR_NAME_STALE: { kind: 'user', exit: 1, http: 502, summary: 'a naming answer is older than the chain lets a name live without an update' },
  ERR_CONTENTHASH_INVALID: { kind: 'user', exit: 1, http: 502, summary: 'a name\'s contenthash or dnslink value is malformed' },
  ERR_REDIRECTS_INVALID: { kind: 'user', exit: 1, http: 500, summary: 'a site\'s _redirects file is malformed or too large' },
  ERR_SITE_RESERVED_PATH: { kind: 'user', exit: 1, http: 400, summary: 'a folder to publish has a top-level `users` or `.weft` entry, paths the node serves on every site' },
  ERR_SITE_NOT_ALLOWED: { kind: 'user', exit: 1, http: 403, summary: 'a site asked to write as the user before the user allowed it' },
  ERR_SITE_API_FORBIDDEN: { kind: 'user', exit: 1, http: 403, summary: 'a site API (`/.weft/`) request from another origin, a cross-site context, a preflight, or on a name\'s origin instead of the site\'s key origin' },
  ERR_SITE_API_BUSY: { kind: 'user', exit: 1, http: 429, summary: 'a site has as many open event streams as the node allows' },
  ERR_CONSENT_INVALID: { kind: 'user', exit: 1, http: 403, summary: 'a confirmation (allow a site) without its page\'s single-use nonce or ticked box, or from another origin' },
  ERR_SITE_DB_SCHEMA_INVALID: { kind: 'user', exit: 1, http: 502, summary: 'a site\'s weft.json db section (tables, columns, indexes, maps) is malformed or over its limits' },
  ERR_QUERY_REFUSED: { kind: 'user', exit: 1, http: 403, summary: 'SQL for a site database that is not one read statement (a write, ATTACH, PRAGMA, load_extension, two statements)' },
  ERR_QUERY_INVALID: { kind: 'user', exit: 1, http: 400, summary: 'SQLite could not run a site database query (syntax, unknown table or column, bad parameters, out of memory)' },
  ERR_QUERY_TIMEOUT: { kind: 'user', exit: 1, http: 504, summary: 'a site database query ran past its time limit and was stopped' },
  ERR_QUERY_TOO_MANY_ROWS: { kind: 'user', exit: 1, http: 413, summary: 'a site database query answered more rows or bytes than the limit' },
  ERR_PRIVATE_TAMPERED: { kind: 'user', exit: 4, http: 502, summary: 'a private file or index does not open under its key: it was altered, truncated, or sealed by someone else; nothing was written' },
  ERR_PRIVATE_NOT_FOUND: { kind: 'user', exit: 1, http: 404, summary: 'no private file at this path for this site' },
  ERR_PRIVATE_ROLLBACK: { kind: 'user', exit: 1, http: 409, summary: 'a private index record older than the one held (a replay); it was refused' },
  ERR_MESSAGE_TOO_LARGE: { kind: 'user', exit: 1, http: 413, summary: 'a message that sealed would be over 64 KiB' },
  ERR_MESSAGE_REFUSED: { kind: 'user', exit: 1, http: 400, summary: 'a message to something that is not a user id, or an empty one' },
  ERR_SHARE_NOT_FOUND: { kind: 'user', exit: 1, http: 404, summary: 'no such folder is shared with you by that user on this site (never, or no longer)' },
  ERR_REQUEST_TOO_LARGE: { kind: 'user', exit: 1, http: 413, summary: 'a Pinning Service API request body over its limit (64 KiB)' },
  ERR_PIN_REQUEST_NOT_FOUND: { kind: 'user', exit: 1, http: 404, summary: 'no pin request with this requestid on the pinning service (never, removed, or replaced)' },
  ERR_REMOTE_SERVICE_NOT_FOUND: { kind: 'user', exit: 1, http: 404, summary: 'no remote pinning service by that name in this home' },
  ERR_REMOTE_SERVICE_EXISTS: { kind: 'user', exit: 1, http: 409, summary: '`weft remote add` of a name this home already has' },
  ERR_REMOTE_SERVICE_UNREACHABLE: { kind: 'user', exit: 1, http: 502, summary: 'a remote pinning service did not answer' },
  ERR_REMOTE_SERVICE_FAILED: { kind: 'user', exit: 1, http: 502, summary: 'a remote pinning service refused a request (a bad token, a bad request) or answered outside the spec' },
  ERR_REMOTE_PIN_FAILED: { kind: 'user', exit: 1, http: 502, summary: 'a remote pinning service gave up on a pin request (its status is failed)' },
  ERR_REMOTE_PIN_AMBIGUOUS: { kind: 'user', exit: 1, http: 409, summary: '`weft remote pin rm` matches more than one pin request and --force was not given' },
  ERR_STORAGE_MALFORMED: { kind: 'user', exit: 1, http: 502, summary: 'a peer broke the storage protocol (`/weft/storage/1.0.0`): a frame that is not JSON, does not match the protocol, or is too long' },
  ERR_STORAGE_NOT_HELD: { kind: 'user', exit: 1, http: 409, summary: '`weft replicate` of a CID or site whose blocks are not all in the local store: holders are sized and audited against the local copy' },
  ERR_STORAGE_NO_HOLDERS: { kind: 'user', exit: 1, http: 503, summary: 'no peer that offers storage took the replica (none reachable, all full, or all refused)' },
  ERR_STORAGE_NOT_REPLICATED: { kind: 'user', exit: 1, http: 404, summary: '`weft replicas` of a CID or site this node never replicated' }
} as const satisfies Record<string, { kind: 'user' | 'internal', exit: number, http: number, summary: string }>

export type ErrorCode = keyof typeof ERROR_CODES

export class WeftError extends Error {
  readonly code: ErrorCode

  constructor (code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'WeftError'
    this.code = code
  }
}

export function isWeftError (err: unknown, code?: ErrorCode): err is WeftError {
  return err instanceof WeftError && (code === undefined || err.code === code)
}

/** Exit code for the CLI. */
export function errorToExitCode (err: unknown): number {
  return err instanceof WeftError ? ERROR_CODES[err.code].exit : 1
}

/** HTTP status for the API and the gateway. */
export function errorToStatus (err: unknown): number {
  return err instanceof WeftError ? ERROR_CODES[err.code].http : 500
}

/** Anything that is not already a WeftError becomes ERR_INTERNAL, keeping the original as cause. */
export function toWeftError (err: unknown): WeftError {
  if (err instanceof WeftError) return err
  const message = err instanceof Error ? err.message : String(err)
  return new WeftError('ERR_INTERNAL', message, { cause: err })
}
