/**
 * Device linking, `/weft/user-link/1.0.0`: a second node of the same person receives the
 * user master key from the first, so both have the same id on every site and open the same
 * private data. Both nodes run their daemons.
 *
 * The code, printed by `weft user link` on the node that has the key (the issuer):
 *
 *   <issuer peer id>.<secret: 20 random bytes, base32 lowercase, 32 characters>[@<multiaddr>,<multiaddr>…]
 *
 * Valid LINK_CODE_TTL_MS, single use, voided after MAX_WRONG_PROOFS wrong proofs; a new code
 * replaces the one before it. The addresses are optional: with them the holder dials the
 * issuer directly (two nodes with no DHT between them, e.g. a private network with no
 * bootstrap peers); without them it finds the issuer among its connections, in its peer
 * store, or through peer routing (the DHT).
 *
 * Wire (frames are an unsigned varint length and that many bytes; one exchange per stream):
 *
 *   holder → issuer  proof  = HMAC-SHA256(secret, "weft/user-link/v1/proof" ‖ issuer id ‖ holder id)
 *   issuer → holder  0x00 ‖ nonce (24) ‖ XChaCha20-Poly1305(sealKey, nonce, master key, aad = "weft/user-link/v1")
 *                    or 0x01 (a wrong proof) or 0x02 (no code is live: none issued, used, expired or voided)
 *
 *   sealKey = HKDF-SHA256(ikm = secret, salt = "weft/user-link/v1", info = "seal" ‖ issuer id ‖ holder id, 32 bytes)
 *
 * (ids are the peer ids' multihash bytes, which carry their own length.) Noise has already
 * authenticated both ends: the holder dialled the peer id in the code, so only the issuer
 * can answer, and the issuer binds the proof and the sealing key to the peer that asked, so
 * a proof seen by someone else cannot be replayed from another node. The secret never
 * travels; the proof shows the holder knows it.
 *
 * No PAKE: a PAKE lets two sides who share a short, guessable password (6 digits) agree a
 * key without letting an eavesdropper or a guesser test passwords offline. This code holds
 * 160 random bits, so there is nothing to guess: an online guesser gets 5 tries at 2^-160
 * each, and an offline one sees only the HMAC and the ciphertext, keyed by those 160 bits.
 */
import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto'
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js'
import { lpStream } from '@libp2p/utils'
import type { Connection, PeerId, Startable, Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { base32 } from 'multiformats/bases/base32'
import { WeftError, isWeftError } from '../errors.ts'
import type { ImportResult, UserIdentity } from './identity.ts'

export const LINK_PROTOCOL = '/weft/user-link/1.0.0'
/** Long enough to walk to the other device and type or paste the code; short enough that a code left on a screen soon means nothing. */
export const LINK_CODE_TTL_MS = 10 * 60_000
/** 160 bits: past any online or offline guessing, so no PAKE is needed (see the top of this file). */
export const LINK_SECRET_BYTES = 20
/** A person mistypes a pasted code once or twice; five misses is someone trying codes, and the code is voided. */
export const MAX_WRONG_PROOFS = 5
/** A code carries at most this many addresses: enough for IPv4, IPv6, TCP and WebSockets, still short enough to paste. */
export const MAX_CODE_ADDRESSES = 4
/** ms to reach the issuer and hear its answer: a dial through the DHT takes seconds, a loopback one milliseconds. */
export const LINK_EXCHANGE_TIMEOUT_MS = 30_000

const DOMAIN = 'weft/user-link/v1'
const PROOF_LABEL = `${DOMAIN}/proof`
const AAD = new TextEncoder().encode(DOMAIN)
const PROOF_BYTES = 32
const NONCE_BYTES = 24
const KEY_BYTES = 32
/** The largest frame either side sends: a status byte, a nonce, a 32-byte key and its 16-byte tag. */
const MAX_FRAME_BYTES = 1 + NONCE_BYTES + 32 + 16
const STATUS_SEALED = 0
const STATUS_WRONG = 1
const STATUS_NO_CODE = 2

export interface LinkCode {
  /** What the person types on the other node. */
  code: string
  /** ms epoch past which the code is refused. */
  expires: number
}

export interface ParsedLinkCode {
  peer: PeerId
  secret: Uint8Array
  addresses: Multiaddr[]
}

export interface UserLinkComponents {
  /** The master key to hand over, and where a received one goes. */
  identity: Pick<UserIdentity, 'masterKey' | 'importMasterKey' | 'hasKey'>
  /** This node's peer id. */
  peerId: PeerId
  /** This node's addresses, for the code. */
  addresses: () => Multiaddr[]
  handle: (protocol: string, handler: (stream: Stream, connection: Connection) => void) => Promise<void>
  unhandle: (protocol: string) => Promise<void>
  /** Opens a stream to a peer by id: libp2p looks in its connections, its peer store, then peer routing. */
  dialProtocol: (peer: PeerId, protocol: string, options: { signal: AbortSignal }) => Promise<Stream>
  /** Remembers addresses for a peer (the ones a code carries) before it is dialled. */
  addAddresses: (peer: PeerId, addresses: Multiaddr[]) => Promise<void>
}

export interface UserLinkInit {
  codeTtl?: number
  exchangeTimeout?: number
  /** The clock (tests move it past a code's expiry). */
  now?: () => number
}

export interface UserLink extends Startable {
  /** A new one-time code (the one before it stops working). With `addresses` false the code carries none. */
  issue(options?: { addresses?: boolean }): LinkCode
  /**
   * Receives the master key from the node that issued `code` and puts it into this home.
   * A home that already has a user key refuses with ERR_USER_KEY_EXISTS before the code is
   * spent, unless `force`.
   */
  accept(code: string, options?: { force?: boolean, signal?: AbortSignal }): Promise<ImportResult>
}

function invalid (why: string): WeftError {
  return new WeftError('ERR_LINK_CODE_INVALID', why)
}

/** The proof and the sealing key are bound to both ends, in the order issuer then holder. */
function bound (issuer: PeerId, holder: PeerId): Buffer {
  return Buffer.concat([issuer.toMultihash().bytes, holder.toMultihash().bytes])
}

export function linkProof (secret: Uint8Array, issuer: PeerId, holder: PeerId): Uint8Array {
  return createHmac('sha256', secret).update(PROOF_LABEL).update(bound(issuer, holder)).digest()
}

function sealKey (secret: Uint8Array, issuer: PeerId, holder: PeerId): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', secret, DOMAIN, Buffer.concat([Buffer.from('seal'), bound(issuer, holder)]), KEY_BYTES))
}

export function formatLinkCode (peer: PeerId, secret: Uint8Array, addresses: Multiaddr[] = []): string {
  const code = `${peer.toString()}.${base32.baseEncode(secret)}`
  return addresses.length === 0 ? code : `${code}@${addresses.map(a => a.toString()).join(',')}`
}

/** A code's parts; anything malformed is ERR_LINK_CODE_INVALID. */
export function parseLinkCode (text: string): ParsedLinkCode {
  const trimmed = text.trim()
  const at = trimmed.indexOf('@')
  const head = at < 0 ? trimmed : trimmed.slice(0, at)
  const dot = head.lastIndexOf('.')
  if (dot < 0) throw invalid('a link code is `<peer id>.<secret>`, as `weft user link` prints it: check it was copied whole')
  let peer: PeerId
  let secret: Uint8Array
  try {
    peer = peerIdFromString(head.slice(0, dot))
  } catch {
    throw invalid('the link code\'s peer id is malformed: check it was copied whole')
  }
  try {
    secret = base32.baseDecode(head.slice(dot + 1).toLowerCase())
  } catch {
    throw invalid('the link code\'s secret is malformed: check it was copied whole')
  }
  if (secret.byteLength !== LINK_SECRET_BYTES) throw invalid('the link code\'s secret is too short or too long: check it was copied whole')
  const addresses: Multiaddr[] = []
  if (at >= 0) {
    for (const part of trimmed.slice(at + 1).split(',').slice(0, MAX_CODE_ADDRESSES)) {
      try {
        addresses.push(multiaddr(part))
      } catch {
        throw invalid(`the link code's address "${part.slice(0, 100)}" is not a multiaddr`)
      }
    }
  }
  return { peer, secret, addresses }
}

interface LiveCode {
  secret: Uint8Array
  expires: number
  wrong: number
}

class UserLinkService implements UserLink {
  private readonly components: UserLinkComponents
  private readonly codeTtl: number
  private readonly exchangeTimeout: number
  private readonly now: () => number
  private live?: LiveCode

  constructor (components: UserLinkComponents, init: UserLinkInit) {
    this.components = components
    this.codeTtl = init.codeTtl ?? LINK_CODE_TTL_MS
    this.exchangeTimeout = init.exchangeTimeout ?? LINK_EXCHANGE_TIMEOUT_MS
    this.now = init.now ?? Date.now
  }

  async start (): Promise<void> {
    await this.components.handle(LINK_PROTOCOL, (stream, connection) => { void this.serve(stream, connection.remotePeer) })
  }

  async stop (): Promise<void> {
    this.live = undefined
    await this.components.unhandle(LINK_PROTOCOL)
  }

  issue (options: { addresses?: boolean } = {}): LinkCode {
    const secret = new Uint8Array(randomBytes(LINK_SECRET_BYTES))
    const expires = this.now() + this.codeTtl
    this.live = { secret, expires, wrong: 0 }
    // loopback and wildcard addresses are kept: two nodes on one machine link through them
    const addresses = options.addresses === false ? [] : this.components.addresses().filter(a => !a.toString().includes('/p2p-circuit')).slice(0, MAX_CODE_ADDRESSES)
    return { code: formatLinkCode(this.components.peerId, secret, addresses.map(a => a.decapsulateCode(421))), expires }
  }

  /** The issuer's side: one proof, one answer. Nothing the holder sends is trusted past its length. */
  private async serve (stream: Stream, holder: PeerId): Promise<void> {
    const lp = lpStream(stream, { maxDataLength: PROOF_BYTES })
    try {
      const proof = (await lp.read({ signal: AbortSignal.timeout(this.exchangeTimeout) })).subarray()
      await lp.write(this.answer(proof, holder), { signal: AbortSignal.timeout(this.exchangeTimeout) })
      await stream.close()
    } catch (err) {
      stream.abort(err as Error)
    }
  }

  /** Synchronous from the check to the use, so two holders cannot both spend one code. */
  private answer (proof: Uint8Array, holder: PeerId): Uint8Array {
    const live = this.live
    if (live === undefined) return Uint8Array.of(STATUS_NO_CODE)
    if (this.now() > live.expires) {
      this.live = undefined
      return Uint8Array.of(STATUS_NO_CODE)
    }
    const expected = linkProof(live.secret, this.components.peerId, holder)
    if (proof.byteLength !== PROOF_BYTES || !timingSafeEqual(proof, expected)) {
      live.wrong++
      if (live.wrong >= MAX_WRONG_PROOFS) this.live = undefined
      return Uint8Array.of(STATUS_WRONG)
    }
    this.live = undefined
    const nonce = randomBytes(NONCE_BYTES)
    const sealed = xchacha20poly1305(sealKey(live.secret, this.components.peerId, holder), nonce, AAD).encrypt(this.components.identity.masterKey())
    return Buffer.concat([Uint8Array.of(STATUS_SEALED), nonce, sealed])
  }

  async accept (code: string, options: { force?: boolean, signal?: AbortSignal } = {}): Promise<ImportResult> {
    const { peer, secret, addresses } = parseLinkCode(code)
    const self = this.components.peerId
    if (peer.equals(self)) throw invalid('this code was issued by this node: use it on the other device')
    // refused before the code is spent, so the person can add --force and use the same code
    if (options.force !== true && this.components.identity.hasKey()) {
      throw new WeftError('ERR_USER_KEY_EXISTS', 'this home already has a user key; linking replaces it and loses its identity on every site it was used on (back it up first with `weft user export-key`), so pass --force to link')
    }
    const signal = AbortSignal.any([AbortSignal.timeout(this.exchangeTimeout), ...(options.signal !== undefined ? [options.signal] : [])])
    if (addresses.length > 0) await this.components.addAddresses(peer, addresses)
    let stream: Stream
    try {
      stream = await this.components.dialProtocol(peer, LINK_PROTOCOL, { signal })
    } catch (err) {
      options.signal?.throwIfAborted()
      throw new WeftError('ERR_DIAL_FAILED', `could not reach the node that issued the code (${peer.toString()}): ${(err as Error).message}; is its daemon running? A code printed with its addresses (@…) finds it without the DHT`)
    }
    const lp = lpStream(stream, { maxDataLength: MAX_FRAME_BYTES })
    let reply: Uint8Array
    try {
      await lp.write(linkProof(secret, peer, self), { signal })
      reply = (await lp.read({ signal })).subarray()
      await stream.close().catch(() => {})
    } catch (err) {
      stream.abort(err as Error)
      throw new WeftError('ERR_DIAL_FAILED', `the node that issued the code (${peer.toString()}) stopped answering: ${(err as Error).message}`)
    }
    const master = this.open(reply, secret, peer)
    try {
      return this.components.identity.importMasterKey(master, { force: options.force })
    } catch (err) {
      if (isWeftError(err)) throw err
      throw new WeftError('ERR_INTERNAL', `the linked key could not be stored: ${(err as Error).message}`, { cause: err })
    }
  }

  private open (reply: Uint8Array, secret: Uint8Array, issuer: PeerId): Uint8Array {
    if (reply.byteLength === 1 && reply[0] === STATUS_WRONG) throw invalid('the other node refused the code: it is wrong (check it was copied whole; after 5 wrong tries it stops working)')
    if (reply.byteLength === 1 && reply[0] === STATUS_NO_CODE) throw invalid('the other node has no live code: it was used, expired (10 minutes), voided after too many wrong tries, or replaced by a newer one; run `weft user link` there again')
    if (reply.byteLength !== MAX_FRAME_BYTES || reply[0] !== STATUS_SEALED) throw invalid('the other node answered something that is not a sealed key')
    try {
      return xchacha20poly1305(sealKey(secret, issuer, this.components.peerId), reply.subarray(1, 1 + NONCE_BYTES), AAD).decrypt(reply.subarray(1 + NONCE_BYTES))
    } catch {
      throw invalid('the key the other node sent does not open under this code')
    }
  }
}

export function createUserLink (components: UserLinkComponents, init: UserLinkInit = {}): UserLink {
  return new UserLinkService(components, init)
}
