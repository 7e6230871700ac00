/**
 * Every key docs/config.md lists can be set on a new home (issue 20: keys unset by default,
 * such as naming.namecoin.rpc, were refused as "not a config key"), and what was set is what
 * the home then holds. Each key gets a home of its own, set through what `weft config set`
 * runs without a daemon (the check before a home is opened, then the API's configSet on the
 * home's node), in this process: a weft process per key would take minutes here. The CLI
 * itself sets the keys of the README's "Pointing weft at real chains" (readme-chains.test.ts).
 * Keys with a default are set to it; the others to the example below, which a key added to
 * the docs without one fails for.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'
import { Operations } from '../../src/api/operations.ts'
import { createNode } from '../../src/node/index.ts'
import { checkConfigSetting, defaultConfig, getConfigValue } from '../../src/repo/index.ts'
import { readConfig } from '../../src/repo/config.ts'
import { tmpHome } from '../helpers/home.ts'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

/** Values for the keys that are unset on a new home. */
const EXAMPLES: Record<string, unknown> = {
  'addresses.announce': ['/ip4/203.0.113.7/tcp/4101'],
  'naming.ens.rpc': 'http://127.0.0.1:8545',
  'storage.offer': '20GB',
  'naming.ens.headerRpc': 'http://127.0.0.1:8546',
  'naming.ens.pinnedHeader': { number: 19_000_000, stateRoot: '0x' + 'ab'.repeat(32) },
  'naming.ens.registry': '0x00000000000C2E074eC69A0dFb2997BA6C7d2e1e',
  'naming.namecoin.rpc': 'http://127.0.0.1:8336',
  'naming.namecoin.user': 'rpcuser',
  'naming.namecoin.password': 'rpcpassword',
  'naming.namecoin.cookieFile': '/home/me/.namecoin/.cookie',
  'naming.hns.rpc': 'http://127.0.0.1:12037',
  'naming.hns.apiKey': 'hsd-api-key',
  // unset by default (no tor), so each of its keys needs an example; setting one turns tor on
  'network.tor': { onionOnly: false, port: 4101, torrc: [], binary: 'tor' },
  'network.tor.onionOnly': true,
  'network.tor.control': '127.0.0.1:9051',
  'network.tor.socks': '127.0.0.1:9050',
  'network.tor.port': 4101,
  'network.tor.torrc': ['UseBridges 1'],
  'network.tor.binary': 'tor'
}

/** The keys in docs/config.md's table, in its order (a row may name several: `a` / `b`). */
async function documentedKeys (): Promise<string[]> {
  const doc = await readFile(join(ROOT, 'docs', 'config.md'), 'utf8')
  const keys: string[] = []
  for (const line of doc.split('\n')) {
    const first = /^\| (`[^|]+) \|/.exec(line)
    if (first === null) continue
    for (const m of first[1].matchAll(/`([a-zA-Z.]+)`/g)) keys.push(m[1])
  }
  return keys
}

test('every key in docs/config.md can be set on a new home', async t => {
  const keys = await documentedKeys()
  assert.ok(keys.length > 30 && keys.includes('naming.namecoin.rpc') && keys.includes('naming.namecoin.network'), keys.join(' '))
  const defaults = defaultConfig()
  for (const key of keys) {
    const value = getConfigValue(defaults, key) ?? EXAMPLES[key]
    assert.notEqual(value, undefined, `${key} is unset by default and has no example value in this test`)
    const json = JSON.stringify(value)
    const home = await tmpHome(t)
    checkConfigSetting(key, json)
    const node = await createNode({ home })
    try {
      const { value: set } = await new Operations(node).configSet(key, json)
      assert.deepEqual(set, value, key)
    } finally {
      await node.stop()
    }
    assert.deepEqual(getConfigValue(readConfig(join(home, 'config.json')), key), value, `config.json holds ${key}`)
  }
})
