/**
 * A capture of the loopback traffic on some TCP ports, taken with Debian's tcpdump
 * (`scripts/ensure-tcpdump.sh` installs it), and its TCP streams put back together so a
 * test can search what crossed the wire, even bytes a segment boundary split.
 *
 * tcpdump needs root (or CAP_NET_RAW): without it `startCapture` throws, so a test that
 * relies on a capture fails loudly instead of proving nothing.
 *
 * pcap (what `tcpdump -w` writes): a 24-byte global header (magic, version, snaplen,
 * link type at byte 20), then per packet a 16-byte header (seconds, microseconds,
 * captured length, original length) and the captured bytes: a link header (Ethernet on
 * `lo`: 14 bytes), IPv4, TCP, payload.
 */
import { spawn, spawnSync } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import { tmpDir } from './home.ts'
import { until } from './until.ts'

/** One direction of one TCP connection, its payload in sequence order. */
export interface TcpStream {
  flow: string
  bytes: Buffer
  /** Bytes between segments that the capture lacks (a complete capture has none). */
  holes: number
}

export interface Capture {
  packets: number
  /** TCP payload bytes, retransmissions counted once. */
  payloadBytes: number
  /** What tcpdump said it dropped (kernel or interface); a complete capture drops none. */
  dropped: number
  /** Packets cut short by the snapshot length. */
  truncated: number
  streams: TcpStream[]
  /** The pcap file itself. */
  file: Buffer
}

export interface RunningCapture {
  stop(): Promise<Capture>
}

/** 256 MiB of kernel buffer (tcpdump -B, in KiB): a test moving tens of MiB over loopback drops nothing. */
const BUFFER_KIB = 256 * 1024
const LINKTYPE_ETHERNET = 1
const LINKTYPE_LINUX_SLL = 113
const LINKTYPE_LINUX_SLL2 = 276

/**
 * Starts tcpdump on `lo` for TCP traffic to or from `ports`, and resolves once it listens.
 * Throws (never skips) when tcpdump is missing or may not capture here.
 */
export async function startCapture (t: TestContext, ports: number[]): Promise<RunningCapture> {
  if (ports.length === 0) throw new Error('a capture needs at least one port')
  const which = spawnSync('sh', ['-c', 'command -v tcpdump'], { encoding: 'utf8' })
  if (which.status !== 0) throw new Error('tcpdump is not installed: run scripts/ensure-tcpdump.sh (npm test does), or `apt-get install -y tcpdump` as root')
  if (process.getuid?.() !== 0) throw new Error('capturing loopback traffic with tcpdump needs root (CAP_NET_RAW); this test cannot prove anything without it')
  const file = join(await tmpDir(t, 'weft-capture-'), 'lo.pcap')
  const filter = `tcp and (${ports.map(p => `port ${p}`).join(' or ')})`
  // -U writes each packet as it comes; -Z root keeps tcpdump able to write into the test's (0700) temp folder
  const child = spawn('tcpdump', ['-i', 'lo', '-n', '-U', '-B', String(BUFFER_KIB), '-Z', 'root', '-w', file, filter], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  let exited: number | null | undefined
  child.stderr.setEncoding('utf8')
  child.stderr.on('data', (chunk: string) => { stderr += chunk })
  const exit = new Promise<void>(resolve => { child.on('exit', code => { exited = code; resolve() }) })
  child.on('error', err => { stderr += `\n${err.message}`; exited = -1 })
  t.after(async () => {
    if (exited === undefined) {
      child.kill('SIGTERM')
      await exit
    }
  })
  await until('tcpdump to listen on lo', () => {
    if (exited !== undefined) throw new Error(`tcpdump exited (${String(exited)}) before capturing: ${stderr.trim()}`)
    return stderr.includes('listening on')
  }, 10_000)
  return {
    async stop (): Promise<Capture> {
      if (exited === undefined) {
        child.kill('SIGINT')
        await exit
      }
      const dropped = [...stderr.matchAll(/(\d+) packets? dropped by (?:kernel|interface)/g)].reduce((n, m) => n + Number(m[1]), 0)
      if (!/packets? captured/.test(stderr)) throw new Error(`tcpdump did not finish cleanly: ${stderr.trim()}`)
      const bytes = await readFile(file)
      return { ...parsePcap(bytes), dropped, file: bytes }
    }
  }
}

interface Segment { offset: number, payload: Buffer }

/** Packets, and each direction's TCP payload placed by sequence number (relative to its SYN). */
export function parsePcap (file: Buffer): Omit<Capture, 'dropped' | 'file'> {
  if (file.byteLength < 24) throw new Error('the capture has no pcap header')
  const magic = file.readUInt32LE(0)
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d
  if (!le && file.readUInt32BE(0) !== 0xa1b2c3d4 && file.readUInt32BE(0) !== 0xa1b23c4d) throw new Error('the capture is not a pcap file')
  const u32 = (at: number): number => le ? file.readUInt32LE(at) : file.readUInt32BE(at)
  const linkType = u32(20) & 0xffff
  const linkHeader = linkType === LINKTYPE_ETHERNET ? 14 : linkType === LINKTYPE_LINUX_SLL ? 16 : linkType === LINKTYPE_LINUX_SLL2 ? 20 : -1
  if (linkHeader < 0) throw new Error(`the capture's link type ${linkType} is not one this parser reads`)
  const flows = new Map<string, { base?: number, segments: Segment[] }>()
  let packets = 0
  let truncated = 0
  let at = 24
  while (at + 16 <= file.byteLength) {
    const captured = u32(at + 8)
    const original = u32(at + 12)
    const packet = file.subarray(at + 16, at + 16 + captured)
    at += 16 + captured
    packets++
    if (captured < original) truncated++
    const ip = packet.subarray(linkHeader)
    if (ip.byteLength < 20 || ip[0] >> 4 !== 4 || ip[9] !== 6) continue
    const ipHeader = (ip[0] & 0x0f) * 4
    const ipTotal = ip.readUInt16BE(2)
    const tcp = ip.subarray(ipHeader, ipTotal)
    const src = `${ip.subarray(12, 16).join('.')}:${tcp.readUInt16BE(0)}`
    const dst = `${ip.subarray(16, 20).join('.')}:${tcp.readUInt16BE(2)}`
    const seq = tcp.readUInt32BE(4)
    const syn = (tcp[13] & 0x02) !== 0
    const payload = tcp.subarray((tcp[12] >> 4) * 4)
    const key = `${src}>${dst}`
    let flow = flows.get(key)
    if (flow === undefined) flows.set(key, flow = { segments: [] })
    if (syn) flow.base = (seq + 1) >>> 0
    if (payload.byteLength === 0) continue
    flow.base ??= seq
    flow.segments.push({ offset: (seq - flow.base) >>> 0, payload: Buffer.from(payload) })
  }
  const streams: TcpStream[] = []
  let payloadBytes = 0
  for (const [key, flow] of flows) {
    if (flow.segments.length === 0) continue
    const length = Math.max(...flow.segments.map(s => s.offset + s.payload.byteLength))
    const bytes = Buffer.alloc(length)
    let covered = 0
    let end = 0
    for (const s of flow.segments.sort((x, y) => x.offset - y.offset)) {
      s.payload.copy(bytes, s.offset)
      const from = Math.max(end, s.offset)
      const to = s.offset + s.payload.byteLength
      if (to > from) covered += to - from
      end = Math.max(end, to)
    }
    payloadBytes += covered
    streams.push({ flow: key, bytes, holes: length - covered })
  }
  return { packets, payloadBytes, truncated, streams }
}
