import type { Backend } from '../backend.js'
import type { PostgresConfig } from './postgres-config.js'

/** Opens the PostgreSQL backend (issue #6: being built). */
export async function openPostgresBackend(config: PostgresConfig): Promise<Backend> {
  throw new Error(`The PostgreSQL backend is not built yet (asked for ${config.url}).`)
}
