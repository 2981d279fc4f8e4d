import {
  markTransactionAborted,
  type ChangeRetention,
  type ChangeRow,
  type CollectionLayout,
  type JsonObject,
  type RecordRow,
  type WriteTx,
} from '../backend.js'
import { StorageError } from '../../errors.js'
import { steadyNow } from '../steady-clock.js'
import { translateSqliteError } from './sqlite-errors.js'
import { reclaimStep } from './sqlite-reclaim.js'
import { SqliteReader } from './sqlite-reader.js'
import {
  AGED_THROUGH_SQL,
  APPEND_CHANGE_SQL,
  CHANGE_HEAD_SQL,
  CHANGES_TABLE,
  COALESCE_CHANGES_SQL,
  META_TABLE,
  TRIMMED_THROUGH_KEY,
  createIndexSql,
  createTableSql,
  indexName,
  tableName,
} from './sqlite-sql.js'

/**
 * The open write transaction of the SQLite backend: the writer connection between BEGIN IMMEDIATE
 * and COMMIT (the twin of postgres-transaction.ts). Its one piece of state is the savepoint depth:
 * BEGIN, COMMIT and ROLLBACK are the backend's (see SqliteBackend.write), and whether SQLite has
 * rolled the whole transaction back by itself is asked of the connection (`inTransaction`), never
 * remembered.
 */
export class SqliteWriteTx extends SqliteReader implements WriteTx {
  #depth = 0
  /** The last data serialized, so its change-log entry reuses the JSON text instead of building it twice. */
  #lastData: unknown
  #lastJson = ''

  #json(data: JsonObject): string {
    if (data !== this.#lastData) {
      this.#lastJson = JSON.stringify(data)
      this.#lastData = data
    }
    return this.#lastJson
  }

  insert(collection: string, row: RecordRow): void {
    const statement = this.connection.rowStatement('insert', collection)
    try {
      statement.run(row.id, row.version, row.createdAt, row.updatedAt, row.role, this.#json(row.data))
    } catch (error) {
      throw this.#failed(error, collection, row.id)
    }
  }

  update(collection: string, row: RecordRow): void {
    const statement = this.connection.rowStatement('update', collection)
    try {
      statement.run(row.version, row.updatedAt, row.role, this.#json(row.data), row.id)
    } catch (error) {
      throw this.#failed(error, collection, row.id)
    }
  }

  delete(collection: string, id: string): void {
    const statement = this.connection.rowStatement('delete', collection)
    try {
      statement.run(id)
    } catch (error) {
      throw this.#failed(error, collection, id)
    }
  }

  async ensureCollection(layout: CollectionLayout): Promise<void> {
    this.connection.handle.exec(createTableSql(layout.name))
    for (const path of layout.indexes) this.connection.handle.exec(createIndexSql(layout, path))
  }

  async dropIndex(collection: string, path: readonly string[]): Promise<void> {
    this.connection.handle.exec(`DROP INDEX IF EXISTS ${indexName(collection, path)}`)
  }

  async dropCollection(collection: string): Promise<void> {
    this.connection.handle.exec(`DROP TABLE IF EXISTS ${tableName(collection)}`)
  }

  async lock(_key: string): Promise<void> {
    // BEGIN IMMEDIATE already holds the one write lock of the database file.
  }

  appendChange(change: Omit<ChangeRow, 'seq'>): void {
    const statement = this.connection.statement(APPEND_CHANGE_SQL)
    try {
      const { lastInsertRowid } = statement.run(
        change.collection,
        change.id,
        change.op,
        change.version,
        change.role,
        change.at,
        change.data === undefined ? null : this.#json(change.data),
      )
      // An insert has nothing to coalesce but the tombstone of an earlier record with its id: kept.
      if (change.data === undefined && change.op !== 'insert')
        this.connection.statement(COALESCE_CHANGES_SQL).run(change.collection, change.id, lastInsertRowid)
    } catch (error) {
      throw this.#failed(error, change.collection, change.id)
    }
  }

  async trimChanges(retention: ChangeRetention, now: number): Promise<number> {
    const head = (this.connection.statement(CHANGE_HEAD_SQL).get() as { head: number }).head
    const oldest = this.connection.statement(`SELECT seq, at FROM ${CHANGES_TABLE} ORDER BY seq LIMIT 1`).get() as
      { seq: number; at: number } | undefined
    const cutoff = steadyNow(now) - retention.maxAgeMs
    // A cheap look at whether there is anything to trim at all: maxCount counts seqs (coalescing
    // leaves gaps, so the log holds at most that many entries).
    if (oldest === undefined || (head - oldest.seq + 1 <= retention.maxCount && oldest.at >= cutoff)) {
      reclaimStep(this.connection)
      return 0
    }
    // Trimmed from the oldest end only; by age only up to the
    // first young entry, so an entry stamped by a clock that was behind cannot take younger ones
    // before it along. Age is looked at in the oldest 10,000 entries per pass.
    const byAge = this.connection.statement(AGED_THROUGH_SQL).get(cutoff) as { seq: number | null }
    // Never the newest entry: it holds the head, and seqs are rowids (max + 1).
    const through = Math.min(Math.max(head - retention.maxCount, byAge.seq ?? 0), head - 1)
    const previous = Number(
      (this.connection.statement(`SELECT value FROM ${META_TABLE} WHERE key = ?`).get(TRIMMED_THROUGH_KEY) as { value: string } | undefined)
        ?.value ?? 0,
    )
    if (through <= previous) {
      reclaimStep(this.connection)
      return 0
    }
    const { changes } = this.connection.statement(`DELETE FROM ${CHANGES_TABLE} WHERE seq <= ?`).run(through)
    this.connection.statement(`INSERT OR REPLACE INTO ${META_TABLE} (key, value) VALUES (?, ?)`).run(TRIMMED_THROUGH_KEY, String(through))
    // The file gives back a step of free pages (those of this trim, or of records deleted since).
    reclaimStep(this.connection)
    return changes
  }

  async savepoint<T>(work: () => Promise<T>): Promise<T> {
    const name = `sp${++this.#depth}`
    this.connection.statement(`SAVEPOINT ${name}`).run()
    try {
      const result = await work()
      this.connection.statement(`RELEASE ${name}`).run()
      return result
    } catch (error) {
      // SQLite rolls the whole transaction back by itself on some errors (disk full, I/O error);
      // then there is no savepoint left to return to and the enclosing work is lost too.
      if (!this.connection.handle.inTransaction) throw markTransactionAborted(error)
      this.connection.statement(`ROLLBACK TO ${name}`).run()
      this.connection.statement(`RELEASE ${name}`).run()
      throw error
    } finally {
      this.#depth--
    }
  }

  #failed(error: unknown, collection: string, id: string): unknown {
    const translated = translateSqliteError(error, collection, id)
    // After a storage failure SQLite may have undone only the statement, or the whole transaction:
    // either way the batch must not commit (a record without its change-log entry, say).
    const aborted = !this.connection.handle.inTransaction || translated instanceof StorageError
    return aborted ? markTransactionAborted(translated) : translated
  }
}
