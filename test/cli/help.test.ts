import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Command, Help } from 'commander'
import { buildProgram } from '../../src/cli/index.ts'
import { COMMAND_GROUPS } from '../../src/cli/command-table.ts'
import { tmpHome } from '../helpers/home.ts'
import { runWeft } from '../helpers/cli.ts'

function leaves (cmd: Command, prefix: string[] = []): Array<{ path: string[], cmd: Command }> {
  const subs = cmd.commands.filter(c => c.name() !== 'help')
  if (subs.length === 0) return [{ path: prefix, cmd }]
  return subs.flatMap(c => leaves(c, [...prefix, c.name()]))
}

test('every command has a description and --help text', async () => {
  const all = leaves(await buildProgram())
  assert.ok(all.length >= 15, `only ${all.length} commands`)
  for (const { path, cmd } of all) {
    assert.notEqual(cmd.description(), '', `${path.join(' ')} has no description`)
    assert.match(cmd.helpInformation(), new RegExp(`^Usage: weft ${path.join(' ')}`), path.join(' '))
  }
})

test('weft <command> --help prints usage and exits 0; --version prints the version', async t => {
  const home = await tmpHome(t)
  const help = await runWeft(['add', '--help'], { home })
  assert.equal(help.code, 0)
  assert.match(help.out, /Usage: weft add \[options\] <paths\.\.\.>/)
  assert.match(help.out, /--preserve-mtime/)
  const version = await runWeft(['--version'], { home })
  assert.equal(version.code, 0)
  assert.match(version.out, /^\d+\.\d+\.\d+\n$/)
})

test('weft user --help lists the contribution commands, and write says where its bytes come from', async () => {
  const user = (await buildProgram()).commands.find(c => c.name() === 'user')
  assert.ok(user !== undefined)
  const help = user.helpInformation()
  for (const name of ['id', 'write', 'rm', 'list', 'cat', 'export-key', 'import-key']) assert.match(help, new RegExp(`^  ${name}\\b`, 'm'), name)
  const write = user.commands.find(c => c.name() === 'write')?.helpInformation() ?? ''
  assert.match(write, /^Usage: weft user write \[options\] <file> \[path\]/)
  assert.match(write, /--site <name>/)
  assert.match(write, /stdin/)
})

test('the command table (what `weft --help` shows without loading the commands) agrees with what each module declares', async () => {
  const help = new Help()
  const full = await buildProgram()
  for (const group of COMMAND_GROUPS) {
    const declared = new Command('weft')
    ;(await group.load())(declared)
    assert.deepEqual(group.commands, declared.commands.map(c => [help.subcommandTerm(c), c.description()]))
  }
  // And so the help that loads no command module reads as the one that loads them all.
  assert.equal((await buildProgram(['--help'])).helpInformation(), full.helpInformation())
  const lazy = await buildProgram(['--home', '/nowhere', 'id'])
  assert.equal(lazy.helpInformation(), full.helpInformation())
  assert.ok(lazy.commands.find(c => c.name() === 'id')?.options.some(o => o.long === '--json'), 'id is declared by its module')
})
