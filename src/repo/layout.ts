/**
 * The on-disk home ($WEFT_HOME, default ~/.weft):
 *
 *   home.json          {"weft": REPO_VERSION, "created": ISO date}: written first, so a folder
 *                      whose creation was interrupted is still known as a home (home.ts)
 *   config.json        the node's settings; schema and defaults in config.ts; written last
 *   repo.lock          {"pid": N, "since": ISO date}; present while a process has the home open
 *   keys/              0700
 *     self.key         0600, the node's ed25519 identity (libp2p protobuf PrivateKey bytes)
 *     site-<label>.key 0600, a site's ed25519 key (same encoding); its IPNS name is the site's address
 *     pinning-<name>.token  0600, the access token of remote pinning service <name> (`weft remote add`)
 *     user.key         0600, this home's user master key: 32 random bytes, made on first use. The
 *                      user's key on each site is derived from it (src/users/identity.ts), so
 *                      losing it loses the user's identity on every site
 *   weft.db            SQLite (node:sqlite), WAL mode. Tables (migrations in db.ts):
 *                        meta(key, value)                       schema version
 *                        blocks(mh, pack, off, len)             where each block's bytes are
 *                        packs(id, size)                        bytes of each pack that are indexed
 *                        pins(cid, type, created)               recursive and direct pins
 *                        sites(label, name, created, published, this home's own sites; published=0
 *                          imported, floor)                     while a record waits for the daemon;
 *                                                               floor: the sequence an imported key
 *                                                               had reached
 *                        site_records(name, record, sequence,   the best valid IPNS record known per
 *                          value, validity, ttl, fetched, source) name (validity, fetched: ms epoch)
 *                        site_versions(name, sequence, value,   every version seen; pinned=1 when a
 *                          first_seen, fetched, pinned)         follow pinned it (and may unpin it)
 *                        follows(name, keep, created)           followed sites, versions to keep
 *                        site_equivocations(name, sequence,     two values signed under one sequence
 *                          value_a, value_b, record_b, seen)
 *                        site_rejections(name, reason, count,   records refused, by reason
 *                          last_peer, last_seen)
 *                        site_peers(name, peer, last_seen)      peers seen pushing or serving a site
 *                        petnames(name, value, created)         local names (`weft name set`): value is
 *                                                               /ipns/…, /ipfs/… or another name
 *                        datastore(key, value)                  libp2p's datastore: the peer store
 *                                                               (/peers/…), DHT records (/dht/record/…)
 *                                                               and provider records (/dht/provider/…)
 *                        peers(peer, addrs, last_seen)          peers talked to: their addresses (JSON),
 *                                                               last seen (ms epoch); redialled at start
 *                        user_records(site, user, record, …)    the best user record per (site, user)
 *                        contributions(site, user, sequence,    what that record's folder held when checked:
 *                          root, files, state, reason, updated) accepted, refused (reason) or pending
 *                        user_equivocations, user_rejections    as for sites, per (site, user) and per site
 *                        user_consent(site, changed)            sites allowed to sign as this node's person
 *                        private_indexes(index_name, site,      the person's private store per index name
 *                          record, sequence, root, body, updated) (one per site and master key): the
 *                                                               signed index record, its sealed block
 *                                                               (root) and the index as opened (body, JSON);
 *                                                               rows of a replaced master key are kept
 *                        private_device(id)                     this home's random device id (merges)
 *                        message_envelopes(id, site, envelope,  sealed messages carried for a site's users
 *                          size, received, expires)             until they expire (src/private/message-store.ts)
 *                        message_inbox(id, site, recipient,     letters this node's person opened
 *                          sender, sent, body, received)
 *                        message_rejections(site, reason, …)    envelopes refused, counted per site
 *                        pinning_requests(requestid, cid, …)    Pinning Service API requests and their
 *                                                               status (src/storage/pinning/requests.ts)
 *   users/             0700, one SQLite file per site that takes contributions (<site>.db): its
 *                      tables from the site's weft.json `db` section, rebuilt from the accepted
 *                      contributions whenever the schema changes (src/users/site-db.ts)
 *   api, api.token     while a daemon runs: its control API URL; the API token (0600, kept)
 *   tor/               0700, with network.tor set: the onion service's key (onion-key, 0600,
 *                      so the onion address survives a restart) and, when weft runs its own
 *                      tor, that tor's torrc, state and notice.log (src/net/tor.ts)
 *   tmp/               0700, folders the web UI uploads into before publishing (upload-<id>/);
 *                      removed after the publish, or at the next start when older than an hour
 *   blocks/
 *     NNNNNNNN.pack    append-only files of raw block bytes, back to back, no framing.
 *                      A block is visible only once its row in `blocks` is committed, and
 *                      that happens after its bytes are written (and fsynced when
 *                      datastore.sync is on), so a crash leaves at worst an unindexed tail,
 *                      which the next open truncates away.
 *
 * weft creates a home only in an absent or empty folder and refuses any other folder
 * that is not already a home (home.ts), so it never writes among someone else's files.
 *
 * Blocks are keyed by multihash, as kubo's flatfs is, so one set of bytes is stored once
 * whatever codec a CID gives it.
 */
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'

export const REPO_VERSION = 1

export function repoPaths (home: string) {
  return {
    home,
    marker: join(home, 'home.json'),
    config: join(home, 'config.json'),
    lock: join(home, 'repo.lock'),
    keys: join(home, 'keys'),
    identityKey: join(home, 'keys', 'self.key'),
    siteKey: (label: string) => join(home, 'keys', `site-${label}.key`),
    userKey: join(home, 'keys', 'user.key'),
    siteDbs: join(home, 'users'),
    db: join(home, 'weft.db'),
    blocks: join(home, 'blocks'),
    tor: join(home, 'tor')
  }
}

export type RepoPaths = ReturnType<typeof repoPaths>

/** $WEFT_HOME, else ~/.weft. */
export function defaultHome (): string {
  const env = process.env.WEFT_HOME
  return env !== undefined && env !== '' ? resolve(env) : join(homedir(), '.weft')
}
