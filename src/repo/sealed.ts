/**
 * Keys sealed under a passphrase, as text that survives copy and paste. Site keys
 * (src/sites/keys.ts) and the user master key (src/users/identity.ts) share it, each with
 * its own header line:
 *
 *   <header>
 *   <base64 of JSON { …fields of the caller, kdf: { name: "scrypt", N, r, p, salt },
 *                     cipher: "aes-256-gcm", iv, tag, ciphertext }>
 *
 * The secret is sealed with AES-256-GCM under a key scrypt derives from the passphrase
 * (NFC-normalised, so the same words typed on another system open it). The caller's
 * fields travel in the clear beside it.
 */
import { createCipheriv, createDecipheriv, randomBytes, scrypt as scryptCb, type ScryptOptions } from 'node:crypto'
import { WeftError } from '../errors.ts'

/** The scrypt paper's interactive cost (N = 2^14, r = 8) doubled for newer CPUs: 32 MiB and 0.28 s per try on the 2-core test machine. */
const SCRYPT = { N: 2 ** 15, r: 8, p: 1 }
/** The largest costs an export may ask for: N = 2^20 at r = 32 needs 4 GiB, so a hostile file cannot make an import eat more. */
const MAX_SCRYPT = { N: 2 ** 20, r: 32, p: 16 }

async function scrypt (passphrase: string, salt: Buffer, params: { N: number, r: number, p: number }): Promise<Buffer> {
  const options: ScryptOptions = { ...params, maxmem: 256 * params.N * params.r }
  return await new Promise((resolve, reject) => {
    scryptCb(passphrase.normalize('NFC'), salt, 32, options, (err, key) => { err === null ? resolve(key) : reject(err) })
  })
}

/** `secret` sealed under `passphrase`, after `header`, with `fields` beside it in the clear. */
export async function seal (header: string, fields: Record<string, unknown>, secret: Uint8Array, passphrase: string): Promise<string> {
  if (passphrase === '') throw new WeftError('ERR_USAGE', 'an empty passphrase would leave the key unprotected')
  const salt = randomBytes(16)
  const iv = randomBytes(12)
  const cipher = createCipheriv('aes-256-gcm', await scrypt(passphrase, salt, SCRYPT), iv)
  const ciphertext = Buffer.concat([cipher.update(secret), cipher.final()])
  const body = {
    ...fields,
    kdf: { name: 'scrypt', ...SCRYPT, salt: salt.toString('base64') },
    cipher: 'aes-256-gcm',
    iv: iv.toString('base64'),
    tag: cipher.getAuthTag().toString('base64'),
    ciphertext: ciphertext.toString('base64')
  }
  return `${header}\n${Buffer.from(JSON.stringify(body)).toString('base64')}\n`
}

/**
 * The secret and the clear fields of a sealed text; ERR_KEY_INVALID when the header is not
 * `header`, the body is damaged, or the passphrase is wrong (GCM cannot tell those two apart).
 * `what` names the kind of key in messages ("site key").
 */
export async function unseal (text: string, header: string, passphrase: string, what: string): Promise<{ secret: Buffer, fields: Record<string, any> }> {
  const [first, payload] = text.trim().split(/\r?\n/)
  if (first !== header || payload === undefined) throw new WeftError('ERR_KEY_INVALID', `not a weft ${what} export (the first line should be "${header}")`)
  let body: Record<string, any>
  try {
    body = JSON.parse(Buffer.from(payload, 'base64').toString('utf8'))
  } catch {
    throw new WeftError('ERR_KEY_INVALID', `the ${what} export is damaged: its body is not base64 JSON`)
  }
  if (body === null || typeof body !== 'object') throw new WeftError('ERR_KEY_INVALID', `the ${what} export is damaged: its body is not a JSON object`)
  const { kdf } = body
  if (kdf?.name !== 'scrypt' || body.cipher !== 'aes-256-gcm' || ![kdf.N, kdf.r, kdf.p].every(Number.isSafeInteger) || kdf.N > MAX_SCRYPT.N || kdf.r > MAX_SCRYPT.r || kdf.p > MAX_SCRYPT.p) {
    throw new WeftError('ERR_KEY_INVALID', `the ${what} export uses a key derivation or cipher weft does not support`)
  }
  try {
    const decipher = createDecipheriv('aes-256-gcm', await scrypt(passphrase, Buffer.from(kdf.salt, 'base64'), kdf), Buffer.from(body.iv, 'base64'))
    decipher.setAuthTag(Buffer.from(body.tag, 'base64'))
    const secret = Buffer.concat([decipher.update(Buffer.from(body.ciphertext, 'base64')), decipher.final()])
    return { secret, fields: body }
  } catch {
    throw new WeftError('ERR_KEY_INVALID', `the passphrase is wrong or the ${what} export is damaged`)
  }
}
