/**
 * The naming benchmark's DNS pieces: the tests' DNS server on 127.0.0.1
 * (test/helpers/dns-server.ts, without a node:test context), and one raw TXT question.
 */
import { createSocket } from 'node:dgram'
import dnsPacket from 'dns-packet'

export { createDnsServer as startDnsServer, type TestDnsServer as BenchDnsServer } from '../test/helpers/dns-server.ts'

/** One TXT question over UDP to 127.0.0.1:`port`, on a fresh socket as the DNSLink resolver asks: ms until the answer. */
export async function rawTxtQuery (port: number, name: string, timeout = 2_000): Promise<number> {
  const socket = createSocket('udp4')
  const query = dnsPacket.encode({ type: 'query', id: 1, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'TXT', name }] })
  const start = performance.now()
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`no DNS answer for ${name} within ${timeout} ms`)) }, timeout)
      socket.once('message', () => { clearTimeout(timer); resolve() })
      socket.once('error', err => { clearTimeout(timer); reject(err) })
      socket.send(query, port, '127.0.0.1')
    })
    return performance.now() - start
  } finally {
    socket.close()
  }
}
