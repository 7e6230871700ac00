import { createHeliaLight } from 'helia'
import { withLibp2pLight } from '@helia/libp2p'
import { withBitswap } from '@helia/bitswap'
import { tcp } from '@libp2p/tcp'
import { noise } from '@libp2p/noise'
import { yamux } from '@libp2p/yamux'
import { identify } from '@libp2p/identify'

/**
 * A stock Helia node: its own libp2p on 127.0.0.1 with no bootstrap list, no delegated
 * routers, no UPnP and no autoNAT; Bitswap is its only way to get blocks, and its
 * blockstore is Helia's default, in memory. The caller stops it.
 */
export async function createLocalHelia () {
  const helia = withBitswap(withLibp2pLight(createHeliaLight({ routers: [] }), {
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify() }
  }))
  await helia.start()
  return helia
}
