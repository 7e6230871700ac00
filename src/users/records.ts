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

/** Checks `bytes` as a user record for `site`: size first, then key, signature, expiry, fields, site. Throws RecordRejected. */
export async function checkUserRecord (site: string, bytes: Uint8Array): Promise<UserRecord> {
  if (bytes.byteLength > MAX_RECORD_BYTES) throw new RecordRejected('too-large', `the record is ${bytes.byteLength} bytes; the limit is ${MAX_RECORD_BYTES}`)
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
  return { ...record, user: userIdOfPublicKey(publicKey), site }
}
