import { mkdirSync, existsSync, statSync } from 'node:fs'
import { resolve } from 'node:path'
import type { DatabaseSync } from 'node:sqlite'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { WeftError } from '../errors.ts'
import { readConfig, writeConfig, defaultConfig, type Config } from './config.ts'
import { openDatabase } from './db.ts'
import { ensureKeysDir, createIdentityKey, loadIdentityKey } from './keystore.ts'
import { acquireLock } from './lock.ts'
import { repoPaths, type RepoPaths } from './layout.ts'
import { homeState, writeMarker } from './home.ts'

export { repoPaths, defaultHome, type RepoPaths } from './layout.ts'
export { homeState, removeCreatedHome, type HomeState } from './home.ts'
export { transaction } from './db.ts'
export { defaultConfig, encodeConfig, getConfigValue, setConfigValue, checkConfigKey, checkConfigSetting, parseSize, parseDuration, type Config, type ConfigFile } from './config.ts'

export interface Repo {
  readonly paths: RepoPaths
  readonly db: DatabaseSync
  readonly identity: PrivateKey
  readonly peerId: string
  config: Config
  saveConfig(config: Config): void
  close(): void
}

export interface OpenRepoOptions {
  /** `weft init`: fail with ERR_REPO_EXISTS when the home is already initialised. */
  init?: boolean
  /** Settings for a new home, merged over the defaults. */
  configOverrides?: (config: Config) => Config
}

/**
 * Opens (and on first use creates) the home, holding its lock until close(). A home is
 * created only in an absent or empty folder (home.ts); any other folder that is not
 * already a home is refused before anything is written to it. The marker is written
 * first and config.json last, so a home without config.json is one whose creation never
 * finished and is simply created again.
 */
export async function openRepo (home: string, options: OpenRepoOptions = {}): Promise<Repo> {
  const paths = repoPaths(resolve(home))
  const state = homeState(paths)
  if (state === 'foreign') {
    if (existsSync(paths.home) && !statSync(paths.home).isDirectory()) {
      throw new WeftError('ERR_REPO_INVALID', `${paths.home} exists and is not a folder`)
    }
    throw new WeftError('ERR_REPO_NOT_A_HOME', `${paths.home} holds files that are not a weft home; weft makes a home only in an absent or empty folder (nothing was written)`)
  }
  if (state !== 'home') {
    mkdirSync(paths.home, { recursive: true, mode: 0o700 })
    writeMarker(paths)
  }
  const lock = acquireLock(paths.lock)
  let db: DatabaseSync | undefined
  try {
    const initialised = existsSync(paths.config)
    if (initialised && options.init === true) {
      throw new WeftError('ERR_REPO_EXISTS', `a weft home already exists at ${paths.home}`)
    }
    ensureKeysDir(paths.keys)
    const identity = existsSync(paths.identityKey) ? loadIdentityKey(paths.identityKey) : await createIdentityKey(paths.identityKey)
    mkdirSync(paths.blocks, { recursive: true })
    db = openDatabase(paths.db)
    let config: Config
    if (initialised) {
      config = readConfig(paths.config)
    } else {
      config = (options.configOverrides ?? (c => c))(defaultConfig())
      writeConfig(paths.config, config)
    }
    const openDb = db
    let closed = false
    const repo: Repo = {
      paths,
      db: openDb,
      identity,
      peerId: peerIdFromPrivateKey(identity).toString(),
      config,
      saveConfig (next: Config) {
        writeConfig(paths.config, next)
        repo.config = next
      },
      close () {
        if (closed) return
        closed = true
        openDb.close()
        lock.release()
      }
    }
    return repo
  } catch (err) {
    db?.close()
    lock.release()
    throw err
  }
}
