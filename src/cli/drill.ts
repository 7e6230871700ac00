/**
 * A hook for the fault drills (test/drills): they kill a weft process with SIGKILL at
 * random moments of an operation. Loading weft's modules takes most of a CLI run, so with
 * `WEFT_DRILL_GATE=1` a command says `weft-drill: loaded` on stderr and waits for a line
 * on stdin before it touches the home. A drill starts the next process while it checks the
 * last one, and measures its kill moments from the line it sends, when the operation
 * really begins. Without the variable this does nothing.
 */
import { once } from 'node:events'

export const DRILL_LOADED_LINE = 'weft-drill: loaded'

/** Waits for the drill's go-ahead when the drill asked for one. */
export async function drillGate (): Promise<void> {
  if ((process.env.WEFT_DRILL_GATE ?? '') === '') return
  process.stderr.write(`${DRILL_LOADED_LINE}\n`)
  const stdin = process.stdin
  await once(stdin, 'data')
  // The command reads nothing else from stdin; a destroyed handle keeps no process alive.
  stdin.destroy()
}
