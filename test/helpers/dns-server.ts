import type { TestContext } from 'node:test'
import { createSocket } from 'node:dgram'
import dnsPacket from 'dns-packet'

export interface TestDnsServer {
  /** "127.0.0.1:<port>", for naming.dns. */
  address: string
  /** TXT records by name (lower case); a name without records is NXDOMAIN. */
  records: Map<string, Array<{ text: string, ttl: number }>>
  /** Questions asked so far, by name. */
  queries: Map<string, number>
}

/** A DNS server on 127.0.0.1 answering TXT questions from `records`, closed with the test. */
export async function startDnsServer (t: TestContext): Promise<TestDnsServer> {
  const socket = createSocket('udp4')
  const server: TestDnsServer = { address: '', records: new Map(), queries: new Map() }
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
  await new Promise<void>(resolve => { socket.bind(0, '127.0.0.1', () => { resolve() }) })
  server.address = `127.0.0.1:${socket.address().port}`
  t.after(() => { socket.close() })
  return server
}
