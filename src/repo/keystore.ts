import { mkdirSync, readFileSync, writeFileSync, renameSync, chmodSync, existsSync } from 'node:fs'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { WeftError } from '../errors.ts'

/** The keys/ folder: 0700, one 0600 file per key, protobuf-encoded as libp2p stores keys. */
export function ensureKeysDir (dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  chmodSync(dir, 0o700)
}

export async function createIdentityKey (path: string): Promise<PrivateKey> {
  const key = await generateKeyPair('Ed25519')
  const tmp = `${path}.tmp-${process.pid}`
  writeFileSync(tmp, privateKeyToProtobuf(key), { mode: 0o600 })
  renameSync(tmp, path)
  return key
}

export function loadIdentityKey (path: string): PrivateKey {
  if (!existsSync(path)) throw new WeftError('ERR_REPO_INVALID', `the identity key ${path} is missing`)
  try {
    return privateKeyFromProtobuf(readFileSync(path))
  } catch (err) {
    throw new WeftError('ERR_REPO_INVALID', `the identity key ${path} is unreadable: ${(err as Error).message}`)
  }
}
