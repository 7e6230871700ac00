/**
 * Checking ENS storage against a state root (EIP-1186 `eth_getProof`).
 *
 * Storage layouts read here (Solidity: a mapping at slot p keeps key k at keccak(k . p);
 * a struct's fields follow from there; `bytes` of ≤31 bytes sit in the slot with 2·len in
 * the low byte, longer ones keep 2·len+1 there and the data at keccak(slot) onwards):
 * - ENSRegistry (@ensdomains/ens, also the mainnet ENSRegistryWithFallback): `records` is
 *   slot 0, `Record { address owner; address resolver; uint64 ttl }`, so owner is at
 *   base = keccak(node . 0) and resolver (low 20 bytes) with ttl (next 8 bytes) at base+1.
 * - PublicResolver of @ensdomains/resolver 0.3 ("legacy"): `mapping(bytes32=>bytes) hashes`
 *   is slot 2 (after ABIResolver.abis 0, AddrResolver._addresses 1): head at keccak(node . 2).
 * - PublicResolver of ens-contracts ("versioned", mainnet since 2023): ResolverBase's
 *   `recordVersions` (bytes32=>uint64) is slot 0 and ContentHashResolver's
 *   `versionable_hashes` (uint64=>bytes32=>bytes) slot 3: head at keccak(node . keccak(v . 3)).
 */
import { verifyMerkleProof } from '@ethereumjs/mpt'
import { RLP, type NestedUint8Array } from '@ethereumjs/rlp'
import { bytesToBigInt, concat, hexToBytes, keccak256, numberToHex, pad, toHex, type Hex } from 'viem'
import { WeftError } from '../errors.ts'

export interface AccountProofJson {
  accountProof: Hex[]
  storageProof: Array<{ key: Hex, value: Hex, proof: Hex[] }>
}

export interface ResolverLayout {
  name: string
  /** Slot of `recordVersions` when the layout is versioned. */
  versionsSlot?: bigint
  hashesSlot: bigint
}

export const RESOLVER_LAYOUTS: ResolverLayout[] = [
  { name: 'legacy', hashesSlot: 2n },
  { name: 'versioned', versionsSlot: 0n, hashesSlot: 3n }
]

const REGISTRY_RECORDS_SLOT = 0n

export function mappingSlot (key: Hex, slot: bigint): bigint {
  return BigInt(keccak256(concat([pad(key, { size: 32 }), numberToHex(slot, { size: 32 })])))
}

export function registrySlots (node: Hex): { owner: bigint, resolver: bigint } {
  const base = mappingSlot(node, REGISTRY_RECORDS_SLOT)
  return { owner: base, resolver: base + 1n }
}

/** The slot holding a `bytes` value's head for `node` under `layout` at record version `version`. */
export function contenthashHeadSlot (node: Hex, layout: ResolverLayout, version: bigint): bigint {
  if (layout.versionsSlot === undefined) return mappingSlot(node, layout.hashesSlot)
  const inner = mappingSlot(numberToHex(version, { size: 32 }), layout.hashesSlot)
  return mappingSlot(node, inner)
}

/** The data slots of a `bytes` value of `length` bytes whose head is at `head`. */
export function bytesDataSlots (head: bigint, length: number): bigint[] {
  if (length <= 31) return []
  const first = BigInt(keccak256(numberToHex(head, { size: 32 })))
  return Array.from({ length: Math.ceil(length / 32) }, (_, i) => first + BigInt(i))
}

/** The length a head slot announces, or undefined when it is not a well-formed `bytes` head. */
export function bytesLength (head: bigint): number | undefined {
  if ((head & 1n) === 0n) {
    const len = Number(head & 0xffn) / 2
    return len <= 31 ? len : undefined
  }
  const len = (head - 1n) / 2n
  return len >= 32n && len < 1n << 20n ? Number(len) : undefined
}

/** Rebuilds a `bytes` value from proven slots; undefined when a slot it needs was not proven. */
export function readBytes (headSlot: bigint, head: bigint, slots: Map<bigint, bigint>): Uint8Array | undefined {
  const len = bytesLength(head)
  if (len === undefined) return undefined
  if (len <= 31) return hexToBytes(numberToHex(head, { size: 32 })).subarray(0, len)
  const parts: Uint8Array[] = []
  for (const slot of bytesDataSlots(headSlot, len)) {
    const word = slots.get(slot)
    if (word === undefined) return undefined
    parts.push(hexToBytes(numberToHex(word, { size: 32 })))
  }
  return concat(parts).subarray(0, len)
}

export interface ProvenAccount {
  exists: boolean
  storageRoot: Hex
  codeHash: Hex
  /** Proven value of every slot asked for (0 for slots that are empty). */
  slots: Map<bigint, bigint>
}

const EMPTY_TRIE_ROOT: Hex = '0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421'

function bad (what: string): WeftError {
  return new WeftError('ERR_NAME_PROOF_INVALID', what)
}

/** RLP from a proven leaf: the endpoint chose those bytes, so bad RLP is a bad proof. */
function rlpDecode (bytes: Uint8Array, what: string): Uint8Array | NestedUint8Array {
  try {
    return RLP.decode(bytes)
  } catch (err) {
    throw bad(`${what}: proven value is not RLP (${(err as Error).message})`)
  }
}

async function proveKey (root: Hex, key: Uint8Array, proof: Hex[], what: string): Promise<Uint8Array | null> {
  if (!Array.isArray(proof) || proof.some(n => typeof n !== 'string' || !/^0x([0-9a-fA-F]{2})*$/.test(n))) throw bad(`${what}: proof is not a list of hex nodes`)
  if (proof.length === 0) {
    if (root.toLowerCase() === EMPTY_TRIE_ROOT) return null
    throw bad(`${what}: empty proof for a non-empty trie`)
  }
  try {
    return await verifyMerkleProof(key, proof.map(n => hexToBytes(n)), { root: hexToBytes(root), useKeyHashing: true })
  } catch (err) {
    throw bad(`${what}: Merkle-Patricia proof does not verify against root ${root}`)
  }
}

/**
 * Verifies an `eth_getProof` answer for `address` against `stateRoot` and reads every slot in
 * `slots` from proofs against the proven storage root. The server's own `value` fields are
 * ignored: only what the proof nodes hash to counts.
 */
export async function verifyAccountProof (stateRoot: Hex, address: Hex, slots: bigint[], json: AccountProofJson): Promise<ProvenAccount> {
  if (json === null || typeof json !== 'object' || !Array.isArray(json.storageProof)) throw bad(`eth_getProof for ${address} is malformed`)
  const leaf = await proveKey(stateRoot, hexToBytes(address), json.accountProof, `account ${address}`)
  const out: ProvenAccount = { exists: leaf !== null, storageRoot: EMPTY_TRIE_ROOT, codeHash: keccak256(new Uint8Array(0)), slots: new Map() }
  if (leaf !== null) {
    const fields = rlpDecode(leaf, `account ${address}`)
    if (!Array.isArray(fields) || fields.length !== 4 || fields.some(f => !(f instanceof Uint8Array))) throw bad(`account ${address}: proven leaf is not [nonce, balance, storageRoot, codeHash]`)
    out.storageRoot = toHex(fields[2] as Uint8Array)
    out.codeHash = toHex(fields[3] as Uint8Array)
  }
  // every node of every storage proof, so each slot is checked by its own key whatever the order
  const nodes = [...new Set(json.storageProof.flatMap(p => Array.isArray(p?.proof) ? p.proof : []))]
  for (const slot of slots) {
    const key = hexToBytes(numberToHex(slot, { size: 32 }))
    const value = out.storageRoot === EMPTY_TRIE_ROOT ? null : await proveKey(out.storageRoot, key, nodes, `slot ${numberToHex(slot)} of ${address}`)
    if (value === null) {
      out.slots.set(slot, 0n)
      continue
    }
    const decoded = rlpDecode(value, `slot ${numberToHex(slot)} of ${address}`)
    if (!(decoded instanceof Uint8Array) || decoded.length > 32) throw bad(`slot ${numberToHex(slot)} of ${address}: proven value is not a word`)
    // RLP's empty string is 0 (viem's bytesToBigInt throws on no bytes)
    out.slots.set(slot, decoded.length === 0 ? 0n : bytesToBigInt(decoded))
  }
  return out
}
