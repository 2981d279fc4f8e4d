import { amplificationOf, type StorageSizes } from '../backend.js'
import type { PostgresQuery, PostgresResult } from './postgres-config.js'
import { CHANGES_TABLE, type PostgresSql } from './postgres-sql.js'

/**
 * Where a PostgreSQL store's bytes go (the twin of sqlite-sizes.ts): each table of the schema by
 * pg_table_size (with its TOAST) and pg_indexes_size, the records' data and the log's
 * copies as JSON text (as SQLite keeps them; PostgreSQL may store them compressed). Free space is left undefined: PostgreSQL reuses dead tuples' room in place
 * (VACUUM marks it) and would need the pgstattuple extension to measure it. Reads every record and
 * log entry: for status, never a hot path.
 */
type Query = <R>(query: PostgresQuery) => Promise<PostgresResult<R>>

export async function readPostgresSizes(sql: PostgresSql, query: Query): Promise<StorageSizes> {
  const { rows: tables } = await query<{ name: string; tableBytes: string; indexBytes: string }>({
    text: `SELECT c.relname AS "name", pg_table_size(c.oid) AS "tableBytes", pg_indexes_size(c.oid) AS "indexBytes"
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r'`,
    values: [sql.schemaName],
  })
  let recordBytes = 0
  let indexBytes = 0
  let changeLogBytes = 0
  let otherBytes = 0
  const userTables: string[] = []
  for (const t of tables) {
    const bytes = Number(t.tableBytes)
    const indexes = Number(t.indexBytes)
    if (t.name === CHANGES_TABLE) changeLogBytes += bytes + indexes
    else if (t.name.startsWith('_tandem_')) otherBytes += bytes + indexes
    else {
      recordBytes += bytes
      indexBytes += indexes
      // Internal collections (_consumers, _processes...) start with _; user collections cannot.
      if (!t.name.startsWith('_')) userTables.push(t.name)
    }
  }
  const live = userTables.map((name) => `(SELECT coalesce(sum(octet_length(data::text)), 0) FROM ${sql.table(name)})`)
  const { rows } = await query<{ live: string }>({ text: `SELECT ${live.length === 0 ? '0' : live.join(' + ')} AS "live"` })
  const history = await query<{ collection: string; n: string }>({
    text: `SELECT collection, coalesce(sum(octet_length(data::text)), 0) + coalesce(sum(octet_length(delta::text)), 0) AS n FROM ${sql.changes} GROUP BY collection`,
  })
  const byCollection = history.rows.map((r) => [r.collection, Number(r.n)] as const).filter(([, n]) => n > 0)
  const totalBytes = recordBytes + indexBytes + changeLogBytes + otherBytes
  const liveDataBytes = Number(rows[0]?.live ?? 0)
  return {
    totalBytes,
    recordBytes,
    indexBytes,
    changeLogBytes,
    historyBytes: byCollection.reduce((sum, [, n]) => sum + n, 0),
    historyBytesByCollection: Object.fromEntries(byCollection),
    freeBytes: undefined,
    otherBytes,
    liveDataBytes,
    amplification: amplificationOf(totalBytes, liveDataBytes),
  }
}
