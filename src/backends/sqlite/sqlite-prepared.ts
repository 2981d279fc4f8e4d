import type { ChangeFilter } from '../backend.js'
import type { SqliteHandle, SqliteStatement } from './sqlite-config.js'
import {
  HAS_DELTA_COLUMN_SQL,
  HAS_TABLE_SQL,
  ROW_SQL,
  hasSeqColumnSql,
  readChangesSql,
  tableName,
  type RowStatement,
} from './sqlite-sql.js'

/**
 * One better-sqlite3 connection with its prepared-statement cache (the twin of
 * postgres-prepared.ts). Statements are keyed by SQL text; the text is built only from validated
 * identifiers, so the cache stays small.
 */
export class SqliteConnection {
  readonly #statements = new Map<string, SqliteStatement>()
  /** Per collection, the four row statements: looked up on every write without building SQL text. */
  readonly #rowStatements = new Map<string, Partial<Record<RowStatement, SqliteStatement>>>()
  readonly #changeReads = new Map<string, SqliteStatement>()
  /** Statements returning rows as arrays (see rawStatement), apart from the object-row ones of the same text. */
  readonly #rawStatements = new Map<string, SqliteStatement>()
  readonly #rawGets = new Map<string, SqliteStatement>()
  constructor(readonly handle: SqliteHandle) {}

  /** The row read by id of a collection, rows as arrays (see rawStatement). */
  rawGet(collection: string): SqliteStatement {
    let statement = this.#rawGets.get(collection)
    if (statement === undefined) this.#rawGets.set(collection, (statement = this.rawStatement(ROW_SQL.get(tableName(collection)))))
    return statement
  }

  /**
   * A statement whose rows come back as arrays of column values: the driver builds an array
   * faster than an object with named properties, and the reads that return many rows (find) or
   * run most often (get) build their own record from it.
   */
  rawStatement(sql: string): SqliteStatement {
    let statement = this.#rawStatements.get(sql)
    if (statement === undefined) {
      statement = this.handle.prepare(sql).raw(true)
      this.#rawStatements.set(sql, statement)
    }
    return statement
  }

  rowStatement(kind: RowStatement, collection: string): SqliteStatement {
    let forCollection = this.#rowStatements.get(collection)
    if (forCollection === undefined) this.#rowStatements.set(collection, (forCollection = {}))
    return (forCollection[kind] ??= this.statement(ROW_SQL[kind](tableName(collection))))
  }

  /**
   * The read of the change log for a filter's shape (how many collections and ids it names),
   * prepared once: a follower reads on every commit, and building the SQL text each time made it
   * the largest allocation of a delivery.
   */
  changeRead(filter: ChangeFilter | undefined): SqliteStatement {
    // With the delta column or without: a read-only open of an older log prepares the read
    // without it, and prepares again once a read-write process has added it.
    const delta = this.hasDeltaColumn()
    const key = `${filter?.collections?.length ?? '-'} ${filter?.ids?.length ?? '-'} ${delta}`
    let statement = this.#changeReads.get(key)
    if (statement === undefined) this.#changeReads.set(key, (statement = this.statement(readChangesSql(filter, delta))))
    return statement
  }

  /** Whether the change log has its delta column (every read-write open adds it; a read-only one of an older log finds none). */
  hasDeltaColumn(): boolean {
    return (this.#hasDelta ||= this.statement(HAS_DELTA_COLUMN_SQL).get() !== undefined)
  }

  #hasDelta = false

  /** Whether the collection's table has the seq column; once it has, asked no more. */
  hasSeqColumn(collection: string): boolean {
    if (this.#withSeq.has(collection)) return true
    const has = this.statement(hasSeqColumnSql(collection)).get() !== undefined
    if (has) this.#withSeq.add(collection)
    return has
  }

  readonly #withSeq = new Set<string>()

  /**
   * Whether the collection has a table, asked of the schema each time (cheap: SQLite keeps it in
   * memory), since another process may create or drop one at any time.
   */
  hasTable(collection: string): boolean {
    return this.statement(HAS_TABLE_SQL).get(`c_${collection}`) !== undefined
  }

  statement(sql: string): SqliteStatement {
    let statement = this.#statements.get(sql)
    if (statement === undefined) {
      statement = this.handle.prepare(sql)
      this.#statements.set(sql, statement)
    }
    return statement
  }
}
