/**
 * `npm run build` (and `npm pack`, through prepack): compiles src/ to JavaScript in dist/
 * for the published package, where Node does not strip types (it refuses to under
 * node_modules). Each file is transpiled on its own with tsconfig.build.json's options
 * (the `.ts` of relative imports becomes `.js`); the type check is `npm run typecheck`'s
 * job, which keeps a pack at ~3 s instead of ~15 on the 2-core machine. The files beside
 * the code that are not TypeScript (the web UI, the site API's client) are copied as they
 * are. A checkout never needs this: bin/weft runs src/ when it is there.
 */
import { cpSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'

const root = fileURLToPath(new URL('../', import.meta.url))
const src = join(root, 'src')
const dist = join(root, 'dist')

function fail (diagnostics: readonly ts.Diagnostic[]): never {
  const host = { getCanonicalFileName: (f: string) => f, getCurrentDirectory: () => root, getNewLine: () => '\n' }
  process.stderr.write(`weft build: ${ts.formatDiagnostics(diagnostics, host)}`)
  process.exit(1)
}

const config = ts.getParsedCommandLineOfConfigFile(join(root, 'tsconfig.build.json'), {}, {
  ...ts.sys,
  onUnRecoverableConfigFileDiagnostic: d => { fail([d]) }
})
if (config === undefined) throw new Error('unreachable: tsconfig.build.json was not read')
if (config.errors.length > 0) fail(config.errors)
// NodeNext picks a file's module format from package.json, which a lone file does not see; weft is ESM.
const compilerOptions = { ...config.options, module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Bundler }

rmSync(dist, { recursive: true, force: true })
for (const file of config.fileNames) {
  const { outputText, diagnostics = [] } = ts.transpileModule(readFileSync(file, 'utf8'), { compilerOptions, fileName: file, reportDiagnostics: true })
  if (diagnostics.length > 0) fail(diagnostics)
  const out = join(dist, relative(src, file)).replace(/\.ts$/, '.js')
  mkdirSync(dirname(out), { recursive: true })
  writeFileSync(out, outputText)
}
cpSync(src, dist, { recursive: true, filter: path => statSync(path).isDirectory() || !path.endsWith('.ts') })
process.stdout.write(`weft build: ${config.fileNames.length} files of src/ compiled to ${dist}\n`)
