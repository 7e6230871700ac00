/** Token buckets by key: `burst` at once, `rate` a second after that (flood limits per node and per user). */

/** Buckets kept at most; past it the oldest is forgotten (a forgotten key starts full, which only ever errs towards letting an honest sender through). */
const MAX_BUCKETS = 10_000

export class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number, at: number }>()

  /** Takes a token for `key` if one is left. */
  take (key: string, burst: number, rate: number): boolean {
    const now = Date.now()
    const bucket = this.buckets.get(key) ?? { tokens: burst, at: now }
    bucket.tokens = Math.min(burst, bucket.tokens + (now - bucket.at) * rate / 1000)
    bucket.at = now
    this.buckets.set(key, bucket)
    if (this.buckets.size > MAX_BUCKETS) this.buckets.delete(this.buckets.keys().next().value as string)
    if (bucket.tokens < 1) return false
    bucket.tokens--
    return true
  }
}
