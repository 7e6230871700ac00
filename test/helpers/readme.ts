import assert from 'node:assert/strict'

/** The commands of the console block after the paragraph starting with `lead`: `$ ` lines and their `> ` continuations. */
export function consoleBlock (readme: string, lead: string): string[] {
  const at = readme.indexOf(lead)
  assert.ok(at >= 0, `the README has "${lead}"`)
  const m = /```console\n([\s\S]*?)```/.exec(readme.slice(at))
  assert.ok(m !== null, `a console block follows "${lead}"`)
  const commands: string[] = []
  for (const line of m[1].split('\n')) {
    if (line.startsWith('$ ')) commands.push(line.slice(2))
    else if (line.startsWith('> ')) commands[commands.length - 1] += '\n' + line.slice(2)
  }
  return commands
}
