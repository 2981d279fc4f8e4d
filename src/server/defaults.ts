/** tandem serve's defaults, apart from the server so that the CLI can name them without loading Fastify. */
export const DEFAULT_PORT = 7070
export const DEFAULT_BODY_LIMIT_BYTES = 1024 * 1024
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000
export const DEFAULT_TRANSACTION_IDLE_MS = 10_000
