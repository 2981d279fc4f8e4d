// tandemdb/postgres: the PostgreSQL backend, for code that builds it by hand or inspects it.
// openStore({ url: 'postgres://…' }) loads it by itself; this entry point only adds the types.
export { PostgresBackend, openPostgresBackend } from './backends/postgres/postgres-backend.js'
export { DEFAULT_POSTGRES_POOL_SIZE, DEFAULT_POSTGRES_SCHEMA, type PostgresConfig } from './backends/postgres/postgres-config.js'
