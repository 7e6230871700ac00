/**
 * Recently read blocks kept in memory, least recently read dropped first, bounded by
 * bytes. Blocks are immutable, so only their removal from the store invalidates them.
 */
export class ReadCache {
  private readonly blocks = new Map<string, Uint8Array>()
  private bytes = 0
  private readonly maxBytes: number

  constructor (maxBytes: number) {
    this.maxBytes = maxBytes
  }

  has (key: string): boolean {
    return this.blocks.has(key)
  }

  /** The block, now the most recently read. */
  get (key: string): Uint8Array | undefined {
    const bytes = this.blocks.get(key)
    if (bytes === undefined) return undefined
    this.blocks.delete(key)
    this.blocks.set(key, bytes)
    return bytes
  }

  /** Keeps a block unless it would take more than an eighth of the cache. */
  remember (key: string, bytes: Uint8Array): void {
    if (bytes.byteLength > this.maxBytes / 8 || this.blocks.has(key)) return
    this.blocks.set(key, bytes)
    this.bytes += bytes.byteLength
    for (const [old, b] of this.blocks) {
      if (this.bytes <= this.maxBytes) break
      this.blocks.delete(old)
      this.bytes -= b.byteLength
    }
  }

  forget (key: string): void {
    const b = this.blocks.get(key)
    if (b === undefined) return
    this.blocks.delete(key)
    this.bytes -= b.byteLength
  }
}
