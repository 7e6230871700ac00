import type { TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { isWeftError } from '../../src/errors.ts'
import type { NameResolver } from '../../src/naming/index.ts'

export interface ComplianceSetup {
  resolver: NameResolver
  /** A name the resolver knows, and the value it must give. */
  known: { name: string, value: string }
  /** A name it is asked about and does not know. */
  unknown: string
  /** Whether its answers are proven against a chain. */
  proven: boolean
}

/**
 * The contract every resolver keeps (STYLE.md: compliance suites for swappable parts):
 * the answer's shape, "not found" as ERR_NAME_NOT_FOUND, and
 * the same answer twice. Each resolver's test runs it with its own setup.
 */
export async function resolverCompliance (t: TestContext, setup: (t: TestContext) => Promise<ComplianceSetup>): Promise<void> {
  const s = await setup(t)
  await t.test(`${s.resolver.kind}: a known name gives its value, a TTL, its kind and whether it was proven`, async () => {
    const answer = await s.resolver.resolve(s.known.name)
    assert.equal(answer.value, s.known.value)
    assert.equal(answer.resolver, s.resolver.kind)
    assert.equal(answer.proven, s.proven)
    assert.ok(Number.isFinite(answer.ttl) && answer.ttl >= 0, `ttl ${answer.ttl}`)
    assert.deepEqual(await s.resolver.resolve(s.known.name), answer, 'the same answer twice')
  })
  await t.test(`${s.resolver.kind}: an unknown name is ERR_NAME_NOT_FOUND`, async () => {
    await assert.rejects(s.resolver.resolve(s.unknown), (err: unknown) => isWeftError(err, 'ERR_NAME_NOT_FOUND'))
  })
  await t.test(`${s.resolver.kind}: handles() never refuses a name it resolves`, async () => {
    assert.notEqual(s.resolver.handles(s.known.name), false)
  })
}
