import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { InvalidArgumentError, type Command } from 'commander'
import { runDemo, DEMO_NODES, DEMO_STORAGE_NODES } from '../../demo/index.ts'
import { writeOut } from '../context.ts'

const SAMPLE_SITE = fileURLToPath(new URL('../../../examples/sample-site', import.meta.url))
const FORUM = fileURLToPath(new URL('../../../examples/forum', import.meta.url))

function parsePort (text: string): number {
  const port = Number(text)
  if (!/^\d+$/.test(text) || port > 65535) throw new InvalidArgumentError('expected a TCP port, 0 to 65535 (0: any free port)')
  return port
}

/** Resolves on the first line of input, or when input ends; rejects when the signal aborts. */
async function waitForEnter (signal: AbortSignal): Promise<void> {
  // terminal: false keeps a terminal in cooked mode, so Ctrl-C stays a SIGINT (handled by the command) instead of closing the input.
  const lines = createInterface({ input: process.stdin, terminal: false })
  try {
    await new Promise<void>((resolve, reject) => {
      lines.once('line', () => { resolve() })
      lines.once('close', () => { resolve() })
      signal.addEventListener('abort', () => { reject(signal.reason) }, { once: true })
    })
  } finally {
    lines.close()
    // Nothing else reads input: let the process end without it.
    process.stdin.destroy()
  }
}

export function registerDemoCommand (program: Command): void {
  program.command('demo')
    .description(`run a demo network of ${DEMO_NODES + DEMO_STORAGE_NODES} nodes on 127.0.0.1 (temporary homes): node 1 publishes the sample site and the sample forum, nodes 2 to ${DEMO_NODES} follow them, ${DEMO_NODES + 1} to ${DEMO_NODES + DEMO_STORAGE_NODES} offer storage, node ${DEMO_NODES}'s gateway serves it to your browser, also under a petname and (with hsd installed) a Handshake name on a regtest chain it starts; then live drills (an update, the owner going offline, replicas outliving the followers, and with tor installed a follower behind a censor reached through a relay and Tor), until Ctrl-C`)
    .option('--port <n>', `node ${DEMO_NODES}'s gateway port (default: 8080 when free, else any free port; 0: any free port)`, parsePort)
    .option('--keep', 'keep the temporary homes at the end and print where they are')
    .option('--hold', 'wait for Enter before the drills (open the site first, then watch it change)')
    .option('--exit-after-drills', 'stop after the drills instead of running until Ctrl-C (tests, CI)')
    .action(async (opts: { port?: number, keep?: boolean, hold?: boolean, exitAfterDrills?: boolean }) => {
      const interruption = new AbortController()
      let signals = 0
      const onSignal = (signal: NodeJS.Signals): void => {
        if (++signals > 1) {
          process.stderr.write(`weft demo: ${signal} again: exiting without waiting; temporary homes may remain (their folder was printed at the start)\n`)
          process.exit(130)
        }
        process.stderr.write(`weft demo: ${signal}: stopping the nodes\n`)
        interruption.abort(new Error(`stopped by ${signal}`))
      }
      // A stray rejection inside a library (a stream reset while a peer hangs up) is logged, as the daemon does.
      const onRejection = (err: unknown): void => {
        process.stderr.write(`weft demo: unhandled rejection (kept running): ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
      }
      process.on('SIGINT', onSignal)
      process.on('SIGTERM', onSignal)
      process.on('unhandledRejection', onRejection)
      try {
        await runDemo({
          siteDir: SAMPLE_SITE,
          forumDir: FORUM,
          port: opts.port,
          keep: opts.keep === true,
          hold: opts.hold === true,
          exitAfterDrills: opts.exitAfterDrills === true
        }, {
          say: async text => { await writeOut(text + '\n') },
          waitForEnter,
          interrupted: interruption.signal
        })
      } catch (err) {
        if (!interruption.signal.aborted) throw err
        // Stopped by the user before the drills ended: everything is already cleaned up.
        process.stderr.write('weft demo: interrupted before the drills finished\n')
        process.exit(130)
      } finally {
        process.off('SIGINT', onSignal)
        process.off('SIGTERM', onSignal)
        process.off('unhandledRejection', onRejection)
        // Every node is stopped by now; a handle some library left open must not keep the demo alive.
        setTimeout(() => { process.exit() }, 3_000).unref()
      }
    })
}
