/**
 * Site keys: one ed25519 key per site in keys/site-<label>.key (0600, libp2p protobuf,
 * like self.key), listed in the `sites` table.
 *
 * Export format (text, so it survives copy and paste; the sealing is src/repo/sealed.ts):
 *
 *   weft-site-key-v1
 *   <base64 of JSON { label, name, sequence, kdf: { name: "scrypt", N, r, p, salt },
 *                     cipher: "aes-256-gcm", iv, tag, ciphertext }>
 *
 * The key bytes (libp2p protobuf) are sealed with AES-256-GCM under a key scrypt derives
 * from the passphrase; `sequence` carries the site's last version so a moved site never
 * signs an older sequence than the network has.
 */
import { existsSync, readdirSync, renameSync, unlinkSync, writeFileSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { WeftError } from '../errors.ts'
import { loadIdentityKey } from '../repo/keystore.ts'
import { seal, unseal } from '../repo/sealed.ts'
import { siteNameOf } from './names.ts'

const HEADER = 'weft-site-key-v1'

export const LABEL = /^[a-z0-9][a-z0-9._-]{0,62}$/

export function checkLabel (label: string): void {
  if (!LABEL.test(label)) throw new WeftError('ERR_USAGE', `"${label}" is not a site label: use 1–63 lowercase letters, digits, ".", "_" or "-"`)
}

export function nameOfKey (key: PrivateKey): string {
  return siteNameOf(peerIdFromPrivateKey(key)).name
}

export async function newSiteKey (): Promise<PrivateKey> {
  return await generateKeyPair('Ed25519')
}

/** Writes the key file; refuses to replace one. */
export function writeSiteKey (path: string, key: PrivateKey): void {
  if (existsSync(path)) throw new WeftError('ERR_SITE_EXISTS', `${path} already exists`)
  const tmp = `${path}.tmp-${process.pid}`
  writeFileSync(tmp, privateKeyToProtobuf(key), { mode: 0o600 })
  renameSync(tmp, path)
}

export function removeSiteKey (path: string): void {
  try { unlinkSync(path) } catch { /* already gone */ }
}

/**
 * A site's key file is written before its row in the sites table, so a process killed
 * between the two (or inside the write) leaves a key file no site lists, and a retry of
 * the same create or import would find it in the way. Such files are removed when the
 * home opens: a created key no row lists has signed nothing, and an imported one is still
 * in its export.
 */
export function removeUnlistedKeys (keyPath: (label: string) => string, labels: string[]): void {
  const dir = dirname(keyPath('x'))
  const listed = new Set(labels.map(label => basename(keyPath(label))))
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch {
    return
  }
  for (const name of names) {
    const m = /^site-.+\.key(\.tmp-\d+)?$/.exec(name)
    if (m === null || (m[1] === undefined && listed.has(name))) continue
    removeSiteKey(join(dir, name))
  }
}

export function readSiteKey (path: string): PrivateKey {
  return loadIdentityKey(path)
}

export interface KeyExport { label: string, name: string, sequence: string, key: PrivateKey }

export async function exportSiteKey (label: string, key: PrivateKey, sequence: bigint, passphrase: string): Promise<string> {
  return await seal(HEADER, { label, name: nameOfKey(key), sequence: sequence.toString() }, privateKeyToProtobuf(key), passphrase)
}

export async function importSiteKey (text: string, passphrase: string): Promise<KeyExport> {
  const { secret, fields: body } = await unseal(text, HEADER, passphrase, 'site key')
  let key: PrivateKey
  try {
    key = privateKeyFromProtobuf(secret)
  } catch {
    throw new WeftError('ERR_KEY_INVALID', 'the passphrase is wrong or the site key export is damaged')
  }
  if (key.type !== 'Ed25519') throw new WeftError('ERR_KEY_INVALID', `the exported key is ${key.type}; weft sites use ed25519`)
  const name = nameOfKey(key)
  if (body.name !== name) throw new WeftError('ERR_KEY_INVALID', 'the key export is damaged: its name does not match its key')
  let sequence = '0'
  try { sequence = BigInt(body.sequence ?? 0).toString() } catch { /* an old or odd export: start from the network's */ }
  return { label: String(body.label ?? ''), name, sequence, key }
}
