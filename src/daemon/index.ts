/**
 * The running node's HTTP side: the control API and kubo's RPC API on `addresses.api`,
 * the gateway with the web UI on `addresses.gateway`, both over the node that
 * src/node/ builds.
 */
export { startDaemon, nodeGateway, type Daemon } from './daemon.ts'
export { createUi, type UiComponents } from './ui.ts'
