import type { Durability } from '../sqlite/sqlite-config.js'
import { isPostgresUrl, maskUrl, normalizePostgresUrl } from './postgres-url.js'

/** How the PostgreSQL backend connects. Given once at open. */
export interface PostgresConfig {
  /** A libpq connection string: postgres://user@host:5432/db */
  url: string
  /** The schema holding this store's tables (created if missing). One store per schema. */
  schema: string
  /** Connections in the pool, for reads and writes (the change listener has its own). */
  poolSize: number
  /** How long a write waits for another transaction's locks before BUSY_TIMEOUT. */
  busyTimeoutMs: number
  /** 'normal' maps to synchronous_commit = on as well: PostgreSQL has no cheaper crash-safe mode. */
  durability: Durability
}

export const DEFAULT_POSTGRES_SCHEMA = 'tandem'
export const DEFAULT_POSTGRES_POOL_SIZE = 5
/** How often a change watcher looks at the log's head when no notification came (a lost NOTIFY, a dead listener). */
export const POSTGRES_FALLBACK_POLL_MS = 250
/** application_name of the pooled connections (suffixed with ':<schema>'), as pg_stat_activity shows it. */
export const POSTGRES_APPLICATION_NAME = 'tandem'
/** application_name of the dedicated LISTEN connection (suffixed with ':<schema>'). */
export const POSTGRES_LISTEN_APPLICATION_NAME = 'tandem-listen'

/**
 * The few node-postgres methods the backend calls, so the backend code does not depend on the
 * driver's types. `pg.Pool` and `pg.PoolClient` fit them; the backend creates its pool itself
 * (postgres-connection.ts): none is handed in.
 */
export interface PostgresQuery {
  text: string
  values?: unknown[]
  /** Set for statements the backend runs often: each connection prepares them once. */
  name?: string
}

export interface PostgresResult<R = Record<string, unknown>> {
  rows: R[]
  rowCount: number | null
  /** The command tag: 'COMMIT', or 'ROLLBACK' when COMMIT found the transaction already aborted. */
  command: string
}

export interface PostgresQueryable {
  query<R = Record<string, unknown>>(query: PostgresQuery | string): Promise<PostgresResult<R>>
}

export interface PostgresPoolClient extends PostgresQueryable {
  /** Returns the connection to the pool; with an error (or true) the pool closes it instead. */
  release(destroy?: Error | boolean): void
  on(event: 'error', listener: (error: Error) => void): unknown
  removeListener(event: 'error', listener: (error: Error) => void): unknown
}

export interface PostgresPool extends PostgresQueryable {
  connect(): Promise<PostgresPoolClient>
  end(): Promise<void>
  on(event: 'error', listener: (error: Error) => void): unknown
}

/** Checks a config handed to openPostgresBackend directly (openStore has checked its own already). */
export function checkPostgresConfig(config: PostgresConfig): Readonly<PostgresConfig> {
  if (typeof config !== 'object' || config === null) throw new TypeError('openPostgresBackend needs a config object.')
  const { url, schema, poolSize, busyTimeoutMs, durability } = config
  if (typeof url !== 'string' || !isPostgresUrl(url))
    throw new TypeError(
      `url must be a postgres:// connection string (got ${typeof url === 'string' ? JSON.stringify(maskUrl(url)) : typeof url}).`,
    )
  if (typeof schema !== 'string' || !/^[a-z_][a-z0-9_]{0,62}$/.test(schema))
    throw new TypeError(`postgres.schema must be a lowercase identifier (got ${JSON.stringify(schema)}).`)
  if (!Number.isInteger(poolSize) || poolSize < 1 || poolSize > 100)
    throw new RangeError(`postgres.poolSize must be an integer from 1 to 100 (got ${String(poolSize)}).`)
  if (!Number.isInteger(busyTimeoutMs) || busyTimeoutMs < 0)
    throw new RangeError(`busyTimeoutMs must be a non-negative integer (got ${String(busyTimeoutMs)}).`)
  if (durability !== 'normal' && durability !== 'full')
    throw new RangeError(`durability must be "normal" or "full" (got ${JSON.stringify(durability)}).`)
  return Object.freeze({ url: normalizePostgresUrl(url), schema, poolSize, busyTimeoutMs, durability })
}
