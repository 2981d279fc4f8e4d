// tandemdb/server: serve a store over HTTP (docs/http-api.md), and manage the tokens it accepts.
export { serveStore, DEFAULT_PORT, type ServeOptions, type TandemServer } from './server/serve-store.js'
export { createToken, listTokens, revokeToken, defaultTokensFile, type TokenInfo } from './server/tokens.js'
export { openApiDocument } from './server/openapi.js'
