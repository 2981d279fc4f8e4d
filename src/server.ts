// tandemdb/server: serve a store over HTTP (docs/http-api.md), and manage the tokens it accepts.
export { serveStore, type ServeOptions, type TandemServer } from './server/serve-store.js'
export { DEFAULT_PORT, DEFAULT_BODY_LIMIT_BYTES } from './server/defaults.js'
export { createToken, listTokens, revokeToken, defaultTokensFile, type TokenInfo } from './server/tokens.js'
export { openApiDocument } from './server/openapi.js'
