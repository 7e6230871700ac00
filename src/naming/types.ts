/**
 * What every name resolver gives and takes. A resolver turns one kind of name into a
 * content path and says whether its answer was proven against a chain's consensus
 * (ENS via eth_getProof, Handshake via an urkel proof) or merely reported by a server.
 */

export interface NameAnswer {
  /** `/ipns/<k51…>` or `/ipfs/<cid>[/path]` (a DNSLink may also point to another name: `/ipns/<dns name>`). */
  value: string
  /** ms the answer may be cached. */
  ttl: number
  /** Which resolver answered: `petname`, `ens`, `hns`, `namecoin`, `dnslink`. */
  resolver: string
  /** True only when the answer was checked against a chain's state (never for petnames or DNSLink). */
  proven: boolean
  /** One line on what the proof was checked against (block number and state root, tree root…), or why there is none. */
  proof?: string
  /** Names the resolver itself followed on the way (a Namecoin alias or translate), in order, the asked one not included. */
  via?: string[]
}

export interface ResolveOptions {
  signal?: AbortSignal
}

export interface NameResolver {
  /** `petname`, `ens`, `hns`, `namecoin`, `dnslink`. */
  readonly kind: string
  /**
   * Whether this resolver is the one for `name`: `true` (its suffix decides, e.g. `.eth`),
   * `false` (never), or `undefined` (perhaps: asked in parallel with the other perhapses).
   */
  handles(name: string): boolean | undefined
  /** ERR_NAME_NOT_FOUND when the name has no content record; the codes in docs/errors.md otherwise. */
  resolve(name: string, options?: ResolveOptions): Promise<NameAnswer>
}
