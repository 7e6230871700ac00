/**
 * The demo's names for the site, each checked on node 6's gateway: a petname (node 6's own
 * name for it) and, where hsd is installed, a Handshake name on a regtest chain the demo
 * runs, resolved through weft's Handshake resolver with its urkel proof.
 */
import { performance } from 'node:perf_hooks'
import { WeftError } from '../errors.ts'
import { gatewayGet, siteHost } from './http.ts'
import type { RegtestHsd } from './hsd.ts'
import type { DrillContext } from './drills.ts'
import { duration, within } from './steps.ts'

export const PETNAME = 'sample'
/** Regtest reserves short names; this one is free. */
export const HANDSHAKE_NAME = 'weftdemo'

type NameContext = Pick<DrillContext, 'visitor' | 'name' | 'say' | 'interrupted'>

/** GETs `/` on node 6's gateway under `host` and fails unless it is `index`, byte for byte. */
async function checkServes (ctx: NameContext, host: string, index: Buffer): Promise<number> {
  const t = performance.now()
  const answer = await gatewayGet(ctx.visitor.daemon.gatewayUrl, host, '/', { signal: within(15_000, ctx.interrupted) })
  if (answer.status !== 200) throw new WeftError('ERR_INTERNAL', `demo: node 6's gateway answered ${answer.status} for http://${host}/: ${answer.body.toString('utf8').split('\n')[0].slice(0, 200)}`)
  if (!answer.body.equals(index)) throw new WeftError('ERR_INTERNAL', `demo: node 6's gateway served http://${host}/ with another page than the site's index`)
  return performance.now() - t
}

/** The site's index page from node 6's gateway under its key, to compare the named pages with. */
export async function siteIndex (ctx: NameContext): Promise<Buffer> {
  const host = siteHost(ctx.name, ctx.visitor.daemon.gatewayUrl)
  const answer = await gatewayGet(ctx.visitor.daemon.gatewayUrl, host, '/', { signal: within(15_000, ctx.interrupted) })
  if (answer.status !== 200) throw new WeftError('ERR_INTERNAL', `demo: node 6's gateway answered ${answer.status} for http://${host}/`)
  return answer.body
}

/** Node 6 calls the site `sample`. Returns the URL it serves it at. */
export async function namePetname (ctx: NameContext, index: Buffer): Promise<string> {
  ctx.visitor.node.petnames.set(PETNAME, ctx.name)
  const resolved = await ctx.visitor.node.naming.resolve(PETNAME, { signal: within(5_000, ctx.interrupted) })
  if (resolved.value !== `/ipns/${ctx.name}`) throw new WeftError('ERR_INTERNAL', `demo: node 6's petname ${PETNAME} resolved to ${resolved.value}`)
  const host = siteHost(PETNAME, ctx.visitor.daemon.gatewayUrl)
  const ms = await checkServes(ctx, host, index)
  await ctx.say(`petname: node 6 calls the site "${PETNAME}" (resolver ${resolved.resolver}, proven: ${resolved.proven}: a name in node 6's home only); its gateway served http://${host}/, the same index page, in ${duration(ms)}`)
  return `http://${host}/`
}

/** Registers the Handshake name with `dnslink=/ipns/<site>`; node 6 resolves it with a proof. Returns the URL. */
export async function nameOnHandshake (ctx: NameContext, hsd: RegtestHsd, index: Buffer): Promise<string> {
  const { say, interrupted } = ctx
  const txt = `dnslink=/ipns/${ctx.name}`
  let t = performance.now()
  const blocks = await hsd.register({ [HANDSHAKE_NAME]: [txt] }, within(30_000, interrupted))
  await say(`Handshake: registered "${HANDSHAKE_NAME}" with the TXT record ${txt} in ${duration(performance.now() - t)} (an auction: open, bid, reveal, register with the record; ${blocks} blocks mined, up to the name tree's next commit)`)
  t = performance.now()
  const resolved = await ctx.visitor.node.naming.resolve(HANDSHAKE_NAME, { fresh: true, signal: within(15_000, interrupted) })
  const ms = performance.now() - t
  await say(`   node 6 resolved ${HANDSHAKE_NAME} through hsd's RPC in ${duration(ms)}: ${resolved.value} (resolver ${resolved.resolver}, proven: ${resolved.proven}: ${resolved.proof ?? 'no proof'})`)
  if (resolved.value !== `/ipns/${ctx.name}` || !resolved.proven) throw new WeftError('ERR_INTERNAL', `demo: node 6 resolved ${HANDSHAKE_NAME} to ${resolved.value}, proven: ${resolved.proven}`)
  const host = siteHost(HANDSHAKE_NAME, ctx.visitor.daemon.gatewayUrl)
  await say(`   node 6's gateway served http://${host}/, the same index page, in ${duration(await checkServes(ctx, host, index))}`)
  return `http://${host}/`
}
