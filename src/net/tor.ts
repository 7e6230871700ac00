/**
 * Onion routing (config `network.tor`): a libp2p transport that listens on a v3 onion
 * service and dials `/onion3/<56 chars>:<port>` addresses through tor's SOCKS port.
 *
 * The tor is weft's own (spawned with a torrc in <home>/tor, owned by weft's control
 * connection so it exits with weft) or an existing one (its control port, cookie or no
 * authentication). The onion service is added over the control port (ADD_ONION) and
 * forwards to a TCP port weft opens on 127.0.0.1; its key is kept in <home>/tor/onion-key,
 * so the address survives a restart.
 *
 * Onion-only mode (`network.tor.onionOnly`), the case go-libp2p declined an onion
 * transport over: the node must never reveal an IP address. So withTor() makes the onion
 * transport the only one (no TCP, WebSockets, relay), the onion address the only listen and
 * announced address (identify's listenAddrs, its signed peer record, the DHT's provider
 * and peer records all come from the address manager), refuses any dial that is not to an
 * onion address in the connection gater, and drops the services that reveal or probe
 * addresses (DCUtR, AutoNAT, relay server, mDNS). Identify sends an observed address only
 * for IP connections, and an onion connection has none; an inbound connection's remote
 * address is tor's end on 127.0.0.1, never the peer's.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer, type Server, type Socket } from 'node:net'
import { mkdir, readFile, writeFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { AbstractMultiaddrConnection, ipPortToMultiaddr } from '@libp2p/utils'
import type { AbstractMultiaddrConnectionInit, SendResult } from '@libp2p/utils'
import { serviceCapabilities, transportSymbol, TypedEventEmitter, type ComponentLogger, type Connection, type CreateListenerOptions, type DialTransportOptions, type Listener, type ListenerEvents, type Logger, type Transport, type AbortOptions } from '@libp2p/interface'
import type { Libp2pOptions } from 'libp2p'
import { WeftError } from '../errors.ts'
import { socks5Connect } from './socks5.ts'
import { TorControl } from './tor-control.ts'

export interface TorInit {
  /** Never a direct connection, never an IP address announced. */
  onionOnly: boolean
  /** An existing tor's control port; unset: weft runs its own. */
  control?: { host: string, port: number }
  /** That tor's SOCKS port; unset: asked of tor. */
  socks?: { host: string, port: number }
  /** The onion service's (virtual) port. */
  port: number
  /** Lines added to the torrc of the tor weft runs. */
  torrc: string[]
  /** The tor program weft runs. */
  binary: string
  /** Where weft's tor keeps its state, and where the onion key is kept. */
  dataDir: string
}

/** How long weft's own tor may take to open its control port (ms). */
const TOR_START_TIMEOUT = 30_000
/** How often the control-port file and the bootstrap phase are looked at (ms). */
const TOR_POLL = 100

export function isOnion (ma: Multiaddr): boolean {
  return ma.getComponents()[0]?.name === 'onion3'
}

/** A tor process (or an existing one) with weft's onion service on it. */
export class TorClient {
  readonly init: TorInit
  socks: { host: string, port: number } = { host: '127.0.0.1', port: 0 }
  /** The onion service's address, without ".onion". */
  onionAddress = ''
  /** Connections tor forwards from the onion service arrive here. */
  private server: Server | undefined
  private control: TorControl | undefined
  private child: ChildProcess | undefined
  private uploads = 0
  onSocket: ((socket: Socket) => void) | undefined

  constructor (init: TorInit) { this.init = init }

  get listenAddr (): Multiaddr {
    return multiaddr(`/onion3/${this.onionAddress}:${this.init.port}`)
  }

  async start (options: AbortOptions = {}): Promise<void> {
    try {
      await mkdir(this.init.dataDir, { recursive: true, mode: 0o700 })
      this.control = this.init.control !== undefined
        ? await TorControl.connect(this.init.control, options)
        : await this.spawnTor(options)
      await this.control.authenticate()
      // weft's own tor exits when this connection closes
      if (this.child !== undefined) {
        await this.control.command('TAKEOWNERSHIP')
        await this.control.command('RESETCONF __OwningControllerProcess')
      }
      this.socks = this.init.socks ?? parseHostPort((await this.control.getInfo('net/listeners/socks')).split(' ')[0].replace(/"/g, ''))
      this.server = createServer(socket => { this.onSocket === undefined ? socket.destroy() : this.onSocket(socket) })
      await new Promise<void>((resolve, reject) => { this.server?.once('error', reject).listen(0, '127.0.0.1', resolve) })
      const target = (this.server.address() as { port: number }).port
      this.control.onEvent(line => { if (line.startsWith('HS_DESC UPLOADED ')) this.uploads++ })
      await this.control.command('SETEVENTS HS_DESC')
      const keyFile = join(this.init.dataDir, 'onion-key')
      const key = await readFile(keyFile, 'utf8').then(k => k.trim(), () => 'NEW:ED25519-V3')
      const reply = await this.control.command(`ADD_ONION ${key} Port=${this.init.port},127.0.0.1:${target}`)
      for (const line of reply.lines) {
        if (line.startsWith('ServiceID=')) this.onionAddress = line.slice('ServiceID='.length)
        if (line.startsWith('PrivateKey=')) await writeFile(keyFile, line.slice('PrivateKey='.length) + '\n', { mode: 0o600 })
      }
      if (this.onionAddress === '') throw new Error('ADD_ONION gave no service id')
    } catch (err) {
      await this.stop()
      if (err instanceof WeftError) throw err
      throw new WeftError('ERR_TOR_UNAVAILABLE', `tor: ${(err as Error).message}`)
    }
  }

  private async spawnTor (options: AbortOptions): Promise<TorControl> {
    const dir = this.init.dataDir
    const portFile = join(dir, 'control-port')
    await rm(portFile, { force: true })
    const torrc = [
      `DataDirectory ${dir}`,
      'SocksPort 127.0.0.1:auto',
      'ControlPort 127.0.0.1:auto',
      `ControlPortWriteToFile ${portFile}`,
      'CookieAuthentication 1',
      // until weft's control connection takes ownership
      `__OwningControllerProcess ${process.pid}`,
      `Log notice file ${join(dir, 'notice.log')}`,
      ...this.init.torrc
    ]
    await writeFile(join(dir, 'torrc'), torrc.join('\n') + '\n', { mode: 0o600 })
    const child = spawn(this.init.binary, ['--defaults-torrc', '/dev/null', '-f', join(dir, 'torrc')], { stdio: ['ignore', 'ignore', 'pipe'] })
    this.child = child
    let stderr = ''
    child.stderr?.on('data', (chunk: Buffer) => { stderr = (stderr + chunk.toString()).slice(-2000) })
    const exited = new Promise<never>((_resolve, reject) => {
      child.once('error', err => { reject(new WeftError('ERR_TOR_UNAVAILABLE', `cannot run ${this.init.binary}: ${err.message} (install Debian's tor, or set network.tor.control to an existing tor)`)) })
      child.once('exit', code => { reject(new WeftError('ERR_TOR_UNAVAILABLE', `tor exited (${code ?? 'signal'}) before opening its control port: ${stderr.trim()} (see ${join(dir, 'notice.log')})`)) })
    })
    exited.catch(() => {})
    const signal = AbortSignal.any([AbortSignal.timeout(TOR_START_TIMEOUT), ...(options.signal !== undefined ? [options.signal] : [])])
    const portLine = await Promise.race([exited, (async () => {
      while (true) {
        const text = await readFile(portFile, 'utf8').catch(() => '')
        if (text.includes('\n')) return text
        await sleep(TOR_POLL, undefined, { signal })
      }
    })()])
    const hostPort = portLine.match(/PORT=(\S+)/)?.[1]
    if (hostPort === undefined) throw new WeftError('ERR_TOR_UNAVAILABLE', `tor wrote no control port to ${portFile}`)
    return await TorControl.connect(parseHostPort(hostPort), options)
  }

  /** Waits until tor has a consensus and can build circuits (bootstrap 100%). */
  async bootstrapped (options: AbortOptions = {}): Promise<void> {
    while (!((await this.requireControl().getInfo('status/bootstrap-phase')).includes('PROGRESS=100'))) {
      await sleep(TOR_POLL * 5, undefined, options)
    }
  }

  /** Waits until the onion service's descriptor reached at least one directory (peers can then dial it). */
  async published (options: AbortOptions = {}): Promise<void> {
    while (this.uploads === 0) await sleep(TOR_POLL, undefined, options)
  }

  private requireControl (): TorControl {
    if (this.control === undefined) throw new WeftError('ERR_TOR_UNAVAILABLE', 'tor is not started')
    return this.control
  }

  async stop (): Promise<void> {
    this.control?.close()
    this.control = undefined
    await new Promise<void>(resolve => { this.server === undefined ? resolve() : this.server.close(() => { resolve() }) })
    this.server = undefined
    const child = this.child
    this.child = undefined
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      const exit = new Promise(resolve => child.once('exit', resolve))
      child.kill('SIGTERM')
      // tor waits ShutdownWaitLength (30 s) on SIGTERM only as a relay; a client exits at once
      await Promise.race([exit, sleep(5_000)])
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    }
  }
}

function parseHostPort (text: string): { host: string, port: number } {
  const i = text.lastIndexOf(':')
  return { host: text.slice(0, i), port: Number(text.slice(i + 1)) }
}

/** A TCP socket (to tor's SOCKS port, or from tor's onion service) as a libp2p connection. */
class TorSocketConnection extends AbstractMultiaddrConnection {
  private readonly socket: Socket

  constructor (init: Omit<AbstractMultiaddrConnectionInit, 'remoteAddr'> & { socket: Socket, remoteAddr?: Multiaddr }) {
    const remoteAddr = init.remoteAddr ?? ipPortToMultiaddr(init.socket.remoteAddress ?? '127.0.0.1', init.socket.remotePort ?? 0)
    super({ ...init, remoteAddr })
    this.socket = init.socket
    this.socket.on('data', buf => { this.onData(buf) })
    this.socket.on('error', err => { this.abort(err) })
    this.socket.once('end', () => { this.onTransportClosed() })
    this.socket.once('close', hadError => { hadError ? this.abort(new Error('socket closed on an error')) : this.onTransportClosed() })
    this.socket.on('drain', () => { this.safeDispatchEvent('drain') })
    // the SOCKS handshake left the socket paused
    this.socket.resume()
  }

  sendData (data: Parameters<AbstractMultiaddrConnection['sendData']>[0]): SendResult {
    let sentBytes = 0
    let canSendMore = true
    for (const buf of data) {
      sentBytes += buf.byteLength
      canSendMore = this.socket.write(buf)
      if (!canSendMore) break
    }
    return { sentBytes, canSendMore }
  }

  async sendClose (): Promise<void> {
    if (this.socket.destroyed) return
    await new Promise<void>(resolve => { this.socket.once('close', () => { resolve() }); this.socket.destroySoon() })
  }

  sendReset (): void { this.socket.destroy() }
  sendPause (): void { this.socket.pause() }
  sendResume (): void { this.socket.resume() }
}

class OnionListener extends TypedEventEmitter<ListenerEvents> implements Listener {
  private addr: Multiaddr | undefined
  private readonly shutdown = new AbortController()
  private readonly tor: TorClient
  private readonly options: CreateListenerOptions
  private readonly log: Logger

  constructor (tor: TorClient, options: CreateListenerOptions, log: Logger) {
    super()
    this.tor = tor
    this.options = options
    this.log = log
  }

  async listen (ma: Multiaddr): Promise<void> {
    this.addr = ma
    this.tor.onSocket = socket => {
      const maConn = new TorSocketConnection({ socket, direction: 'inbound', log: this.log.newScope('inbound') })
      this.options.upgrader.upgradeInbound(maConn, { signal: this.shutdown.signal }).catch(err => {
        this.log('inbound onion connection failed: %e', err)
        maConn.abort(err)
      })
    }
    this.safeDispatchEvent('listening')
  }

  getAddrs (): Multiaddr[] { return this.addr === undefined ? [] : [this.addr] }
  updateAnnounceAddrs (): void {}

  async close (): Promise<void> {
    this.tor.onSocket = undefined
    this.shutdown.abort()
    this.safeDispatchEvent('close')
  }
}

class TorTransport implements Transport {
  readonly [transportSymbol] = true
  readonly [Symbol.toStringTag] = 'weft:tor'
  readonly [serviceCapabilities] = ['@libp2p/transport']
  private readonly log: Logger
  private readonly tor: TorClient

  constructor (components: { logger: ComponentLogger }, tor: TorClient) {
    this.log = components.logger.forComponent('weft:tor')
    this.tor = tor
  }

  async dial (ma: Multiaddr, options: DialTransportOptions): Promise<Connection> {
    const value = ma.getComponents()[0].value ?? ''
    const [host, port] = value.split(':')
    const socket = await socks5Connect(this.tor.socks, `${host}.onion`, Number(port), options)
    const maConn = new TorSocketConnection({ socket, remoteAddr: ma, direction: 'outbound', log: this.log.newScope('outbound') })
    try {
      return await options.upgrader.upgradeOutbound(maConn, options)
    } catch (err) {
      maConn.abort(err as Error)
      throw err
    }
  }

  createListener (options: CreateListenerOptions): Listener {
    return new OnionListener(this.tor, options, this.log)
  }

  /** Only this node's own onion service can be listened on. */
  listenFilter = (addrs: Multiaddr[]): Multiaddr[] => addrs.filter(a => isOnion(a) && a.equals(this.tor.listenAddr))
  dialFilter = (addrs: Multiaddr[]): Multiaddr[] => addrs.filter(isOnion)
}

export function torTransport (tor: TorClient): (components: { logger: ComponentLogger }) => Transport {
  return components => new TorTransport(components, tor)
}

/** Services that dial or reveal addresses directly: dropped in onion-only mode. */
const DIRECT_SERVICES = ['dcutr', 'relay', 'autoNAT', 'autoNATv2', 'autonat', 'upnp', 'upnpNAT']

/**
 * libp2p's options with the onion transport added, or in onion-only mode made the only way
 * in and out (see the header).
 */
export function withTor<T extends Libp2pOptions<any>> (options: T, tor: TorClient | undefined): T {
  if (tor === undefined) return options
  const onion = torTransport(tor)
  const listenAddr = tor.listenAddr.toString()
  if (!tor.init.onionOnly) {
    return {
      ...options,
      transports: [...(options.transports ?? []), onion],
      addresses: { ...options.addresses, listen: [...(options.addresses?.listen ?? []), listenAddr] }
    }
  }
  const services = Object.fromEntries(Object.entries(options.services ?? {}).filter(([name]) => !DIRECT_SERVICES.includes(name)))
  const gater = options.connectionGater ?? {}
  return {
    ...options,
    transports: [onion],
    addresses: { listen: [listenAddr], announce: [listenAddr], announceFilter: (addrs: Multiaddr[]) => addrs.filter(isOnion) },
    // bootstrap lists may name IP addresses: the gater refuses those dials (mDNS is off: createNet)
    connectionGater: {
      ...gater,
      denyDialMultiaddr: async (ma: Multiaddr) => !isOnion(ma) || (await gater.denyDialMultiaddr?.(ma) ?? false)
    },
    services
  }
}
