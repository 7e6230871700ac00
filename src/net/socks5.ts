/**
 * A SOCKS5 CONNECT by host name (RFC 1928, no authentication), which is all tor's SOCKS
 * port needs to reach an onion service: the `.onion` name goes to tor unresolved.
 * Hand-written because no SOCKS client is among weft's dependencies (the field's is the
 * `socks` package); it is the few bytes of the handshake and nothing more.
 *
 *   → 05 01 00                      version 5, one method: no authentication
 *   ← 05 00                         method chosen
 *   → 05 01 00 03 <len> <host> <port:2>   CONNECT to a domain name
 *   ← 05 <rep> 00 <atyp> <addr> <port:2>  rep 0: connected; the socket then carries the stream
 */
import { connect, type Socket } from 'node:net'

/** Why tor refused (RFC 1928 §6, and tor's 0xF0–0xF7 for onion services, proposal 304). */
const REPLIES: Record<number, string> = {
  1: 'general failure',
  2: 'not allowed by the ruleset',
  3: 'network unreachable',
  4: 'host unreachable',
  5: 'connection refused',
  6: 'TTL expired (tor: the circuit or onion service timed out)',
  7: 'command not supported',
  8: 'address type not supported',
  0xf0: 'onion service descriptor not found',
  0xf1: 'onion service descriptor is invalid',
  0xf2: 'onion service introduction failed',
  0xf3: 'onion service rendezvous failed',
  0xf4: 'onion service needs client authorization',
  0xf5: 'onion service client authorization is wrong',
  0xf6: 'onion address is invalid',
  0xf7: 'onion service introduction timed out'
}

export class SocksError extends Error {
  readonly reply: number | undefined
  constructor (message: string, reply?: number) {
    super(message)
    this.reply = reply
  }
}

/** Reads exactly `n` bytes from the socket (the handshake's replies are short and fixed). */
async function readExactly (socket: Socket, n: number, signal?: AbortSignal): Promise<Buffer> {
  return await new Promise((resolve, reject) => {
    let buffered = Buffer.alloc(0)
    const cleanup = (): void => {
      socket.off('data', onData)
      socket.off('error', onError)
      socket.off('close', onClose)
      signal?.removeEventListener('abort', onAbort)
    }
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk])
      if (buffered.length < n) return
      cleanup()
      socket.pause()
      // anything past the reply is the stream's first bytes: hand it back
      if (buffered.length > n) socket.unshift(buffered.subarray(n))
      resolve(buffered.subarray(0, n))
    }
    const onError = (err: Error): void => { cleanup(); reject(err) }
    const onClose = (): void => { cleanup(); reject(new SocksError('the SOCKS proxy closed the connection during the handshake')) }
    const onAbort = (): void => { cleanup(); reject(signal?.reason ?? new Error('aborted')) }
    socket.on('data', onData)
    socket.on('error', onError)
    socket.on('close', onClose)
    signal?.addEventListener('abort', onAbort, { once: true })
    socket.resume()
  })
}

/** Opens a TCP stream to host:port through the SOCKS5 proxy at proxy.host:proxy.port. */
export async function socks5Connect (proxy: { host: string, port: number }, host: string, port: number, options: { signal?: AbortSignal } = {}): Promise<Socket> {
  options.signal?.throwIfAborted()
  const name = Buffer.from(host, 'ascii')
  if (name.length > 255) throw new SocksError('host name longer than 255 bytes')
  const socket = connect({ host: proxy.host, port: proxy.port, noDelay: true })
  try {
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => { reject(options.signal?.reason ?? new Error('aborted')) }
      options.signal?.addEventListener('abort', onAbort, { once: true })
      socket.once('connect', () => { options.signal?.removeEventListener('abort', onAbort); resolve() })
      socket.once('error', reject)
    })
    socket.write(Buffer.from([5, 1, 0]))
    const method = await readExactly(socket, 2, options.signal)
    if (method[0] !== 5 || method[1] !== 0) throw new SocksError('the SOCKS proxy wants authentication weft does not offer')
    const portBytes = Buffer.alloc(2)
    portBytes.writeUInt16BE(port)
    socket.write(Buffer.concat([Buffer.from([5, 1, 0, 3, name.length]), name, portBytes]))
    const head = await readExactly(socket, 4, options.signal)
    if (head[1] !== 0) throw new SocksError(`SOCKS CONNECT to ${host}:${port} failed: ${REPLIES[head[1]] ?? `reply ${head[1]}`}`, head[1])
    // the bound address that follows: IPv4, a name, or IPv6, then a port
    const addrLength = head[3] === 1 ? 4 : head[3] === 4 ? 16 : (await readExactly(socket, 1, options.signal))[0]
    await readExactly(socket, addrLength + 2, options.signal)
    return socket
  } catch (err) {
    socket.destroy()
    throw err
  }
}
