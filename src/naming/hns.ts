/**
 * Handshake names through an hsd node's JSON-RPC (POST `/`, `{ method, params }`, HTTP basic
 * auth `x:<api key>`).
 *
 * Verified mode (the default) trusts nothing the node says about the name itself:
 * 1. `getblockchaininfo` once: the node must serve the configured network.
 * 2. `getnameproof <name>`: an urkel proof for sha3(name), the tree root it is against and the
 *    block whose header commits to that root.
 * 3. `getblockheader <block>`: the header's hash is recomputed from its fields and its proof of
 *    work checked, and its tree root must be the proof's root (a proxy cannot change the root
 *    without forging a header). The header must be on the node's main chain.
 * 4. the proof is verified with urkel (as hsd's SPV client does), the proven NameState decoded,
 *    and the TXT records read from *its* resource; `getnameresource` is never asked.
 * Mode `none` reads `getnameresource` and marks the answer unproven. In mode `proof` a node
 * that cannot prove (no `getnameproof`: a limited RPC in front of hsd) has its answer refused
 * with ERR_NAME_UNPROVEN, unless `acceptUnproven`: then `getnameresource` answers, unproven.
 *
 * What this trusts: that the block the node names is in the chain with the most work (the
 * node's word, as with any full node you run); the tree lags the chain by up to one
 * treeInterval (36 blocks on main, 5 on regtest), so a fresh update shows up after that.
 */
import { WeftError } from '../errors.ts'
import { basicAuth, createJsonRpc, NodeRpcError } from './json-rpc.ts'
import { normalizeName, parseValue } from './names.ts'
import { checkHeader, decodeNameState, hashName, resourceTxt, verifyNameProof, type HeaderJson } from './hns-proof.ts'
import type { NameAnswer, NameResolver, ResolveOptions } from './types.ts'

export type HnsNetwork = 'main' | 'testnet' | 'regtest' | 'simnet'

export interface HnsInit {
  /** hsd node HTTP RPC URL, e.g. http://127.0.0.1:14037 */
  rpc: string
  apiKey?: string
  /** Checked against the node's getblockchaininfo → ERR_NAME_WRONG_CHAIN. Default main. */
  network?: HnsNetwork
  /** Default proof. */
  verify?: 'proof' | 'none'
  /** With verify "proof": answer what cannot be proven, marked `proven: false`, instead of ERR_NAME_UNPROVEN. */
  acceptUnproven?: boolean
  /** TLDs that are Handshake's for sure (handles() says true); other dotless names are a perhaps. */
  tlds?: string[]
  /** ms an answer may be cached; default 5 minutes. */
  ttl?: number
  /** ms one RPC call may take when the caller's signal does not end it sooner; default 10 s. */
  timeout?: number
}

/** Per network: what getblockchaininfo calls it, the PoW limit, and renewalWindow (hsd networks.js). */
const NETWORKS: Record<HnsNetwork, { chain: string, powLimit: bigint, renewalWindow: number }> = {
  main: { chain: 'main', powLimit: 0x0000000000ffff00000000000000000000000000000000000000000000000000n, renewalWindow: 2 * 365 * 144 },
  testnet: { chain: 'test', powLimit: 0x00000000ffff0000000000000000000000000000000000000000000000000000n, renewalWindow: 30 * 144 },
  regtest: { chain: 'regtest', powLimit: 0x7fffff0000000000000000000000000000000000000000000000000000000000n, renewalWindow: 5000 },
  simnet: { chain: 'simnet', powLimit: 0x7fffff0000000000000000000000000000000000000000000000000000000000n, renewalWindow: 2500 }
}

/** hsd rules.verifyString: a-z, 0-9, - and _ (not first or last), 1 to 63 characters. */
const HNS_NAME = /^[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?$/

interface NameProofJson { hash: string, height: number, root: string, name: string, key: string, proof: unknown }

export function createHnsResolver (init: HnsInit): NameResolver {
  const network = init.network ?? 'main'
  const params = NETWORKS[network]
  const verify = init.verify ?? 'proof'
  const ttl = init.ttl ?? 5 * 60_000
  const tlds = new Set((init.tlds ?? []).map(t => t.toLowerCase().replace(/^\./, '')))
  const url = new URL(init.rpc)
  let chainChecked: Promise<void> | undefined

  const call = createJsonRpc({
    url: init.rpc,
    node: 'hsd',
    timeout: init.timeout,
    authorization: () => init.apiKey === undefined ? undefined : basicAuth('x', init.apiKey),
    credentialsHint: 'check naming.hns.apiKey'
  })

  // Asked once and shared by concurrent resolves, so it does not take one caller's signal;
  // each caller still stops waiting when its own signal ends. A failed check is asked again.
  async function checkChain (signal?: AbortSignal): Promise<void> {
    if (chainChecked === undefined) {
      const check = (async () => {
        const info = await call<{ chain?: string } | null>('getblockchaininfo', [])
        if (info?.chain !== params.chain) throw new WeftError('ERR_NAME_WRONG_CHAIN', `hsd at ${url.host} serves the ${String(info?.chain)} chain, not ${network}`)
      })()
      check.catch(() => { if (chainChecked === check) chainChecked = undefined })
      chainChecked = check
    }
    if (signal === undefined) return await chainChecked
    signal.throwIfAborted()
    let onAbort = (): void => {}
    const aborted = new Promise<never>((_resolve, reject) => {
      onAbort = () => reject(new WeftError('ERR_NAME_UNREACHABLE', `hsd at ${url.host}: stopped waiting for getblockchaininfo`, { cause: signal.reason }))
      signal.addEventListener('abort', onAbort, { once: true })
    })
    try {
      await Promise.race([chainChecked, aborted])
    } finally {
      signal.removeEventListener('abort', onAbort)
    }
  }

  function answer (name: string, txt: string[], proof?: string): NameAnswer {
    const links = txt.filter(t => t.startsWith('dnslink=')).sort()
    if (links.length === 0) throw new WeftError('ERR_NAME_NOT_FOUND', `${name} has no dnslink= TXT record on Handshake${proof === undefined ? '' : ' (proven)'}`)
    const value = links[0].slice('dnslink='.length).trim()
    parseValue(value, `the Handshake TXT of ${name}`)
    return proof === undefined
      ? { value, ttl, resolver: 'hns', proven: false }
      : { value, ttl, resolver: 'hns', proven: true, proof }
  }

  async function resolveProven (name: string, signal?: AbortSignal): Promise<NameAnswer> {
    const key = hashName(name)
    let np: NameProofJson
    try {
      np = await call<NameProofJson>('getnameproof', [name], signal)
    } catch (err) {
      // a node (or a proxy in front of one) without getnameproof cannot prove: refused, or answered unproven when asked for
      if (err instanceof NodeRpcError && err.rpcCode === -32601) {
        const why = `hsd at ${url.host} cannot prove ${name} (${err.message.slice(0, 160)})`
        if (init.acceptUnproven !== true) throw new WeftError('ERR_NAME_UNPROVEN', `${why}; refused because naming.hns.verify is "proof" (set naming.hns.acceptUnproven to true to be served unproven answers)`)
        return { ...await resolveReported(name, signal), proof: `not proven: ${why}` }
      }
      throw err
    }
    if (np === null || typeof np !== 'object' || typeof np.root !== 'string' || !/^[0-9a-f]{64}$/i.test(np.root) || typeof np.hash !== 'string' || !/^[0-9a-f]{64}$/i.test(np.hash)) {
      throw new WeftError('ERR_NAME_PROOF_INVALID', `hsd's proof for ${name} is malformed`)
    }
    let header: HeaderJson | null
    try {
      header = await call<HeaderJson | null>('getblockheader', [np.hash, true], signal)
    } catch (err) {
      if (err instanceof NodeRpcError) throw new WeftError('ERR_NAME_PROOF_INVALID', `the block ${np.hash.slice(0, 16)}… that ${name}'s proof names is unknown to hsd`)
      throw err
    }
    if (header === null || typeof header !== 'object') throw new WeftError('ERR_NAME_PROOF_INVALID', `no header for block ${np.hash.slice(0, 16)}…`)
    const bad = checkHeader({ ...header, hash: np.hash }, params.powLimit)
    if (bad !== undefined) throw new WeftError('ERR_NAME_PROOF_INVALID', `block ${np.hash.slice(0, 16)}… for ${name}: ${bad}`)
    if (header.treeroot !== np.root.toLowerCase()) throw new WeftError('ERR_NAME_PROOF_INVALID', `${name}'s proof is against tree root ${np.root.slice(0, 16)}…, not the root ${header.treeroot.slice(0, 16)}… of block ${header.height}`)
    if (header.confirmations < 1) throw new WeftError('ERR_NAME_PROOF_INVALID', `block ${header.height} that ${name}'s proof names is not on hsd's main chain`)
    const root = Buffer.from(np.root, 'hex')
    const checked = verifyNameProof(np.proof, root, key)
    if (!checked.ok) throw new WeftError('ERR_NAME_PROOF_INVALID', `${name}: ${checked.reason}`)
    const at = `urkel proof against tree root ${np.root} of block ${header.height} (${np.hash})`
    if (checked.value === null) throw new WeftError('ERR_NAME_NOT_FOUND', `${name} is not on Handshake (proof of absence, ${at})`)
    let txt: string[]
    try {
      const ns = decodeNameState(checked.value)
      if (ns.name !== name) throw new Error(`the proven state is for "${ns.name.slice(0, 63)}"`)
      if (ns.revoked !== 0) throw new WeftError('ERR_NAME_NOT_FOUND', `${name} was revoked at block ${ns.revoked} (proven)`)
      if (ns.data.length > 0 && header.height >= ns.renewal + params.renewalWindow) throw new WeftError('ERR_NAME_NOT_FOUND', `${name} expired: not renewed since block ${ns.renewal} (proven)`)
      txt = resourceTxt(ns.data)
    } catch (err) {
      if (err instanceof WeftError) throw err
      throw new WeftError('ERR_NAME_PROOF_INVALID', `${name}: ${(err as Error).message}`)
    }
    return answer(name, txt, at)
  }

  async function resolveReported (name: string, signal?: AbortSignal): Promise<NameAnswer> {
    const resource = await call<{ records?: Array<{ type?: string, txt?: unknown }> } | null>('getnameresource', [name], signal)
    // the node's JSON, believed here (verify: none) but still read only where it has the expected shape
    const records = resource !== null && typeof resource === 'object' && Array.isArray(resource.records) ? resource.records : []
    const txt = records
      .filter(r => r !== null && typeof r === 'object' && r.type === 'TXT' && Array.isArray(r.txt))
      .map(r => (r.txt as unknown[]).map(String).join(''))
    return answer(name, txt)
  }

  return {
    kind: 'hns',
    /*
     * A Handshake name is a TLD, and only a TLD's own record is on the chain (names under it
     * live in the DNS its owner runs, which DNSLink reaches). So: configured TLDs → true;
     * other valid single labels → undefined (asked beside petnames and DNSLink: the same
     * label may be a local host name or an ICANN TLD); anything with a dot → false.
     */
    handles (text: string): boolean | undefined {
      const name = text.trim().toLowerCase().replace(/\.$/, '')
      if (name.includes('.') || !HNS_NAME.test(name)) return false
      return tlds.has(name) ? true : undefined
    },
    async resolve (text: string, options: ResolveOptions = {}): Promise<NameAnswer> {
      const name = normalizeName(text)
      if (name.includes('.')) throw new WeftError('ERR_NAME_INVALID', `${name} is not a Handshake name: the chain holds top-level names only`)
      if (!HNS_NAME.test(name)) throw new WeftError('ERR_NAME_INVALID', `${name} is not a Handshake name (a-z, 0-9, inner - and _, 1 to 63 characters)`)
      try {
        await checkChain(options.signal)
      } catch (err) {
        if (err instanceof WeftError) throw err
        throw new WeftError('ERR_NAME_UNREACHABLE', `hsd at ${url.host}: ${(err as Error).message}`, { cause: err })
      }
      return verify === 'proof' ? await resolveProven(name, options.signal) : await resolveReported(name, options.signal)
    }
  }
}
