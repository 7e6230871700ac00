import type { TestContext } from 'node:test'
import { chromium, type Browser } from 'playwright-core'
import { startDaemon, type Daemon } from '../../src/daemon/index.ts'
import type { CreateNodeOptions } from '../../src/node/index.ts'
import type { SitesInit } from '../../src/sites/index.ts'
import { tmpHome } from './home.ts'

/**
 * Debian's Chromium, headless, driven by playwright-core (scripts/ensure-chromium.sh puts it
 * there before the tests run), with a fresh profile of its own. The flags keep it off the network: no background
 * requests, component updates or sync, which this machine's closed network refuses.
 */
export async function launchBrowser (t: TestContext): Promise<Browser> {
  const browser = await chromium.launch({
    executablePath: process.env.WEFT_CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-gpu', '--disable-quic']
  })
  t.after(async () => { await browser.close() })
  return browser
}

/** A daemon (node, control API, gateway with the web UI) in this process, on 127.0.0.1 with ephemeral ports; `configOverrides` changes its config (naming endpoints). */
export async function startTestDaemon (t: TestContext, sites: Partial<SitesInit> = {}, configOverrides?: CreateNodeOptions['configOverrides']): Promise<Daemon> {
  const daemon = await startDaemon({
    home: await tmpHome(t),
    configOverrides,
    apiAddress: '/ip4/127.0.0.1/tcp/0',
    gatewayAddress: '/ip4/127.0.0.1/tcp/0',
    net: { listen: ['/ip4/127.0.0.1/tcp/0'], network: { name: 'testnet' }, bootstrap: [], mdns: false },
    exchange: { requestTimeout: 2_000 },
    reprovideInterval: 0,
    sites: { republishInterval: 0, pollInterval: 0, ...sites }
  })
  t.after(async () => { await daemon.stop() })
  return daemon
}
