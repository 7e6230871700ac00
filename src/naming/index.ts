/**
 * Naming: human-readable names to content paths, through resolvers that no single party
 * controls where possible (ENS and Handshake, checked by proofs), DNSLink, and this home's
 * own petnames. One chain asks them: a petname first; then the resolver whose suffix
 * decides (`.eth` is ENS); otherwise every resolver that perhaps knows the name, in
 * parallel, the first answer winning. Answers are cached for their TTL, "no such name" for
 * `negativeTtl`; each resolver has `timeout` per name. A name whose value is another name
 * is followed, at most 32 deep, never in a circle.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { WeftError, isWeftError } from '../errors.ts'
import { normalizeName, parseValue } from './names.ts'
import type { NameAnswer, NameResolver, ResolveOptions } from './types.ts'

export { Petnames, petnameValue, type Petname } from './petnames.ts'
export { createDnslinkResolver, type DnslinkInit } from './dnslink.ts'
// The chains' resolvers (ens.ts, hns.ts, namecoin.ts) and records.ts are imported from
// their own files, and by the node only when a chain is configured: ENS alone brings
// about 500 modules (viem), which no offline command should load.
export { encodeContenthash, decodeContenthash } from './ens-contenthash.ts'
export { normalizeName, parseValue } from './names.ts'
export type { NameAnswer, NameResolver, ResolveOptions } from './types.ts'

export const MAX_NAME_DEPTH = 32

export interface NamingInit {
  /** ms one resolver may take for one name. */
  timeout: number
  /** ms a "no such name" answer is remembered. */
  negativeTtl: number
}

export interface NameResolution extends NameAnswer {
  /** The names followed on the way, the asked one first (more than one when a name points to a name). */
  via: string[]
}

export interface Naming {
  resolve(name: string, options?: ResolveOptions & { fresh?: boolean }): Promise<NameResolution>
  /** Forgets cached answers (all, or one name's), e.g. after a petname changes. */
  forget(name?: string): void
}

/** True for IPNS keys (k51…, 12D3…): those are sites, resolved by sites/, not by naming. */
export function isKeyName (text: string): boolean {
  try {
    peerIdFromString(text)
    return true
  } catch {
    return false
  }
}

/** Which setting would make a resolver handle `name`, for the "no resolver handles" message. */
function unhandledHint (name: string): string {
  if (name.endsWith('.bit')) return '.bit names need a Namecoin Core node: set naming.namecoin.rpc (docs/config.md)'
  if (name.endsWith('.eth')) return '.eth names need an Ethereum endpoint: set naming.ens.rpc (docs/config.md)'
  if (!name.includes('.')) return 'a single label is a petname (weft name set) or, with naming.hns.rpc set, a Handshake name'
  return 'petnames, .eth with naming.ens.rpc, .bit with naming.namecoin.rpc, DNS names with DNSLink'
}

interface Cached { answer?: NameAnswer, error?: WeftError, expires: number }

export function createNaming (resolvers: NameResolver[], init: NamingInit): Naming {
  const cache = new Map<string, Cached>()

  async function ask (resolver: NameResolver, name: string, signal?: AbortSignal): Promise<NameAnswer> {
    const budget = AbortSignal.timeout(init.timeout)
    const each = signal === undefined ? budget : AbortSignal.any([signal, budget])
    try {
      return await resolver.resolve(name, { signal: each })
    } catch (err) {
      if (budget.aborted && !isWeftError(err)) throw new WeftError('ERR_NAME_UNREACHABLE', `${resolver.kind} did not answer for ${name} within ${init.timeout} ms`)
      if (each.aborted && !isWeftError(err)) throw new WeftError('ERR_NAME_UNREACHABLE', `resolving ${name} with ${resolver.kind} was stopped`)
      throw err
    }
  }

  /** One name, one step: the resolvers that decide or may know it. */
  async function once (name: string, signal?: AbortSignal): Promise<NameAnswer> {
    const deciding = resolvers.find(r => r.handles(name) === true)
    if (deciding !== undefined) return await ask(deciding, name, signal)
    const maybe = resolvers.filter(r => r.handles(name) === undefined)
    if (maybe.length === 0) throw new WeftError('ERR_NAME_NOT_FOUND', `no resolver handles "${name}": ${unhandledHint(name)}`)
    const results = await Promise.allSettled(maybe.map(async r => await ask(r, name, signal)))
    const found = results.find(r => r.status === 'fulfilled')
    if (found !== undefined) return (found as PromiseFulfilledResult<NameAnswer>).value
    const errors = results.map(r => (r as PromiseRejectedResult).reason as unknown)
    // "not found" only when every resolver says so; otherwise the first other failure tells more
    throw errors.find(e => !isWeftError(e, 'ERR_NAME_NOT_FOUND')) ?? errors[0]
  }

  async function cached (name: string, options: ResolveOptions & { fresh?: boolean }): Promise<NameAnswer> {
    const hit = cache.get(name)
    if (options.fresh !== true && hit !== undefined && hit.expires > Date.now()) {
      if (hit.error !== undefined) throw hit.error
      return hit.answer as NameAnswer
    }
    try {
      const answer = await once(name, options.signal)
      if (answer.ttl > 0) cache.set(name, { answer, expires: Date.now() + answer.ttl })
      return answer
    } catch (err) {
      if (isWeftError(err, 'ERR_NAME_NOT_FOUND') && init.negativeTtl > 0) cache.set(name, { error: err, expires: Date.now() + init.negativeTtl })
      throw err
    }
  }

  return {
    async resolve (text, options = {}) {
      const via: string[] = []
      let name = normalizeName(text)
      let rest = ''
      let first: NameAnswer | undefined
      let ttl = Infinity
      let proven = true
      let unprovenWhy: string | undefined
      for (;;) {
        if (via.includes(name)) throw new WeftError('ERR_NAME_LOOP', `${via.join(' → ')} → ${name} goes round in a circle`)
        if (via.length >= MAX_NAME_DEPTH) throw new WeftError('ERR_NAME_LOOP', `${via[0]} points through more than ${MAX_NAME_DEPTH} names`)
        via.push(name)
        const answer = await cached(name, options)
        // a resolver's own hops (a Namecoin alias) are part of the way too
        for (const hop of answer.via ?? []) {
          if (via.includes(hop)) throw new WeftError('ERR_NAME_LOOP', `${via.join(' → ')} → ${hop} goes round in a circle`)
          via.push(hop)
        }
        first ??= answer
        ttl = Math.min(ttl, answer.ttl)
        if (proven && !answer.proven) unprovenWhy = answer.proof
        proven &&= answer.proven
        const value = parseValue(answer.value, `${answer.resolver} for ${name}`)
        rest = value.rest + rest
        if (value.namespace === 'ipfs' || isKeyName(value.id)) {
          // an unproven answer says why (the first resolver's proof line may be a proven one's)
          return { value: `/${value.namespace}/${value.id}${rest}`, ttl, resolver: first.resolver, proven, proof: proven ? first.proof : (unprovenWhy ?? first.proof), via }
        }
        name = normalizeName(value.id)
      }
    },
    forget (name) {
      if (name === undefined) cache.clear()
      else cache.delete(normalizeName(name))
    }
  }
}
