import { Command, CommanderError } from 'commander'
import { ERROR_CODES, WeftError, errorToExitCode, toWeftError } from '../errors.ts'
import { registerContentCommands } from './commands/content.ts'
import { registerPinCommands } from './commands/pin.ts'
import { registerRepoCommands } from './commands/repo.ts'
import { registerCarCommands } from './commands/car.ts'
import { registerNetCommands } from './commands/net.ts'
import { registerSiteCommands } from './commands/sites.ts'
import { registerDemoCommand } from './commands/demo.ts'
import { registerNameCommands } from './commands/names.ts'
import { registerUserCommands } from './commands/users.ts'
import { registerPrivateCommands } from './commands/private.ts'
import { registerMessageCommands } from './commands/messages.ts'
import pkg from '../../package.json' with { type: 'json' }

export function buildProgram (): Command {
  const program = new Command('weft')
    .description('weft: a decentralized web. Content is addressed by hash and checked block by block.')
    .version(pkg.version, '-v, --version')
    .option('--home <path>', 'the weft home (default: $WEFT_HOME, else ~/.weft)')
    .showSuggestionAfterError(true)
    .configureOutput({ outputError: () => {} })
  registerRepoCommands(program)
  registerContentCommands(program)
  registerPinCommands(program)
  registerCarCommands(program)
  registerNetCommands(program)
  registerSiteCommands(program)
  registerNameCommands(program)
  registerUserCommands(program)
  registerPrivateCommands(program)
  registerMessageCommands(program)
  registerDemoCommand(program)
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
  const program = buildProgram()
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
