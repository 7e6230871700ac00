/**
 * `weft remote`: remote pinning services, as kubo's `ipfs pin remote` has them. A service is
 * any IPFS Pinning Service API (another weft daemon, or a commercial one); the CLI talks to
 * it directly over HTTP(S). Its name and endpoint live in config.json
 * (`pinning.remoteServices`); its token in `keys/pinning-<name>.token` (0600), because
 * config.json is what people paste into bug reports and what `weft config get` prints whole.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Command } from 'commander'
import { WeftError } from '../../errors.ts'
import { readConfig, type Config } from '../../repo/config.ts'
import { repoPaths } from '../../repo/layout.ts'
import { parseContentPath } from '../../content/path.ts'
import { readApiEndpoint, ApiClient } from '../../api/client.ts'
import { PinningClient } from '../../storage/pinning/client.ts'
import { PIN_STATUSES, type PinStatusName } from '../../storage/pinning/requests.ts'
import type { PinStatusWire } from '../../storage/pinning/http.ts'
import { homeOf, withApi, writeOut } from '../context.ts'
import { printJson, printTable } from '../format.ts'
import { readInput } from '../input.ts'

type Services = Config['pinning']['remoteServices']

/** How often `remote pin add` asks whether the pin is done: a small DAG pins in well under a second. */
const POLL_MS = 500
/** Tokens are a few hundred bytes (a JWT at most a few KiB). */
const MAX_TOKEN_BYTES = 16 * 1024
/** Same rule as config.ts's `pinning.remoteServices` keys (the name is also a file name). */
const SERVICE_NAME = /^[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}$/

const tokenPath = (home: string, name: string): string => join(repoPaths(resolve(home)).keys, `pinning-${name}.token`)

/** The services config.json names, read from the file (no lock, no node: a running daemon writes the same file). */
function servicesIn (home: string): Services {
  const paths = repoPaths(resolve(home))
  try {
    return readConfig(paths.config).pinning.remoteServices
  } catch (err) {
    if ((err as WeftError).code === 'ERR_CONFIG_INVALID' && /ENOENT/.test((err as Error).message)) return {}
    throw err
  }
}

async function clientFor (cmd: Command, name: string): Promise<PinningClient> {
  const home = homeOf(cmd)
  const service = servicesIn(home)[name]
  if (service === undefined) throw new WeftError('ERR_REMOTE_SERVICE_NOT_FOUND', `no remote pinning service "${name.slice(0, 64)}" in this home (weft remote ls; weft remote add ${name.slice(0, 64)} <url> <token>)`)
  let token: string
  try {
    token = (await readFile(tokenPath(home, name), 'utf8')).trim()
  } catch {
    throw new WeftError('ERR_REMOTE_SERVICE_NOT_FOUND', `the token of remote pinning service "${name}" is missing (${tokenPath(home, name)}); weft remote rm ${name}, then add it again`)
  }
  return new PinningClient(service.endpoint, token)
}

function checkName (name: string): void {
  if (!SERVICE_NAME.test(name)) throw new WeftError('ERR_USAGE', `"${name.slice(0, 64)}" is not a service name: letters, digits, ".", "_" and "-", at most 64`)
}

function checkEndpoint (url: string): void {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new WeftError('ERR_USAGE', `"${url.slice(0, 200)}" is not a URL`)
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new WeftError('ERR_USAGE', `the service URL must be http(s), not ${parsed.protocol}`)
  if (parsed.search !== '' || parsed.hash !== '') throw new WeftError('ERR_USAGE', 'the service URL is its base (before /pins), without a query or fragment')
}

/** A CID or /ipfs/<cid>: the pinning API pins whole DAGs by their root. */
function rootCid (arg: string): string {
  const path = parseContentPath(arg)
  if (path.segments.length > 0) throw new WeftError('ERR_USAGE', `a remote pin names a root CID, not a path inside one (${arg.slice(0, 200)})`)
  return path.cid.toString()
}

const collect = (value: string, previous: string[]): string[] => [...previous, ...value.split(',').filter(v => v !== '')]

function statuses (given: string[] | undefined, fallback: PinStatusName[]): PinStatusName[] {
  if (given === undefined || given.length === 0) return fallback
  for (const s of given) {
    if (!(PIN_STATUSES as readonly string[]).includes(s)) throw new WeftError('ERR_USAGE', `--status takes ${PIN_STATUSES.join(', ')} (got ${s.slice(0, 50)})`)
  }
  return [...new Set(given)] as PinStatusName[]
}

/** This home's daemon, if one runs: its addresses go to the service as origins, and it dials the delegates. */
async function localDaemon (cmd: Command): Promise<ApiClient | undefined> {
  const endpoint = await readApiEndpoint(homeOf(cmd))
  if (endpoint === undefined) return undefined
  const api = new ApiClient(endpoint.url, endpoint.token)
  try {
    await api.id()
    return api
  } catch {
    return undefined
  }
}

function statusLine (s: PinStatusWire): string[] {
  return [s.pin.cid, s.status, s.pin.name ?? '', s.requestid]
}

export function registerRemoteCommands (program: Command): void {
  const remote = program.command('remote').description('remote pinning services (the IPFS Pinning Service API): keep content on another node or a pinning service')

  remote.command('add')
    .description('remember a pinning service by name: its base URL (before /pins) and its access token (stored in keys/, 0600)')
    .argument('<name>', 'a name for the service')
    .argument('<url>', 'the service\'s base URL, e.g. http://127.0.0.1:5101 for another weft daemon\'s API')
    .argument('<token>', 'its access token (for a weft daemon: its api.token); - reads it from stdin, out of sight of ps and shell history')
    .action(async (name: string, url: string, given: string, _opts: unknown, cmd: Command) => {
      checkName(name)
      checkEndpoint(url)
      const token = given !== '-'
        ? given
        : Buffer.from(await readInput('-', { max: MAX_TOKEN_BYTES, tooLarge: () => new WeftError('ERR_USAGE', `a token is at most ${MAX_TOKEN_BYTES} bytes`), folder: '', prompt: 'the service\'s access token' })).toString('utf8')
      if (token.trim() === '' || /\s/.test(token.trim())) throw new WeftError('ERR_USAGE', 'the token is one word, without spaces')
      const home = homeOf(cmd)
      if (servicesIn(home)[name] !== undefined) throw new WeftError('ERR_REMOTE_SERVICE_EXISTS', `a remote pinning service "${name}" is already in this home (weft remote rm ${name} first)`)
      await withApi(cmd, async api => {
        const services = (await api.configGet('pinning.remoteServices') ?? {}) as Services
        if (services[name] !== undefined) throw new WeftError('ERR_REMOTE_SERVICE_EXISTS', `a remote pinning service "${name}" is already in this home (weft remote rm ${name} first)`)
        // the token first: a service in config without its token would fail at every use
        await mkdir(repoPaths(resolve(home)).keys, { recursive: true, mode: 0o700 })
        await writeFile(tokenPath(home, name), token.trim() + '\n', { mode: 0o600 })
        await api.configSet('pinning.remoteServices', JSON.stringify({ ...services, [name]: { endpoint: url.replace(/\/+$/, '') } }))
      })
      await writeOut(`added remote pinning service ${name} at ${url.replace(/\/+$/, '')}\n`)
    })

  remote.command('ls')
    .description('the remote pinning services of this home')
    .option('--json', 'print them as JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const services = servicesIn(homeOf(cmd))
      const rows = Object.entries(services).map(([name, s]) => ({ name, endpoint: s.endpoint }))
      if (opts.json === true) printJson(rows)
      else printTable(rows.map(r => [r.name, r.endpoint]))
    })

  remote.command('rm')
    .description('forget a remote pinning service and its token (pins on it stay there)')
    .argument('<name>', 'the service')
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      checkName(name)
      const home = homeOf(cmd)
      if (servicesIn(home)[name] === undefined) throw new WeftError('ERR_REMOTE_SERVICE_NOT_FOUND', `no remote pinning service "${name}" in this home (weft remote ls)`)
      await withApi(cmd, async api => {
        const services = { ...(await api.configGet('pinning.remoteServices') ?? {}) as Services }
        delete services[name]
        await api.configSet('pinning.remoteServices', JSON.stringify(services))
      })
      await rm(tokenPath(home, name), { force: true })
      await writeOut(`removed remote pinning service ${name}\n`)
    })

  const pin = remote.command('pin').description('pins on a remote pinning service')

  pin.command('add')
    .description('ask a service to pin a CID (the whole DAG) and wait until it is pinned or failed; with a daemon running, the service is told where to fetch from and the daemon connects to it')
    .argument('<cid>', 'a CID or /ipfs/<cid>')
    .requiredOption('--service <name>', 'the service (weft remote ls)')
    .option('--name <name>', 'a name for the pin, to find it again')
    .option('--origin <multiaddr>', 'a peer that has the data (…/p2p/<id>); repeatable', collect, [])
    .option('--meta <key=value>', 'metadata kept with the pin; repeatable', collect, [])
    .option('--background', 'return once the service has queued it')
    .option('--json', 'print the pin\'s status as the service answers it')
    .action(async (arg: string, opts: { service: string, name?: string, origin: string[], meta: string[], background?: boolean, json?: boolean }, cmd: Command) => {
      const cid = rootCid(arg)
      const meta: Record<string, string> = {}
      for (const pair of opts.meta) {
        const at = pair.indexOf('=')
        if (at <= 0) throw new WeftError('ERR_USAGE', `--meta takes key=value (got ${pair.slice(0, 100)})`)
        meta[pair.slice(0, at)] = pair.slice(at + 1)
      }
      const client = await clientFor(cmd, opts.service)
      const daemon = await localDaemon(cmd)
      const own = daemon === undefined ? [] : (await daemon.id()).addresses.filter(a => a.includes('/p2p/'))
      const origins = [...new Set([...opts.origin, ...own])].slice(0, 20)
      let status = await client.add({ cid, ...(opts.name !== undefined ? { name: opts.name } : {}), ...(origins.length > 0 ? { origins } : {}), ...(opts.meta.length > 0 ? { meta } : {}) })
      // both ends dial each other, as the spec's provider hints ask; best effort
      if (daemon !== undefined) await Promise.all(status.delegates.slice(0, 5).map(async d => await daemon.connect(d).catch(() => undefined)))
      while (opts.background !== true && (status.status === 'queued' || status.status === 'pinning')) {
        await sleep(POLL_MS)
        status = await client.get(status.requestid)
      }
      if (opts.json === true) printJson(status)
      if (status.status === 'failed') {
        throw new WeftError('ERR_REMOTE_PIN_FAILED', `${opts.service} could not pin ${cid}: ${status.info?.status_details ?? 'no reason given'} (request ${status.requestid})`)
      }
      if (opts.json !== true) await writeOut(`${status.status} ${cid} on ${opts.service} (request ${status.requestid})\n`)
    })

  pin.command('ls')
    .description('list pins on a service (pinned ones unless --status says otherwise), newest first')
    .requiredOption('--service <name>', 'the service (weft remote ls)')
    .option('--cid <cid>', 'only these CIDs; repeatable or comma-separated (at most 10)', collect, [])
    .option('--name <name>', 'only pins with this name (exact match)')
    .option('--status <status>', 'queued, pinning, pinned, failed; repeatable or comma-separated', collect, [])
    .option('--json', 'print the pins\' statuses as JSON')
    .action(async (opts: { service: string, cid: string[], name?: string, status: string[], json?: boolean }, cmd: Command) => {
      const cids = opts.cid.map(rootCid)
      const client = await clientFor(cmd, opts.service)
      const found = await client.listAll({ cid: cids.length > 0 ? cids : undefined, name: opts.name, status: statuses(opts.status, ['pinned']) })
      if (opts.json === true) printJson(found)
      else printTable(found.map(statusLine))
    })

  pin.command('rm')
    .description('remove pins from a service by CID or name (pinned ones unless --status says otherwise); more than one needs --force')
    .requiredOption('--service <name>', 'the service (weft remote ls)')
    .option('--cid <cid>', 'pins of these CIDs; repeatable or comma-separated (at most 10)', collect, [])
    .option('--name <name>', 'pins with this name (exact match)')
    .option('--status <status>', 'queued, pinning, pinned, failed; repeatable or comma-separated', collect, [])
    .option('--force', 'remove every match, however many')
    .action(async (opts: { service: string, cid: string[], name?: string, status: string[], force?: boolean }, cmd: Command) => {
      const cids = opts.cid.map(rootCid)
      if (cids.length === 0 && opts.name === undefined && opts.force !== true) throw new WeftError('ERR_USAGE', 'say which pins: --cid, --name, or --force for every pin with the status asked')
      const client = await clientFor(cmd, opts.service)
      const found = await client.listAll({ cid: cids.length > 0 ? cids : undefined, name: opts.name, status: statuses(opts.status, ['pinned']) })
      if (found.length > 1 && opts.force !== true) {
        throw new WeftError('ERR_REMOTE_PIN_AMBIGUOUS', `${found.length} pins on ${opts.service} match; add --force to remove them all, or narrow with --cid, --name, --status`)
      }
      for (const s of found) {
        await client.remove(s.requestid)
        await writeOut(`removed ${s.pin.cid} from ${opts.service} (request ${s.requestid})\n`)
      }
      if (found.length === 0) await writeOut(`no pin on ${opts.service} matches\n`)
    })
}
