/**
 * The HTTP gateway (IPFS path, subdomain and trustless gateway specs) and the web UI's
 * origin. The gateway is a function from Request to Response (handler.ts); `listen` (src/http/,
 * shared by every HTTP surface) serves it on `addresses.gateway`.
 */
export { createGatewayHandler, pathSegments, MAX_URL_LENGTH, type GatewayComponents, type GatewayInit, type GatewayHandler, type ResolvedName } from './handler.ts'
export { parseHost, subdomainUrl, subdomainCid, subdomainName, inlineDnsName, uninlineDnsName, type GatewayHost } from './hosts.ts'
export { parseRedirects, matchRedirect, type RedirectRule } from './redirects.ts'
export { typeFromName, sniffType } from './mime.ts'
export { AnswerCache } from './answers.ts'
export { MAX_PRIVATE_WRITE_BYTES, type SiteApiPrivate } from './site-api-private.ts'
export type { SiteApiShares } from './site-api-shared.ts'
export { createSiteApi, assertSameOrigin, MAX_WRITE_BYTES, type SiteApiUsers, type SiteApiComponents, type SiteApiInit, type SiteVersion } from './site-api.ts'
export { serveMessages, type SiteApiMessages } from './site-api-messages.ts'
export { createConsent, CONSENT_HEADERS, type ConsentInit } from './consent.ts'
