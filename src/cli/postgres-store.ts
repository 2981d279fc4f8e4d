import { CliError, EXIT } from './output.js'
import { maskUrl } from './store-url.js'
import { DEFAULT_POSTGRES_SCHEMA, originNote, type StoreTarget } from './target.js'

/** The table every Tandem store on PostgreSQL has in its schema (mirrors src/backends/postgres/postgres-sql.ts). */
const META_TABLE = '_tandem_meta'
const CONNECT_TIMEOUT_MS = 10_000

/**
 * Whether the target's schema holds a Tandem store: true, false, or undefined when the server
 * could not be asked (openStore then reports why, with the library's own error). Loads `pg`
 * itself, so a missing driver fails here as it would in openStore.
 */
export async function postgresStoreExists(target: StoreTarget & { kind: 'url' }): Promise<boolean | undefined> {
  const { default: pg } = await import('pg')
  const client = new pg.Client({
    connectionString: target.url,
    application_name: 'tandem-cli',
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
  })
  client.on('error', () => undefined)
  try {
    await client.connect()
    const schema = (target.schema ?? DEFAULT_POSTGRES_SCHEMA).replaceAll('"', '""')
    const result = await client.query<{ found: boolean }>('SELECT to_regclass($1) IS NOT NULL AS found', [`"${schema}"."${META_TABLE}"`])
    return result.rows[0]?.found === true
  } catch {
    return undefined
  } finally {
    await client.end().catch(() => undefined)
  }
}

/**
 * Rejects with STORE_NOT_FOUND when the schema holds no Tandem store, as a missing store file
 * is refused: opening would create the schema and its tables, and only `tandem migrate` creates
 * a store on purpose.
 */
export async function checkPostgresStore(target: StoreTarget & { kind: 'url' }): Promise<void> {
  if ((await postgresStoreExists(target)) !== false) return
  throw new CliError(
    'STORE_NOT_FOUND',
    `There is no Tandem store in schema "${target.schema ?? DEFAULT_POSTGRES_SCHEMA}" at ${maskUrl(target.url)}${originNote(target)}.`,
    'Check the url and the schema (--schema, or postgres.schema in the config); "tandem migrate" creates a new store from the config.',
    EXIT.usage,
  )
}
