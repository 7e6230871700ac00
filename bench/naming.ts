/**
 * `npm run bench -- naming [--json]`: how long a name takes to resolve, cold and warm, with
 * each of weft's four resolvers, against chains and servers this run starts on 127.0.0.1:
 *
 * - ENS: ganache in this process, served over node:http, with the real ENS registry and
 *   PublicResolver (test/helpers/ens-chain.ts's startEnsChain); names `n<i>.eth`, each with
 *   a contenthash (ipns-ns of a fresh k51 key). createEnsResolver in verified mode, its
 *   headerRpc the same chain: every answer must say proven (any that does not is counted).
 * - Handshake: a real regtest hsd in its own process (src/demo/hsd.ts, as the demo and the
 *   tests start it); names `weftn<i>`, all in one auction, each with the TXT
 *   `dnslink=/ipns/k51…`. createHnsResolver (regtest, urkel proofs): proven as well.
 * - DNSLink: a UDP DNS server in this process (naming-dns.ts) with `_dnslink.n<i>.example.org`.
 * - petnames: `n<i>` in the weft.db of a node (createNode on a temp home, offline).
 *
 * Per resolver: one resolve of a name outside the 100 first, straight on the resolver, not
 * timed (ENS's and hsd's resolvers check the endpoint's chain id once, on their first
 * resolve; this also warms the connection and the JIT). Then a fresh
 * `createNaming([resolver], { timeout: 10_000, negativeTtl: 60_000 })`, and per name:
 * cold = its first resolve through that chain (nothing cached), warm = the same name again
 * right after (the chain's cache; petnames have TTL 0 by design, so theirs is a second
 * lookup in the db). Every answer is checked against the value set.
 *
 * Beside the figures, measured in the same run: one `eth_blockNumber` to ganache and one
 * `getblockchaininfo` to hsd (p50 of 100, straight over fetch), and one TXT query over UDP
 * to the DNS server: the chain's own round trip. During each cold resolve, the JSON-RPC
 * calls made (counted by wrapping fetch) and the time with at least one of them
 * outstanding, so a reader sees how much of a resolve is waiting on the chain.
 *
 * Targets (issue 6), on p95: warm under 1 ms (every resolver); cold verified ENS under
 * 50 ms, cold Handshake under 30 ms. WEFT_BENCH_NAMES (default 100) changes the count.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { base36 } from 'multiformats/bases/base36'
import { encodeAbiParameters, encodeFunctionData, hexToBigInt, keccak256, numberToHex } from 'viem'
import { namehash } from 'viem/ens'
import { createDnslinkResolver, createNaming, encodeContenthash, type NameResolver } from '../src/naming/index.ts'
import { createEnsResolver } from '../src/naming/ens.ts'
import { createHnsResolver } from '../src/naming/hns.ts'
import { createNode, type WeftNode } from '../src/node/index.ts'
import { CHAIN_ID, startEnsChain, type EnsChain } from '../test/helpers/ens-chain.ts'
import type { BenchOptions } from './index.ts'
import { rawTxtQuery, startDnsServer, type BenchDnsServer } from './naming-dns.ts'
import { startHsd, type RegtestHsd as BenchHsd } from '../src/demo/hsd.ts'

const NAMES = Number(process.env.WEFT_BENCH_NAMES ?? 100)
const NAMING_INIT = { timeout: 10_000, negativeTtl: 60_000 }
/** Starting every chain and registering every name, all four side by side. */
const SETUP_TIMEOUT = 150_000
const REFERENCE_CALLS = 100
const REFERENCE_TIMEOUT = 10_000
const DNS_TTL_S = 3600

const TARGET_WARM_MS = 1
const TARGET_ENS_COLD_MS = 50
const TARGET_HNS_COLD_MS = 30

const REGISTRY_ABI = [{ type: 'function', name: 'resolver', stateMutability: 'view', inputs: [{ name: 'node', type: 'bytes32' }], outputs: [{ name: '', type: 'address' }] }] as const

const KINDS = ['ens', 'hns', 'dnslink', 'petname'] as const
type Kind = typeof KINDS[number]
const LABELS: Record<Kind, string> = { ens: 'ENS, verified', hns: 'Handshake, verified', dnslink: 'DNSLink', petname: 'petnames' }

/** A name and the value it was given. */
interface Probe { name: string, expected: string }

interface Timed {
  cold: number[]
  warm: number[]
  /** Names whose resolve threw (they count as infinitely slow), with the first few messages. */
  failed: number
  failures: string[]
  /** Answers whose value is not the one set. */
  wrong: number
  /** Answers (cold and warm) that did not say proven, where every one must. */
  notProven: number
  /** Per cold resolve: ms with at least one JSON-RPC call outstanding. */
  rpcWaitMs: number[]
  /** JSON-RPC calls over all cold resolves, by method. */
  rpcCalls: Map<string, number>
  /** ms each of those calls took (until its response headers), by method. */
  rpcMs: Map<string, number[]>
  /** JSON-RPC calls (or DNS questions) made by warm resolves: 0 when the cache answered. */
  warmCalls: number
}

/** Nearest-rank quantile; a failure counts as infinitely slow. */
const quantile = (xs: number[], q: number): number => xs.length === 0 ? NaN : [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]
const round = (n: number, digits = 3): number => Number(n.toFixed(digits))
const msOrNull = (x: number): number | null => Number.isFinite(x) ? round(x) : null
/** Sub-millisecond figures keep three decimals, the rest fewer. */
const showMs = (x: number): string => !Number.isFinite(x) ? 'never' : x < 1 ? `${x.toFixed(3)} ms` : x < 10 ? `${x.toFixed(2)} ms` : `${x.toFixed(1)} ms`
const verdict = (ok: boolean): string => ok ? 'PASS' : 'MISS'

/**
 * Counts the JSON-RPC calls made through the global fetch (the ENS and hsd resolvers use
 * it) and the time with at least one outstanding (until its response headers).
 */
class RpcWatch {
  readonly calls = new Map<string, number>()
  /** How long each call took (until its response headers), by method. */
  readonly durations = new Map<string, number[]>()
  waited = 0
  total = 0
  private outstanding = 0
  private since = 0
  private readonly real = globalThis.fetch

  install (): void {
    const real = this.real
    globalThis.fetch = (async (input: Parameters<typeof fetch>[0], init?: RequestInit) => {
      const method = typeof init?.body === 'string' ? /"method":"([^"]+)"/.exec(init.body)?.[1] ?? '?' : '?'
      this.calls.set(method, (this.calls.get(method) ?? 0) + 1)
      this.total++
      const start = performance.now()
      if (this.outstanding++ === 0) this.since = start
      try {
        return await real(input, init)
      } finally {
        const end = performance.now()
        if (--this.outstanding === 0) this.waited += end - this.since
        const list = this.durations.get(method) ?? []
        list.push(end - start)
        this.durations.set(method, list)
      }
    }) as typeof fetch
  }

  restore (): void {
    globalThis.fetch = this.real
  }

  reset (): void {
    this.calls.clear()
    this.durations.clear()
    this.waited = 0
    this.total = 0
  }

  /** The unwrapped fetch, for the reference round trips. */
  get rawFetch (): typeof fetch {
    return this.real
  }
}

async function ipnsPaths (count: number): Promise<string[]> {
  const out: string[] = []
  for (let i = 0; i < count; i++) out.push(`/ipns/${peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toCID().toString(base36)}`)
  return out
}

/** ms of `count` sequential calls of `once` (after 5 untimed ones). */
async function roundTrips (count: number, once: () => Promise<unknown>): Promise<number[]> {
  for (let i = 0; i < 5; i++) await once()
  const out: number[] = []
  for (let i = 0; i < count; i++) {
    const start = performance.now()
    await once()
    out.push(performance.now() - start)
  }
  return out
}

async function jsonRpc (rawFetch: typeof fetch, url: string, method: string, params: unknown[] = [], headers: Record<string, string> = {}): Promise<void> {
  const res = await rawFetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
    signal: AbortSignal.timeout(REFERENCE_TIMEOUT)
  })
  const body = await res.json() as { error?: unknown }
  if (body.error != null) throw new Error(`${url} ${method}: ${JSON.stringify(body.error)}`)
}

/**
 * The untimed first resolve, then cold and warm through a fresh chain, per name.
 * `questions()` says how many calls the resolver's server has had (JSON-RPC or DNS).
 */
async function timeResolver (resolver: NameResolver, warmup: Probe, probes: Probe[], mustBeProven: boolean, watch: RpcWatch, questions: () => number, signal: AbortSignal): Promise<Timed> {
  const first = await resolver.resolve(warmup.name, { signal: AbortSignal.timeout(NAMING_INIT.timeout) })
  if (first.value !== warmup.expected) throw new Error(`${resolver.kind}: the untimed resolve of ${warmup.name} gave ${first.value}, not ${warmup.expected}`)
  const naming = createNaming([resolver], NAMING_INIT)
  const t: Timed = { cold: [], warm: [], failed: 0, failures: [], wrong: 0, notProven: 0, rpcWaitMs: [], rpcCalls: new Map(), rpcMs: new Map(), warmCalls: 0 }
  const fail = (p: Probe, err: unknown): void => {
    t.failed++
    if (t.failures.length < 3) t.failures.push(`${p.name}: ${(err as Error).message}`)
  }
  for (const p of probes) {
    signal.throwIfAborted()
    watch.reset()
    let start = performance.now()
    let answer
    try {
      answer = await naming.resolve(p.name)
    } catch (err) {
      t.cold.push(Infinity)
      t.warm.push(Infinity)
      fail(p, err)
      continue
    }
    t.cold.push(performance.now() - start)
    t.rpcWaitMs.push(watch.waited)
    for (const [method, n] of watch.calls) t.rpcCalls.set(method, (t.rpcCalls.get(method) ?? 0) + n)
    for (const [method, ms] of watch.durations) t.rpcMs.set(method, [...(t.rpcMs.get(method) ?? []), ...ms])
    if (answer.value !== p.expected) t.wrong++
    if (mustBeProven && !answer.proven) t.notProven++

    const asked = questions()
    start = performance.now()
    try {
      answer = await naming.resolve(p.name)
    } catch (err) {
      t.warm.push(Infinity)
      fail(p, err)
      continue
    }
    t.warm.push(performance.now() - start)
    t.warmCalls += questions() - asked
    if (answer.value !== p.expected) t.wrong++
    if (mustBeProven && !answer.proven) t.notProven++
  }
  return t
}

function version (pkg: string): string {
  try {
    return (JSON.parse(readFileSync(new URL(`../node_modules/${pkg}/package.json`, import.meta.url), 'utf8')) as { version: string }).version
  } catch {
    return '?'
  }
}

export async function run (options: BenchOptions): Promise<void> {
  const say = (line: string): void => { (options.json ? process.stderr : process.stdout).write(line + '\n') }
  const started = performance.now()
  const root = mkdtempSync(join(tmpdir(), 'weft-bench-naming-'))
  const watch = new RpcWatch()
  let ens: EnsChain | undefined
  let hsd: BenchHsd | undefined
  let dns: BenchDnsServer | undefined
  let node: WeftNode | undefined
  /** Stops the registrations between transactions (so no chain is stopped under one) and the timing between names. */
  const stopping = new AbortController()
  let setups: Promise<unknown> | undefined
  let cleaned: Promise<void> | undefined
  const removeRoot = (): void => { rmSync(root, { recursive: true, force: true }) }
  // the last resort when the process ends without cleanup (an error thrown inside ganache, say)
  process.once('exit', removeRoot)
  const cleanup = async (): Promise<void> => {
    cleaned ??= (async () => {
      stopping.abort()
      if (setups !== undefined) {
        let timer: NodeJS.Timeout | undefined
        await Promise.race([setups, new Promise(resolve => { timer = setTimeout(resolve, 10_000) })])
        clearTimeout(timer)
      }
      watch.restore()
      dns?.stop()
      await Promise.all([hsd?.stop(), node?.stop(), ens?.stop()].map(async p => { await p?.catch(() => {}) }))
      removeRoot()
    })()
    await cleaned
  }
  const onSignal = (): void => {
    const exit = (): never => { removeRoot(); process.exit(130) }
    setTimeout(exit, 25_000).unref()
    void cleanup().then(exit, exit)
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    watch.install()
    // ---- every chain and server, and 100 names (plus one for the untimed first resolve) in each ----
    const count = NAMES + 1
    const [ensPaths, hnsPaths, dnsPaths, petPaths] = [await ipnsPaths(count), await ipnsPaths(count), await ipnsPaths(count), await ipnsPaths(count)]
    const probes: Record<Kind, Probe[]> = {
      ens: ensPaths.map((expected, i) => ({ name: `n${i}.eth`, expected })),
      hns: hnsPaths.map((expected, i) => ({ name: `weftn${i}`, expected })),
      dnslink: dnsPaths.map((expected, i) => ({ name: `n${i}.example.org`, expected })),
      petname: petPaths.map((expected, i) => ({ name: `n${i}`, expected }))
    }
    const setupSeconds: Partial<Record<Kind, number>> = {}
    const timed = async (kind: Kind, fn: () => Promise<void>): Promise<void> => {
      const start = performance.now()
      await fn()
      setupSeconds[kind] = (performance.now() - start) / 1000
    }
    const settling = Promise.allSettled([
      timed('ens', async () => {
        ens = await startEnsChain()
        for (let i = 0; i < count; i++) {
          stopping.signal.throwIfAborted()
          await ens.register(`n${i}`)
          await ens.setContenthash(`n${i}.eth`, encodeContenthash(ensPaths[i]))
        }
      }),
      timed('hns', async () => {
        hsd = await startHsd({ ms: 30_000, signal: stopping.signal })
        await hsd.register(Object.fromEntries(probes.hns.map(p => [p.name, [`dnslink=${p.expected}`]])), stopping.signal)
      }),
      timed('dnslink', async () => {
        dns = await startDnsServer()
        for (const p of probes.dnslink) dns.records.set(`_dnslink.${p.name}`, [{ text: `dnslink=${p.expected}`, ttl: DNS_TTL_S }])
      }),
      timed('petname', async () => {
        node = await createNode({ home: join(root, 'home') })
        for (const p of probes.petname) node.petnames.set(p.name, p.expected.slice('/ipns/'.length))
      })
    ])
    setups = settling
    let setupTimer: NodeJS.Timeout | undefined
    const settled = await Promise.race([
      settling,
      new Promise<never>((_resolve, reject) => { setupTimer = setTimeout(() => { reject(new Error(`the chains and names were not ready within ${SETUP_TIMEOUT / 1000} s`)) }, SETUP_TIMEOUT) })
    ]).finally(() => { clearTimeout(setupTimer) })
    const setupFailure = settled.find(s => s.status === 'rejected')
    if (setupFailure !== undefined) throw (setupFailure as PromiseRejectedResult).reason
    if (ens === undefined || hsd === undefined || dns === undefined || node === undefined) throw new Error('a setup step left nothing behind')
    const chain = ens as EnsChain
    const hsdNode = hsd as BenchHsd
    const dnsServer = dns as BenchDnsServer
    const petnameNode = node as WeftNode
    const hsdHeight = (await hsdNode.call<{ blocks: number }>('getblockchaininfo')).blocks
    const ensBlock = Number(await chain.rpc<string>('eth_blockNumber', []))
    say(`set up in ${((performance.now() - started) / 1000).toFixed(1)} s, side by side (ENS ${setupSeconds.ens?.toFixed(1)} s: ${2 * count} transactions, ganache at block ${ensBlock}; Handshake ${setupSeconds.hns?.toFixed(1)} s: one auction for ${count} names, hsd at block ${hsdHeight}; DNS ${setupSeconds.dnslink?.toFixed(2)} s; petnames ${setupSeconds.petname?.toFixed(2)} s)`)

    // ---- per resolver: the chain's own round trip, then cold and warm resolves ----
    const results = {} as Record<Kind, Timed>
    const reference: Record<'eth' | 'ethCall' | 'ethProof' | 'hsd' | 'dns', number[]> = { eth: [], ethCall: [], ethProof: [], hsd: [], dns: [] }
    const hsdAuth = { authorization: 'Basic ' + Buffer.from(`x:${hsdNode.apiKey}`).toString('base64') }
    const dnsQuestions = (): number => [...dnsServer.queries.values()].reduce((a, b) => a + b, 0)
    const rpcQuestions = (): number => watch.total
    const timeOne = async (kind: Kind, resolver: NameResolver, mustBeProven: boolean, questions: () => number): Promise<void> => {
      // the last name (n<NAMES>) is the untimed one
      results[kind] = await timeResolver(resolver, probes[kind][NAMES], probes[kind].slice(0, NAMES), mustBeProven, watch, questions, stopping.signal)
      const r = results[kind]
      say(`  ${LABELS[kind]}: cold p50 ${showMs(quantile(r.cold, 0.5))} p95 ${showMs(quantile(r.cold, 0.95))}, warm p50 ${showMs(quantile(r.warm, 0.5))} p95 ${showMs(quantile(r.warm, 0.95))}` +
        (r.failed > 0 ? `; ${r.failed} failed (${r.failures.join('; ')})` : '') + (r.wrong > 0 ? `; ${r.wrong} wrong answers` : '') + (r.notProven > 0 ? `; ${r.notProven} not proven` : ''))
    }

    reference.eth = await roundTrips(REFERENCE_CALLS, async () => { await jsonRpc(watch.rawFetch, chain.url, 'eth_blockNumber') })
    // what ENS's resolve asks, one call at a time: registry.resolver(node) by eth_call, and the registry's two slots for the name by eth_getProof
    const blockTag = await chain.rpc<string>('eth_blockNumber', [])
    const node0 = namehash(probes.ens[0].name)
    const ownerSlot = hexToBigInt(keccak256(encodeAbiParameters([{ type: 'bytes32' }, { type: 'uint256' }], [node0, 0n])))
    const slots = [ownerSlot, ownerSlot + 1n].map(n => numberToHex(n, { size: 32 }))
    const resolverCall = { to: chain.registry, data: encodeFunctionData({ abi: REGISTRY_ABI, functionName: 'resolver', args: [node0] }) }
    reference.ethCall = await roundTrips(REFERENCE_CALLS / 2, async () => { await jsonRpc(watch.rawFetch, chain.url, 'eth_call', [resolverCall, blockTag]) })
    reference.ethProof = await roundTrips(REFERENCE_CALLS / 2, async () => { await jsonRpc(watch.rawFetch, chain.url, 'eth_getProof', [chain.registry, slots, blockTag]) })
    await timeOne('ens', createEnsResolver({ rpc: chain.url, headerRpc: chain.url, registry: chain.registry, chainId: CHAIN_ID }), true, rpcQuestions)
    reference.hsd = await roundTrips(REFERENCE_CALLS, async () => { await jsonRpc(watch.rawFetch, hsdNode.rpc, 'getblockchaininfo', [], hsdAuth) })
    await timeOne('hns', createHnsResolver({ rpc: hsdNode.rpc, apiKey: hsdNode.apiKey, network: 'regtest' }), true, rpcQuestions)
    reference.dns = await roundTrips(REFERENCE_CALLS, async () => await rawTxtQuery(dnsServer.port, `_dnslink.${probes.dnslink[0].name}`))
    await timeOne('dnslink', createDnslinkResolver({ servers: [dnsServer.address] }), false, dnsQuestions)
    await timeOne('petname', petnameNode.petnames, false, () => 0)

    // ---- figures ----
    const p = (kind: Kind, which: 'cold' | 'warm', q: number): number => quantile(results[kind][which], q)
    const clean = (kind: Kind): boolean => results[kind].failed === 0 && results[kind].wrong === 0 && results[kind].notProven === 0
    const warmP50 = Math.max(...KINDS.map(k => p(k, 'warm', 0.5)))
    const warmP95 = Math.max(...KINDS.map(k => p(k, 'warm', 0.95)))
    const pass = {
      warm: KINDS.every(k => p(k, 'warm', 0.95) < TARGET_WARM_MS && results[k].failed === 0),
      ...Object.fromEntries(KINDS.map(k => [`${k}_warm`, p(k, 'warm', 0.95) < TARGET_WARM_MS && results[k].failed === 0])) as Record<`${Kind}_warm`, boolean>,
      ens_cold: p('ens', 'cold', 0.95) < TARGET_ENS_COLD_MS && clean('ens'),
      hns_cold: p('hns', 'cold', 0.95) < TARGET_HNS_COLD_MS && clean('hns'),
      ens_all_proven: results.ens.notProven === 0 && results.ens.failed === 0,
      hns_all_proven: results.hns.notProven === 0 && results.hns.failed === 0,
      all_answers_right: KINDS.every(k => results[k].wrong === 0 && results[k].failed === 0)
    }
    const perResolve = (t: Timed): string => {
      const n = t.cold.length - t.failed
      const total = [...t.rpcCalls.values()].reduce((a, b) => a + b, 0)
      const each = [...t.rpcCalls].sort((a, b) => b[1] - a[1]).map(([m, c]) => `${c / n === 1 ? '' : `${(c / n).toFixed(1)} × `}${m} (p50 ${showMs(quantile(t.rpcMs.get(m) ?? [], 0.5))})`)
      return `${(total / n).toFixed(1)} calls: ${each.join(', ')}`
    }
    const cores = availableParallelism()
    const row = (cells: string[]): string => cells.map((c, i) => c.padEnd([22, 28, 9, 5, 28, 8, 4][i] ?? 0)).join(' ').trimEnd()
    const figure = (kind: Kind, which: 'cold' | 'warm'): string => `p50 ${showMs(p(kind, which, 0.5))}  p95 ${showMs(p(kind, which, 0.95))}`
    say('')
    say(`naming — ${NAMES} names per resolver; cold: the first resolve of each name through a fresh createNaming chain (timeout 10 s, negative TTL 60 s),`)
    say('warm: the same name again through the same chain; one untimed resolve of another name per resolver first (the one-off chain-id check of ENS and hsd,')
    say(`the connection, the JIT); ganache ${version('ganache')} and the DNS server in this process, hsd ${version('hsd')} regtest in its own; ${cores} cores, all on 127.0.0.1; targets on p95`)
    say(row(['', 'cold', 'target', '', 'warm (cache)', 'target', '']))
    const coldTarget: Record<Kind, number | undefined> = { ens: TARGET_ENS_COLD_MS, hns: TARGET_HNS_COLD_MS, dnslink: undefined, petname: undefined }
    for (const kind of KINDS) {
      const target = coldTarget[kind]
      say(row([LABELS[kind], figure(kind, 'cold'), target === undefined ? 'none' : `< ${target} ms`, target === undefined ? '' : verdict(pass[`${kind as 'ens' | 'hns'}_cold`]),
        figure(kind, 'warm'), `< ${TARGET_WARM_MS} ms`, verdict(pass[`${kind}_warm`])]))
    }
    say('same run, for comparison (p50 of 100, one at a time):')
    say(`  eth_blockNumber to ganache ${showMs(quantile(reference.eth, 0.5))} (p95 ${showMs(quantile(reference.eth, 0.95))}); a cold ENS resolve made ${perResolve(results.ens)},` +
      ` with one outstanding for p50 ${showMs(quantile(results.ens.rpcWaitMs, 0.5))} of it`)
    say(`    one at a time (p50 of ${REFERENCE_CALLS / 2}): eth_call registry.resolver at a block number ${showMs(quantile(reference.ethCall, 0.5))}, eth_getProof of two registry slots ${showMs(quantile(reference.ethProof, 0.5))}`)
    say(`  getblockchaininfo to hsd ${showMs(quantile(reference.hsd, 0.5))} (p95 ${showMs(quantile(reference.hsd, 0.95))}); a cold Handshake resolve made ${perResolve(results.hns)},` +
      ` with one outstanding for p50 ${showMs(quantile(results.hns.rpcWaitMs, 0.5))} of it`)
    say(`  a TXT query over UDP to the DNS server ${showMs(quantile(reference.dns, 0.5))} (p95 ${showMs(quantile(reference.dns, 0.95))}); DNSLink asks one per cold resolve`)
    say(`  calls made by the ${4 * NAMES} warm resolves: ${results.ens.warmCalls + results.hns.warmCalls + results.dnslink.warmCalls} (the naming cache answered); petnames are never cached (TTL 0): their warm is a second lookup in weft.db`)
    for (const kind of KINDS) {
      const r = results[kind]
      if (r.failed + r.wrong + r.notProven > 0) say(`warning: ${LABELS[kind]}: ${r.failed} failed, ${r.wrong} wrong answers, ${r.notProven} answers not proven${r.failures.length > 0 ? ` (${r.failures.join('; ')})` : ''}`)
    }
    if ((['ens', 'hns'] as const).every(k => results[k].notProven === 0 && results[k].failed === 0)) say(`every ENS and Handshake answer, cold and warm, said proven (${4 * NAMES} answers)`)
    say(`took ${((performance.now() - started) / 1000).toFixed(0)} s`)

    if (options.json) {
      const details = (kind: Kind): Record<string, unknown> => {
        const r = results[kind]
        const n = r.cold.length - r.failed
        return {
          cold_p50_ms: msOrNull(p(kind, 'cold', 0.5)),
          cold_p95_ms: msOrNull(p(kind, 'cold', 0.95)),
          cold_max_ms: msOrNull(Math.max(...r.cold)),
          warm_p50_ms: msOrNull(p(kind, 'warm', 0.5)),
          warm_p95_ms: msOrNull(p(kind, 'warm', 0.95)),
          warm_max_ms: msOrNull(Math.max(...r.warm)),
          names: r.cold.length,
          failed: r.failed,
          failures: r.failures,
          wrong: r.wrong,
          not_proven: r.notProven,
          warm_calls: r.warmCalls,
          ...(kind === 'ens' || kind === 'hns'
            ? {
                rpc_calls_per_cold_resolve: Object.fromEntries([...r.rpcCalls].map(([m, c]) => [m, round(c / n, 2)])),
                rpc_call_p50_ms: Object.fromEntries([...r.rpcMs].map(([m, ms]) => [m, msOrNull(quantile(ms, 0.5))])),
                rpc_outstanding_p50_ms: msOrNull(quantile(r.rpcWaitMs, 0.5)),
                rpc_outstanding_p95_ms: msOrNull(quantile(r.rpcWaitMs, 0.95))
              }
            : {}),
          setup_s: round(setupSeconds[kind] ?? NaN, 1)
        }
      }
      process.stdout.write(JSON.stringify({
        warm_p50_ms: msOrNull(warmP50),
        warm_p95_ms: msOrNull(warmP95),
        ens_cold_p50_ms: msOrNull(p('ens', 'cold', 0.5)),
        ens_cold_p95_ms: msOrNull(p('ens', 'cold', 0.95)),
        hns_cold_p50_ms: msOrNull(p('hns', 'cold', 0.5)),
        hns_cold_p95_ms: msOrNull(p('hns', 'cold', 0.95)),
        dnslink_cold_p50_ms: msOrNull(p('dnslink', 'cold', 0.5)),
        dnslink_cold_p95_ms: msOrNull(p('dnslink', 'cold', 0.95)),
        petname_cold_p50_ms: msOrNull(p('petname', 'cold', 0.5)),
        petname_cold_p95_ms: msOrNull(p('petname', 'cold', 0.95)),
        eth_block_number_p50_ms: msOrNull(quantile(reference.eth, 0.5)),
        eth_block_number_p95_ms: msOrNull(quantile(reference.eth, 0.95)),
        eth_call_p50_ms: msOrNull(quantile(reference.ethCall, 0.5)),
        eth_get_proof_p50_ms: msOrNull(quantile(reference.ethProof, 0.5)),
        hsd_getblockchaininfo_p50_ms: msOrNull(quantile(reference.hsd, 0.5)),
        hsd_getblockchaininfo_p95_ms: msOrNull(quantile(reference.hsd, 0.95)),
        dns_query_p50_ms: msOrNull(quantile(reference.dns, 0.5)),
        ens_not_proven: results.ens.notProven,
        hns_not_proven: results.hns.notProven,
        pass,
        targets: { warm_ms: TARGET_WARM_MS, ens_cold_ms: TARGET_ENS_COLD_MS, hns_cold_ms: TARGET_HNS_COLD_MS, quantile: 'p95' },
        resolvers: Object.fromEntries(KINDS.map(k => [k, details(k)])),
        names_per_resolver: NAMES,
        naming: NAMING_INIT,
        ganache_version: version('ganache'),
        hsd_version: version('hsd'),
        ganache_in_process: true,
        cores,
        took_s: round((performance.now() - started) / 1000, 1)
      }) + '\n')
    }
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    await cleanup()
    process.off('exit', removeRoot)
  }
}
