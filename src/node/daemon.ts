import { randomBytes } from 'node:crypto'
import { readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Server } from 'node:http'
import { tcpHostPort } from '../net/index.ts'
import { Operations, createApiHandler, listen } from '../api/index.ts'
import { WeftError } from '../errors.ts'
import { createNode, type CreateNodeOptions, type WeftNode } from './index.ts'

export interface Daemon {
  node: WeftNode
  apiUrl: string
  stop(): Promise<void>
}

async function apiToken (home: string): Promise<string> {
  const path = join(home, 'api.token')
  try {
    const token = (await readFile(path, 'utf8')).trim()
    if (token.length >= 32) return token
  } catch { /* first start */ }
  const token = randomBytes(32).toString('hex')
  await writeFile(path, token + '\n', { mode: 0o600 })
  return token
}

/**
 * The node online plus its control API. The API's address goes in `$WEFT_HOME/api` and its
 * token in `api.token`, which is how the CLI finds a running daemon.
 */
export async function startDaemon (options: CreateNodeOptions & { apiAddress?: string }): Promise<Daemon> {
  const node = await createNode({ ...options, online: true })
  let server: Server | undefined
  const apiFile = join(node.repo.paths.home, 'api')
  const stop = async (): Promise<void> => {
    await rm(apiFile, { force: true })
    await new Promise<void>(resolve => {
      if (server === undefined) { resolve(); return }
      server.close(() => { resolve() })
      server.closeAllConnections()
    })
    await node.stop()
  }
  try {
    const address = tcpHostPort(options.apiAddress ?? node.repo.config.addresses.api)
    if (address === undefined) throw new WeftError('ERR_CONFIG_INVALID', `addresses.api must be a TCP multiaddr, not ${options.apiAddress ?? node.repo.config.addresses.api}`)
    const token = await apiToken(node.repo.paths.home)
    const bound = await listen(createApiHandler(new Operations(node), token), address.host, address.port)
    server = bound.server
    const apiUrl = `http://${address.host.includes(':') ? `[${address.host}]` : address.host}:${bound.port}`
    await writeFile(apiFile, apiUrl + '\n', { mode: 0o600 })
    return { node, apiUrl, stop }
  } catch (err) {
    await stop()
    throw err
  }
}
