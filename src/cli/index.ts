import { readFileSync } from 'node:fs'
import { Command, CommanderError, Help } from 'commander'
import { ERROR_CODES, WeftError, errorToExitCode, toWeftError } from '../errors.ts'
import { COMMAND_GROUPS, commandNameIn, nameOf } from './command-table.ts'

// Read, not imported: the same path holds from src/cli/ and from the built dist/cli/.
const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }

/**
 * The CLI with the commands `argv` runs declared by their own module, and every other
 * command as a stand-in that only knows its name and help line (so `--help` lists them
 * and a typo gets a suggestion). Without argv, every module is loaded.
 */
export async function buildProgram (argv?: string[]): Promise<Command> {
  const wanted = argv === undefined ? undefined : commandNameIn(argv)
  const standInTerms = new WeakMap<Command, string>()
  const program = new Command('weft')
    .description('weft: a decentralized web. Content is addressed by hash and checked block by block.')
    .version(pkg.version, '-v, --version')
    .option('--home <path>', 'the weft home (default: $WEFT_HOME, else ~/.weft)')
    .showSuggestionAfterError(true)
    .configureOutput({ outputError: () => {} })
    .configureHelp({
      subcommandTerm (this: Help, cmd: Command): string {
        return standInTerms.get(cmd) ?? Help.prototype.subcommandTerm.call(this, cmd)
      }
    })
  for (const group of COMMAND_GROUPS) {
    if (argv === undefined || group.commands.some(([term]) => nameOf(term) === wanted)) {
      (await group.load())(program)
      continue
    }
    for (const [term, description] of group.commands) {
      standInTerms.set(program.command(nameOf(term)).description(description), term)
    }
  }
  const strict = (cmd: Command): void => {
    cmd.exitOverride()
    cmd.configureOutput({ outputError: () => {} })
    for (const sub of cmd.commands) strict(sub)
  }
  strict(program)
  return program
}

/** Runs the CLI and returns the exit code. A user's mistake prints one line, never a stack. */
export async function run (argv: string[]): Promise<number> {
  const program = await buildProgram(argv)
  try {
    await program.parseAsync(argv, { from: 'user' })
    return 0
  } catch (raw) {
    if (raw instanceof CommanderError) {
      // --help and --version end through here too, with exit code 0.
      if (raw.exitCode === 0) return 0
      process.stderr.write(`weft: ${raw.message.replace(/^error: /, '')} (ERR_USAGE)\n`)
      return ERROR_CODES.ERR_USAGE.exit
    }
    if ((raw as NodeJS.ErrnoException).code === 'EPIPE') return 0
    const err = toWeftError(raw)
    process.stderr.write(`weft: ${err.message} (${err.code})\n`)
    if (ERROR_CODES[err.code].kind === 'internal') {
      if ((process.env.WEFT_DEBUG ?? '') !== '') process.stderr.write(`${(raw as Error).stack ?? ''}\n`)
      else process.stderr.write('weft: this is a bug in weft; run again with WEFT_DEBUG=1 for the stack and report it\n')
    }
    return errorToExitCode(err instanceof WeftError ? err : raw)
  }
}
