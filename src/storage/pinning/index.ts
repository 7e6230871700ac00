/**
 * The IPFS Pinning Service API (ipfs/pinning-services-api-spec v1.0.0): a weft node serves it
 * (service.ts behind http.ts, requests kept by requests.ts) and speaks it to other services
 * (client.ts, for `weft remote`).
 */
export { PinRequests, PIN_STATUSES, type PinObject, type PinQuery, type PinRequest, type PinStatusName, type TextMatch } from './requests.ts'
export { PinningService, type PinningComponents, type PinningInit } from './service.ts'
export { createPinningHandler, failureResponse, isPinningPath, PINS_PATH, type PinningHandlerComponents, type PinResultsWire, type PinStatusWire } from './http.ts'
export { PinningClient, type RemoteQuery } from './client.ts'
export { MAX_PIN_BODY_BYTES } from './schemas.ts'
export { dialableOrigin, delegatesOf, type NetworkKind } from './addresses.ts'
