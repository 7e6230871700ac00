import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { chmod, chown, mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { tmpDir, tmpHome } from '../helpers/home.ts'
import { runWeft, type CliResult } from '../helpers/cli.ts'

function fails (r: CliResult, code: string, exit?: number): void {
  assert.notEqual(r.code, 0, 'expected a failure')
  if (exit !== undefined) assert.equal(r.code, exit)
  const lines = r.stderr.trim().split('\n')
  assert.equal(lines.length, 1, `expected one line, got:\n${r.stderr}`)
  assert.match(lines[0], new RegExp(`^weft: .+ \\(${code}\\)$`))
}

/** The unprivileged user `nobody`, for a check that root would pass through. */
function nobody (): { uid: number, gid: number } {
  const [uid, gid] = ['-u', '-g'].map(flag => Number(execFileSync('id', [flag, 'nobody'], { encoding: 'utf8' }).trim()))
  return { uid, gid }
}

/** The home is consistent: every stored block verifies, and the pins are the ones expected. */
async function consistent (home: string, pins: string[]): Promise<void> {
  const verify = await runWeft(['repo', 'verify', '--json'], { home })
  assert.equal(verify.code, 0, verify.stderr)
  assert.deepEqual(JSON.parse(verify.out).problems, [])
  const listed = JSON.parse((await runWeft(['pin', 'ls', '--json'], { home })).out).map((p: { cid: string }) => p.cid)
  assert.deepEqual(listed.sort(), [...pins].sort())
}

test('missing and unreadable paths fail before anything is stored', async t => {
  const dir = await tmpDir(t)
  const home = await tmpHome(t)
  fails(await runWeft(['add', join(dir, 'nope')], { home }), 'ERR_PATH_NOT_FOUND', 1)
  const folder = join(dir, 'folder')
  await mkdir(folder)
  await writeFile(join(folder, 'fine.txt'), 'fine')
  execFileSync('mkfifo', [join(folder, 'pipe')])
  fails(await runWeft(['add', folder], { home }), 'ERR_PATH_UNREADABLE', 1)
  // A mode-000 file: root reads anything, so as root (CI) weft runs as `nobody`, in a folder
  // and with a file of its own, where the mode binds as it does for any user.
  const user = process.getuid?.() === 0 ? nobody() : undefined
  const own = await tmpDir(t)
  const locked = join(own, 'locked.txt')
  await writeFile(locked, 'secret')
  if (user !== undefined) {
    await chown(own, user.uid, user.gid)
    await chown(locked, user.uid, user.gid)
  }
  await chmod(locked, 0)
  fails(await runWeft(['add', locked], { home: join(own, 'home'), user }), 'ERR_PATH_UNREADABLE', 1)
  assert.equal(existsSync(join(own, 'home')), false)
  // The failed adds did not even leave a home behind.
  assert.equal(existsSync(home), false)
  assert.equal((await runWeft(['init'], { home })).code, 0)
  fails(await runWeft(['add', folder], { home }), 'ERR_PATH_UNREADABLE', 1)
  await consistent(home, [])
  const stat = JSON.parse((await runWeft(['repo', 'stat', '--json'], { home })).out)
  assert.equal(stat.blocks, 0)
})

test('a misspelt config key or a bad value is refused without creating the home', async t => {
  const home = await tmpHome(t)
  fails(await runWeft(['config', 'set', 'datastore.storageMx', '"20GB"'], { home }), 'ERR_CONFIG_KEY', 2)
  fails(await runWeft(['config', 'set', 'datastore.storageMax', '"lots"'], { home }), 'ERR_CONFIG_VALUE', 2)
  fails(await runWeft(['config', 'get', 'datastore.storageMx'], { home }), 'ERR_CONFIG_KEY', 2)
  fails(await runWeft(['cat', 'not-a-cid'], { home }), 'ERR_INVALID_CID', 2)
  fails(await runWeft(['pin', 'add', 'zzz'], { home }), 'ERR_INVALID_CID', 2)
  assert.equal(existsSync(home), false)
})

test('invalid CIDs and paths that are not in the DAG', async t => {
  const dir = await tmpDir(t)
  const home = await tmpHome(t)
  await writeFile(join(dir, 'a.txt'), 'a')
  await mkdir(join(dir, 'd'))
  await writeFile(join(dir, 'd', 'b.txt'), 'b')
  const file = (await runWeft(['add', '-Q', join(dir, 'a.txt')], { home })).out.trim()
  const folder = (await runWeft(['add', '-Q', join(dir, 'd')], { home })).out.trim()
  for (const args of [['cat', 'not-a-cid'], ['ls', 'bafybeigarbage'], ['get', 'Qm123'], ['pin', 'add', 'zzz'], ['car', 'export', '/ipfs/']]) {
    fails(await runWeft(args, { home }), 'ERR_INVALID_CID', 2)
  }
  // A local path where a CID belongs says so, and says what to run instead.
  for (const local of ['./examples/x', '../x', '.', join(dir, 'a.txt'), '~/site']) {
    const r = await runWeft(['cat', local], { home })
    fails(r, 'ERR_INVALID_CID', 2)
    assert.match(r.stderr, /looks like a local path, not a CID: `weft add .+` stores it/)
  }
  fails(await runWeft(['cat', `${folder}/missing.txt`], { home }), 'ERR_DAG_PATH_NOT_FOUND', 1)
  fails(await runWeft(['ls', `/ipfs/${folder}/b.txt/deeper`], { home }), 'ERR_DAG_PATH_NOT_FOUND', 1)
  fails(await runWeft(['cat', folder], { home }), 'ERR_NOT_A_FILE', 1)
  fails(await runWeft(['cat', 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'], { home }), 'ERR_BLOCK_NOT_FOUND', 1)
  fails(await runWeft(['frobnicate'], { home }), 'ERR_USAGE', 2)
  fails(await runWeft(['add', '--wat', file], { home }), 'ERR_USAGE', 2)
  await consistent(home, [file, folder])
})

test('a CAR with a corrupted block, a truncated CAR and a non-CAR are refused; nothing gets pinned', async t => {
  const dir = await tmpDir(t)
  const source = await tmpHome(t)
  const data = randomBytes(3 * 1024 * 1024)
  await writeFile(join(dir, 'data.bin'), data)
  const cid = (await runWeft(['add', '-Q', join(dir, 'data.bin')], { home: source })).out.trim()
  const car = (await runWeft(['car', 'export', cid], { home: source })).stdout
  assert.ok(car.length > data.length)

  const home = await tmpHome(t)
  // (a failed import into a new home would leave no home to check)
  assert.equal((await runWeft(['init'], { home })).code, 0)
  const corrupted = Buffer.from(car)
  corrupted[car.length - 1000] ^= 0x55 // inside the last block's bytes
  await writeFile(join(dir, 'corrupted.car'), corrupted)
  fails(await runWeft(['car', 'import', join(dir, 'corrupted.car')], { home }), 'ERR_BLOCK_HASH_MISMATCH', 1)
  await consistent(home, [])

  await writeFile(join(dir, 'truncated.car'), car.subarray(0, car.length - 5000))
  fails(await runWeft(['car', 'import', join(dir, 'truncated.car')], { home }), 'ERR_CAR_INVALID', 1)
  await consistent(home, [])

  await writeFile(join(dir, 'random.car'), randomBytes(5000))
  fails(await runWeft(['car', 'import', join(dir, 'random.car')], { home }), 'ERR_CAR_INVALID', 1)
  fails(await runWeft(['car', 'import', join(dir, 'absent.car')], { home }), 'ERR_PATH_NOT_FOUND', 1)
  await consistent(home, [])

  // The good CAR still imports into the same home afterwards.
  await writeFile(join(dir, 'good.car'), car)
  assert.equal((await runWeft(['car', 'import', join(dir, 'good.car')], { home })).code, 0)
  await consistent(home, [cid])
  assert.deepEqual((await runWeft(['cat', cid], { home })).stdout, data)
})

test('a full quota refuses the add, keeps what was there, and frees up after gc', async t => {
  const dir = await tmpDir(t)
  const home = await tmpHome(t)
  await writeFile(join(dir, 'small.txt'), 'small')
  const small = (await runWeft(['add', '-Q', join(dir, 'small.txt')], { home })).out.trim()
  assert.equal((await runWeft(['config', 'set', 'datastore.storageMax', '"2MiB"'], { home })).code, 0)
  await writeFile(join(dir, 'big.bin'), randomBytes(3 * 1024 * 1024))
  fails(await runWeft(['add', join(dir, 'big.bin')], { home }), 'ERR_QUOTA_EXCEEDED', 5)
  await consistent(home, [small])
  assert.equal((await runWeft(['cat', small], { home })).out, 'small')
  // The partial add left unpinned blocks; gc takes them away.
  const gc = JSON.parse((await runWeft(['gc', '--json'], { home })).out)
  assert.ok(gc.blocks >= 1)
  assert.equal(JSON.parse((await runWeft(['repo', 'stat', '--json'], { home })).out).blocks, 1)
  assert.equal((await runWeft(['config', 'set', 'datastore.storageMax', '"10MiB"'], { home })).code, 0)
  const big = (await runWeft(['add', '-Q', join(dir, 'big.bin')], { home })).out.trim()
  assert.deepEqual((await runWeft(['cat', big], { home })).stdout, await readFile(join(dir, 'big.bin')))
  await consistent(home, [small, big])
})
