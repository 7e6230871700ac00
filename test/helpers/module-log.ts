/**
 * Preloaded into a weft process (`NODE_OPTIONS=--import=<this file>`): when the process
 * exits, it writes the URL of every module it loaded, one a line, to $WEFT_MODULE_LOG.
 * Tests use it to check what a command loads, which does not vary with the machine's
 * load as timing does.
 */
import { writeFileSync } from 'node:fs'
import { registerHooks } from 'node:module'

const loaded: string[] = []
registerHooks({
  load (url, context, nextLoad) {
    loaded.push(url)
    return nextLoad(url, context)
  }
})
process.on('exit', () => {
  writeFileSync(process.env.WEFT_MODULE_LOG ?? '/dev/null', loaded.join('\n'))
})
