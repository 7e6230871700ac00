/**
 * The user's identity: one master key per home, and from it one ed25519 key per site, so
 * that two sites cannot tell one person uses both (ZeroNet's single certificate can).
 *
 *   keys/user.key   32 random bytes (0600; keys/ is 0700), made on first use
 *   site key seed   HKDF-SHA256(ikm = master, salt = "weft/user-key/v1",
 *                               info = the site's name as `k51…` base36 text, 32 bytes)
 *   site key        ed25519 from that seed (what generateKeyPairFromSeed('Ed25519', seed) gives)
 *   user id         the site key's IPNS name, `k51…`, in the same text form as site names
 *
 * The ids on two sites come out of HKDF under different `info`, so they share nothing an
 * observer could link without the master key.
 *
 * Export format (the sealing is src/repo/sealed.ts, as site keys use):
 *
 *   weft-user-key-v1
 *   <base64 of JSON { kdf: { name: "scrypt", N, r, p, salt }, cipher: "aes-256-gcm", iv, tag, ciphertext }>
 *
 * The ciphertext is the 32 master key bytes; nothing travels in the clear (an id in the
 * clear would name the user on a site to whoever sees the file).
 */
import { closeSync, fsyncSync, linkSync, openSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs'
import { createPrivateKey, createPublicKey, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto'
import { dirname } from 'node:path'
import { privateKeyFromRaw } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { WeftError, isWeftError } from '../errors.ts'
import { ensureKeysDir } from '../repo/keystore.ts'
import { seal, unseal } from '../repo/sealed.ts'
import { privateKeysOf, type PrivateKeys } from '../private/keys.ts'
import { masterKeyOfPhrase, phraseOfMasterKey } from './recovery.ts'
import { parseSiteName, siteNameOf } from '../sites/index.ts'

export const USER_KEY_HEADER = 'weft-user-key-v1'
/** 256 bits: HKDF-SHA256's own strength, so the master key is never the weaker link. */
export const MASTER_KEY_BYTES = 32
/** Versioned, so a future derivation can live beside this one without colliding with its keys. */
const HKDF_SALT = 'weft/user-key/v1'
/** An ed25519 seed is 32 bytes (RFC 8032). */
const SEED_BYTES = 32
/** PKCS#8 DER for an ed25519 private key is this prefix and then the 32-byte seed (RFC 8410). */
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')
/** SPKI DER for an ed25519 public key is 12 bytes of prefix and then the 32-byte key (RFC 8410). */
const SPKI_ED25519_PREFIX_BYTES = 12

/**
 * The user's key on a site, derived from the master key and the site's name. Synchronous
 * (node:crypto derives the public key), so ids can be computed where a promise would not fit.
 * `site` may be any form parseSiteName takes; the canonical `k51…` text is what is hashed.
 */
export function siteUserKey (master: Uint8Array, site: string): PrivateKey {
  if (master.byteLength !== MASTER_KEY_BYTES) throw new WeftError('ERR_KEY_INVALID', `a user master key is ${MASTER_KEY_BYTES} bytes, not ${master.byteLength}`)
  const info = parseSiteName(site).name
  const seed = Buffer.from(hkdfSync('sha256', master, HKDF_SALT, info, SEED_BYTES))
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' })
  const publicKey = createPublicKey(privateKey).export({ format: 'der', type: 'spki' }).subarray(SPKI_ED25519_PREFIX_BYTES)
  // libp2p's raw ed25519 private key is the seed followed by the public key
  return privateKeyFromRaw(Buffer.concat([seed, publicKey]))
}

/** A user's id on a site: the IPNS name of their site key, `k51…`. */
export function userIdOf (key: PrivateKey): string {
  return siteNameOf(peerIdFromPrivateKey(key)).name
}

/** The master key in `path`, or undefined when the home has none yet. */
export function readUserKey (path: string): Uint8Array | undefined {
  let bytes: Buffer
  try {
    bytes = readFileSync(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new WeftError('ERR_REPO_INVALID', `the user key ${path} is unreadable: ${(err as Error).message}`)
  }
  if (bytes.byteLength !== MASTER_KEY_BYTES) {
    throw new WeftError('ERR_REPO_INVALID', `the user key ${path} is damaged (${bytes.byteLength} bytes, not ${MASTER_KEY_BYTES}); restore it from a backup with \`weft user import-key <file> --force\``)
  }
  return new Uint8Array(bytes)
}

/**
 * Writes the master key durably (fsynced, then linked or renamed into place): it is the only
 * copy of the user's identity on every site. Without `replace` an existing file is never
 * overwritten and false is returned instead.
 */
function writeUserKey (path: string, master: Uint8Array, replace: boolean): boolean {
  try {
    return writeKeyFile(path, master, replace)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOSPC') throw new WeftError('ERR_DISK_FULL', `the disk is full: the user key ${path} could not be written`)
    throw new WeftError('ERR_REPO_INVALID', `cannot write the user key ${path}: ${(err as Error).message}`)
  }
}

function writeKeyFile (path: string, master: Uint8Array, replace: boolean): boolean {
  ensureKeysDir(dirname(path))
  const tmp = `${path}.tmp-${process.pid}`
  try { unlinkSync(tmp) } catch { /* none left by an earlier run */ }
  writeFileSync(tmp, master, { mode: 0o600, flag: 'wx' })
  const fd = openSync(tmp, 'r')
  try { fsyncSync(fd) } finally { closeSync(fd) }
  let written = true
  try {
    if (replace) {
      renameSync(tmp, path)
    } else {
      // link refuses an existing target, so two first uses cannot both win
      try {
        linkSync(tmp, path)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
        written = false
      }
    }
  } finally {
    try { unlinkSync(tmp) } catch { /* renamed away */ }
  }
  const dir = openSync(dirname(path), 'r')
  try { fsyncSync(dir) } finally { closeSync(dir) }
  return written
}

/** The master key in `path`, made (32 random bytes, 0600) when there is none yet. */
export function ensureUserKey (path: string): Uint8Array {
  const held = readUserKey(path)
  if (held !== undefined) return held
  writeUserKey(path, randomBytes(MASTER_KEY_BYTES), false)
  // read back: when another writer won the race, its key is the one
  const made = readUserKey(path)
  if (made === undefined) throw new WeftError('ERR_REPO_INVALID', `the user key ${path} vanished as it was made`)
  return made
}

/** The master key sealed under a passphrase (format at the top of this file). */
export async function exportUserKey (master: Uint8Array, passphrase: string): Promise<string> {
  return await seal(USER_KEY_HEADER, {}, master, passphrase)
}

/** The master key out of an export; ERR_KEY_INVALID for a wrong passphrase or a damaged file. */
export async function unsealUserKey (text: string, passphrase: string): Promise<Uint8Array> {
  const { secret } = await unseal(text, USER_KEY_HEADER, passphrase, 'user key')
  if (secret.byteLength !== MASTER_KEY_BYTES) throw new WeftError('ERR_KEY_INVALID', `the user key export is damaged: it holds ${secret.byteLength} bytes, not ${MASTER_KEY_BYTES}`)
  return new Uint8Array(secret)
}

export interface UserIdentityComponents {
  /** keys/user.key (repoPaths(home).userKey). */
  path: string
  /** Told after a master key was put into the home (a link, an import, a recovery): what it derives (ids, private index names) changed. */
  onImported?: () => void
}

export interface ImportResult {
  /** 'added': the home had no user key; 'same': it had this one; 'replaced': --force put it over a different one. */
  outcome: 'added' | 'same' | 'replaced'
}

/** The home's user identity: its master key (read once, made on first use) and the keys and ids it gives per site. */
export interface UserIdentity {
  /** The user's key on a site (makes the master key on first use). */
  key(site: string): PrivateKey
  /** The user's id on a site, `k51…` (makes the master key on first use). */
  id(site: string): string
  /**
   * The keys of the user's private store on a site (src/private/keys.ts), derived from the
   * master key, which itself stays here (makes it on first use).
   */
  privateKeys(site: string): PrivateKeys
  /** The master key sealed under a passphrase (makes it on first use: a backup before the first post is a fine thing). */
  exportKey(passphrase: string, options?: { signal?: AbortSignal }): Promise<string>
  /**
   * Puts an exported master key into the home. Over a different one it refuses with
   * ERR_USER_KEY_EXISTS unless `force`: the old key's identity on every site is then lost.
   */
  importKey(text: string, passphrase: string, options?: { force?: boolean, signal?: AbortSignal }): Promise<ImportResult>
  /** The master key as a 24-word BIP-39 phrase (makes it on first use, as exportKey does). */
  recoveryPhrase(): string
  /** Puts the master key a recovery phrase spells into the home, under importKey's --force rule; ERR_RECOVERY_PHRASE_INVALID for a wrong word or checksum. */
  recover(phrase: string, options?: { force?: boolean, signal?: AbortSignal }): Promise<ImportResult>
  /** Whether the home has a master key yet (or a damaged key file where one should be). */
  hasKey(): boolean
  /** The raw master key, for the link exchange only: it leaves the node sealed under the link's key (src/users/link.ts). */
  masterKey(): Uint8Array
  /** Puts a raw master key (a link's) into the home, under importKey's --force rule. */
  importMasterKey(master: Uint8Array, options?: { force?: boolean }): ImportResult
}

class HomeUserIdentity implements UserIdentity {
  private readonly path: string
  private readonly onImported?: () => void
  private master?: Uint8Array

  constructor (components: UserIdentityComponents) {
    this.path = components.path
    this.onImported = components.onImported
  }

  masterKey (): Uint8Array {
    this.master ??= ensureUserKey(this.path)
    return this.master
  }

  key (site: string): PrivateKey {
    return siteUserKey(this.masterKey(), site)
  }

  id (site: string): string {
    return userIdOf(this.key(site))
  }

  privateKeys (site: string): PrivateKeys {
    return privateKeysOf(this.masterKey(), site)
  }

  async exportKey (passphrase: string, options: { signal?: AbortSignal } = {}): Promise<string> {
    options.signal?.throwIfAborted()
    return await exportUserKey(this.masterKey(), passphrase)
  }

  async importKey (text: string, passphrase: string, options: { force?: boolean, signal?: AbortSignal } = {}): Promise<ImportResult> {
    const imported = await unsealUserKey(text, passphrase)
    options.signal?.throwIfAborted()
    return this.importMasterKey(imported, options)
  }

  recoveryPhrase (): string {
    return phraseOfMasterKey(this.masterKey())
  }

  async recover (phrase: string, options: { force?: boolean, signal?: AbortSignal } = {}): Promise<ImportResult> {
    options.signal?.throwIfAborted()
    return this.importMasterKey(masterKeyOfPhrase(phrase), options)
  }

  hasKey (): boolean {
    try {
      return readUserKey(this.path) !== undefined
    } catch (err) {
      if (isWeftError(err, 'ERR_REPO_INVALID')) return true
      throw err
    }
  }

  importMasterKey (imported: Uint8Array, options: { force?: boolean } = {}): ImportResult {
    if (imported.byteLength !== MASTER_KEY_BYTES) throw new WeftError('ERR_KEY_INVALID', `a user master key is ${MASTER_KEY_BYTES} bytes, not ${imported.byteLength}`)
    let held: Uint8Array | undefined
    let damaged = false
    try {
      held = readUserKey(this.path)
    } catch (err) {
      // a damaged key file is what a restore with --force is for
      if (!isWeftError(err, 'ERR_REPO_INVALID')) throw err
      damaged = true
    }
    if (held !== undefined && timingSafeEqual(held, imported)) {
      this.master = held
      return { outcome: 'same' }
    }
    const present = held !== undefined || damaged
    if (present && options.force !== true) {
      throw new WeftError('ERR_USER_KEY_EXISTS', damaged
        ? `this home's user key ${this.path} is damaged; pass --force to replace it with the imported one`
        : 'this home already has a different user key; replacing it loses your identity on every site it was used on (back it up first with `weft user export-key`), so pass --force to replace it')
    }
    const written = writeUserKey(this.path, imported, present)
    if (!written) throw new WeftError('ERR_USER_KEY_EXISTS', 'a user key was made in this home while the import ran; run the import again')
    this.master = new Uint8Array(imported)
    this.onImported?.()
    return { outcome: present ? 'replaced' : 'added' }
  }
}

export function createUserIdentity (components: UserIdentityComponents): UserIdentity {
  return new HomeUserIdentity(components)
}
