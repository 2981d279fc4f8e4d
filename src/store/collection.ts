import { READ_LATER, type Backend, type ReadNowTx, type ReadTx, type RecordRow, type WriteTx } from '../backends/backend.js'
import { ConflictError, OwnershipError, notFound } from '../errors.js'
import { historyFields, readHistory } from './history.js'
import type { AnyData, CollectionSettings } from './config.js'
import { checkData, mergePatch } from './data.js'
import { validateData } from './validate.js'
import { checkId, newId } from './ids.js'
import { parseFindOptions, parseWhere, type FindOptions, type UntypedWhere, type Where } from './query.js'
import { checkQueryFields } from './query-fields.js'
import type { WriteJob } from './write-queue.js'
import type { ChangeStream } from '../changes/change-stream.js'
import type { Change, ChangeStart, ChangesOptions, FeedResume } from '../changes/change.js'
import { watchCollection, type WatchedStream } from './watch.js'
import { toPage, toRecord, toRecords, type Page, type StoredRecord } from './stored-record.js'
import type { Query } from '../backends/backend.js'

export interface VersionOptions {
  /** Only write if the record is at this version now; otherwise ConflictError and nothing changes. */
  ifVersion?: number
}

export interface InsertOptions {
  /** Your own id instead of a generated one (1-256 characters). DUPLICATE_ID if it exists. */
  id?: string
}

/** How a collection reaches the store: straight to the write queue, or into an open transaction. */
export interface Runner {
  /**
   * Runs one public operation; the store refuses new ones once closing, and close waits for these.
   * `op` may throw synchronously: the operation then rejects.
   */
  operation<T>(op: () => Promise<T>): Promise<T>
  write<T>(job: WriteJob<T>): Promise<T>
  read<T>(work: (tx: ReadTx) => Promise<T>): Promise<T>
  /**
   * Runs a read synchronously when the engine can and nothing stands in the way (see
   * Backend.readNow), else returns READ_LATER and the caller uses operation() and read().
   * Undefined when the engine never can, and inside a transaction.
   */
  readNow?: <T>(work: (tx: ReadNowTx) => T) => T | typeof READ_LATER
  /** Runs user code inside the open write `tx`, so store calls it makes join that transaction. */
  callback<T>(tx: WriteTx, body: () => T | Promise<T>): Promise<T>
  /** A change-feed reader on the store. */
  changes(options: ChangesOptions): ChangeStream
  /** The change log itself, for reading a record's history (absent inside migrations and seeds). */
  changeLog?: Pick<Backend, 'readChanges'>
  readonly role: string
}

export interface WatchOptions {
  /** Only changes of these record ids. */
  ids?: readonly string[]
  /** Default 'now'. */
  since?: ChangeStart
  /**
   * Called with an error the feed cannot go past (ChangesTrimmedError; the watch stops), one
   * `listener` threw (the watch goes on), or a FEED_INTERRUPTED TandemError when reading the change
   * log starts failing (the database away: the watch retries by itself); default: console.error.
   */
  onError?: (error: unknown) => void
  /** Called when the feed reads again after a FEED_INTERRUPTED; it goes on from where it was, nothing missed. */
  onResume?: (info: FeedResume) => void
}

export const DEFAULT_PAGE_SIZE = 100

export type { Page, StoredRecord } from './stored-record.js'
export { toRecord } from './stored-record.js'

function isAsyncFunction(fn: unknown): boolean {
  return Object.prototype.toString.call(fn) === '[object AsyncFunction]'
}

function checkVersionOption(options: VersionOptions | undefined): number | undefined {
  const v = options?.ifVersion
  if (v !== undefined && (!Number.isInteger(v) || v < 1)) throw new RangeError(`ifVersion must be a positive integer (got ${String(v)}).`)
  return v
}

/**
 * One collection of records. Every write is atomic and versioned; writes from a role that is not
 * among the collection's writers fail with OwnershipError before anything is touched. `T` is the
 * stored data type, `I` what the schema accepts (the same without a schema), `N` the collection's name.
 */
export class Collection<T = AnyData, I = T, N extends string = string> {
  readonly #settings: CollectionSettings
  readonly #runner: Runner

  /** @internal use store.collection(name) */
  constructor(settings: CollectionSettings, runner: Runner) {
    this.#settings = settings
    this.#runner = runner
  }

  get name(): N {
    return this.#settings.name as N
  }

  /** Inserts a new record at version 1. Resolves once committed; DUPLICATE_ID if the id is taken. */
  insert(data: I, options?: InsertOptions): Promise<StoredRecord<T>> {
    return this.#runner.operation(() => {
      this.#checkOwner()
      const id = options?.id === undefined ? newId() : checkId(options.id)
      // The hot path of group commit: without a schema the data is checked synchronously.
      if (this.#settings.schema === undefined) return this.#runner.write(this.#insertJob(id, checkData(this.name, data)))
      return this.#validate(data, id).then((checked) => this.#runner.write(this.#insertJob(id, checked)))
    })
  }

  /** Inserts several records in one transaction: all of them, or none. */
  insertMany(items: readonly I[]): Promise<StoredRecord<T>[]> {
    return this.#runner.operation(async () => {
      this.#checkOwner()
      if (!Array.isArray(items)) throw new TypeError(`insertMany takes an array of data objects (got ${typeof items}).`)
      const checked = await Promise.all(items.map((item) => this.#validate(item)))
      return this.#runner.write({
        atomic: false,
        work: async (tx) => {
          const records: StoredRecord<T>[] = []
          for (const data of checked) records.push(await this.#insertRow(tx, newId(), data))
          return records
        },
      })
    })
  }

  /** The record with this id, or undefined. */
  get(id: string): Promise<StoredRecord<T> | undefined> {
    // The hot path: outside a transaction SQLite answers at once, without a promise per layer.
    if (this.#runner.readNow !== undefined) {
      try {
        const row = this.#runner.readNow((tx) => tx.get(this.name, checkId(id)))
        if (row !== READ_LATER) return Promise.resolve(row === undefined ? undefined : toRecord<T>(row))
      } catch (error) {
        return Promise.reject(error)
      }
    }
    return this.#runner.operation(async () => {
      checkId(id)
      const row = await this.#runner.read((tx) => tx.get(this.name, id))
      return row === undefined ? undefined : toRecord<T>(row)
    })
  }

  /**
   * Atomic read-modify-write: `fn` gets the current data and returns the new data, while the
   * record is locked (SQLite: the store's write lock; PostgreSQL: the row lock), so no other write
   * can slip in between. Keep `fn` quick and free of side effects: on PostgreSQL a transaction
   * that hit a deadlock is retried, and `fn` runs again. An async `fn` may call the store: those
   * calls join this write. NOT_FOUND if the record is missing.
   */
  update(id: string, fn: (data: T) => I | Promise<I>, options?: VersionOptions): Promise<StoredRecord<T>> {
    return this.#runner.operation(async () => {
      this.#checkOwner()
      checkId(id)
      if (typeof fn !== 'function')
        throw new TypeError(
          `update takes a function (data) => newData (got ${typeof fn}); use replace() or patch() to write data directly.`,
        )
      const ifVersion = checkVersionOption(options)
      return this.#runner.write({
        atomic: false,
        work: async (tx) => {
          const row = await this.#current(tx, id, ifVersion)
          // An async fn may await calls to the store: they must join this write, not queue behind
          // it (which would wait forever while holding the lock). A plain fn cannot await anything.
          const next = isAsyncFunction(fn) ? await this.#runner.callback(tx, () => fn(row.data as T)) : await fn(row.data as T)
          return this.#rewrite(tx, row, next)
        },
      })
    })
  }

  /** Sets only the given top-level fields (`undefined` removes one), atomically. */
  patch(id: string, fields: Partial<I>, options?: VersionOptions): Promise<StoredRecord<T>> {
    return this.#runner.operation(async () => {
      this.#checkOwner()
      checkId(id)
      if (typeof fields !== 'object' || fields === null || Array.isArray(fields))
        throw new TypeError(`patch takes an object of fields (got ${Array.isArray(fields) ? 'an array' : typeof fields}).`)
      const ifVersion = checkVersionOption(options)
      return this.#runner.write({
        atomic: false,
        work: async (tx) => {
          const row = await this.#current(tx, id, ifVersion)
          return this.#rewrite(tx, row, mergePatch(row.data, fields as Record<string, unknown>) as I)
        },
      })
    })
  }

  /** Replaces the whole data of an existing record. NOT_FOUND if missing. */
  replace(id: string, data: I, options?: VersionOptions): Promise<StoredRecord<T>> {
    return this.#runner.operation(async () => {
      this.#checkOwner()
      checkId(id)
      const ifVersion = checkVersionOption(options)
      const checked = await this.#validate(data, id)
      return this.#runner.write({
        atomic: false,
        work: async (tx) => this.#writeRow(tx, await this.#current(tx, id, ifVersion), checked),
      })
    })
  }

  /** Replaces the record's data, or inserts it with this id when missing. */
  upsert(id: string, data: I, options?: VersionOptions): Promise<StoredRecord<T>> {
    return this.#runner.operation(async () => {
      this.#checkOwner()
      checkId(id)
      const ifVersion = checkVersionOption(options)
      const checked = await this.#validate(data, id)
      return this.#runner.write({
        atomic: false,
        work: async (tx) => {
          const row = await tx.get(this.name, id)
          if (row === undefined && ifVersion === undefined) return this.#insertRow(tx, id, checked)
          return this.#writeRow(tx, await this.#current(tx, id, ifVersion, row), checked)
        },
      })
    })
  }

  /** Deletes the record. Resolves false if it did not exist (unless ifVersion was given: then ConflictError). */
  delete(id: string, options?: VersionOptions): Promise<boolean> {
    return this.#runner.operation(async () => {
      this.#checkOwner()
      checkId(id)
      const ifVersion = checkVersionOption(options)
      return this.#runner.write({
        atomic: false,
        work: async (tx) => {
          const row = await tx.get(this.name, id)
          if (row === undefined && ifVersion === undefined) return false
          const current = await this.#current(tx, id, ifVersion, row)
          await tx.delete(this.name, id)
          await this.#logChange(tx, 'delete', current, Date.now())
          return true
        },
      })
    })
  }

  /**
   * The record's changes in the change log, oldest first: with history 'full' or 'diff' every version
   * the log keeps, each with its data; otherwise its latest change (coalescing). Data is only ever
   * that of the change's own version. Empty for an id the log has nothing of.
   */
  history(id: string): Promise<Change<T, N>[]> {
    return this.#runner.operation(async () => readHistory<Change<T, N>>(this.#runner.changeLog, this.name, checkId(id)))
  }

  /** Every record matching `where`, in `orderBy` order (default: creation order), up to `limit`. */
  find(options: FindOptions<T> = {}): Promise<StoredRecord<T>[]> {
    if (this.#runner.readNow !== undefined) {
      try {
        const rows = this.#runner.readNow((tx) => tx.find(this.name, this.#findQuery(options)))
        if (rows !== READ_LATER) return Promise.resolve(toRecords<T>(rows))
      } catch (error) {
        return Promise.reject(error)
      }
    }
    return this.#runner.operation(async () => {
      const query = this.#findQuery(options)
      return toRecords<T>(await this.#runner.read((tx) => tx.find(this.name, query)))
    })
  }

  #findQuery(options: FindOptions<T>): Query {
    const query = parseFindOptions(options as unknown as FindOptions)
    checkQueryFields(this.#settings, query.where, query.orderBy)
    // No cursor is made from a find: the engine need not read each row's sort value.
    query.sortValues = false
    return query
  }

  /**
   * One page of `find` (default 100 records) and the cursor of the next. Keyset pagination:
   * records inserted meanwhile never shift a page or appear twice.
   */
  findPage(options: FindOptions<T> = {}): Promise<Page<T>> {
    if (this.#runner.readNow !== undefined) {
      try {
        let limit = 0
        const rows = this.#runner.readNow((tx) => {
          const query = this.#pageQuery(options)
          limit = query.limit! - 1
          return tx.find(this.name, query)
        })
        if (rows !== READ_LATER) return Promise.resolve(toPage<T>(rows, limit))
      } catch (error) {
        return Promise.reject(error)
      }
    }
    return this.#runner.operation(async () => {
      const query = this.#pageQuery(options)
      return toPage<T>(await this.#runner.read((tx) => tx.find(this.name, query)), query.limit! - 1)
    })
  }

  /** The query of a page: one row more than the page, which tells whether another page follows. */
  #pageQuery(options: FindOptions<T>): Query {
    const query = parseFindOptions({ ...(options as unknown as FindOptions), limit: options.limit ?? DEFAULT_PAGE_SIZE })
    checkQueryFields(this.#settings, query.where, query.orderBy)
    query.limit! += 1
    return query
  }

  /** How many records match `where`. */
  count(where?: Where<T>): Promise<number> {
    return this.#runner.operation(async () => {
      const conditions = parseWhere(where as UntypedWhere | undefined)
      checkQueryFields(this.#settings, conditions)
      return this.#runner.read((tx) => tx.count(this.name, conditions))
    })
  }

  /**
   * Calls `listener` with every committed change of this collection, from any process, in seq
   * order, until the returned function is called. A listener that returns a promise is awaited
   * before the next change. Errors go to `onError`; a listener's error does not stop the feed.
   * Neither does the database going away: the watch reports FEED_INTERRUPTED to `onError`, retries
   * with backoff, calls `onResume` once it reads again and goes on after the last change delivered.
   */
  watch(listener: (change: Change<T, N>) => unknown, options: WatchOptions = {}): () => void {
    return watchCollection(this.name, listener, options, (o) => this.#runner.changes(o) as WatchedStream<Change<T, N>>)
  }

  #checkOwner(): void {
    const writers = this.#settings.writers
    if (writers !== '*' && !writers.has(this.#runner.role))
      throw new OwnershipError(this.name, this.#runner.role, this.#settings.writerList)
  }

  #validate(data: unknown, id?: string): Promise<AnyData> {
    return validateData(this.name, this.#settings.schema, data, id, this.#settings.unknownKeys)
  }

  /** The current row, checked against ifVersion. */
  async #current(tx: WriteTx, id: string, ifVersion: number | undefined, known?: RecordRow): Promise<RecordRow> {
    const row = known ?? (await tx.get(this.name, id))
    if (ifVersion !== undefined && row?.version !== ifVersion) throw new ConflictError(this.name, id, ifVersion, row?.version ?? null)
    if (row === undefined) throw notFound(this.name, id)
    return row
  }

  #insertJob(id: string, data: AnyData): WriteJob<StoredRecord<T>> {
    return { atomic: true, work: (tx) => this.#insertRow(tx, id, data) }
  }

  /**
   * Synchronous when the backend's statements are (SQLite): group commit then runs a batch of
   * inserts without an await, or a promise, per insert.
   */
  #insertRow(tx: WriteTx, id: string, data: AnyData): StoredRecord<T> | Promise<StoredRecord<T>> {
    const now = Date.now()
    const row: RecordRow = { id, version: 1, createdAt: now, updatedAt: now, role: this.#runner.role, data }
    const inserted = tx.insert(this.name, row)
    if (inserted !== undefined) return inserted.then(() => this.#logChange(tx, 'insert', row, now)).then(() => toRecord<T>(row))
    const logged = this.#logChange(tx, 'insert', row, now)
    return logged === undefined ? toRecord<T>(row) : logged.then(() => toRecord<T>(row))
  }

  async #rewrite(tx: WriteTx, row: RecordRow, data: unknown): Promise<StoredRecord<T>> {
    return this.#writeRow(tx, row, await this.#validate(data, row.id))
  }

  async #writeRow(tx: WriteTx, row: RecordRow, data: AnyData): Promise<StoredRecord<T>> {
    const next: RecordRow = {
      ...row,
      version: row.version + 1,
      updatedAt: Math.max(Date.now(), row.updatedAt),
      role: this.#runner.role,
      data,
    }
    await tx.update(this.name, next)
    await this.#logChange(tx, 'update', next, next.updatedAt, row.data)
    return toRecord<T>(next)
  }

  /** The change-log entry goes into the same transaction as the write: visible if and only if it commits. */
  #logChange(tx: WriteTx, op: 'insert' | 'update' | 'delete', row: RecordRow, at: number, previous?: AnyData): Promise<void> | void {
    const kept = this.#settings.history === 'changes' ? undefined : historyFields(this.#settings, op, row.data, previous)
    return tx.appendChange({
      collection: this.name,
      id: row.id,
      op,
      version: row.version,
      role: this.#runner.role,
      at,
      data: kept?.data,
      ...(kept?.delta === undefined ? {} : { delta: kept.delta }),
    })
  }
}
