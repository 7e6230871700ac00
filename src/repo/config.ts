/**
 * config.json: every key, its type and its default. `weft config get|set` goes through
 * this schema, so a bad key or value is refused before it reaches the file.
 * docs/config.md describes the same keys for people.
 */
import { readFileSync, writeFileSync, renameSync } from 'node:fs'
import { z } from 'zod'
import { WeftError } from '../errors.ts'

const UNITS: Record<string, number> = {
  B: 1, KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12, KIB: 2 ** 10, MIB: 2 ** 20, GIB: 2 ** 30, TIB: 2 ** 40
}

/** "10GB", "512MiB", "1024" → bytes; undefined when the text is not a size. */
export function parseSize (text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text)
  if (m === null) return undefined
  const unit = UNITS[(m[2] === '' ? 'B' : m[2]).toUpperCase()]
  return unit === undefined ? undefined : Math.floor(Number(m[1]) * unit)
}

const size = z.string().refine(s => parseSize(s) !== undefined, { message: 'expected a size such as "10GB" or "512MiB"' })

export const configSchema = z.strictObject({
  version: z.literal(1).default(1),
  datastore: z.strictObject({
    /** Most bytes of blocks the store may hold; adds past it fail with ERR_QUOTA_EXCEEDED. */
    storageMax: size.default('10GB'),
    /** fsync pack files before their blocks are indexed, so a power loss cannot lose an acknowledged block. */
    sync: z.boolean().default(true)
  }).prefault({})
})

export type Config = z.infer<typeof configSchema>

export function defaultConfig (): Config {
  return configSchema.parse({})
}

function describeIssues (err: z.ZodError): string {
  return err.issues.map(i => `${i.path.length > 0 ? i.path.join('.') : '(root)'}: ${i.message}`).join('; ')
}

export function readConfig (path: string): Config {
  let raw: unknown
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'))
  } catch (err) {
    throw new WeftError('ERR_CONFIG_INVALID', `cannot read ${path}: ${(err as Error).message}`)
  }
  const parsed = configSchema.safeParse(raw)
  if (!parsed.success) throw new WeftError('ERR_CONFIG_INVALID', `${path} is invalid: ${describeIssues(parsed.error)}`)
  return parsed.data
}

export function writeConfig (path: string, config: Config): void {
  const tmp = `${path}.tmp-${process.pid}`
  writeFileSync(tmp, JSON.stringify(config, null, 2) + '\n', { mode: 0o600 })
  renameSync(tmp, path)
}

function keyPath (key: string): string[] {
  const parts = key.split('.')
  if (key === '' || parts.some(p => p === '')) throw new WeftError('ERR_CONFIG_KEY', `"${key}" is not a config key`)
  return parts
}

export function getConfigValue (config: Config, key: string): unknown {
  let node: unknown = config
  for (const part of keyPath(key)) {
    if (node === null || typeof node !== 'object' || !Object.hasOwn(node, part)) {
      throw new WeftError('ERR_CONFIG_KEY', `"${key}" is not a config key (see docs/config.md)`)
    }
    node = (node as Record<string, unknown>)[part]
  }
  return node
}

/** Returns a new config with `key` set to the JSON `json`, validated against the schema. */
export function setConfigValue (config: Config, key: string, json: string): Config {
  getConfigValue(config, key)
  let value: unknown
  try {
    value = JSON.parse(json)
  } catch {
    throw new WeftError('ERR_CONFIG_VALUE', `value for ${key} must be JSON, e.g. '"10GB"', 'true' or '5' (got ${json})`)
  }
  const next = structuredClone(config) as Record<string, unknown>
  const parts = keyPath(key)
  let node = next
  for (const part of parts.slice(0, -1)) node = node[part] as Record<string, unknown>
  node[parts[parts.length - 1]] = value
  const parsed = configSchema.safeParse(next)
  if (!parsed.success) throw new WeftError('ERR_CONFIG_VALUE', `invalid value for ${key}: ${describeIssues(parsed.error)}`)
  return parsed.data
}
