import { run } from './index.ts'

// `weft cat big | head` closes our stdout early; that is not an error.
process.stdout.on('error', err => {
  if ((err as NodeJS.ErrnoException).code === 'EPIPE') process.exit(0)
  throw err
})

process.exitCode = await run(process.argv.slice(2))
