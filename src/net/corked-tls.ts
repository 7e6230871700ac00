/**
 * `@libp2p/tls` with what a connection sends in one go sealed as one TLS record.
 *
 * libp2p hands an encrypted connection each Yamux frame as it is made, as a list of buffers
 * (a data frame is two: its 12-byte header and its payload), and @libp2p/tls 3.1 writes each
 * buffer to its TLSSocket on its own. Every frame became two TLS records: two AES-GCM seals,
 * two writes through the JS stream beneath, two `write` system calls, and on the far side
 * two records to open and two 'data' events. A gossipsub message, a DHT request (a new
 * stream's SYN, protocol negotiation, the request, the window updates) is several frames
 * made in one turn of the event loop.
 *
 * Here the TLSSocket is corked at a connection's first send and uncorked once the code
 * running now has finished (a microtask), so what one turn sends reaches Node's TLS layer
 * together and goes out as one record and one system call. Nothing waits for a timer: the
 * bytes leave before the event loop next polls, as they did. Back-pressure is unchanged
 * (a corked write past the socket's high-water mark still says so, and 'drain' follows the
 * flush), and closing flushes what is corked (`end` uncorks).
 *
 * The handshake, certificates and ALPN are @libp2p/tls's own; the wire is the same TLS 1.3
 * (record boundaries carry no meaning), so any libp2p TLS peer reads it.
 */
import { tls } from '@libp2p/tls'
import type { ConnectionEncrypter, MultiaddrConnection, SecuredConnection, SecureConnectionOptions } from '@libp2p/interface'
import type { Uint8ArrayList } from 'uint8arraylist'

type TlsComponents = Parameters<ReturnType<typeof tls>>[0]

/** What @libp2p/tls 3.1's encrypted connection holds: its TLSSocket and its send. */
interface EncryptedConnection {
  socket?: { cork?: () => void, uncork?: () => void }
  sendData?: (data: Uint8ArrayList) => { sentBytes: number, canSendMore: boolean }
}

const corkedConnections = new WeakSet<object>()

/** Whether `connection` (an encrypted connection, beneath a libp2p connection's muxer) has its sends corked. */
export function isCorked (connection: unknown): boolean {
  return typeof connection === 'object' && connection !== null && corkedConnections.has(connection)
}

/**
 * Makes `connection` gather the sends of one turn of the event loop into one TLS record.
 * Returns false, changing nothing, when the connection is not shaped as @libp2p/tls 3.1's.
 */
export function corkSends (connection: unknown): boolean {
  const conn = connection as EncryptedConnection
  const socket = conn.socket
  const sendData = conn.sendData
  if (typeof sendData !== 'function' || typeof socket?.cork !== 'function' || typeof socket.uncork !== 'function') return false
  const cork = socket.cork.bind(socket)
  const uncork = socket.uncork.bind(socket)
  let corked = false
  const flush = (): void => {
    corked = false
    uncork()
  }
  conn.sendData = function (data) {
    if (!corked) {
      corked = true
      cork()
      queueMicrotask(flush)
    }
    return sendData.call(this, data)
  }
  corkedConnections.add(conn)
  return true
}

/** `tls()`, its connections' sends corked per turn of the event loop (corkSends). */
export function corkedTls (): (components: TlsComponents) => ConnectionEncrypter {
  const factory = tls()
  return components => {
    const encrypter = factory(components)
    const corked = async <T extends SecuredConnection<any>>(secured: Promise<T>): Promise<T> => {
      const result = await secured
      corkSends(result.connection)
      return result
    }
    return Object.assign(Object.create(encrypter) as ConnectionEncrypter, {
      secureInbound: async (connection: MultiaddrConnection, options?: SecureConnectionOptions) => await corked(encrypter.secureInbound(connection, options)),
      secureOutbound: async (connection: MultiaddrConnection, options?: SecureConnectionOptions) => await corked(encrypter.secureOutbound(connection, options))
    })
  }
}
