import type { TestContext } from 'node:test'
import { createSocket } from 'node:dgram'
import dnsPacket from 'dns-packet'

export interface TestDnsServer {
  /** "127.0.0.1:<port>", for naming.dns. */
  address: string
  port: number
  /** TXT records by name (lower case); a name without records is NXDOMAIN. */
  records: Map<string, Array<{ text: string, ttl: number }>>
  /** Questions asked so far, by name. */
  queries: Map<string, number>
  stop(): void
}

/** A DNS server on 127.0.0.1 answering TXT questions from `records` (the tests' and the naming benchmark's). */
export async function createDnsServer (): Promise<TestDnsServer> {
  const socket = createSocket('udp4')
  let closed = false
  const server: TestDnsServer = {
    address: '',
    port: 0,
    records: new Map(),
    queries: new Map(),
    stop () {
      if (closed) return
      closed = true
      socket.close()
    }
  }
  socket.on('message', (message, from) => {
    let query: dnsPacket.Packet
    try {
      query = dnsPacket.decode(message)
    } catch {
      return
    }
    const question = query.questions?.[0]
    if (question === undefined) return
    const name = question.name.toLowerCase()
    server.queries.set(name, (server.queries.get(name) ?? 0) + 1)
    const records = server.records.get(name)
    const answer = dnsPacket.encode({
      type: 'response',
      id: query.id,
      flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | (records === undefined ? 3 : 0), // rcode 3: NXDOMAIN
      questions: [question],
      answers: question.type !== 'TXT' ? [] : (records ?? []).map(r => ({ type: 'TXT' as const, name: question.name, ttl: r.ttl, data: [r.text] }))
    })
    socket.send(answer, from.port, from.address)
  })
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject)
    socket.bind(0, '127.0.0.1', () => { socket.off('error', reject); resolve() })
  })
  server.port = socket.address().port
  server.address = `127.0.0.1:${server.port}`
  return server
}

/** createDnsServer, closed with the test. */
export async function startDnsServer (t: TestContext): Promise<TestDnsServer> {
  const server = await createDnsServer()
  t.after(() => { server.stop() })
  return server
}
