/**
 * User records: a user's contribution to a site is a small UnixFS folder, and its versions
 * are IPNS records under the user's per-site key (identity.ts), exactly like a site's:
 * a V2 signature over DAG-CBOR data holding `Value` (`/ipfs/<folder root>`), `Sequence`,
 * `Validity` and `TTL`, plus one field of weft's own that the signature covers:
 *
 *   WeftSite   bytes, the site's name (`k51…`, UTF-8): the site this contribution is for,
 *              so a record cannot be replayed onto another site
 *
 * and the protobuf's `pubKey`, so a record names its user by itself (a push carries no key).
 * The IPNS spec lets the signed data carry more fields than it names, so any IPNS
 * validator accepts these records and the DHT stores them under `/ipns/<user key>`.
 */
import { createHash } from 'node:crypto'
import type { PrivateKey, PublicKey } from '@libp2p/interface'
import { publicKeyFromProtobuf, publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPublicKey } from '@libp2p/peer-id'
import * as dagCbor from '@ipld/dag-cbor'
import { marshalIPNSRecord, multihashToIPNSRoutingKey, unmarshalIPNSRecord } from 'ipns'
import { ipnsValidator } from 'ipns/validator'
import { base36 } from 'multiformats/bases/base36'
import type { CID } from 'multiformats/cid'
import { decode, MAX_RECORD_BYTES, RecordRejected, type SiteRecord } from '../sites/index.ts'

/** A site record's fields, and whose and which site's contribution it is. */
export interface UserRecord extends SiteRecord {
  /** The user's id on the site: the key's IPNS name, `k51…`. */
  readonly user: string
  readonly site: string
}

const SIGNATURE_PREFIX = new TextEncoder().encode('ipns-signature:')

/** RFC 3339 with nanoseconds, as IPNS writes validity. */
function validityText (ms: number): string {
  return new Date(ms).toISOString().replace(/Z$/, '000000Z')
}

export function userIdOfPublicKey (key: PublicKey): string {
  return peerIdFromPublicKey(key).toCID().toString(base36)
}

export async function signUserRecord (key: PrivateKey, site: string, root: CID, sequence: bigint, options: { validity: number, ttl: number }): Promise<UserRecord> {
  const data = dagCbor.encode({
    Value: new TextEncoder().encode(`/ipfs/${root.toString()}`),
    Validity: new TextEncoder().encode(validityText(Date.now() + options.validity)),
    ValidityType: 0,
    Sequence: sequence,
    TTL: BigInt(options.ttl) * 1_000_000n,
    WeftSite: new TextEncoder().encode(site)
  })
  const signature = await key.sign(new Uint8Array([...SIGNATURE_PREFIX, ...data]))
  const bytes = marshalIPNSRecord({ pubKey: publicKeyToProtobuf(key.publicKey), signatureV2: signature, data } as never)
  return await checkUserRecord(site, bytes)
}

/**
 * Records (exact bytes) whose signature this node has checked, and whose user they name.
 * A catch-up round hands over every record a peer holds, most of them already held, and a
 * push is checked twice (on arrival, then by the gate): an ed25519 check with libp2p's key
 * import costs ~100 µs, a SHA-256 of a 1 KiB record ~2 µs. In bench users a cold follow of
 * 10,000 contributions spent 57 s of CPU checking the same signatures again.
 */
export class CheckedRecords {
  private readonly held = new Map<string, string>()
  private readonly max: number

  /** `max`: digests kept (~150 bytes each); the oldest go first. */
  constructor (max = CHECKED_RECORDS) {
    this.max = max
  }

  private key (site: string, bytes: Uint8Array): string {
    return `${site} ${createHash('sha256').update(bytes).digest('base64')}`
  }

  user (site: string, bytes: Uint8Array): string | undefined {
    return this.held.get(this.key(site, bytes))
  }

  add (site: string, bytes: Uint8Array, user: string): void {
    const key = this.key(site, bytes)
    this.held.delete(key)
    this.held.set(key, user)
    if (this.held.size > this.max) this.held.delete(this.held.keys().next().value as string)
  }
}

/** Twice the 10,000 contributions of one site, in about 3 MB. */
const CHECKED_RECORDS = 20_000

/**
 * Checks `bytes` as a user record for `site`: size first, then key, signature, expiry, fields, site. Throws RecordRejected.
 * With `checked`, bytes whose signature was checked before skip that step (expiry and fields are read again).
 */
export async function checkUserRecord (site: string, bytes: Uint8Array, checked?: CheckedRecords): Promise<UserRecord> {
  if (bytes.byteLength > MAX_RECORD_BYTES) throw new RecordRejected('too-large', `the record is ${bytes.byteLength} bytes; the limit is ${MAX_RECORD_BYTES}`)
  const known = checked?.user(site, bytes)
  if (known !== undefined) {
    const record = decode(bytes)
    if (record.validity <= Date.now()) throw new RecordRejected('expired', `expired: the record's validity ended at ${new Date(record.validity).toISOString()}`)
    return { ...record, user: known, site }
  }
  let publicKey: PublicKey
  let data: Uint8Array
  try {
    const parsed = unmarshalIPNSRecord(bytes)
    if (parsed.pubKey === undefined) throw new Error('no public key')
    publicKey = publicKeyFromProtobuf(parsed.pubKey)
    data = parsed.data
  } catch (err) {
    throw new RecordRejected('malformed', `not a user record: ${(err as Error).message}`)
  }
  if (publicKey.type !== 'Ed25519') throw new RecordRejected('wrong-key', `the record's key is ${publicKey.type}; weft users sign with ed25519`)
  try {
    await ipnsValidator(multihashToIPNSRoutingKey(publicKey.toMultihash()), bytes)
  } catch (err) {
    const name = (err as Error).name
    const reason = name === 'SignatureVerificationError' ? 'bad-signature' : name === 'RecordExpiredError' ? 'expired' : name === 'InvalidEmbeddedPublicKeyError' ? 'wrong-key' : 'malformed'
    throw new RecordRejected(reason, `${reason}: ${(err as Error).message}`)
  }
  const record = decode(bytes)
  let signedSite: unknown
  try {
    signedSite = (dagCbor.decode(data) as Record<string, unknown>).WeftSite
  } catch {
    throw new RecordRejected('malformed', 'the record\'s signed data is not DAG-CBOR')
  }
  if (!(signedSite instanceof Uint8Array)) throw new RecordRejected('malformed', 'the record names no site (WeftSite)')
  const named = new TextDecoder().decode(signedSite)
  if (named !== site) throw new RecordRejected('wrong-site', `the record was signed for site ${named.slice(0, 80)}, not ${site}`)
  const user = userIdOfPublicKey(publicKey)
  checked?.add(site, bytes, user)
  return { ...record, user, site }
}
