/**
 * A real local EVM chain for ENS tests: ganache (in-process, served over node:http on
 * 127.0.0.1 so no uWS addon is needed), the ENS registry and PublicResolver deployed from
 * the prebuilt artifacts in @ensdomains/ens and @ensdomains/resolver, and lying proxies.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http'
import { createRequire } from 'node:module'
import type { AddressInfo } from 'node:net'
import ganache from 'ganache'
import { createPublicClient, createWalletClient, defineChain, http, labelhash, toHex, type Abi, type Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { namehash } from 'viem/ens'

const require = createRequire(import.meta.url)
const registryArtifact = require('@ensdomains/ens/build/contracts/ENSRegistry.json') as { abi: Abi, bytecode: Hex }
const resolverArtifact = require('@ensdomains/resolver/build/contracts/PublicResolver.json') as { abi: Abi, bytecode: Hex }

/** ganache's first deterministic account. */
const KEY: Hex = '0x4f3edf983ac636a65a842ce7c78d9aa706d3b113bce9c46f30d7d21715b23b1d'
export const CHAIN_ID = 1337

export interface HttpEndpoint {
  url: string
  stop(): Promise<void>
}

export interface EnsChain extends HttpEndpoint {
  registry: Hex
  resolver: Hex
  /** Gives `name` (a 2LD under eth) the PublicResolver, or no resolver when `resolver` is false. */
  register(label: string, options?: { resolver?: boolean }): Promise<Hex>
  setContenthash(name: string, bytes: Uint8Array): Promise<void>
  rpc<T = unknown>(method: string, params: unknown[]): Promise<T>
}

async function readBody (req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  for await (const c of req) chunks.push(c as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

async function listen (server: Server): Promise<string> {
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

async function close (server: Server): Promise<void> {
  server.closeAllConnections()
  await new Promise<void>(resolve => server.close(() => resolve()))
}

export async function startEnsChain (): Promise<EnsChain> {
  const provider = ganache.provider({ logging: { quiet: true }, chain: { chainId: CHAIN_ID }, wallet: { deterministic: true } })
  const server = createServer((req, res) => {
    void (async () => {
      const body = JSON.parse(await readBody(req)) as { id: number, method: string, params: unknown[] }
      let reply: unknown
      try {
        reply = { jsonrpc: '2.0', id: body.id, result: await provider.request({ method: body.method, params: body.params } as never) }
      } catch (err) {
        reply = { jsonrpc: '2.0', id: body.id, error: { code: (err as { code?: number }).code ?? -32000, message: (err as Error).message } }
      }
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify(reply))
    })()
  })
  const url = await listen(server)
  const chain = defineChain({ id: CHAIN_ID, name: 'ganache', nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 }, rpcUrls: { default: { http: [url] } } })
  const account = privateKeyToAccount(KEY)
  const wallet = createWalletClient({ account, chain, transport: http(url) })
  const client = createPublicClient({ chain, transport: http(url) })

  async function deploy (artifact: { abi: Abi, bytecode: Hex }, args: unknown[]): Promise<Hex> {
    const hash = await wallet.deployContract({ abi: artifact.abi, bytecode: artifact.bytecode, args })
    const receipt = await client.waitForTransactionReceipt({ hash, pollingInterval: 10 })
    if (receipt.contractAddress == null) throw new Error('deploy failed')
    return receipt.contractAddress
  }
  async function send (address: Hex, abi: Abi, functionName: string, args: unknown[]): Promise<void> {
    const hash = await wallet.writeContract({ address, abi, functionName, args } as never)
    const receipt = await client.waitForTransactionReceipt({ hash, pollingInterval: 10 })
    if (receipt.status !== 'success') throw new Error(`${functionName} reverted`)
  }

  const registry = await deploy(registryArtifact, [])
  const resolver = await deploy(resolverArtifact, [registry])
  await send(registry, registryArtifact.abi, 'setSubnodeOwner', [toHex(0n, { size: 32 }), labelhash('eth'), account.address])

  return {
    url,
    registry,
    resolver,
    async register (label, options = {}) {
      const noResolver = '0x0000000000000000000000000000000000000000'
      await send(registry, registryArtifact.abi, 'setSubnodeRecord', [namehash('eth'), labelhash(label), account.address, options.resolver === false ? noResolver : resolver, 0n])
      return namehash(`${label}.eth`)
    },
    async setContenthash (name, bytes) {
      await send(resolver, resolverArtifact.abi, 'setContenthash', [namehash(name), toHex(bytes)])
    },
    async rpc<T> (method: string, params: unknown[]) {
      return await provider.request({ method, params } as never) as T
    },
    async stop () {
      await close(server)
      await provider.disconnect()
    }
  }
}

/** A JSON-RPC request as a proxy sees it, and the answer it is about to pass on. */
export type Rewrite = (method: string, params: unknown[], result: unknown) => unknown

/**
 * An HTTP proxy on 127.0.0.1 in front of `target` that may rewrite each answer's result (or never
 * answer: `hang`; or answer the methods `refuse` names with a JSON-RPC error, as an endpoint without them does).
 */
export async function startProxy (target: string, rewrite: Rewrite, options: { hang?: boolean, refuse?: Record<string, { code: number, message: string }> } = {}): Promise<HttpEndpoint> {
  const server = createServer((req, res) => {
    void (async () => {
      const text = await readBody(req)
      if (options.hang === true) return
      const asked = JSON.parse(text) as { method: string, params: unknown[], id?: unknown }
      const refused = options.refuse?.[asked.method]
      if (refused !== undefined) {
        res.setHeader('content-type', 'application/json')
        res.end(JSON.stringify({ jsonrpc: '2.0', id: asked.id, error: refused }))
        return
      }
      const upstream = await fetch(target, { method: 'POST', headers: { 'content-type': 'application/json' }, body: text })
      const reply = await upstream.json() as { result?: unknown }
      if ('result' in reply) reply.result = rewrite(asked.method, asked.params, reply.result)
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify(reply))
    })()
  })
  const url = await listen(server)
  return { url, stop: async () => { await close(server) } }
}

/** A URL where nothing listens. */
export async function deadEndpoint (): Promise<string> {
  const server = createServer()
  const url = await listen(server)
  await close(server)
  return url
}
