import { enableCompileCache } from 'node:module'

// Caches compiled code between runs: a CLI pays its start-up on every command.
enableCompileCache()

// `weft cat big | head` closes our stdout early; that is not an error.
process.stdout.on('error', err => {
  if ((err as NodeJS.ErrnoException).code === 'EPIPE') process.exit(0)
  throw err
})

const { run } = await import('./index.ts')
process.exitCode = await run(process.argv.slice(2))
