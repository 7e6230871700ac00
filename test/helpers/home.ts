import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestContext } from 'node:test'

/** A fresh temporary folder, removed when the test ends. */
export async function tmpDir (t: TestContext, prefix = 'weft-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

/** A path for a weft home that does not exist yet (weft creates homes on first use). */
export async function tmpHome (t: TestContext): Promise<string> {
  return join(await tmpDir(t, 'weft-home-'), 'home')
}
