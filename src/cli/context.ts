import { once } from 'node:events'
import { resolve } from 'node:path'
import type { Command } from 'commander'
// The files themselves, not the folders' index.ts: a command that asks a running daemon
// loads the API client and the home's layout, never the node (hundreds of modules).
import { ApiClient, readApiEndpoint, type WeftApi } from '../api/client.ts'
import type { WeftNode } from '../node/index.ts'
import { WeftError, isWeftError } from '../errors.ts'
import { defaultHome, repoPaths } from '../repo/layout.ts'
import { homeState, removeCreatedHome } from '../repo/home.ts'
import { drillGate } from './drill.ts'

export interface GlobalOptions {
  home?: string
}

export function homeOf (cmd: Command): string {
  const opts = cmd.optsWithGlobals<GlobalOptions>()
  return opts.home ?? defaultHome()
}

/** The running daemon's API client, if a daemon answers for this home. */
async function daemonFor (home: string): Promise<ApiClient | undefined> {
  const endpoint = await readApiEndpoint(home)
  if (endpoint === undefined) return undefined
  const client = new ApiClient(endpoint.url, endpoint.token)
  try {
    await client.id()
    return client
  } catch (err) {
    // A daemon that died without cleaning up: open the home directly.
    if (isWeftError(err, 'ERR_API_UNREACHABLE')) return undefined
    throw err
  }
}

/**
 * Commands that only read the home: where there is no home yet they say so instead of
 * creating one (a home is made by `weft init` or by the first command that stores
 * something). Named here, by their command path, so each command stays as it is.
 */
const READ_ONLY_COMMANDS = new Set([
  'repo stat', 'repo verify', 'cat', 'get', 'ls', 'car export', 'pin ls', 'gc', 'id',
  'site list', 'site info', 'site export-key', 'user export-key', 'user recovery-phrase', 'user list', 'user cat', 'private get', 'private ls', 'message ls', 'resolve', 'following', 'name ls', 'name resolve'
])

function commandPath (cmd: Command): string {
  const names: string[] = []
  for (let c: Command | null = cmd; c?.parent != null; c = c.parent) names.unshift(c.name())
  return names.join(' ')
}

/** Whether the home exists (a folder with nothing in it is no home yet). */
export function homeExists (cmd: Command): boolean {
  const state = homeState(repoPaths(resolve(homeOf(cmd))))
  return state !== 'absent' && state !== 'empty'
}

/**
 * Runs fn against the daemon when one runs for this home (so `weft add` lands in the
 * running node), else against the home opened here, offline, and closed afterwards.
 * A command that fails leaves no home behind where there was none before it.
 */
export async function withApi<T> (cmd: Command, fn: (api: WeftApi, where: 'daemon' | 'local') => Promise<T>): Promise<T> {
  const home = homeOf(cmd)
  await drillGate()
  const daemon = await daemonFor(home)
  if (daemon !== undefined) return await fn(daemon, 'daemon')
  const paths = repoPaths(resolve(home))
  const before = homeState(paths)
  if (READ_ONLY_COMMANDS.has(commandPath(cmd)) && (before === 'absent' || before === 'empty')) {
    throw new WeftError('ERR_REPO_NOT_A_HOME', `there is no weft home at ${paths.home} yet: \`weft init\` makes one, as does the first command that stores something (nothing was written)`)
  }
  let node: WeftNode | undefined
  try {
    const [{ createNode }, { Operations }] = await Promise.all([import('../node/index.ts'), import('../api/operations.ts')])
    node = await createNode({ home })
    return await fn(new Operations(node), 'local')
  } catch (err) {
    await node?.stop()
    node = undefined
    removeCreatedHome(paths, before)
    throw err
  } finally {
    await node?.stop()
  }
}

/** Writes to stdout, waiting when the pipe is full. */
export async function writeOut (chunk: Uint8Array | string): Promise<void> {
  if (!process.stdout.write(chunk)) await once(process.stdout, 'drain')
}
