import test from 'node:test'
import assert from 'node:assert/strict'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { configSchema, defaultConfig, encodeConfig, getConfigValue, setConfigValue } from '../../src/repo/config.ts'
import { formatDuration, formatSize, parseDuration, parseSize } from '../../src/repo/units.ts'
import { openRepo } from '../../src/repo/index.ts'
import { isWeftError } from '../../src/errors.ts'
import { tmpHome } from '../helpers/home.ts'

test('sizes and durations are numbers in a Config and text in config.json', () => {
  const config = defaultConfig()
  assert.equal(config.datastore.storageMax, 10e9)
  assert.equal(config.sites.validity, 48 * 3_600_000)
  assert.equal(config.naming.timeout, 10_000)
  assert.equal(config.routing.reprovideInterval, 12 * 3_600_000)
  const file = encodeConfig(config)
  assert.equal(file.datastore?.storageMax, '10GB')
  assert.equal(file.sites?.validity, '48h')
  assert.equal(file.sites?.ttl, '5m')
  assert.equal(file.naming?.negativeTtl, '1m')
  assert.deepEqual(configSchema.parse(file), config)
  const set = setConfigValue(config, 'sites.pollInterval', '"90s"')
  assert.equal(set.sites.pollInterval, 90_000)
  assert.equal(getConfigValue(set, 'sites.pollInterval'), '90s')
  assert.deepEqual(getConfigValue(set, 'datastore'), { storageMax: '10GB', sync: true })
  assert.throws(() => setConfigValue(config, 'sites.ttl', '"soon"'), (e: unknown) => isWeftError(e, 'ERR_CONFIG_VALUE') && e.message.includes('expected a duration'))
  assert.throws(() => setConfigValue(config, 'sites.ttl', '300'), (e: unknown) => isWeftError(e, 'ERR_CONFIG_VALUE'))
})

test('formatting a size or duration reads back to the same number', () => {
  for (const text of ['10GB', '512MiB', '1TiB', '3KB', '7B', '0B', '1.5GB', '1023B']) {
    const bytes = parseSize(text) as number
    assert.equal(parseSize(formatSize(bytes)), bytes, text)
  }
  assert.equal(formatSize(512 * 2 ** 20), '512MiB')
  assert.equal(formatSize(1.5e9), '1500MB')
  for (const text of ['48h', '90s', '1.5h', '250ms', '0', '30m']) {
    const ms = parseDuration(text) as number
    assert.equal(parseDuration(formatDuration(ms)), ms, text)
  }
  assert.equal(formatDuration(90_000), '90s')
  assert.equal(formatDuration(5_400_000), '90m')
})

test('a home keeps the text a person wrote when it is a whole number of a unit, and reads it back as numbers', async t => {
  const home = await tmpHome(t)
  ;(await openRepo(home)).close()
  const path = join(home, 'config.json')
  const raw = JSON.parse(await readFile(path, 'utf8'))
  raw.datastore.storageMax = '512MiB'
  raw.sites.validity = '36h'
  await writeFile(path, JSON.stringify(raw))
  const repo = await openRepo(home)
  t.after(() => { repo.close() })
  assert.equal(repo.config.datastore.storageMax, 512 * 2 ** 20)
  assert.equal(repo.config.sites.validity, 36 * 3_600_000)
  repo.saveConfig(setConfigValue(repo.config, 'sites.keepVersions', '3'))
  const saved = JSON.parse(await readFile(path, 'utf8'))
  assert.equal(saved.datastore.storageMax, '512MiB')
  assert.equal(saved.sites.validity, '36h')
  assert.equal(saved.sites.keepVersions, 3)
})

test('network.tor keys sit under the private network\'s object of the network union; on "ipfs" they are refused, saying why', () => {
  const onion = setConfigValue(defaultConfig(), 'network.tor.onionOnly', 'true')
  assert.deepEqual(getConfigValue(onion, 'network.tor'), { onionOnly: true, port: 4101, torrc: [], binary: 'tor' })
  assert.equal(getConfigValue(onion, 'network.name'), 'default', 'the network keeps its name')
  const ipfs = setConfigValue(defaultConfig(), 'network', '"ipfs"')
  assert.throws(() => setConfigValue(ipfs, 'network.tor.onionOnly', 'true'), err => isWeftError(err, 'ERR_CONFIG_VALUE') && /network is "ipfs", not an object/.test(err.message))
  assert.throws(() => setConfigValue(defaultConfig(), 'network.tor.nope', 'true'), err => isWeftError(err, 'ERR_CONFIG_KEY'))
})
