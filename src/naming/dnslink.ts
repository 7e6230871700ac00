/**
 * DNSLink: the TXT record `dnslink=/ipfs/…` or `dnslink=/ipns/…` at `_dnslink.<name>`.
 * DNS is run by registrars and their registries, so answers are marked not proven and the
 * CLI says DNSLink is not decentralized. Queries go over UDP (dns-packet) to the configured
 * servers, or the system's, so the record's own TTL is known; or over DNS-over-HTTPS
 * (RFC 8484) when a server is an https URL.
 */
import { createSocket } from 'node:dgram'
import { getServers } from 'node:dns'
import { randomInt } from 'node:crypto'
import dnsPacket from 'dns-packet'
import { WeftError } from '../errors.ts'
import { parseValue } from './names.ts'
import type { NameAnswer, NameResolver, ResolveOptions } from './types.ts'

export interface DnslinkInit {
  /** "ip", "ip:port", "[ip6]:port" or an https DoH URL; empty: the system's resolvers. */
  servers: string[]
}

export interface TxtAnswer { rcode: string, records: Array<{ text: string, ttl: number }> }

function hostPort (server: string): { host: string, port: number } {
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(server)
  if (v6 !== null) return { host: v6[1], port: Number(v6[2] ?? 53) }
  const parts = server.split(':')
  if (parts.length === 2) return { host: parts[0], port: Number(parts[1]) }
  return { host: server, port: 53 }
}

/** DNS header: 12 bytes, then four 16-bit counts (questions, answers, authority, additional) from byte 4. */
const HEADER_BYTES = 12
/** The smallest question (root name, type, class) and resource record (root name, type, class, ttl, rdlength). */
const MIN_QUESTION_BYTES = 5
const MIN_RECORD_BYTES = 11

/**
 * A DNS packet decoded, after checking its counts fit its length: dns-packet reads past the
 * end as zeros, so a 100-byte packet claiming 65535 records costs it half a second of CPU.
 */
function decodePacket (message: Uint8Array): dnsPacket.Packet {
  const buf = Buffer.from(message.buffer, message.byteOffset, message.byteLength)
  if (buf.length < HEADER_BYTES) throw new Error(`a ${buf.length}-byte DNS packet is shorter than its header`)
  const least = HEADER_BYTES + buf.readUInt16BE(4) * MIN_QUESTION_BYTES + (buf.readUInt16BE(6) + buf.readUInt16BE(8) + buf.readUInt16BE(10)) * MIN_RECORD_BYTES
  if (least > buf.length) throw new Error(`the DNS packet claims more records than its ${buf.length} bytes hold`)
  return dnsPacket.decode(buf)
}

/** The TXT records of a DNS answer packet; throws on a packet that does not parse. */
export function decodeAnswer (message: Uint8Array): TxtAnswer {
  return decodeTxt(decodePacket(message))
}

function decodeTxt (packet: dnsPacket.Packet): TxtAnswer {
  const records = (packet.answers ?? []).filter(a => a.type === 'TXT').map(a => {
    const data = (a as dnsPacket.TxtAnswer).data
    const chunks = Array.isArray(data) ? data : [data]
    return { text: chunks.map(c => typeof c === 'string' ? c : Buffer.from(c).toString('utf8')).join(''), ttl: a.ttl ?? 0 }
  })
  return { rcode: (packet as { rcode?: string }).rcode ?? 'NOERROR', records }
}

async function queryUdp (server: string, name: string, signal: AbortSignal): Promise<TxtAnswer> {
  const { host, port } = hostPort(server)
  const id = randomInt(0, 65536)
  const query = dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'TXT', name }] })
  const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4')
  try {
    return await new Promise<TxtAnswer>((resolve, reject) => {
      const onAbort = (): void => { reject(signal.reason) }
      signal.addEventListener('abort', onAbort, { once: true })
      socket.on('error', reject)
      socket.on('message', message => {
        try {
          const packet = decodePacket(message)
          if (packet.id !== id) return // not ours: keep waiting
          signal.removeEventListener('abort', onAbort)
          resolve(decodeTxt(packet))
        } catch { /* a malformed datagram is not an answer */ }
      })
      socket.send(query, port, host, err => { if (err !== null) reject(err) })
    })
  } finally {
    socket.close()
  }
}

async function queryDoh (url: string, name: string, signal: AbortSignal): Promise<TxtAnswer> {
  const body = dnsPacket.encode({ type: 'query', id: 0, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'TXT', name }] })
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/dns-message', accept: 'application/dns-message' }, body: new Uint8Array(body), signal })
  if (!response.ok) throw new Error(`${url} answered ${response.status}`)
  return decodeAnswer(new Uint8Array(await response.arrayBuffer()))
}

export function createDnslinkResolver (init: DnslinkInit): NameResolver {
  return {
    kind: 'dnslink',
    // any dotted name may have a DNSLink, except where a chain decides (.eth is ENS's, .bit Namecoin's)
    handles: name => name.includes('.') && !name.endsWith('.eth') && !name.endsWith('.bit') ? undefined : false,
    async resolve (name: string, options: ResolveOptions = {}): Promise<NameAnswer> {
      const signal = options.signal ?? AbortSignal.timeout(10_000)
      const servers = init.servers.length > 0 ? init.servers : getServers()
      const question = `_dnslink.${name}`
      let answer: TxtAnswer | undefined
      const failures: string[] = []
      for (const server of servers) {
        // one retry per server: UDP drops packets
        for (let attempt = 0; attempt < 2 && answer === undefined; attempt++) {
          const each = AbortSignal.any([signal, AbortSignal.timeout(2_000)])
          try {
            answer = /^https?:\/\//.test(server) ? await queryDoh(server, question, each) : await queryUdp(server, question, each)
          } catch (err) {
            if (signal.aborted) throw new WeftError('ERR_NAME_UNREACHABLE', `DNS did not answer for ${question} in time`)
            failures.push(`${server}: ${(err as Error).message}`)
          }
        }
        if (answer !== undefined) break
      }
      if (answer === undefined) throw new WeftError('ERR_NAME_UNREACHABLE', `no DNS server answered for ${question} (${failures.slice(0, 3).join('; ')})`)
      return dnslinkAnswer(name, answer)
    }
  }
}

/** The DNSLink in the TXT answer for `_dnslink.<name>`, or why there is none. */
export function dnslinkAnswer (name: string, answer: TxtAnswer): NameAnswer {
  const question = `_dnslink.${name}`
  if (answer.rcode !== 'NOERROR' && answer.rcode !== 'NXDOMAIN') throw new WeftError('ERR_NAME_UNREACHABLE', `DNS answered ${answer.rcode} for ${question}`)
  const links = answer.records.filter(r => r.text.startsWith('dnslink=')).sort((a, b) => a.text.localeCompare(b.text))
  if (links.length === 0) throw new WeftError('ERR_NAME_NOT_FOUND', `${name} has no DNSLink (no dnslink= TXT record at ${question})`)
  const value = links[0].text.slice('dnslink='.length)
  parseValue(value, `the DNSLink of ${name}`)
  return { value, ttl: Math.min(...links.map(l => l.ttl)) * 1000, resolver: 'dnslink', proven: false }
}
