/** Changes per key (a site) one after another: each runs after every earlier one for its key has finished, failed or not. */
export class Serial {
  private readonly tails = new Map<string, Promise<unknown>>()

  async run<T> (key: string, fn: () => Promise<T>): Promise<T> {
    const before = this.tails.get(key) ?? Promise.resolve()
    const run = before.catch(() => {}).then(fn)
    const tail = run.catch(() => {})
    this.tails.set(key, tail)
    void tail.then(() => { if (this.tails.get(key) === tail) this.tails.delete(key) })
    return await run
  }

  /** Resolves once every change asked for so far has ended. */
  async drained (): Promise<void> {
    await Promise.all([...this.tails.values()])
  }
}
