export { Operations, type AddOptions, type AddReport, type NetworkOptions, type Progress, type PeerInfo } from './operations.ts'
export { createApiHandler, errorResponse, API_ROUTES } from './server.ts'
export { ApiClient, readApiEndpoint, type WeftApi } from './client.ts'
export { KUBO_COMMANDS } from './kubo/index.ts'
