import { once } from 'node:events'
import type { Command } from 'commander'
import { ApiClient, Operations, readApiEndpoint, type WeftApi } from '../api/index.ts'
import { isWeftError } from '../errors.ts'
import { createNode } from '../node/index.ts'
import { defaultHome } from '../repo/index.ts'
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
 * Runs fn against the daemon when one runs for this home (so `weft add` lands in the
 * running node), else against the home opened here, offline, and closed afterwards.
 */
export async function withApi<T> (cmd: Command, fn: (api: WeftApi, where: 'daemon' | 'local') => Promise<T>): Promise<T> {
  const home = homeOf(cmd)
  await drillGate()
  const daemon = await daemonFor(home)
  if (daemon !== undefined) return await fn(daemon, 'daemon')
  const node = await createNode({ home })
  try {
    return await fn(new Operations(node), 'local')
  } finally {
    await node.stop()
  }
}

/** Writes to stdout, waiting when the pipe is full. */
export async function writeOut (chunk: Uint8Array | string): Promise<void> {
  if (!process.stdout.write(chunk)) await once(process.stdout, 'drain')
}
