import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { realpathSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { commandNameIn } from '../../src/cli/command-table.ts'
import { tmpDir, tmpHome } from '../helpers/home.ts'
import { ok, runWeft, startDaemonProcess, type CliResult } from '../helpers/cli.ts'

const ROOT = realpathSync(fileURLToPath(new URL('../../', import.meta.url))) + '/'
const MODULE_LOG = fileURLToPath(new URL('../helpers/module-log.ts', import.meta.url))

interface Loaded {
  result: CliResult
  /** weft's own modules, as paths from the repository's root: `src/cli/main.ts`. */
  own: string[]
  /** The npm packages it loaded anything from. */
  packages: Set<string>
}

/** Runs `weft <args>` and says which modules it loaded. */
async function loadedBy (t: TestContext, args: string[], home: string): Promise<Loaded> {
  const log = join(await tmpDir(t), 'modules')
  const result = await runWeft(args, {
    home,
    env: { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=${MODULE_LOG}`, WEFT_MODULE_LOG: log }
  })
  const files = (await readFile(log, 'utf8')).split('\n').filter(url => url.startsWith('file:')).map(url => fileURLToPath(url))
  // node_modules may be a link to another checkout's: a package is known by its path's tail.
  const packages = new Set(files.filter(f => f.includes('/node_modules/')).map(f => {
    const [scope, name] = f.slice(f.lastIndexOf('/node_modules/') + '/node_modules/'.length).split('/')
    return scope.startsWith('@') ? `${scope}/${name}` : scope
  }))
  const own = files.filter(f => !f.includes('/node_modules/') && f.startsWith(ROOT)).map(f => f.slice(ROOT.length))
  return { result, own: own.filter(f => f !== 'test/helpers/module-log.ts'), packages }
}

/** The modules --version and --help may load: the CLI's front door and its error codes. */
const FRONT_DOOR = ['src/cli/main.ts', 'src/cli/index.ts', 'src/cli/command-table.ts', 'src/errors.ts']

test('weft --version and --help load the CLI\'s front door and commander, no command module', async t => {
  const home = await tmpHome(t)
  for (const args of [['--version'], ['--help'], ['help']]) {
    const { result, own, packages } = await loadedBy(t, args, home)
    ok(result)
    assert.match(result.out, args[0] === '--version' ? /^\d+\.\d+\.\d+\n$/ : /^Usage: weft \[options\] \[command\]\n[^]*\n {2}publish \[options\] <dir> /)
    assert.deepEqual(own.sort(), [...FRONT_DOOR].sort(), args.join(' '))
    assert.deepEqual([...packages], ['commander'], args.join(' '))
  }
})

test('weft id through a running daemon loads the API client, not the node or libp2p, and other commands little more; without a daemon it loads the node', async t => {
  const daemon = await startDaemonProcess(t)
  const { result, own, packages } = await loadedBy(t, ['id'], daemon.home)
  assert.equal(ok(result).out.split('\n')[0], daemon.id)
  const allowed = new Set([
    ...FRONT_DOOR, 'src/cli/commands/net.ts', 'src/cli/context.ts', 'src/cli/format.ts', 'src/cli/drill.ts',
    'src/api/client.ts', 'src/repo/layout.ts', 'src/repo/home.ts', 'src/repo/lock.ts'
  ])
  assert.deepEqual(own.filter(f => !allowed.has(f)), [], 'modules beyond the API client')
  assert.deepEqual([...packages], ['commander'])

  // Other commands through the daemon check their arguments with small parsers, never the node's parts.
  for (const args of [['pin', 'ls'], ['site', 'list'], ['repo', 'stat'], ['ls', 'bafkqaaa']]) {
    const other = await loadedBy(t, args, daemon.home)
    ok(other.result)
    assert.deepEqual(other.own.filter(f => /^src\/(node|net|routing|exchange|blocks|sites)\/|^src\/content\/(export|import|index)/.test(f)), [], args.join(' '))
    assert.deepEqual([...other.packages].filter(p => !['commander', 'multiformats', 'zod'].includes(p)), [], args.join(' '))
  }

  // The same command with no daemon opens the home itself: the log sees the node load.
  const offline = await tmpHome(t)
  ok(await runWeft(['init'], { home: offline }))
  const local = await loadedBy(t, ['id'], offline)
  assert.match(ok(local.result).out, /^12D3KooW/)
  assert.ok(local.own.includes('src/node/index.ts'), 'the node loads when no daemon runs')
  assert.ok(local.packages.has('@libp2p/peer-id'), [...local.packages].join(' '))
})

test('the command a command line runs is its first word that is not a global option', () => {
  assert.equal(commandNameIn(['--version']), undefined)
  assert.equal(commandNameIn(['--home', 'add', '--help']), undefined)
  assert.equal(commandNameIn(['--home', '/h', 'add', 'x']), 'add')
  assert.equal(commandNameIn(['--home=/h', '-v', 'cat', 'x']), 'cat')
  assert.equal(commandNameIn(['help', 'site']), 'site')
  assert.equal(commandNameIn(['help']), undefined)
  assert.equal(commandNameIn(['--', 'ls', 'x']), 'ls')
})
