import type { TestContext } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { lpStream } from '@libp2p/utils'
import { CID } from 'multiformats/cid'
import { Uint8ArrayList } from 'uint8arraylist'
import { createNet, type WeftLibp2p } from '../../src/net/index.ts'
import { PROTOCOL } from '../../src/exchange/index.ts'
import { BLOCK, DONT_HAVE, MAX_FRAME_BYTES, WANT, decodeMessage, encodeBlockMessage, encodeCidMessage } from '../../src/exchange/wire.ts'

/** How a test-only peer misbehaves when it is asked for blocks. */
export type Misbehaviour =
  | 'corrupt' // answers every want with the right CID and wrong bytes
  | 'silent' // reads wants and never answers
  | 'dont-have' // claims nothing (a provider record that lied)
  | 'unsolicited' // answers every want with a block for some other CID
  | 'malformed' // answers with a frame of an unknown type
  | 'oversized' // answers with a frame longer than the protocol allows
  | 'trickle' // honest but slow and steady: answers its wants in order, one every TRICKLE_MS
  | 'trickle-one' // as trickle, but serves only the first peer that asks (an owner with little upload); DONT_HAVE to the rest

/** ms between a trickling peer's answers: far below a 2 s request timeout, however loaded the machine. */
export const TRICKLE_MS = 100

/**
 * A libp2p node on the test network that speaks the exchange protocol badly on purpose.
 * `source` supplies real block bytes, so a corrupt answer differs by one bit.
 */
export async function createHostilePeer (t: TestContext, behaviour: Misbehaviour, source?: { get(cid: CID): Promise<Uint8Array> }): Promise<WeftLibp2p> {
  const libp2p = await createNet({
    privateKey: await generateKeyPair('Ed25519'),
    network: { name: 'testnet' },
    bootstrap: [],
    listen: ['/ip4/127.0.0.1/tcp/0'],
    mdns: false
  })
  t.after(async () => { await libp2p.stop() })
  let servedPeer: string | undefined
  await libp2p.handle(PROTOCOL, async (stream, connection) => {
    servedPeer ??= connection.remotePeer.toString()
    const servesThisPeer = servedPeer === connection.remotePeer.toString()
    const lp = lpStream(stream, { maxDataLength: MAX_FRAME_BYTES * 4 })
    try {
      while (true) {
        const msg = decodeMessage((await lp.read()).subarray())
        if (msg.type !== WANT) continue
        switch (behaviour) {
          case 'silent':
            break
          case 'dont-have':
            await lp.write(encodeCidMessage(DONT_HAVE, msg.cid))
            break
          case 'trickle-one':
            if (!servesThisPeer) {
              await lp.write(encodeCidMessage(DONT_HAVE, msg.cid))
              break
            }
            await sleep(TRICKLE_MS)
            await lp.write(new Uint8ArrayList(...encodeBlockMessage(msg.cid, await (source as NonNullable<typeof source>).get(msg.cid))))
            break
          case 'trickle':
            await sleep(TRICKLE_MS)
            await lp.write(new Uint8ArrayList(...encodeBlockMessage(msg.cid, await (source as NonNullable<typeof source>).get(msg.cid))))
            break
          case 'corrupt': {
            const bytes = Uint8Array.from(await (source as NonNullable<typeof source>).get(msg.cid))
            bytes[bytes.length >> 1] ^= 0x01
            await lp.write(new Uint8ArrayList(...encodeBlockMessage(msg.cid, bytes)))
            break
          }
          case 'unsolicited': {
            const other = CID.parse('bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy')
            await lp.write(new Uint8ArrayList(...encodeBlockMessage(other, new TextEncoder().encode('hello world'))))
            break
          }
          case 'malformed':
            await lp.write(Uint8Array.from([0x7f, 1, 2, 3]))
            break
          case 'oversized':
            await lp.write(new Uint8ArrayList(Uint8Array.of(BLOCK), new Uint8Array(MAX_FRAME_BYTES + 10)))
            break
        }
      }
    } catch {
      stream.abort(new Error('hostile peer done'))
    }
  })
  return libp2p
}

/**
 * Opens the exchange protocol to `target` and sends `wants` WANT frames in one burst, as
 * fast as the connection takes them, then waits for the target to give up on it.
 */
export async function floodWants (from: WeftLibp2p, target: WeftLibp2p, wants: number, present: CID[] = []): Promise<{ sent: number, error?: string }> {
  const stream = await from.dialProtocol(target.getMultiaddrs()[0], PROTOCOL)
  const frames = new Uint8ArrayList()
  // Blocks the target holds first: their answers fill the stream's window (this side reads
  // nothing until the end), so the open wants pile up however fast or slow the target is.
  for (const cid of present) {
    const frame = encodeCidMessage(WANT, cid)
    frames.append(Uint8Array.of(frame.byteLength), frame)
  }
  for (let i = 0; i < wants; i++) {
    const digest = new Uint8Array(34)
    digest[0] = 0x12
    digest[1] = 32
    digest[2] = i & 0xff
    digest[3] = (i >> 8) & 0xff
    digest[4] = i >> 16
    const frame = encodeCidMessage(WANT, CID.decode(Uint8Array.from([0x01, 0x55, ...digest])))
    frames.append(Uint8Array.of(frame.byteLength), frame)
  }
  let sent = 0
  try {
    const burst = frames.subarray()
    for (let off = 0; off < burst.byteLength; off += 64 * 1024) {
      if (!stream.send(burst.subarray(off, off + 64 * 1024))) await stream.onDrain({ signal: AbortSignal.timeout(5_000) })
      sent = Math.floor(Math.min(burst.byteLength, off + 64 * 1024) / 38)
    }
    // Read until the target gives up on us.
    for await (const _ of stream) { /* answers are ignored */ }
    return { sent }
  } catch (err) {
    return { sent, error: (err as Error).name }
  }
}
