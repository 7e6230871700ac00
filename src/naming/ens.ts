/**
 * ENS names (`*.eth`, and names under `tlds`): namehash (EIP-137), registry.resolver(node),
 * resolver.contenthash(node) (EIP-1577), over Ethereum JSON-RPC.
 *
 * Verified mode (the default): a block (number, stateRoot) comes from a source other than
 * the endpoint that answers (`headerRpc`, or `pinnedHeader`); `eth_getProof` at that block
 * proves the registry's record slots and the resolver's contenthash slots (layouts in
 * ens-proof.ts), and the answer is what the proofs say. `eth_call` is asked beside the
 * proofs: when it disagrees with them, the endpoint lied and the answer is
 * ERR_NAME_PROOF_INVALID. Without an independent block the same checks run against the
 * endpoint's own block, and the answer, not proven, is refused with ERR_NAME_UNPROVEN, as is
 * one from an endpoint without eth_getProof or a resolver of unknown layout; with
 * `acceptUnproven` such answers are given, saying `proven: false` and why.
 */
import { decodeFunctionResult, encodeFunctionData, hexToBytes, numberToHex, toHex, type Hex } from 'viem'
import { namehash, normalize } from 'viem/ens'
import { WeftError } from '../errors.ts'
import { decodeContenthash } from './ens-contenthash.ts'
import { RESOLVER_LAYOUTS, bytesDataSlots, bytesLength, contenthashHeadSlot, mappingSlot, readBytes, registrySlots, verifyAccountProof, type AccountProofJson } from './ens-proof.ts'
import { METHOD_NOT_FOUND, RpcError, createRpc, type Rpc } from './ens-rpc.ts'
import type { NameAnswer, NameResolver, ResolveOptions } from './types.ts'

export const MAINNET_REGISTRY: Hex = '0x00000000000C2E074eC69A0dFb2997BA6C7d2e1e'

export interface EnsInit {
  /** JSON-RPC URL of an Ethereum endpoint. */
  rpc: string
  /** ENS registry address; mainnet's by default. */
  registry?: string
  /** When set, an endpoint on another chain is ERR_NAME_WRONG_CHAIN. */
  chainId?: number
  /** `proof` (default): check answers with eth_getProof; `none`: believe the endpoint. */
  verify?: 'proof' | 'none'
  /** With verify "proof": answer what cannot be proven, marked `proven: false`, instead of ERR_NAME_UNPROVEN. */
  acceptUnproven?: boolean
  /** A second endpoint, trusted for block headers only. */
  headerRpc?: string
  /** Which of headerRpc's blocks to prove against: `latest` (default), `safe` or `finalized`. */
  headerTag?: 'latest' | 'safe' | 'finalized'
  /** A block the user trusts; proofs are asked at this block (needs an archive node once it is old). */
  pinnedHeader?: { number: number, stateRoot: string }
  /** Top-level names besides `eth` that live in this registry. */
  tlds?: string[]
  /** ms per JSON-RPC call (default 10 s); the caller's signal may end it sooner. */
  timeout?: number
  /** ms an answer may be cached when the registry's own TTL is 0 (default 5 min). */
  ttl?: number
}

const REGISTRY_ABI = [{ type: 'function', name: 'resolver', stateMutability: 'view', inputs: [{ name: 'node', type: 'bytes32' }], outputs: [{ name: '', type: 'address' }] }] as const
const RESOLVER_ABI = [{ type: 'function', name: 'contenthash', stateMutability: 'view', inputs: [{ name: 'node', type: 'bytes32' }], outputs: [{ name: '', type: 'bytes' }] }] as const
const ZERO_ADDRESS = '0x0000000000000000000000000000000000000000'

interface Block { number: number, stateRoot: Hex, independent: boolean }

export function createEnsResolver (init: EnsInit): NameResolver {
  const timeout = init.timeout ?? 10_000
  const rpc = createRpc(init.rpc, timeout)
  const headerRpc = init.headerRpc === undefined ? undefined : createRpc(init.headerRpc, timeout)
  const registry = (init.registry ?? MAINNET_REGISTRY).toLowerCase() as Hex
  const tlds = new Set(['eth', ...(init.tlds ?? []).map(t => t.toLowerCase())])
  const defaultTtl = init.ttl ?? 300_000
  if (!/^0x[0-9a-f]{40}$/.test(registry)) throw new WeftError('ERR_CONFIG_INVALID', `ENS registry "${init.registry}" is not an address`)
  const checkedChains = new Set<Rpc>()

  async function checkChain (endpoint: Rpc, url: string, options: ResolveOptions): Promise<void> {
    if (init.chainId === undefined || checkedChains.has(endpoint)) return
    const id = Number(await call<Hex>(endpoint, 'eth_chainId', [], options))
    if (id !== init.chainId) throw new WeftError('ERR_NAME_WRONG_CHAIN', `Ethereum endpoint ${url} serves chain ${id}, not the configured chain ${init.chainId}`)
    checkedChains.add(endpoint)
  }

  async function block (options: ResolveOptions): Promise<Block> {
    if (init.pinnedHeader !== undefined) return { number: init.pinnedHeader.number, stateRoot: init.pinnedHeader.stateRoot.toLowerCase() as Hex, independent: true }
    const source = headerRpc ?? rpc
    const b = await call<{ number?: Hex, stateRoot?: Hex } | null>(source, 'eth_getBlockByNumber', [headerRpc === undefined ? 'latest' : (init.headerTag ?? 'latest'), false], options)
    // a block number is a hex quantity that fits a safe integer (13 hex digits)
    if (b == null || typeof b.number !== 'string' || !/^0x[0-9a-fA-F]{1,13}$/.test(b.number) || typeof b.stateRoot !== 'string' || !/^0x[0-9a-fA-F]{64}$/.test(b.stateRoot)) {
      throw new WeftError('ERR_NAME_UNREACHABLE', `${headerRpc === undefined ? init.rpc : init.headerRpc} gave no usable block header`)
    }
    return { number: Number(b.number), stateRoot: b.stateRoot.toLowerCase() as Hex, independent: headerRpc !== undefined }
  }

  return {
    kind: 'ens',
    handles (name: string): boolean {
      const tld = name.toLowerCase().replace(/\.$/, '').split('.').pop() ?? ''
      return name.includes('.') && tlds.has(tld)
    },
    async resolve (name: string, options: ResolveOptions = {}): Promise<NameAnswer> {
      const normal = ensNormalize(name)
      const node = namehash(normal)
      await Promise.all([checkChain(rpc, init.rpc, options), headerRpc === undefined ? undefined : checkChain(headerRpc, init.headerRpc ?? '', options)])
      if (init.verify === 'none') {
        const { resolver, contenthash } = await readByCall(rpc, registry, node, 'latest', options)
        return answer(normal, resolver, contenthash, defaultTtl, false, 'not verified (verify: none)')
      }
      const at = await block(options)
      const got = await resolveProven(rpc, registry, node, normal, at, defaultTtl, options)
      // proof mode fails closed: what the checks could not prove is refused unless unproven answers were asked for
      if (!got.proven && init.acceptUnproven !== true) {
        throw new WeftError('ERR_NAME_UNPROVEN', `${normal}: ${got.proof ?? 'not proven'}; refused because naming.ens.verify is "proof" (set naming.ens.acceptUnproven to true to be served unproven answers)`)
      }
      return got
    }
  }
}

/** ENSIP-15 normalisation, and labels of 1 to 63 bytes; ERR_NAME_INVALID otherwise. */
function ensNormalize (name: string): string {
  let normal: string
  try {
    normal = normalize(name.trim().replace(/\.$/, ''))
  } catch (err) {
    throw new WeftError('ERR_NAME_INVALID', `"${name.slice(0, 80)}" is not a valid ENS name: ${(err as Error).message.split('\n')[0]}`)
  }
  for (const label of normal.split('.')) {
    if (label === '') throw new WeftError('ERR_NAME_INVALID', `"${name.slice(0, 80)}" has an empty label`)
    if (Buffer.byteLength(label) > 63) throw new WeftError('ERR_NAME_INVALID', `"${label.slice(0, 20)}…" is a label over 63 bytes`)
  }
  return normal
}

async function call<T> (endpoint: Rpc, method: string, params: unknown[], options: ResolveOptions): Promise<T> {
  try {
    return await endpoint<T>(method, params, options)
  } catch (err) {
    if (err instanceof RpcError) throw new WeftError('ERR_NAME_UNREACHABLE', `Ethereum endpoint refused ${method}: ${err.message.slice(0, 200)}`, { cause: err })
    throw err
  }
}

async function ethCall (endpoint: Rpc, to: Hex, data: Hex, blockTag: string, options: ResolveOptions): Promise<Hex> {
  const out = await call<unknown>(endpoint, 'eth_call', [{ to, data }, blockTag], options)
  if (typeof out !== 'string' || !/^0x([0-9a-fA-F]{2})*$/.test(out)) throw new WeftError('ERR_NAME_UNREACHABLE', `eth_call to ${to} gave no hex data`)
  return out as Hex
}

async function callResolver (endpoint: Rpc, registry: Hex, node: Hex, blockTag: string, options: ResolveOptions): Promise<Hex> {
  const out = await ethCall(endpoint, registry, encodeFunctionData({ abi: REGISTRY_ABI, functionName: 'resolver', args: [node] }), blockTag, options)
  if (out === '0x') throw new WeftError('ERR_NAME_NOT_FOUND', `no ENS registry at ${registry} on this chain`)
  try {
    return decodeFunctionResult({ abi: REGISTRY_ABI, functionName: 'resolver', data: out }).toLowerCase() as Hex
  } catch {
    throw new WeftError('ERR_NAME_UNREACHABLE', `the ENS registry at ${registry} answered resolver() with data that is not an address`)
  }
}

async function callContenthash (endpoint: Rpc, resolver: Hex, node: Hex, blockTag: string, options: ResolveOptions): Promise<Uint8Array> {
  const out = await ethCall(endpoint, resolver, encodeFunctionData({ abi: RESOLVER_ABI, functionName: 'contenthash', args: [node] }), blockTag, options)
  if (out === '0x') return new Uint8Array(0)
  try {
    return hexToBytes(decodeFunctionResult({ abi: RESOLVER_ABI, functionName: 'contenthash', data: out }))
  } catch {
    throw new WeftError('ERR_CONTENTHASH_INVALID', `resolver ${resolver} answered contenthash with data that is not ABI bytes`)
  }
}

async function readByCall (endpoint: Rpc, registry: Hex, node: Hex, blockTag: string, options: ResolveOptions): Promise<{ resolver: Hex, contenthash: Uint8Array }> {
  const resolver = await callResolver(endpoint, registry, node, blockTag, options)
  if (resolver === ZERO_ADDRESS) return { resolver, contenthash: new Uint8Array(0) }
  return { resolver, contenthash: await callContenthash(endpoint, resolver, node, blockTag, options) }
}

function answer (name: string, resolver: Hex, contenthash: Uint8Array, ttl: number, proven: boolean, proof: string): NameAnswer {
  if (resolver === ZERO_ADDRESS) throw new WeftError('ERR_NAME_NOT_FOUND', `${name} has no resolver in the ENS registry`)
  if (contenthash.length === 0) throw new WeftError('ERR_NAME_NOT_FOUND', `${name} has no contenthash`)
  return { value: decodeContenthash(contenthash, name), ttl, resolver: 'ens', proven, proof }
}

async function getProof (endpoint: Rpc, address: Hex, slots: bigint[], blockTag: Hex, options: ResolveOptions): Promise<AccountProofJson | undefined> {
  try {
    return await endpoint<AccountProofJson>('eth_getProof', [address, slots.map(s => numberToHex(s, { size: 32 })), blockTag], options)
  } catch (err) {
    if (err instanceof RpcError && err.rpcCode === METHOD_NOT_FOUND) return undefined
    if (err instanceof RpcError) throw new WeftError('ERR_NAME_UNREACHABLE', `Ethereum endpoint could not prove ${address} at block ${Number(blockTag)}: ${err.message.slice(0, 200)}`, { cause: err })
    throw err
  }
}

const same = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((x, i) => x === b[i])

/** Data slots proven before the length is known: 64 bytes covers ipfs-ns and ipns-ns (ed25519) values. */
const GUESSED_LENGTH = 64

async function resolveProven (rpc: Rpc, registry: Hex, node: Hex, name: string, at: Block, defaultTtl: number, options: ResolveOptions): Promise<NameAnswer> {
  const blockTag = numberToHex(at.number)
  const where = `block ${at.number} state root ${at.stateRoot}${at.independent ? '' : ' (the endpoint\'s own block: no independent header, set headerRpc or pinnedHeader)'}`
  const lie = (what: string): WeftError => new WeftError('ERR_NAME_PROOF_INVALID', `${name}: the endpoint's ${what} disagrees with its proof at block ${at.number}`)
  const reg = registrySlots(node)
  const slots = new Map<bigint, bigint>()
  let codeHash: Hex | undefined

  // what eth_call says: asked only when the proofs cannot decide between the storage layouts
  const calling = async (): Promise<{ resolver: Hex, contenthash: Uint8Array }> => {
    const resolver = await callResolver(rpc, registry, node, blockTag, options)
    return { resolver, contenthash: resolver === ZERO_ADDRESS ? new Uint8Array(0) : await callContenthash(rpc, resolver, node, blockTag, options) }
  }
  async function prove (resolver: Hex, list: bigint[]): Promise<void> {
    const json = await getProof(rpc, resolver, list, blockTag, options)
    if (json === undefined) throw new WeftError('ERR_NAME_UNREACHABLE', 'the endpoint stopped supporting eth_getProof')
    const proven = await verifyAccountProof(at.stateRoot, resolver, list, json)
    codeHash = proven.codeHash
    for (const [k, v] of proven.slots) slots.set(k, v)
  }
  const json = await getProof(rpc, registry, [reg.owner, reg.resolver], blockTag, options)
  if (json === undefined) {
    const called = await calling()
    return answer(name, called.resolver, called.contenthash, defaultTtl, false, `not proven: the endpoint does not support eth_getProof (block ${at.number})`)
  }
  const registryProof = await verifyAccountProof(at.stateRoot, registry, [reg.owner, reg.resolver], json)
  if (!registryProof.exists) throw new WeftError('ERR_NAME_NOT_FOUND', `no ENS registry at ${registry} at block ${at.number}`)
  const word = registryProof.slots.get(reg.resolver) ?? 0n
  const resolver = numberToHex(word & ((1n << 160n) - 1n), { size: 20 })
  const ttlSeconds = Number((word >> 160n) & ((1n << 64n) - 1n))
  const ttl = ttlSeconds > 0 ? Math.min(ttlSeconds * 1000, defaultTtl) : defaultTtl
  // an owner of 0 or no resolver means "no record" (ENSRegistryWithFallback would then ask the old registry: not followed)
  if (resolver === ZERO_ADDRESS) throw new WeftError('ERR_NAME_NOT_FOUND', `${name} has no resolver in the ENS registry (proven at block ${at.number})`)
  const wanted = new Set<bigint>()
  for (const layout of RESOLVER_LAYOUTS) {
    if (layout.versionsSlot !== undefined) wanted.add(versionSlot(node, layout.versionsSlot))
    const head = contenthashHeadSlot(node, layout, 0n)
    wanted.add(head)
    for (const s of bytesDataSlots(head, GUESSED_LENGTH)) wanted.add(s)
  }
  await prove(resolver, [...wanted])

  // what each known layout says the contenthash is; another round when the first fell short
  const candidates: Array<{ layout: string, value: Uint8Array }> = []
  for (const layout of RESOLVER_LAYOUTS) {
    const version = layout.versionsSlot === undefined ? 0n : slots.get(versionSlot(node, layout.versionsSlot)) ?? 0n
    const headSlot = contenthashHeadSlot(node, layout, version)
    if (!slots.has(headSlot)) await prove(resolver, [headSlot])
    const head = slots.get(headSlot) ?? 0n
    const len = bytesLength(head)
    if (len === undefined) continue
    const missing = bytesDataSlots(headSlot, len).filter(s => !slots.has(s))
    if (missing.length > 0) await prove(resolver, missing)
    const value = readBytes(headSlot, head, slots)
    if (value !== undefined) candidates.push({ layout: layout.name, value })
  }
  const proof = `eth_getProof at ${where}; registry ${registry}, resolver ${resolver} (code ${codeHash?.slice(0, 10)}…)`
  const found = candidates.filter(c => c.value.length > 0)
  // one layout holds a value: the proofs alone answer, and whatever eth_call would say cannot change it
  if (found.length === 1 || (found.length > 1 && found.every(c => same(c.value, found[0].value)))) {
    return answer(name, resolver, found[0].value, ttl, at.independent, `${proof}, ${found[0].layout} layout`)
  }
  // none, or several that differ: the resolver's own answer tells which layout it uses, and must match a proven value
  const called = await calling()
  if (called.resolver !== resolver) throw lie(`registry.resolver (${called.resolver}, proven ${resolver})`)
  const match = found.find(c => same(c.value, called.contenthash))
  if (match !== undefined) return answer(name, resolver, match.value, ttl, at.independent, `${proof}, ${match.layout} layout`)
  if (found.length > 0) throw lie(`contenthash (0x${toHex(called.contenthash).slice(2, 40)}…)`)
  if (called.contenthash.length === 0) throw new WeftError('ERR_NAME_NOT_FOUND', `${name} has no contenthash (proven at block ${at.number})`)
  // a resolver whose storage is not laid out like a PublicResolver: its answer cannot be proven
  return answer(name, resolver, called.contenthash, ttl, false, `not proven: resolver ${resolver} keeps contenthash in an unknown storage layout (registry proven at ${where})`)
}

/** `recordVersions[node]` of a versioned resolver. */
function versionSlot (node: Hex, slot: bigint): bigint {
  return mappingSlot(node, slot)
}
