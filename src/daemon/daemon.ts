import { randomBytes } from 'node:crypto'
import { readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Server } from 'node:http'
import { tcpHostPort } from '../net/addresses.ts'
import { Operations, createApiHandler } from '../api/index.ts'
import { close, listen, type Handler } from '../http/index.ts'
import { createUi } from './ui.ts'
import { AnswerCache, createGatewayHandler, type GatewayComponents, type GatewayHandler, type GatewayInit, type SiteApiMessages, type SiteApiUsers, type SiteVersion } from '../gateway/index.ts'
import type { SiteEvents } from '../sites/index.ts'
import { WeftError } from '../errors.ts'
import { createNode, type CreateNodeOptions, type WeftNode } from '../node/index.ts'

export interface Daemon {
  node: WeftNode
  apiUrl: string
  /** `http://127.0.0.1:<port>`: the gateway and the web UI's origin. */
  gatewayUrl: string
  /** The web UI's address with the API token in its fragment (the page keeps it, the URL bar drops it). */
  uiUrl: string
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

/** A new version the node serves: its own publish at once, a followed site's once held whole. */
function onVersion (node: WeftNode) {
  return (fn: (version: SiteVersion) => void): (() => void) => {
    const own = (e: Event): void => {
      const d = (e as CustomEvent<SiteEvents['record']>).detail
      if (d.source === 'self') fn({ site: d.name, sequence: d.sequence, root: d.value.replace(/^\/ipfs\//, '') })
    }
    const held = (e: Event): void => {
      const d = (e as CustomEvent<SiteEvents['fetched']>).detail
      fn({ site: d.name, sequence: d.sequence, root: d.root })
    }
    node.sites.addEventListener('record', own)
    node.sites.addEventListener('fetched', held)
    return () => {
      node.sites.removeEventListener('record', own)
      node.sites.removeEventListener('fetched', held)
    }
  }
}

/**
 * The gateway over a node: it reads the store, fetches what a visit lacks, and resolves names
 * through sites. With `users` (src/users/ createUsers), sites get `/users/`, the site API and
 * the confirmation page.
 */
export function nodeGateway (node: WeftNode, extra: { ui?: GatewayComponents['ui'], users?: SiteApiUsers, messages?: SiteApiMessages, init?: GatewayInit } = {}): GatewayHandler {
  return createGatewayHandler({
    blocks: node.blocks,
    exchange: node.exchange,
    gc: async () => await node.blocks.gc(),
    // a followed site still fetching its newest version is served from the newest held whole
    resolveName: async (name, o) => await node.resolvePath(name, { ...o, held: true }),
    record: name => node.sites.record(name),
    ui: extra.ui,
    // the site API: contributions, the site db and consent; versions from sites' events
    users: extra.users,
    // the private store's routes need the users service's consent, so they come with it
    private: extra.users === undefined ? undefined : node.private,
    // sharing private folders: the same consent, so it comes with users too
    shares: extra.users === undefined ? undefined : node.shares,
    // the site API's messages: sealed to and opened by the person's key on the site
    messages: extra.messages,
    onVersion: onVersion(node),
    // a DNS name's site: the `/ipns/k51…` its naming answer points at
    siteName: async (name, o) => /^\/ipns\/([^/]+)$/.exec((await node.naming.resolve(name, o)).value)?.[1]
  }, extra.init)
}

/**
 * The node online plus its control API. The API's address goes in `$WEFT_HOME/api` and its
 * token in `api.token`, which is how the CLI finds a running daemon.
 */
export async function startDaemon (options: CreateNodeOptions & { apiAddress?: string, gatewayAddress?: string }): Promise<Daemon> {
  const node = await createNode({ ...options, online: true })
  const servers: Server[] = []
  const apiFile = join(node.repo.paths.home, 'api')
  const stop = async (): Promise<void> => {
    await rm(apiFile, { force: true })
    await Promise.all(servers.splice(0).map(close))
    await node.stop()
  }
  const bind = async (handler: Handler, key: 'api' | 'gateway', given?: string, answers?: AnswerCache): Promise<string> => {
    const text = given ?? node.repo.config.addresses[key]
    const address = tcpHostPort(text)
    if (address === undefined) throw new WeftError('ERR_CONFIG_INVALID', `addresses.${key} must be a TCP multiaddr, not ${text}`)
    try {
      const bound = await listen(handler, address.host, address.port, answers)
      servers.push(bound.server)
      return `http://${address.host.includes(':') ? `[${address.host}]` : address.host}:${bound.port}`
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err
      throw new WeftError('ERR_ADDRESS_IN_USE', `addresses.${key} ${text} is in use by another program; choose another with \`weft config set addresses.${key} '"/ip4/127.0.0.1/tcp/<port>"'\``)
    }
  }
  try {
    const token = await apiToken(node.repo.paths.home)
    const ops = new Operations(node)
    const apiUrl = await bind(createApiHandler(ops, token), 'api', options.apiAddress)
    // the web UI shares the API's operations and token, on the gateway's 127.0.0.1 origin
    // sites get /users/ and the site API from the node's users; the API and the web UI list
    // and change which sites may write as the person
    const gateway = nodeGateway(node, { ui: createUi({ ops, token, tmpDir: join(node.repo.paths.home, 'tmp') }), users: node.users, messages: node.messages })
    const gatewayUrl = await bind(gateway, 'gateway', options.gatewayAddress, new AnswerCache({ deletions: () => node.blocks.deletions() }))
    ops.gatewayPort = Number(new URL(gatewayUrl).port)
    await writeFile(apiFile, apiUrl + '\n', { mode: 0o600 })
    return { node, apiUrl, gatewayUrl, uiUrl: `${gatewayUrl}/#token=${token}`, stop }
  } catch (err) {
    await stop()
    throw err
  }
}
