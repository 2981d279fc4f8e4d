import type { CollectionLayout } from '../backend.js'
import { TandemError } from '../../errors.js'
import { refuseCaseAliases } from '../collection-names.js'
import type { PostgresQuery, PostgresResult } from './postgres-config.js'
import { ddlLockKey, lockSql } from './postgres-locks.js'
import { FORMAT_VERSION, type PostgresSql } from './postgres-sql.js'

/**
 * Creating and upgrading the tables of a PostgreSQL store, inside a write transaction (engine-only:
 * SQLite's few CREATE ... IF NOT EXISTS run under its one write lock and cost nothing when the
 * tables are there). Here DDL is serialized across processes by an advisory lock, creates only
 * what is missing (CREATE INDEX IF NOT EXISTS would still lock the table against writers on every
 * open), and upgrades the layouts of older versions in place.
 */

/** What DDL needs of the transaction it runs in. */
export interface DdlRunner {
  run(query: PostgresQuery): Promise<PostgresResult<unknown>>
  rows<R>(query: PostgresQuery): Promise<R[]>
  listCollections(): Promise<string[]>
}

/** Creates the collection's table and indexes, those that are missing, under the DDL lock. */
export async function ensureCollection(tx: DdlRunner, sql: PostgresSql, layout: CollectionLayout): Promise<void> {
  await tx.run(lockSql(ddlLockKey(sql.schemaName)))
  await tx.run({ text: sql.createTableSql(layout.name) })
  // Create only what is missing: CREATE INDEX IF NOT EXISTS would still lock the table against
  // writers (SHARE) before finding the index there, on every open of every process.
  const existing = new Set((await tx.rows<{ name: string }>(sql.existingIndexesSql(layout.name))).map((r) => r.name))
  if (!existing.has('column:created_seq')) {
    // A table from before created_seq: number its rows once (retention orders by it). ADD
    // COLUMN locks the table until COMMIT before anything is counted (see addCreatedSeqSql).
    for (const text of sql.addCreatedSeqSql(layout.name)) await tx.run({ text })
    const [{ n }] = (await tx.rows<{ n: number | string }>(sql.maxCreatedSeqSql(layout.name))) as [{ n: number | string }]
    await tx.run({ text: sql.createdSeqIdentitySql(layout.name, Number(n)) })
  }
  if (!existing.has(sql.createdSeqIndexName(layout.name))) {
    // New tables, upgraded ones, and those made before the index existed. Under the DDL lock, so
    // processes opening the store together build it once; CREATE INDEX blocks writers (SHARE)
    // while it builds, once per table.
    for (const text of sql.createCreatedSeqIndexSql(layout.name)) await tx.run({ text })
  }
  for (const path of layout.indexes) {
    if (!existing.has(sql.indexName(layout.name, path))) await tx.run({ text: sql.createIndexSql(layout, path) })
  }
}

/** Creates the store's schema and tables, then the collections. DDL is serialized across processes. */
export async function prepareStore(tx: DdlRunner, sql: PostgresSql, collections: readonly CollectionLayout[]): Promise<void> {
  await tx.run(lockSql(ddlLockKey(sql.schemaName)))
  for (const text of sql.createStoreSql()) await tx.run({ text })
  await tx.run(sql.initMetaSql())
  for (const text of sql.upgradeFormatSql()) await tx.run({ text })
  const [format] = await tx.rows<{ value: string }>(sql.formatSql())
  if (format?.value !== FORMAT_VERSION) {
    throw new TandemError(
      'STORAGE_FAILURE',
      `Schema ${sql.schema} holds a Tandem store of format ${format?.value ?? '(none)'}, which this version of tandemdb cannot read (it reads format ${FORMAT_VERSION}). Upgrade tandemdb, or give postgres.schema another name.`,
      { hint: 'Use the tandemdb version that wrote this store, or another schema.' },
    )
  }
  // Only when missing, like the collections' indexes; built once for a store made before it.
  if ((await tx.rows(sql.changeLog.hasChangesRecordIndexSql())).length === 0)
    await tx.run({ text: sql.changeLog.createChangesRecordIndexSql() })
  if ((await tx.rows(sql.changeLog.hasDeltaColumnSql())).length === 0) await tx.run({ text: sql.changeLog.addDeltaColumnSql() })
  refuseCaseAliases(await tx.listCollections(), collections)
  for (const layout of collections) await ensureCollection(tx, sql, layout)
}
