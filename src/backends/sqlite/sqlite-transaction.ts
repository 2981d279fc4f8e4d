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
import { pruneHistory } from './sqlite-history.js'
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
  /** The newest seq in the log, read at the first write of the transaction; each append moves it. */
  #head: number | undefined
  /**
   * Per record written and not yet appended (collection NUL id): the seq its row was given, the
   * one its append is expected to take, and the seq of the entry the write replaced, which that
   * append coalesces (see COALESCE_CHANGE_SQL).
   */
  readonly #pending = new Map<string, { seq: number; replaced: number | null | undefined }>()

  #json(data: JsonObject): string {
    if (data !== this.#lastData) {
      this.#lastJson = JSON.stringify(data)
      this.#lastData = data
    }
    return this.#lastJson
  }

  /**
   * The seq a record row is given: the one its change-log entry will take. The log's rowid is
   * max + 1, nothing but this transaction appends now, and the store appends each record's entry
   * after its write, in the order of the writes (appendChange checks, and corrects the row if not).
   */
  #seqFor(collection: string, id: string, replaced: number | null | undefined): number {
    this.#head ??= (this.connection.statement(CHANGE_HEAD_SQL).get() as { head: number }).head
    const seq = this.#head + 1 + this.#pending.size
    this.#pending.set(`${collection}\u0000${id}`, { seq, replaced })
    return seq
  }

  insert(collection: string, row: RecordRow): void {
    const statement = this.#rowWrite('insert', collection)
    try {
      statement.run(
        row.id,
        row.version,
        row.createdAt,
        row.updatedAt,
        row.role,
        this.#json(row.data),
        this.#seqFor(collection, row.id, undefined),
      )
    } catch (error) {
      this.#pending.delete(`${collection}\u0000${row.id}`)
      throw this.#failed(error, collection, row.id)
    }
  }

  update(collection: string, row: RecordRow): void {
    const statement = this.#rowWrite('update', collection)
    try {
      const previous = (this.connection.rowStatement('seq', collection).get(row.id) as { seq: number | null } | undefined)?.seq
      statement.run(row.version, row.updatedAt, row.role, this.#json(row.data), this.#seqFor(collection, row.id, previous), row.id)
    } catch (error) {
      this.#pending.delete(`${collection}\u0000${row.id}`)
      throw this.#failed(error, collection, row.id)
    }
  }

  delete(collection: string, id: string): void {
    const statement = this.#rowWrite('delete', collection)
    try {
      const previous = (statement.get(id) as { seq: number | null } | undefined)?.seq
      if (previous != null) this.#pending.set(`${collection}\u0000${id}`, { seq: 0, replaced: previous })
    } catch (error) {
      throw this.#failed(error, collection, id)
    }
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
    const key = `${change.collection}\u0000${change.id}`
    const pending = this.#pending.get(key)
    this.#pending.delete(key)
    try {
      const { lastInsertRowid } = statement.run(
        change.collection,
        change.id,
        change.op,
        change.version,
        change.role,
        change.at,
        change.data === undefined ? null : this.#json(change.data),
        change.delta === undefined ? null : JSON.stringify(change.delta),
      )
      const seq = Number(lastInsertRowid)
      this.#head = Math.max(this.#head ?? 0, seq)
      // The record row names its entry, whatever was predicted (a write appended out of order).
      if ((change.op === 'insert' || change.op === 'update') && pending?.seq !== seq)
        this.connection.statement(setSeqSql(change.collection)).run(seq, change.id)
      if (change.data === undefined && change.delta === undefined && pending?.replaced != null)
        this.connection.statement(COALESCE_CHANGE_SQL).run(pending.replaced, change.collection, change.id)
    } catch (error) {
      throw this.#failed(error, change.collection, change.id)
    }
  }

  async trimChanges(retention: ChangeRetention, now: number): Promise<number> {
    return pruneHistory(this.connection, retention.history, steadyNow(now)) + this.#trimLog(retention, now)
  }

  #trimLog(retention: ChangeRetention, now: number): number {
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
      this.#pending.clear()
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
