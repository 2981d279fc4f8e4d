import Database from 'better-sqlite3'
import type { ReadSnapshot } from '../backend.js'
import { translateSqliteError } from './sqlite-errors.js'
import { retryWhileBusy } from './sqlite-locks.js'
import { decode, type RawRow } from './sqlite-reader.js'
import { ROW_COLUMNS } from './sqlite-query.js'
import { LIST_COLLECTIONS_SQL, tableName } from './sqlite-sql.js'

/**
 * A read snapshot of an SQLite store on a connection of its own, opened read-only through SQLite
 * (never with node:fs, which would drop this process's locks on the file). BEGIN plus a first read
 * pins one WAL snapshot; every page after that reads the same instant, however long the export
 * takes and whatever other processes commit meanwhile. While it is open, checkpoints cannot
 * recycle the WAL past that instant, so the -wal file grows with the writes made during the export.
 */
export async function openSqliteSnapshot(file: string, busyTimeoutMs: number): Promise<ReadSnapshot> {
  let db: Database.Database
  try {
    // timeout 0: waits are done by retryWhileBusy, asynchronously, never by sleeping the event loop.
    db = new Database(file, { readonly: true, fileMustExist: true, timeout: 0 })
  } catch (error) {
    throw translateSqliteError(error)
  }
  let open = true
  const close = () => {
    if (!open) return
    open = false
    if (db.inTransaction) db.exec('COMMIT')
    db.close()
  }
  try {
    db.exec('BEGIN')
    // A deferred transaction takes its snapshot at the first read.
    await retryWhileBusy(() => db.prepare('SELECT count(*) FROM sqlite_schema').get(), busyTimeoutMs, undefined, 'read')
  } catch (error) {
    close()
    throw translateSqliteError(error)
  }
  const listStatement = db.prepare(LIST_COLLECTIONS_SQL)
  const pages = new Map<string, Database.Statement>()
  return {
    async collections() {
      return (listStatement.all() as { name: string }[]).map((r) => r.name)
    },
    async page(collection, after, limit) {
      let statement = pages.get(collection)
      if (statement === undefined) {
        statement = db.prepare(`SELECT ${ROW_COLUMNS} FROM ${tableName(collection)} WHERE id > ? ORDER BY id LIMIT ?`)
        pages.set(collection, statement)
      }
      try {
        return (statement.all(after, limit) as RawRow[]).map(decode)
      } catch (error) {
        throw translateSqliteError(error, collection)
      }
    },
    close,
  }
}
