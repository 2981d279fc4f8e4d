import Fastify, { type FastifyError, type FastifyInstance } from 'fastify'
import { isUtf8 } from 'node:buffer'
import { chmodSync, lstatSync, unlinkSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { connect } from 'node:net'
import { isIP } from 'node:net'
import type { Store } from '../store/store.js'
import { registerAuth } from './auth.js'
import { errorAnswer, httpError } from './http-errors.js'
import { openApiDocument } from './openapi.js'
import { registerChangeRoutes } from './routes-changes.js'
import { registerRecordRoutes } from './routes-records.js'
import { registerTransactionRoutes } from './routes-transactions.js'
import { SseHub } from './sse.js'
import { TokenVerifier, defaultTokensFile, type TokenSource } from './tokens.js'
import { TxSessions } from './tx-sessions.js'
import { DEFAULT_BODY_LIMIT_BYTES, DEFAULT_PORT, DEFAULT_REQUEST_TIMEOUT_MS, DEFAULT_TRANSACTION_IDLE_MS } from './defaults.js'
import { resolve } from 'node:path'
import { resolveStorePath } from '../fs/safe-path.js'

export interface ServeOptions {
  /** TCP port (default 7070; 0 picks a free one). Ignored with `socket`. */
  port?: number
  /** Address to listen on (default 127.0.0.1). A non-loopback one needs `allowRemote` and at least one token. */
  host?: string
  /** Listen on this Unix socket instead (created with mode 0600). */
  socket?: string
  /** Allow a non-loopback `host` (put TLS in front: tokens travel in clear text). */
  allowRemote?: boolean
  /** The token file; default `<store file>.tokens.json` (required for PostgreSQL stores). */
  tokensFile?: string
  /** Largest request body, in bytes (default 1 MiB): larger ones get 413. */
  bodyLimitBytes?: number
  /** A request must arrive whole within this time (default 30 s), else 408 and the connection is closed. */
  requestTimeoutMs?: number
  /** An interactive transaction idle this long is rolled back (default 10 s). */
  transactionIdleMs?: number
  /** How often idle change streams get a keep-alive comment (default 15 s). */
  keepAliveMs?: number
}

/** A running server. */
export interface TandemServer {
  /** `http://host:port`, or `unix:/path` for a socket. */
  readonly url: string
  /** The TCP port, or undefined on a socket. */
  readonly port: number | undefined
  /**
   * Stops accepting connections, rolls back open interactive transactions, ends change streams
   * (clients reconnect with Last-Event-ID), lets requests in flight finish. Leaves the store open.
   */
  close(): Promise<void>
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'))
}

/** Fastify's own failures (parsing, validation, limits) as the API's codes. */
function fastifyAnswer(error: FastifyError): { status: number; code: string; message: string; hint: string } | undefined {
  const fix = 'Fix the request; see docs/http-api.md.'
  if (/prototype property/.test(error.message))
    return {
      status: 400,
      code: 'INVALID_JSON',
      message: 'The request body has a "__proto__" key; nothing was stored.',
      hint: 'Rename the key: objects with it cannot be stored.',
    }
  if (error.validation !== undefined)
    return { status: 400, code: 'INVALID_REQUEST', message: `The request is not valid: ${error.message}.`, hint: fix }
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return {
        status: 413,
        code: 'BODY_TOO_LARGE',
        message: 'The request body is larger than the server accepts.',
        hint: 'Send smaller requests, or raise --body-limit.',
      }
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return {
        status: 415,
        code: 'UNSUPPORTED_MEDIA_TYPE',
        message: 'The request body is not application/json.',
        hint: 'Send JSON with Content-Type: application/json.',
      }
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return { status: 400, code: 'INVALID_JSON', message: 'The request body is not valid JSON.', hint: fix }
  }
  if (error instanceof SyntaxError || error.code === 'INVALID_JSON')
    return { status: 400, code: 'INVALID_JSON', message: `The request body is not valid JSON: ${error.message}`, hint: fix }
  if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500 && error.code?.startsWith('FST_'))
    return { status: error.statusCode, code: 'INVALID_REQUEST', message: error.message, hint: fix }
  return undefined
}

/** Removes a Unix socket left by a server that died, refusing a live one or any other file. */
async function clearSocket(path: string): Promise<void> {
  let stat
  try {
    stat = lstatSync(path)
  } catch {
    return
  }
  if (!stat.isSocket()) throw new RangeError(`--socket ${path} exists and is not a socket; refusing to replace it.`)
  const live = await new Promise<boolean>((done) => {
    const probe = connect(path)
    probe.once('connect', () => (probe.destroy(), done(true)))
    probe.once('error', () => done(false))
  })
  if (live) throw new RangeError(`Another server listens on ${path} already.`)
  unlinkSync(path)
}

/** Builds the Fastify app of a store (routes, auth, errors), without listening. */
export function buildApp(store: Store, options: ServeOptions, tokens: TokenSource, sessions: TxSessions, sse: SseHub): FastifyInstance {
  const requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS
  const app = Fastify({
    logger: false,
    bodyLimit: options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES,
    onProtoPoisoning: 'error',
    // constructor.prototype keys are plain data to the library (it stores and reads them back as such); __proto__ is refused.
    onConstructorPoisoning: 'ignore',
    return503OnClosing: true,
    // Wrong types are refused, not coerced; unknown fields are refused, not dropped.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false } },
    serverFactory: (handler) =>
      createServer(
        {
          requestTimeout: requestTimeoutMs,
          headersTimeout: requestTimeoutMs,
          // Node checks those timeouts this often (default 30 s): a stalled client is cut off close to its deadline.
          connectionsCheckingInterval: Math.min(1000, requestTimeoutMs),
          keepAliveTimeout: 5000,
        },
        handler,
      ),
  })
  // Bodies are checked to be UTF-8 before parsing: a lone byte of garbage must not turn into U+FFFD and be stored.
  const parseJson = app.getDefaultJsonParser('error', 'ignore')
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    const bytes = body as Buffer
    // An empty body (curl -X POST with the header and no -d) is no body: routes that need one say so.
    if (bytes.length === 0) return done(null, undefined)
    if (!isUtf8(bytes)) return done(Object.assign(new Error('The request body is not UTF-8.'), { code: 'INVALID_JSON' }), undefined)
    parseJson(request, bytes.toString('utf8'), done)
  })

  app.setErrorHandler((error: FastifyError, _request, reply) => {
    const own = fastifyAnswer(error)
    if (own !== undefined) return reply.code(own.status).send({ error: { code: own.code, message: own.message, hint: own.hint } })
    const answer = errorAnswer(error)
    if (answer.retry) void reply.header('retry-after', '1')
    return reply.code(answer.status).send(answer.body)
  })
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0]!.slice(0, 200)
    const error = httpError(
      'ROUTE_NOT_FOUND',
      `No route ${request.method} ${path}.`,
      'See docs/http-api.md or GET /openapi.json for the routes.',
    )
    return reply.code(404).send(errorAnswer(error).body)
  })

  registerAuth(app, tokens)
  app.get('/v1/health', async () => ({ ok: true }))
  const declared = [...store.settings.collections.keys()]
  app.get('/v1/status', async (request) => ({ role: request.role, collections: declared, store: await store.describe() }))
  // Maintenance any process may run (they also run by themselves every few hundred writes).
  app.post('/v1/compact', async () => store.compact())
  app.post('/v1/changes/trim', async () => ({ trimmed: await store.trimChanges() }))
  let openApi: object | undefined
  app.get('/openapi.json', async () => (openApi ??= openApiDocument(store.settings.collections.values(), '1')))
  registerRecordRoutes(app, store, sessions)
  registerTransactionRoutes(app, store, sessions)
  registerChangeRoutes(app, store, sse, sessions)
  return app
}

/**
 * Serves `store` over HTTP (docs/http-api.md): records, transactions, the change feed as
 * Server-Sent Events, durable consumers, /openapi.json. Every request needs a token from the token
 * file and acts as that token's role, so ownership, validation and versions are the store's own.
 * Listens on 127.0.0.1 by default; a non-loopback host needs `allowRemote` and at least one token.
 *
 * @example
 * const server = await serveStore(store, { port: 7070 })
 * // ... later
 * await server.close()
 */
export async function serveStore(store: Store, options: ServeOptions = {}): Promise<TandemServer> {
  const settings = store.settings
  const storeFile =
    settings.url !== undefined || settings.path === ':memory:' ? undefined : resolveStorePath(settings.path, settings.dataDir).file
  const tokensFile = options.tokensFile ?? (storeFile === undefined ? undefined : defaultTokensFile(storeFile))
  if (tokensFile === undefined) throw new TypeError('serveStore needs tokensFile for a store without a file (PostgreSQL, :memory:).')
  const tokens = new TokenVerifier(resolve(tokensFile))
  const host = options.host ?? '127.0.0.1'
  if (options.socket === undefined && !isLoopback(host)) {
    if (options.allowRemote !== true)
      throw new RangeError(`Refusing to listen on ${host}: only loopback addresses unless allowRemote (--allow-remote) is given.`)
    if (tokens.size === 0)
      throw new RangeError(`Refusing to listen on ${host} without any token: create one with "tandem token create --role ROLE".`)
  }
  return startServer(store, { ...options, host }, tokens)
}

/**
 * Builds the app of `store` with `tokens`, lets `extend` add routes (the inspector's),
 * and listens. What serveStore does once it has checked the address and loaded the token file.
 */
export async function startServer(
  store: Store,
  options: ServeOptions,
  tokens: TokenSource,
  extend?: (app: FastifyInstance) => void,
): Promise<TandemServer> {
  const host = options.host ?? '127.0.0.1'
  const sessions = new TxSessions(options.transactionIdleMs ?? DEFAULT_TRANSACTION_IDLE_MS)
  const sse = new SseHub(options.keepAliveMs)
  const app = buildApp(store, options, tokens, sessions, sse)
  extend?.(app)
  let url: string
  let port: number | undefined
  if (options.socket !== undefined) {
    const path = resolve(options.socket)
    await clearSocket(path)
    await app.listen({ path })
    chmodSync(path, 0o600)
    url = `unix:${path}`
  } else {
    await app.listen({ port: options.port ?? DEFAULT_PORT, host })
    const address = (app.server as Server).address()
    port = typeof address === 'object' && address !== null ? address.port : undefined
    url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`
  }
  let closing: Promise<void> | undefined
  return {
    url,
    port,
    close: () =>
      (closing ??= (async () => {
        sse.closeAll()
        await sessions.abortAll()
        await app.close()
      })()),
  }
}
