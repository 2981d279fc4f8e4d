import type { FastifyInstance } from 'fastify'
import { TandemError } from '../errors.js'
import { httpError } from '../server/http-errors.js'
import { startServer, type TandemServer } from '../server/serve-store.js'
import type { Store } from '../store/store.js'
import { InspectorToken } from './inspector-token.js'
import { registerInspectorRoutes, type HealthCheck } from './routes-inspector.js'
import { registerAssets } from './static-assets.js'

export type { HealthCheck }

export interface InspectOptions {
  /** The TCP port on 127.0.0.1 (default 0: a free one). */
  port?: number
  /** Writes act as this role (ownership and schemas apply to it); undefined: read-only. */
  writeRole?: string
  /** How the page names the store. */
  label: string
  /** The health checks (default: none). */
  health?: () => Promise<HealthCheck[]>
  /** Where backups go and are looked for. */
  backupDir?: string
}

/** A running inspector. */
export interface Inspector {
  /** The one URL that opens it: `http://127.0.0.1:<port>/#token=<secret>`. Print it once; never log it elsewhere. */
  readonly url: string
  readonly port: number
  close(): Promise<void>
}

/**
 * Refuses a request whose Host header is not this server's loopback address: a page of another
 * site that made its own name resolve to 127.0.0.1 (DNS rebinding) gets nothing, not even the page.
 */
function registerHostCheck(app: FastifyInstance, port: () => number | undefined): void {
  app.addHook('onRequest', async (request) => {
    const host = request.headers.host ?? ''
    const p = port()
    if (p === undefined) return
    if (host === `127.0.0.1:${p}` || host === `localhost:${p}` || host === `[::1]:${p}`) return
    throw httpError('UNAUTHORIZED', 'This inspector answers requests for its loopback address only.', 'Open the URL it printed.')
  })
}

/** POST routes that only read: the query engine's find and count, the inspector's schema check. */
const READING_POSTS = new Set([
  '/v1/collections/:collection/find',
  '/v1/collections/:collection/count',
  '/inspector/api/collections/:collection/validate',
])

/**
 * A read-only inspector refuses every request that could write (PUT, PATCH, DELETE, and POSTs
 * other than find, count and validate) with READ_ONLY before any route runs, whatever the
 * collection's writers. The store is open read-only as well, so the library refuses such a write
 * too; this gate only makes the answer the same for every route (ownership is checked before the
 * store's own refusal).
 */
function registerReadOnlyGate(app: FastifyInstance): void {
  app.addHook('onRequest', async (request) => {
    if (request.method === 'GET' || request.method === 'HEAD') return
    if (request.method === 'POST' && READING_POSTS.has(request.routeOptions.url ?? '')) return
    throw new TandemError('READ_ONLY', 'This inspector is read-only: nothing was written.', {
      hint: 'Restart it as "tandem inspect --write --role ROLE" to edit records or run backups.',
    })
  })
}

/**
 * Serves the web inspector of `store` on 127.0.0.1: the page and its assets, the server's JSON API
 * and change feed (the same Fastify app as `tandem serve`), and the inspector's own routes, all
 * behind one random token made now and held in memory. Read-only unless `writeRole` is given;
 * the store itself should then be open read-only too (its writes refused with READ_ONLY).
 */
export async function inspectStore(store: Store, options: InspectOptions): Promise<Inspector> {
  const token = new InspectorToken(options.writeRole ?? store.role)
  if (options.writeRole === undefined && !store.settings.readOnly)
    throw new TandemError('INVALID_REQUEST', 'A read-only inspector needs a store opened with readOnly: true.', {
      hint: 'Open the store read-only, or give writeRole.',
    })
  let port: number | undefined
  const server: TandemServer = await startServer(store, { host: '127.0.0.1', port: options.port ?? 0 }, token, (app) => {
    registerHostCheck(app, () => port)
    if (options.writeRole === undefined) registerReadOnlyGate(app)
    registerAssets(app)
    registerInspectorRoutes(app, {
      store,
      label: options.label,
      writeRole: options.writeRole,
      health: options.health ?? (async () => []),
      backupDir: options.backupDir,
    })
  })
  port = server.port!
  return { url: `${server.url}/#token=${token.secret}`, port, close: () => server.close() }
}
