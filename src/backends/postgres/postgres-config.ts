import type { Durability } from '../sqlite/sqlite-config.js'

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
