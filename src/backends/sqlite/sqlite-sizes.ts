import { amplificationOf, type StorageSizes } from '../backend.js'
import type { SqliteConnection } from './sqlite-prepared.js'
import { CHANGES_TABLE, tableName } from './sqlite-sql.js'

/**
 * Where an SQLite store's bytes go (the twin of postgres-sizes.ts): the pages of each b-tree from
 * the dbstat virtual table (compiled into better-sqlite3's SQLite), the free list, and the bytes of
 * the records' data and of the log's copies. One read transaction: the figures are one snapshot.
 * Reads every record and log entry, so it is for status, never a hot path.
 */
export function readSqliteSizes(connection: SqliteConnection): StorageSizes {
  connection.statement('BEGIN').run()
  try {
    const pageSize = (connection.statement('PRAGMA page_size').get() as { page_size: number }).page_size
    const pageCount = (connection.statement('PRAGMA page_count').get() as { page_count: number }).page_count
    const freePages = (connection.statement('PRAGMA freelist_count').get() as { freelist_count: number }).freelist_count
    const objects = connection
      .statement(`SELECT name, type, tbl_name AS tableName FROM sqlite_schema WHERE type IN ('table', 'index')`)
      .all() as {
      name: string
      type: 'table' | 'index'
      tableName: string
    }[]
    const kindOf = new Map(objects.map((o) => [o.name, o]))
    let recordBytes = 0
    let indexBytes = 0
    let changeLogBytes = 0
    let otherBytes = 0
    const trees = connection.statement(`SELECT name, sum(pgsize) AS bytes FROM dbstat('main', 1) GROUP BY name`).all() as {
      name: string
      bytes: number
    }[]
    for (const { name, bytes } of trees) {
      const object = kindOf.get(name)
      if (object?.tableName === CHANGES_TABLE) changeLogBytes += bytes
      else if (object?.tableName.startsWith('c_') === true) {
        if (object.type === 'table') recordBytes += bytes
        else indexBytes += bytes
      } else otherBytes += bytes
    }
    let liveDataBytes = 0
    // User collections only (internal ones are c__ tables): the data the application keeps.
    for (const { name, type } of objects) {
      if (type !== 'table' || !name.startsWith('c_') || name.startsWith('c__')) continue
      const sum = connection.statement(`SELECT coalesce(sum(length(data)), 0) AS n FROM ${tableName(name.slice(2))}`)
      liveDataBytes += (sum.get() as { n: number }).n
    }
    const delta = connection.hasDeltaColumn() ? ' + coalesce(length(delta), 0)' : ''
    const byCollection = connection
      .statement(`SELECT collection, sum(coalesce(length(data), 0)${delta}) AS n FROM ${CHANGES_TABLE} GROUP BY collection`)
      .all() as { collection: string; n: number }[]
    const historyBytesByCollection = Object.fromEntries(byCollection.filter((r) => r.n > 0).map((r) => [r.collection, r.n]))
    const historyBytes = byCollection.reduce((sum, r) => sum + r.n, 0)
    const totalBytes = pageCount * pageSize
    return {
      totalBytes,
      recordBytes,
      indexBytes,
      changeLogBytes,
      historyBytes,
      historyBytesByCollection,
      freeBytes: freePages * pageSize,
      otherBytes,
      liveDataBytes,
      amplification: amplificationOf(totalBytes, liveDataBytes),
    }
  } finally {
    connection.statement('COMMIT').run()
  }
}
