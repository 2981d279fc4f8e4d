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
import type { SqliteStatement } from './sqlite-config.js'
import { SqliteReader } from './sqlite-reader.js'
import {
  AGED_THROUGH_SQL,
  APPEND_CHANGE_SQL,
  CHANGE_HEAD_SQL,
  CHANGES_TABLE,
  COALESCE_CHANGE_SQL,
  addSeqColumnSql,
  setSeqSql,
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
  /** The newest seq in the log, read at the first write of the transaction; each append adds one. */
  #head: number | undefined
  /** The entry the last record write replaced: coalesced by the append that follows it (see COALESCE_CHANGE_SQL). */
  #replaced: { collection: string; id: string; seq: number } | undefined

  #json(data: JsonObject): string {
    if (data !== this.#lastData) {
      this.#lastJson = JSON.stringify(data)
      this.#lastData = data
    }
    return this.#lastJson
  }

  /** The seq the next append takes: the log's rowid is max + 1, and nothing but this transaction appends now. */
  #nextSeq(): number {
    this.#head ??= (this.connection.statement(CHANGE_HEAD_SQL).get() as { head: number }).head
    return this.#head + 1
  }

  insert(collection: string, row: RecordRow): void {
    const statement = this.#rowWrite('insert', collection)
    this.#replaced = undefined
    try {
      statement.run(row.id, row.version, row.createdAt, row.updatedAt, row.role, this.#json(row.data), this.#nextSeq())
    } catch (error) {
      throw this.#failed(error, collection, row.id)
    }
  }

  update(collection: string, row: RecordRow): void {
    const statement = this.#rowWrite('update', collection)
    try {
      this.#remember(collection, row.id, this.connection.rowStatement('seq', collection).get(row.id))
      statement.run(row.version, row.updatedAt, row.role, this.#json(row.data), this.#nextSeq(), row.id)
    } catch (error) {
      throw this.#failed(error, collection, row.id)
    }
  }

  delete(collection: string, id: string): void {
    const statement = this.#rowWrite('delete', collection)
    try {
      this.#remember(collection, id, statement.get(id))
    } catch (error) {
      throw this.#failed(error, collection, id)
    }
  }

  #remember(collection: string, id: string, found: unknown): void {
    const seq = (found as { seq: number | null } | undefined)?.seq
    this.#replaced = seq == null ? undefined : { collection, id, seq }
  }

  /**
   * A record write's statement; a table made before coalescing gets its seq column first (on
   * open, or here for a collection this process did not declare), once per connection.
   */
  #rowWrite(kind: 'insert' | 'update' | 'delete', collection: string): SqliteStatement {
    if (!this.connection.hasSeqColumn(collection)) {
      try {
        this.connection.handle.exec(addSeqColumnSql(collection))
      } catch (error) {
        throw this.#failed(error, collection, '')
      }
    }
    return this.connection.rowStatement(kind, collection)
  }

  async ensureCollection(layout: CollectionLayout): Promise<void> {
    this.connection.handle.exec(createTableSql(layout.name))
    if (!this.connection.hasSeqColumn(layout.name)) this.connection.handle.exec(addSeqColumnSql(layout.name))
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
    const replaced = this.#replaced
    this.#replaced = undefined
    try {
      const expected = this.#nextSeq()
      const { lastInsertRowid } = statement.run(
        change.collection,
        change.id,
        change.op,
        change.version,
        change.role,
        change.at,
        change.data === undefined ? null : this.#json(change.data),
      )
      this.#head = Number(lastInsertRowid)
      // The record written just before was given the seq this append was expected to take; if
      // the log said otherwise (a writer that does not follow the protocol), the record is told.
      if (this.#head !== expected && change.op !== 'delete' && change.op !== 'trim')
        this.connection.statement(setSeqSql(change.collection)).run(this.#head, change.id)
      if (change.data === undefined && replaced !== undefined && replaced.collection === change.collection && replaced.id === change.id)
        this.connection.statement(COALESCE_CHANGE_SQL).run(replaced.seq, change.collection, change.id)
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
      // Appends may have been undone: the head is read again when next needed.
      this.#head = undefined
      this.#replaced = undefined
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
