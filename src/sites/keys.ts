/**
 * Site keys: one ed25519 key per site in keys/site-<label>.key (0600, libp2p protobuf,
 * like self.key), listed in the `sites` table.
 *
 * Export format (text, so it survives copy and paste):
 *
 *   weft-site-key-v1
 *   <base64 of JSON { label, name, sequence, kdf: { name: "scrypt", N, r, p, salt },
 *                     cipher: "aes-256-gcm", iv, tag, ciphertext }>
 *
 * The key bytes are sealed with AES-256-GCM under a key scrypt derives from the
 * passphrase; `sequence` carries the site's last version so a moved site never signs an
 * older sequence than the network has.
 */
import { createCipheriv, createDecipheriv, randomBytes, scrypt as scryptCb, type ScryptOptions } from 'node:crypto'
import { existsSync, readdirSync, renameSync, unlinkSync, writeFileSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { WeftError } from '../errors.ts'
import { loadIdentityKey } from '../repo/keystore.ts'
import { siteNameOf } from './names.ts'

const HEADER = 'weft-site-key-v1'
const SCRYPT = { N: 2 ** 15, r: 8, p: 1 }

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

async function scrypt (passphrase: string, salt: Buffer, params: { N: number, r: number, p: number }): Promise<Buffer> {
  const options: ScryptOptions = { ...params, maxmem: 256 * params.N * params.r }
  return await new Promise((resolve, reject) => {
    scryptCb(passphrase.normalize('NFC'), salt, 32, options, (err, key) => { err === null ? resolve(key) : reject(err) })
  })
}

export interface KeyExport { label: string, name: string, sequence: string, key: PrivateKey }

export async function exportSiteKey (label: string, key: PrivateKey, sequence: bigint, passphrase: string): Promise<string> {
  if (passphrase === '') throw new WeftError('ERR_USAGE', 'an empty passphrase would leave the key unprotected')
  const salt = randomBytes(16)
  const iv = randomBytes(12)
  const cipher = createCipheriv('aes-256-gcm', await scrypt(passphrase, salt, SCRYPT), iv)
  const ciphertext = Buffer.concat([cipher.update(privateKeyToProtobuf(key)), cipher.final()])
  const body = {
    label,
    name: nameOfKey(key),
    sequence: sequence.toString(),
    kdf: { name: 'scrypt', ...SCRYPT, salt: salt.toString('base64') },
    cipher: 'aes-256-gcm',
    iv: iv.toString('base64'),
    tag: cipher.getAuthTag().toString('base64'),
    ciphertext: ciphertext.toString('base64')
  }
  return `${HEADER}\n${Buffer.from(JSON.stringify(body)).toString('base64')}\n`
}

export async function importSiteKey (text: string, passphrase: string): Promise<KeyExport> {
  const [header, payload] = text.trim().split(/\r?\n/)
  if (header !== HEADER || payload === undefined) throw new WeftError('ERR_KEY_INVALID', `not a weft site key export (the first line should be "${HEADER}")`)
  let body: Record<string, any>
  try {
    body = JSON.parse(Buffer.from(payload, 'base64').toString('utf8'))
  } catch {
    throw new WeftError('ERR_KEY_INVALID', 'the key export is damaged: its body is not base64 JSON')
  }
  const { kdf } = body
  if (kdf?.name !== 'scrypt' || body.cipher !== 'aes-256-gcm' || ![kdf.N, kdf.r, kdf.p].every(Number.isSafeInteger) || kdf.N > 2 ** 20 || kdf.r > 32 || kdf.p > 16) {
    throw new WeftError('ERR_KEY_INVALID', 'the key export uses a key derivation or cipher weft does not support')
  }
  let key: PrivateKey
  try {
    const decipher = createDecipheriv('aes-256-gcm', await scrypt(passphrase, Buffer.from(kdf.salt, 'base64'), kdf), Buffer.from(body.iv, 'base64'))
    decipher.setAuthTag(Buffer.from(body.tag, 'base64'))
    key = privateKeyFromProtobuf(Buffer.concat([decipher.update(Buffer.from(body.ciphertext, 'base64')), decipher.final()]))
  } catch {
    throw new WeftError('ERR_KEY_INVALID', 'the passphrase is wrong or the key export is damaged')
  }
  if (key.type !== 'Ed25519') throw new WeftError('ERR_KEY_INVALID', `the exported key is ${key.type}; weft sites use ed25519`)
  const name = nameOfKey(key)
  if (body.name !== name) throw new WeftError('ERR_KEY_INVALID', 'the key export is damaged: its name does not match its key')
  let sequence = '0'
  try { sequence = BigInt(body.sequence ?? 0).toString() } catch { /* an old or odd export: start from the network's */ }
  return { label: String(body.label ?? ''), name, sequence, key }
}
