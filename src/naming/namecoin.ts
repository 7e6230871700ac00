/**
 * Namecoin `.bit` names through a Namecoin Core node's JSON-RPC (POST `/`, JSON-RPC 1.0
 * `{ method, params, id }`, HTTP basic auth from rpcuser/rpcpassword or the `.cookie` file).
 *
 * First, once: `getblockchaininfo` must name the configured network (`main` by default),
 * else ERR_NAME_WRONG_CHAIN. `<sub>.<label>.bit` is `name_show d/<label> {"valueEncoding":"hex"}`
 * (hex, because the node's default ascii encoding cannot carry a value with any non-ASCII
 * byte); its value is Namecoin's domain JSON (ifa-0001), read as the spec says:
 * subdomains under `map`; a subdomain missing from `map` goes through `translate` (DNAME:
 * `foo.<label>.bit` → `foo.<target>`), never through `alias`; `alias` (CNAME) makes the name
 * itself another name and overrides its other fields; a DNSLink is in `map._dnslink.txt` or
 * `txt` at the name (a string or an array of strings); every other field is ignored. Each
 * alias or translate hop is listed in the answer's `via`.
 *
 * Verified mode (the default), per name_show answer: `getblockhash <height>`, then
 * `getrawtransaction <txid> true <block>`: the raw tx must hash to the txid and its output
 * `vout` must be a name_firstupdate/name_update of this very name and value (parsed from the
 * script, not the node's decoding); `gettxoutproof [txid] <block>`: the partial Merkle tree
 * must match the txid and the header's merkle root; the header must hash to the block and equal
 * `getblockheader <block> false`; `getblockheader <block>` must report confirmations ≥ 1 and
 * no more than the network's expiry depth (an update older than that is superseded or
 * expired: ERR_NAME_STALE). A node that cannot prove (no gettxoutproof, pruned block data)
 * gets its answer refused with ERR_NAME_UNPROVEN, unless `acceptUnproven` is set; then the
 * answer says `proven: false` and why.
 * What this shows: the value is the one a transaction in a block on the node's chain wrote,
 * less than an expiry depth ago. What it does not: that no newer update was written since
 * (a node can show an older one within that window), or that the node's chain has the most
 * work (its word, as with any full node you run).
 */
import { readFile } from 'node:fs/promises'
import { WeftError } from '../errors.ts'
import { basicAuth, createJsonRpc, NodeRpcError } from './json-rpc.ts'
import { normalizeName, parseValue } from './names.ts'
import { extractMatches, parseMerkleBlock, parseNameScript, parseTx, ProofError } from './namecoin-proof.ts'
import type { NameAnswer, NameResolver, ResolveOptions } from './types.ts'

export type NamecoinNetwork = 'main' | 'test' | 'regtest'

export interface NamecoinInit {
  /** Namecoin Core RPC URL, e.g. http://127.0.0.1:8336 */
  rpc: string
  user?: string
  password?: string
  /** Namecoin Core's `.cookie` ("user:password"), read at each resolve (the node rewrites it when it restarts). */
  cookieFile?: string
  /** Checked against the node's getblockchaininfo → ERR_NAME_WRONG_CHAIN. Default main. */
  network?: NamecoinNetwork
  /** Default proof. */
  verify?: 'proof' | 'none'
  /** With verify "proof": answer what cannot be proven, marked `proven: false`, instead of ERR_NAME_UNPROVEN. */
  acceptUnproven?: boolean
  /** ms one RPC call may take when the caller's signal does not end it sooner; default 10 s. */
  timeout?: number
}

/**
 * Blocks after its last update at which a name expires (Namecoin Core's chainparams:
 * 36,000 on mainnet and testnet, 30 on regtest). An update shown with more confirmations
 * than this has been superseded, or the name has expired.
 */
export const NAMECOIN_EXPIRY_DEPTH: Record<NamecoinNetwork, number> = { main: 36_000, test: 36_000, regtest: 30 }

/** Namecoin's consensus limit on a name's value. */
const MAX_VALUE = 520
/** Alias hops before ERR_NAME_LOOP. */
const MAX_ALIASES = 16
/** One block is about 10 minutes; answers are cached at most an hour. */
const BLOCK_MS = 10 * 60_000
const MAX_TTL = 60 * 60_000
/** Domain labels Namecoin's d/ namespace allows. */
const DOMAIN = /^[a-z0-9]+(-[a-z0-9]+)*$/
const HASH = /^[0-9a-f]{64}$/
const HEX = /^([0-9a-f]{2})*$/i

interface NameShow { name: string, value: string, value_encoding?: string, value_error?: unknown, txid: string, vout: number, height: number, expires_in: number, expired?: boolean }
type Json = Record<string, unknown>

/** What a proof attempt gives: the proof line, or why the node could not prove (not why it is wrong: that throws). */
type Proof = { proof: string, unproven?: undefined } | { proof?: undefined, unproven: string }

export function createNamecoinResolver (init: NamecoinInit): NameResolver {
  const verify = init.verify ?? 'proof'
  const network = init.network ?? 'main'
  const expiryDepth = NAMECOIN_EXPIRY_DEPTH[network]
  const url = new URL(init.rpc)
  let chainChecked = false

  async function authorization (): Promise<string | undefined> {
    if (init.user !== undefined || init.password !== undefined) return basicAuth(init.user ?? '', init.password ?? '')
    if (init.cookieFile === undefined) return undefined
    try {
      const [user, ...rest] = (await readFile(init.cookieFile, 'utf8')).trim().split(':')
      return basicAuth(user, rest.join(':'))
    } catch (err) {
      throw new WeftError('ERR_NAME_UNREACHABLE', `cannot read Namecoin Core's cookie file ${init.cookieFile}: ${(err as Error).message}`, { cause: err })
    }
  }
  const call = createJsonRpc({
    url: init.rpc,
    node: 'Namecoin Core',
    timeout: init.timeout,
    authorization,
    credentialsHint: 'check naming.namecoin.user/password or cookieFile'
  })

  /** Once per resolver (a node does not change chains while it runs); a failed check is asked again. */
  async function checkChain (signal?: AbortSignal): Promise<void> {
    if (chainChecked) return
    const info = await call<{ chain?: unknown } | null>('getblockchaininfo', [], signal)
    const chain = info !== null && typeof info === 'object' ? info.chain : undefined
    if (chain !== network) throw new WeftError('ERR_NAME_WRONG_CHAIN', `Namecoin Core at ${url.host} serves the ${String(chain).slice(0, 40)} chain, not ${network} (naming.namecoin.network)`)
    chainChecked = true
  }

  async function nameShow (label: string, signal?: AbortSignal): Promise<NameShow> {
    const name = `d/${label}`
    let shown: NameShow | null
    try {
      // hex: in its default ascii encoding the node leaves out any value with a non-ASCII byte ("invalid data for ascii")
      shown = await call<NameShow | null>('name_show', [name, { valueEncoding: 'hex' }], signal)
    } catch (err) {
      if (err instanceof NodeRpcError && err.rpcCode === -4) {
        if (/expired/i.test(err.message)) throw new WeftError('ERR_NAME_NOT_FOUND', `${label}.bit has expired on Namecoin`)
        throw new WeftError('ERR_NAME_NOT_FOUND', `${label}.bit is not registered on Namecoin`)
      }
      if (err instanceof NodeRpcError) throw new WeftError('ERR_NAME_UNREACHABLE', `${err.message} (is ${url.host} a Namecoin Core node?)`)
      throw err
    }
    if (shown !== null && typeof shown === 'object' && shown.name === name && typeof shown.value !== 'string' && typeof shown.value_error === 'string') {
      throw new WeftError('ERR_NAME_UNREACHABLE', `Namecoin Core at ${url.host} did not give ${name}'s value: ${shown.value_error.slice(0, 120)}`)
    }
    if (shown === null || typeof shown !== 'object' || shown.name !== name || typeof shown.value !== 'string' || (shown.value_encoding === 'hex' && !HEX.test(shown.value))) {
      throw new WeftError('ERR_NAME_UNREACHABLE', `Namecoin Core at ${url.host} gave a malformed name_show answer for ${name}`)
    }
    if (shown.expired === true || !(shown.expires_in > 0)) throw new WeftError('ERR_NAME_NOT_FOUND', `${label}.bit has expired on Namecoin`)
    return shown
  }

  /**
   * The proof line for one name_show answer, or why the node cannot prove it;
   * ERR_NAME_PROOF_INVALID when the proof fails, ERR_NAME_STALE when the update is older than the expiry depth.
   */
  async function prove (shown: NameShow, value: Buffer, signal?: AbortSignal): Promise<Proof> {
    const bad = (why: string): WeftError => new WeftError('ERR_NAME_PROOF_INVALID', `${shown.name}: ${why}`)
    if (typeof shown.txid !== 'string' || !HASH.test(shown.txid) || !Number.isInteger(shown.height) || !Number.isInteger(shown.vout)) throw bad('name_show gave no txid, vout and height to prove')
    let confirmations: number
    let line: string
    try {
      const block = await call<string>('getblockhash', [shown.height], signal)
      if (typeof block !== 'string' || !HASH.test(block)) throw bad(`getblockhash ${shown.height} is not a block hash`)
      const tx = await call<{ hex?: unknown, blockhash?: unknown }>('getrawtransaction', [shown.txid, true, block], signal)
      const proof = await call<string>('gettxoutproof', [[shown.txid], block], signal)
      const rawHeader = await call<string>('getblockheader', [block, false], signal)
      const header = await call<{ hash?: unknown, height?: unknown, confirmations?: unknown, merkleroot?: unknown }>('getblockheader', [block], signal)

      if (typeof tx?.hex !== 'string') throw bad('getrawtransaction gave no hex')
      const parsed = parseTx(tx.hex)
      if (parsed.txid !== shown.txid) throw bad(`the raw transaction hashes to ${parsed.txid.slice(0, 16)}…, not ${shown.txid.slice(0, 16)}…`)
      const script = parsed.outputs[shown.vout]
      const op = script === undefined ? undefined : parseNameScript(script)
      if (op === undefined) throw bad(`output ${shown.vout} of ${shown.txid.slice(0, 16)}… is not a name update`)
      if (!op.name.equals(Buffer.from(shown.name, 'latin1'))) throw bad(`the transaction updates ${op.name.toString('latin1').slice(0, 80)}, not ${shown.name}`)
      if (!op.value.equals(value)) throw bad('the transaction wrote another value than name_show reports')

      if (typeof proof !== 'string') throw bad('gettxoutproof gave no proof')
      const mb = parseMerkleBlock(proof)
      if (mb.blockHash !== block) throw bad(`the proof's header hashes to ${mb.blockHash.slice(0, 16)}…, not block ${block.slice(0, 16)}…`)
      if (typeof rawHeader !== 'string' || rawHeader.toLowerCase() !== mb.fullHeader.toString('hex')) throw bad('the proof\'s header differs from getblockheader\'s')
      const { root, matched } = extractMatches(mb)
      if (!root.equals(mb.merkleRoot)) throw bad(`the Merkle proof does not reach block ${shown.height}'s merkle root`)
      if (matched.length !== 1 || matched[0] !== shown.txid) throw bad(`the Merkle proof does not match transaction ${shown.txid.slice(0, 16)}…`)
      if (header?.hash !== block || header.height !== shown.height) throw bad(`getblockheader describes another block than ${block.slice(0, 16)}…`)
      if (typeof header.confirmations !== 'number' || header.confirmations < 1) throw bad(`block ${shown.height} is not on the node's main chain`)
      confirmations = header.confirmations
      line = `tx ${shown.txid} in block ${shown.height} (${block}, ${confirmations} confirmation${confirmations === 1 ? '' : 's'}), Merkle proof against its header`
    } catch (err) {
      if (err instanceof ProofError) throw bad(err.message)
      // a node without the calls (-32601) or whose block data is pruned cannot prove: unproven, not wrong
      if (err instanceof NodeRpcError && (err.rpcCode === -32601 || /pruned|not available/i.test(err.message))) return { unproven: `Namecoin Core at ${url.host} cannot prove ${shown.name}'s value (${err.message.slice(0, 160)})` }
      if (err instanceof NodeRpcError) throw bad(err.message)
      throw err
    }
    // a name lives expiryDepth blocks after its last update: an update shown older than that was superseded, or the name expired
    if (confirmations > expiryDepth) {
      throw new WeftError('ERR_NAME_STALE', `${shown.name}: the update shown is in block ${shown.height}, ${confirmations} confirmations deep, past the ${expiryDepth} after which a ${network} Namecoin name expires; the node shows a superseded update or hides that the name expired`)
    }
    return { proof: line }
  }

  function decodeValue (shown: NameShow, label: string): { bytes: Buffer, json: Json } {
    const bytes = shown.value_encoding === 'hex' ? Buffer.from(shown.value, 'hex') : Buffer.from(shown.value, 'utf8')
    if (bytes.length > MAX_VALUE) throw new WeftError('ERR_CONTENTHASH_INVALID', `${label}.bit's value is ${bytes.length} bytes, over Namecoin's ${MAX_VALUE}`)
    let json: unknown
    try {
      json = JSON.parse(bytes.toString('utf8'))
    } catch {
      throw new WeftError('ERR_CONTENTHASH_INVALID', `${label}.bit's value is not JSON`)
    }
    if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new WeftError('ERR_CONTENTHASH_INVALID', `${label}.bit's value is not a JSON object`)
    return { bytes, json: json as Json }
  }

  function txtOf (node: Json): string[] {
    const txt = node.txt
    const list = typeof txt === 'string' ? [txt] : Array.isArray(txt) ? txt : []
    // a TXT record given as an array of strings is their concatenation (ifa-0001)
    return list.flatMap(t => typeof t === 'string' ? [t] : Array.isArray(t) && t.every(s => typeof s === 'string') ? [t.join('')] : [])
  }

  function child (node: Json, label: string): Json | undefined {
    const map = node.map
    if (map === null || typeof map !== 'object' || Array.isArray(map)) return undefined
    const next = (map as Json)[label]
    return next !== null && typeof next === 'object' && !Array.isArray(next) ? next as Json : undefined
  }

  async function lookup (name: string, signal: AbortSignal | undefined, seen: string[]): Promise<NameAnswer> {
    if (seen.includes(name)) throw new WeftError('ERR_NAME_LOOP', `${[...seen, name].join(' → ')} loops`)
    if (seen.length > MAX_ALIASES) throw new WeftError('ERR_NAME_LOOP', `${seen[0]} goes through more than ${MAX_ALIASES} aliases`)
    seen = [...seen, name]
    const labels = name.split('.')
    const domain = labels[labels.length - 2]
    if (!DOMAIN.test(domain)) throw new WeftError('ERR_NAME_INVALID', `${domain}.bit is not a Namecoin domain (a-z, 0-9 and inner -)`)
    const shown = await nameShow(domain, signal)
    const { bytes, json } = decodeValue(shown, domain)
    const ttl = Math.min(MAX_TTL, shown.expires_in * BLOCK_MS)
    /** This name_show's own proof, joined to what the answer (its own or a hop's) carries. */
    const finish = async (answer: NameAnswer): Promise<NameAnswer> => {
      const via = answer.via === undefined ? {} : { via: answer.via }
      if (verify === 'none') return { value: answer.value, ttl: Math.min(ttl, answer.ttl), resolver: 'namecoin', proven: false, ...via }
      const own = await prove(shown, bytes, signal)
      if (own.unproven !== undefined && init.acceptUnproven !== true) {
        throw new WeftError('ERR_NAME_UNPROVEN', `${own.unproven}; refused because naming.namecoin.verify is "proof" (set naming.namecoin.acceptUnproven to true to be served unproven answers)`)
      }
      const proven = answer.proven && own.proof !== undefined
      const proof = proven
        ? [own.proof, answer.proof].filter(p => p !== undefined).join('; then ')
        : `not proven: ${own.unproven ?? (answer.proof ?? '').replace(/^not proven: /, '')}`
      return { value: answer.value, ttl: Math.min(ttl, answer.ttl), resolver: 'namecoin', proven, proof, ...via }
    }
    /** Follows an alias or translate hop, listing it in `via`. */
    const hop = async (target: string): Promise<NameAnswer> => {
      const answer = await lookup(target, signal, seen)
      return await finish({ ...answer, via: [target, ...(answer.via ?? [])] })
    }

    let node = json
    const subs = labels.slice(0, -2)
    for (let i = subs.length - 1; i >= 0; i--) {
      const next = child(node, subs[i])
      if (next === undefined) {
        // ifa-0001: translate (like DNS's DNAME) carries the subdomains map does not name; alias never does
        if (typeof node.translate === 'string') return await hop(relativeTarget(node.translate, subs.slice(0, i + 1), domain, 'translates'))
        throw new WeftError('ERR_NAME_NOT_FOUND', `${name} has no entry for ${subs[i]} in its Namecoin value`)
      }
      node = next
    }
    // ifa-0001: alias (like DNS's CNAME) makes this name another; its other fields are ignored
    if (typeof node.alias === 'string') return await hop(relativeTarget(node.alias, [], domain, 'aliases'))
    const dnslinkNode = child(node, '_dnslink')
    const links = [...(dnslinkNode === undefined ? [] : txtOf(dnslinkNode)), ...txtOf(node)].filter(t => t.startsWith('dnslink='))
    if (links.length === 0) throw new WeftError('ERR_NAME_NOT_FOUND', `${name} has no dnslink= TXT record on Namecoin`)
    const value = links[0].slice('dnslink='.length).trim()
    parseValue(value, `the Namecoin TXT of ${name}`)
    return await finish({ value, ttl, resolver: 'namecoin', proven: true })
  }

  /** An alias or translate ending in a dot is absolute; otherwise it is relative to `<domain>.bit` ("" or "@" is the domain itself). */
  function relativeTarget (alias: string, subs: string[], domain: string, verb: string): string {
    const base = alias.endsWith('.') ? alias.slice(0, -1) : alias === '' || alias === '@' ? `${domain}.bit` : `${alias}.${domain}.bit`
    let target: string
    try {
      target = normalizeName([...subs, base].join('.'))
    } catch {
      throw new WeftError('ERR_CONTENTHASH_INVALID', `${domain}.bit ${verb} "${alias.slice(0, 80)}", which is not a name`)
    }
    if (!target.endsWith('.bit')) throw new WeftError('ERR_CONTENTHASH_INVALID', `${domain}.bit ${verb} ${target}, which is not a .bit name`)
    return target
  }

  return {
    kind: 'namecoin',
    handles (text: string): boolean {
      try {
        const name = normalizeName(text)
        return name.endsWith('.bit') && name.length > 4
      } catch {
        return false
      }
    },
    async resolve (text: string, options: ResolveOptions = {}): Promise<NameAnswer> {
      const name = normalizeName(text)
      if (!name.endsWith('.bit') || name === 'bit') throw new WeftError('ERR_NAME_INVALID', `${name} is not a Namecoin name (<label>.bit)`)
      await checkChain(options.signal)
      return await lookup(name, options.signal, [])
    }
  }
}
