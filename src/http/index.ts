/**
 * What every HTTP surface of a node shares (the gateway, the control API, kubo's RPC API,
 * the web UI): serving a Request → Response handler over node:http, streaming and bounded
 * bodies, the bearer token check, and the hooks a cache of answers plugs into.
 */
export { listen, close, type Handler, type AnswerHooks } from './server.ts'
export { streamBody, progressResponse, readBody, drainBody, readJson } from './bodies.ts'
export { assertAuthorized } from './auth.ts'
