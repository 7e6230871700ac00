/**
 * The private store's keys, all derived from the user's master key (src/users/identity.ts),
 * so a second device holding the same master key derives the same ones:
 *
 *   HKDF-SHA256(ikm = master, salt = "weft/private/v1", info, 32 bytes)
 *   folder key     info = "<site k51>/folder/<F>/<generation>"   wraps the file keys of folder F
 *   index key      info = "<site k51>/index"                     seals the index block
 *   index signer   info = "<site k51>/index-signer"              ed25519 seed; its IPNS name is the index name
 *
 * `info` starts with the site, so one site's keys never open another's data. The index
 * signer is not the user's key on the site, so an observer cannot tie the index to the
 * user's public contributions.
 */
import { createHash, hkdfSync } from 'node:crypto'
import { privateKeyFromRaw } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { ed25519 } from '@noble/curves/ed25519.js'
import { WeftError } from '../errors.ts'
import { parseSiteName, siteNameOf } from '../sites/index.ts'

/** Versioned, so a later derivation can live beside this one. */
const HKDF_SALT = 'weft/private/v1'
const KEY_BYTES = 32
/**
 * Index signers made, by a hash of their seed: the store derives the keys on every read (the
 * index it holds is found by index name), and the ed25519 public key took ~0.6 ms of the
 * ~0.67 ms a derivation cost. A person keeps private data for tens of sites; 256 is room.
 */
const MAX_SIGNERS = 256
const signers = new Map<string, { indexSigner: PrivateKey, indexName: string }>()

function signerOf (seed: Uint8Array): { indexSigner: PrivateKey, indexName: string } {
  const id = createHash('sha256').update(seed).digest('hex')
  const held = signers.get(id)
  if (held !== undefined) return held
  // libp2p's raw ed25519 private key is the seed followed by the public key
  const indexSigner = privateKeyFromRaw(Uint8Array.from([...seed, ...ed25519.getPublicKey(seed)]))
  const made = { indexSigner, indexName: siteNameOf(peerIdFromPrivateKey(indexSigner)).name }
  if (signers.size >= MAX_SIGNERS) signers.delete(signers.keys().next().value as string)
  signers.set(id, made)
  return made
}

export interface PrivateKeys {
  /** The site (`k51…`) these keys are for. */
  readonly site: string
  /** The key wrapping file keys of folder `folder` (first path segment, '' at the root), generation `generation`. */
  folderKey(folder: string, generation: number): Uint8Array
  /** Seals the index block. */
  readonly indexKey: Uint8Array
  /** Signs the index record. */
  readonly indexSigner: PrivateKey
  /** The index signer's IPNS name, `k51…`. */
  readonly indexName: string
}

function derive (master: Uint8Array, info: string): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', master, HKDF_SALT, info, KEY_BYTES))
}

/** The private-store keys of `site` (any form parseSiteName takes) from the 32-byte master key. */
export function privateKeysOf (master: Uint8Array, site: string): PrivateKeys {
  if (master.byteLength !== KEY_BYTES) throw new WeftError('ERR_KEY_INVALID', `a user master key is ${KEY_BYTES} bytes, not ${master.byteLength}`)
  const name = parseSiteName(site).name
  // copied: the caller may hold the master key in a buffer it wipes or replaces (import)
  const secret = Uint8Array.from(master)
  const { indexSigner, indexName } = signerOf(derive(secret, `${name}/index-signer`))
  return {
    site: name,
    folderKey: (folder, generation) => {
      if (!Number.isSafeInteger(generation) || generation < 0) throw new WeftError('ERR_INTERNAL', `a folder key generation is a whole number, not ${generation}`)
      return derive(secret, `${name}/folder/${folder}/${generation}`)
    },
    indexKey: derive(secret, `${name}/index`),
    indexSigner,
    indexName
  }
}
