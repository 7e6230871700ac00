/**
 * kubo's node commands: id, version, swarm, routing, key, name, pin, repo. weft's keys for
 * `key` and `name` are its site keys: `self` is the node's peer key, which signs no site,
 * so `name publish` needs `key=<site label>`.
 */
import { arch, platform } from 'node:os'
import { peerIdFromString } from '@libp2p/peer-id'
import { publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { WeftError } from '../../errors.ts'
import { parseContentPath } from '../../content/index.ts'
import type { Operations } from '../operations.ts'
import pkg from '../../../package.json' with { type: 'json' }
import { args, duration, flag, json, ndjson, network, type KuboCommand } from './request.ts'

const id: KuboCommand = async (ops, call) => {
  const self = ops.node.repo.peerId
  const asked = call.query.get('arg')
  if (asked !== null && asked !== self) throw new WeftError('ERR_USAGE', 'weft answers id for its own peer only')
  const peer = peerIdFromString(self)
  const libp2p = ops.node.libp2p
  return json({
    ID: self,
    PublicKey: peer.publicKey === undefined ? '' : Buffer.from(publicKeyToProtobuf(peer.publicKey)).toString('base64'),
    Addresses: (libp2p?.getMultiaddrs() ?? []).map(String),
    AgentVersion: `weft/${pkg.version}`,
    Protocols: libp2p?.getProtocols() ?? []
  })
}

/** weft's own version, not a kubo one: a tool that needs kubo's features by version should not be misled. */
const version: KuboCommand = async () => json({ Version: pkg.version, Commit: '', Repo: 'weft', System: `${arch()}/${platform()}`, Golang: '' })

function online (ops: Operations) {
  const libp2p = ops.node.libp2p
  if (libp2p === undefined) throw new WeftError('ERR_OFFLINE', 'this needs the network: start `weft daemon` first')
  return libp2p
}

const swarmPeers: KuboCommand = async ops => {
  const libp2p = online(ops)
  return json({
    Peers: libp2p.getConnections().map(c => ({
      Addr: c.remoteAddr.toString(),
      Peer: c.remotePeer.toString(),
      Direction: c.direction === 'inbound' ? 1 : 2
    }))
  })
}

const swarmConnect: KuboCommand = async (ops, call) => {
  const strings = []
  for (const address of args(call)) {
    const { id } = await ops.connect(address)
    strings.push(`connect ${id} success`)
  }
  return json({ Strings: strings })
}

/** kubo's routing query event types. */
const PROVIDER_EVENT = 4

const findProvs: KuboCommand = async (ops, call) => {
  const libp2p = online(ops)
  const routing = ops.node.routing
  if (routing === undefined) throw new WeftError('ERR_OFFLINE', 'this needs the network: start `weft daemon` first')
  const cid = parseContentPath(args(call)[0]).cid
  const max = Number(call.query.get('num-providers') ?? 20)
  const { timeout } = network(call)
  const signal = timeout === undefined ? undefined : AbortSignal.timeout(timeout)
  return await ndjson((async function * () {
    let found = 0
    for await (const peer of routing.findProviders(cid, { signal })) {
      const addrs = await libp2p.peerStore.get(peer).then(p => p.addresses.map(a => a.multiaddr.toString())).catch(() => [])
      yield { Extra: '', ID: '', Responses: [{ ID: peer.toString(), Addrs: addrs }], Type: PROVIDER_EVENT }
      if (++found >= max) return
    }
  })())
}

const provide: KuboCommand = async (ops, call) => {
  online(ops)
  const routing = ops.node.routing
  if (routing === undefined) throw new WeftError('ERR_OFFLINE', 'this needs the network: start `weft daemon` first')
  if (flag(call, 'recursive', false)) throw new WeftError('ERR_USAGE', 'weft provides the root of a DAG, not each block: recursive=true is not supported')
  const { timeout } = network(call)
  for (const arg of args(call)) {
    const cid = parseContentPath(arg).cid
    if (!ops.node.blocks.has(cid)) throw new WeftError('ERR_BLOCK_NOT_FOUND', `${cid} is not in this node's store; it provides only what it holds`)
    await routing.provide(cid, { signal: timeout === undefined ? undefined : AbortSignal.timeout(timeout) })
  }
  return new Response('', { headers: { 'content-type': 'application/json', 'x-chunked-output': '1' } })
}

const keyList: KuboCommand = async ops => json({
  Keys: [{ Name: 'self', Id: ops.node.repo.peerId }, ...ops.node.sites.list().map(s => ({ Name: s.label, Id: s.name }))]
})

const keyGen: KuboCommand = async (ops, call) => {
  const type = call.query.get('type')
  if (type !== null && type !== 'ed25519') throw new WeftError('ERR_USAGE', `weft's site keys are ed25519, not ${type.slice(0, 40)}`)
  const site = await ops.siteCreate(args(call)[0])
  return json({ Name: site.label, Id: site.name })
}

const namePublish: KuboCommand = async (ops, call) => {
  const key = call.query.get('key') ?? 'self'
  if (key === 'self') throw new WeftError('ERR_USAGE', 'weft publishes under a site key, not the node\'s own: pass key=<site label> (key/gen makes one)')
  const label = ops.node.sites.list().find(s => s.label === key || s.name === key)?.label
  if (label === undefined) throw new WeftError('ERR_SITE_NOT_FOUND', `no site key "${key.slice(0, 100)}" in this home (key/list shows them)`)
  if (!flag(call, 'resolve', true)) throw new WeftError('ERR_USAGE', 'weft publishes content it holds: resolve=false is not supported')
  const root = parseContentPath(args(call)[0])
  if (root.segments.length > 0) throw new WeftError('ERR_USAGE', 'weft publishes a root CID (/ipfs/<cid>), not a path inside one')
  const result = await ops.node.sites.publish(label, root.cid, { validity: duration(call, 'lifetime'), ttl: duration(call, 'ttl') })
  return json({ Name: result.name, Value: `/ipfs/${result.root}` })
}

const nameResolve: KuboCommand = async (ops, call) => {
  const arg = call.query.get('arg') ?? `/ipns/${ops.node.repo.peerId}`
  const name = arg.replace(/^\/ipns\//, '')
  const { offline, timeout } = network(call)
  const resolved = await ops.node.resolvePath(name, { offline, signal: timeout === undefined ? undefined : AbortSignal.timeout(timeout) })
  return await ndjson((async function * () { yield { Path: resolved.value } })())
}

const pinAdd: KuboCommand = async (ops, call) => {
  const pinned = await ops.pinAdd(args(call), !flag(call, 'recursive', true), network(call))
  return json({ Pins: pinned.map(p => p.cid) })
}

const pinRm: KuboCommand = async (ops, call) => {
  if (!flag(call, 'recursive', true)) throw new WeftError('ERR_USAGE', 'weft removes a pin whatever its type: recursive=false is not supported')
  const removed = await ops.pinRm(args(call))
  return json({ Pins: removed.map(p => p.cid) })
}

/** weft keeps recursive and direct pins; the blocks under a recursive pin are not listed as `indirect`. */
const pinLs: KuboCommand = async (ops, call) => {
  const type = call.query.get('type') ?? 'all'
  if (!['all', 'recursive', 'direct', 'indirect'].includes(type)) throw new WeftError('ERR_USAGE', `pin type must be all, recursive, direct or indirect, not ${type.slice(0, 40)}`)
  let pins = type === 'indirect' ? [] : await ops.pinLs(type === 'all' ? undefined : type as 'recursive' | 'direct')
  const wanted = call.query.getAll('arg')
  if (wanted.length > 0) {
    const cids = wanted.map(a => parseContentPath(a).cid.toString())
    const missing = cids.find(c => !pins.some(p => p.cid === c))
    if (missing !== undefined) throw new WeftError('ERR_NOT_PINNED', `${missing} is not pinned`)
    pins = pins.filter(p => cids.includes(p.cid))
  }
  if (flag(call, 'stream', false)) return await ndjson((async function * () { for (const p of pins) yield { Cid: p.cid, Type: p.type } })())
  return json({ Keys: Object.fromEntries(pins.map(p => [p.cid, { Type: p.type }])) })
}

const repoStat: KuboCommand = async ops => {
  const s = await ops.repoStat()
  return json({ RepoSize: s.diskBytes, StorageMax: s.storageMax, NumObjects: s.blocks, RepoPath: s.home, Version: 'weft' })
}

/** weft's gc reports counts; the CIDs it removed are what the store held before and not after. */
const repoGc: KuboCommand = async ops => {
  const before = [...ops.node.blocks.cids()]
  await ops.gc()
  const removed = before.filter(cid => !ops.node.blocks.has(cid))
  if (removed.length === 0) return new Response('', { headers: { 'content-type': 'application/json', 'x-chunked-output': '1' } })
  return await ndjson((async function * () { for (const cid of removed) yield { Key: { '/': cid.toString() } } })())
}

export const NODE_COMMANDS: Record<string, KuboCommand> = {
  id,
  version,
  'swarm/peers': swarmPeers,
  'swarm/connect': swarmConnect,
  'routing/findprovs': findProvs,
  'routing/provide': provide,
  'key/list': keyList,
  'key/gen': keyGen,
  'name/publish': namePublish,
  'name/resolve': nameResolve,
  'pin/add': pinAdd,
  'pin/rm': pinRm,
  'pin/ls': pinLs,
  'repo/stat': repoStat,
  'repo/gc': repoGc
}
