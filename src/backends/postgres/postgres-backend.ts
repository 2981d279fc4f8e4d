import {
  DEFAULT_CAPABILITIES,
  markTransactionAborted,
  type Backend,
  type BackendCapabilities,
  type ChangeBatch,
  type ChangeRow,
  type ChangeFilter,
  type CollectionLayout,
  type Query,
  type ReadTx,
  type StorageInfo,
  type StorageSizes,
  type ReclaimReport,
  type WriteOptions,
  type WriteTx,
} from '../backend.js'
import { StorageError } from '../../errors.js'
import { attachRecordData, idsToLookUp, type CurrentRecord } from '../change-data.js'
import { rebuildFromDeltas } from '../change-history.js'
import { readDeltaChains } from './postgres-history.js'
import { ChangeCache } from './postgres-change-cache.js'
import { changeBatchOf, changeLogProblems, type ChangeLogFacts, type RawChange } from './postgres-changes.js'
import {
  POSTGRES_FALLBACK_POLL_MS,
  checkPostgresConfig,
  type PostgresConfig,
  type PostgresPool,
  type PostgresQuery,
  type PostgresResult,
} from './postgres-config.js'
import {
  beginSql,
  checkout,
  createListenClient,
  createPool,
  markConfigured,
  release,
  rollback,
  type Session,
} from './postgres-connection.js'
import {
  isConnectFailure,
  isConnectionLoss,
  isSessionTimeout,
  outcomeUnknown,
  sqlState,
  translatePostgresError,
  type ErrorContext,
} from './postgres-errors.js'
import { MAX_TRANSACTION_ATTEMPTS, backoff, isLostAtBegin, isRetryable, type TransactionRetryStats } from './postgres-locks.js'
import { checkPreparedStatements } from './postgres-prepared.js'
import { PostgresReader } from './postgres-reader.js'
import { readPostgresSizes } from './postgres-sizes.js'
import { PostgresSql } from './postgres-sql.js'
import { PostgresWriteTx } from './postgres-transaction.js'
import type { WaitStats } from './postgres-write-session.js'
import { maskUrl } from './postgres-url.js'
import { CommitListener } from './postgres-wake.js'

/**
 * The PostgreSQL backend. A pg Pool (postgres.poolSize connections) for reads and writes; each write
 * is one READ COMMITTED transaction on one pooled connection, with lock_timeout = busyTimeoutMs.
 * Several writers of different records commit in parallel (row locks); change-writing transactions
 * take turns only for their last statement and COMMIT. A dedicated connection LISTENs for commits
 * of other processes. See docs/postgres.md.
 */
export class PostgresBackend implements Backend {
  readonly kind = 'postgres' as const
  readonly capabilities: BackendCapabilities = Object.freeze({
    ...DEFAULT_CAPABILITIES,
    transactionalDdl: true,
    pushNotify: true,
    rowLocks: true,
    concurrentAtomicWrites: true,
  })
  /** Transaction retries and reconnects of this process, for status and benchmarks. */
  readonly retryStats: TransactionRetryStats = { retries: 0, reconnects: 0 }
  /** Change-log reads of this process answered from notifications (no query) and from the table, for status and tests. */
  readonly feedStats = { fromNotifications: 0, fromLog: 0 }
  /** Errors the pool reported on idle connections (a terminated backend, a restarted server): counted, never thrown. */
  poolErrors = 0
  readonly #waits: WaitStats = { longestWaitMs: 0 }

  readonly #config: Readonly<PostgresConfig>
  readonly #pool: PostgresPool
  readonly #sql: PostgresSql
  readonly #reader: PostgresReader
  readonly #listener: CommitListener
  /** Changes carried by notifications: a woken reader gets them without reading the log. */
  readonly #changeCache = new ChangeCache()
  readonly #url: string
  #closing: Promise<void> | undefined

  private constructor(config: Readonly<PostgresConfig>) {
    this.#config = config
    this.#url = maskUrl(config.url)
    this.#sql = new PostgresSql(config.schema)
    this.#pool = createPool(config)
    // An idle pooled connection that dies (server restart, pg_terminate_backend) is reported here,
    // outside any call. Unhandled, the 'error' event would crash the process; the pool has already
    // dropped the connection, and the next checkout opens a new one.
    this.#pool.on('error', () => {
      this.poolErrors++
    })
    this.#reader = new PostgresReader(this.#sql, (query, context) => this.#query(query, context))
    this.#listener = new CommitListener({
      createClient: () => createListenClient(config),
      channel: this.#sql.channel,
      readHead: () => this.changeHead(),
      pollMs: POSTGRES_FALLBACK_POLL_MS,
      onPayload: (payload) => this.#changeCache.receive(payload),
      onGap: () => this.#changeCache.clear(),
    })
  }

  /** Creates the backend; nothing connects until the first call (prepare, normally). */
  static async open(config: PostgresConfig): Promise<PostgresBackend> {
    return new PostgresBackend(checkPostgresConfig(config))
  }

  /**
   * Lock contention seen by this process: transactions run again (deadlock, serialization failure,
   * stale read), and the longest a statement waited for locks (a COMMIT's includes its WAL flush).
   */
  get busyStats(): { retries: number; longestWaitMs: number } {
    return { retries: this.retryStats.retries, longestWaitMs: this.#waits.longestWaitMs }
  }

  /** The schema holding this store. */
  get schema(): string {
    return this.#config.schema
  }

  /** The dedicated LISTEN connection, for status and tests: how often it has come up. */
  get listenerConnections(): number {
    return this.#listener.connections
  }

  async prepare(collections: readonly CollectionLayout[]): Promise<void> {
    await this.write((tx) => (tx as PostgresWriteTx).prepareStore(collections))
  }

  async write<T>(work: (tx: WriteTx) => Promise<T>, options: WriteOptions = {}): Promise<T> {
    const busyTimeoutMs = options.busyTimeoutMs ?? this.#config.busyTimeoutMs
    let reconnects = 0
    for (let attempt = 1; ;) {
      const session = await checkout(this.#pool, this.#url)
      // BEGIN travels with the transaction's first statement (see PostgresWriteTx).
      const begin = beginSql(busyTimeoutMs, this.#config.busyTimeoutMs, session.client)
      const tx = new PostgresWriteTx(this.#sql, session, { busyTimeoutMs, url: this.#url, inWrite: true }, this.#waits, begin)
      let commitSent = false
      try {
        const result = await work(tx)
        const commit = tx.commitSql()
        commitSent = true
        await this.#commit(session, commit, busyTimeoutMs, tx.commitContext)
        markConfigured(session.client)
        return result
      } catch (error) {
        if (!commitSent && tx.started) await rollback(session)
        // The connection died while idle in the pool, found by the message that carried BEGIN:
        // nothing of the transaction happened, so it runs again on a fresh connection.
        if (isLostAtBegin(error) && reconnects < this.#config.poolSize && this.#closing === undefined) {
          reconnects++
          this.retryStats.reconnects++
          continue
        }
        // Deadlock, serialization failure or stale read, before any job of a batch finished: PostgreSQL
        // (or we) undid all of it, and running the work again is the fix (see isRetrySafe).
        if (isRetryable(error) && attempt < MAX_TRANSACTION_ATTEMPTS && this.#closing === undefined) {
          this.retryStats.retries++
          await backoff(attempt++)
          continue
        }
        throw error
      } finally {
        release(session)
      }
    }
  }

  async read<T>(work: (tx: ReadTx) => Promise<T>): Promise<T> {
    return work(this.#reader)
  }

  /**
   * Changes after `cursor`, from the notifications' cache or the log, with the data of their records
   * (see change-data.ts). The records are read after the log, not in its snapshot (that would take
   * a transaction: two more round trips per read); a record's version only grows, so the data is
   * still never older than the change, and dataVersion says which version it is.
   */
  async readChanges(cursor: number, limit: number, filter?: ChangeFilter): Promise<ChangeBatch> {
    const batch = await this.#readChangeBatch(cursor, limit, filter)
    const [found, chains] = await Promise.all([
      this.#currentRecords(batch.changes),
      readDeltaChains(<R>(query: PostgresQuery) => this.#query<R>(query).then((r) => r.rows), this.#sql.changeLog, batch.changes),
    ])
    rebuildFromDeltas(batch.changes, chains, found)
    attachRecordData(batch.changes, found)
    return batch
  }

  /** The current records a batch's changes name: one statement per collection, sent together. */
  async #currentRecords(changes: readonly ChangeRow[]): Promise<Map<string, Map<string, CurrentRecord>>> {
    const lookups = [...idsToLookUp(changes)].map(async ([collection, ids]) => {
      const records = new Map<string, CurrentRecord>()
      try {
        const { rows } = await this.#query<CurrentRecord>(this.#sql.recordsByIdSql(collection, ids), { collection })
        for (const row of rows) records.set(row.id, { id: row.id, version: Number(row.version), data: row.data })
      } catch (error) {
        // A collection dropped since has no records: its changes become tombstones.
        if (sqlState((error as { cause?: unknown }).cause) !== '42P01') throw error
      }
      return [collection, records] as const
    })
    return new Map(await Promise.all(lookups))
  }

  async #readChangeBatch(cursor: number, limit: number, filter?: ChangeFilter): Promise<ChangeBatch> {
    const cached = this.#changeCache.read(cursor, limit, filter)
    if (cached !== undefined) {
      this.feedStats.fromNotifications++
      return cached
    }
    this.feedStats.fromLog++
    const { rows } = await this.#query<RawChange>(this.#sql.changeLog.readChangesSql(cursor, limit, filter))
    const first = rows[0]
    if (first === undefined)
      throw new StorageError(
        `The change log of schema ${this.#sql.schema} has no head row; the store was not prepared, or was damaged.`,
        undefined,
      )
    this.#changeCache.noteTrimmedThrough(first.trimmed)
    return changeBatchOf(first, rows, limit)
  }

  async changeHead(): Promise<number> {
    const { rows } = await this.#query<{ head: number }>(this.#sql.changeLog.changeHeadSql())
    return rows[0]?.head ?? 0
  }

  watchCommits(onCommit: () => void): () => void {
    return this.#listener.subscribe(onCommit)
  }

  /** PostgreSQL's plan for a find (EXPLAIN): shows which index it uses. */
  async explainFind(collection: string, query: Query): Promise<string> {
    const { text, values } = this.#sql.findSql(collection, query)
    const { rows } = await this.#query<{ 'QUERY PLAN': string }>({ text: `EXPLAIN ${text}`, values: values ?? [] })
    return rows.map((r) => r['QUERY PLAN']).join('\n')
  }

  /**
   * VACUUM (not FULL) of each of the store's tables, one at a time: marks dead tuples' room for
   * reuse and truncates empty pages at a table's end, under a lock that does not block reads or
   * writes (FULL would take an exclusive lock for a rewrite). Sizes are the schema's relations.
   */
  async reclaimSpace(): Promise<ReclaimReport> {
    const size = async () => Number((await this.#query<{ bytes: string }>(this.#sql.schemaBytesSql())).rows[0]?.bytes ?? 0)
    const bytesBefore = await size()
    const { rows } = await this.#query<{ name: string }>({
      text: `SELECT c.relname AS "name" FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r' ORDER BY 1`,
      values: [this.#sql.schemaName],
    })
    let longestBlockMs = 0
    for (const { name } of rows) {
      const started = performance.now()
      await this.#query({ text: `VACUUM ${this.#sql.table(name)}` })
      longestBlockMs = Math.max(longestBlockMs, performance.now() - started)
    }
    return {
      bytesBefore,
      bytesAfter: await size(),
      rewritten: false,
      longestBlockMs: Math.round(longestBlockMs * 10) / 10,
      steps: rows.length,
    }
  }

  async storageSizes(): Promise<StorageSizes> {
    return readPostgresSizes(this.#sql, (query) => this.#query(query))
  }

  /** The server, database and schema; bytes are the schema's tables with their indexes and TOAST. */
  async storageInfo(): Promise<StorageInfo> {
    const { rows } = await this.#query<{ bytes: string }>(this.#sql.schemaBytesSql())
    return { location: `${this.#url} schema ${this.#config.schema}`, bytes: Number(rows[0]?.bytes ?? 0) }
  }

  /**
   * Checks what this backend promises about its own tables (see changeLogProblems): ['ok'] when
   * sound, else one line per problem. (PostgreSQL checks its own pages and WAL itself.)
   */
  async checkIntegrity(): Promise<string[]> {
    const { rows } = await this.#query<ChangeLogFacts>(this.#sql.changeLog.integritySql())
    return changeLogProblems(rows[0]!)
  }

  async close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#listener.close()
      await this.#pool.end()
    })()
    return this.#closing
  }

  /** One statement on a pooled connection. A connection the server dropped while idle is replaced once per pool slot. */
  async #query<R>(query: PostgresQuery, context: ErrorContext = {}): Promise<PostgresResult<R>> {
    for (let tries = 0; ; tries++) {
      try {
        return await this.#pool.query<R>(query)
      } catch (error) {
        // A read is safe to send again, even had the server run it before the connection died.
        if (isConnectionLoss(error) && !isConnectFailure(error) && tries < this.#config.poolSize && this.#closing === undefined) continue
        throw translatePostgresError(error, { ...context, url: this.#url })
      }
    }
  }

  async #commit(session: Session, commit: string, busyTimeoutMs: number, writes: ErrorContext): Promise<void> {
    // The message may carry the transaction's last writes (see PostgresWriteTx): its errors are theirs.
    const context: ErrorContext = { ...writes, operation: 'write', url: this.#url, busyTimeoutMs }
    if (session.lost !== undefined) {
      // The connection died before COMMIT was sent: the server has rolled the transaction back.
      throw markTransactionAborted(translatePostgresError(session.lost, context))
    }
    let result: PostgresResult | PostgresResult[]
    const started = performance.now()
    try {
      result = await session.client.query(commit)
      // With changes, COMMIT first waits its turn for the change-log lock.
      if (commit !== 'COMMIT') this.#waits.longestWaitMs = Math.max(this.#waits.longestWaitMs, performance.now() - started)
    } catch (error) {
      checkPreparedStatements(session, error)
      if (sqlState(error) !== undefined && !isConnectionLoss(error)) {
        // A server error in answer (a lock timeout on the change log, a deferred constraint at
        // COMMIT): the transaction did not commit. Leave the connection clean for the pool.
        await rollback(session)
        throw markTransactionAborted(translatePostgresError(error, context))
      }
      session.lost ??= error
      // The server ended the session while it sat idle in the transaction (its timeout): it never
      // ran this COMMIT, so the write definitely did not happen.
      if (isSessionTimeout(session.lost)) throw markTransactionAborted(translatePostgresError(session.lost, context))
      // The connection failed with COMMIT sent: it may have been carried out, its answer lost.
      throw markTransactionAborted(outcomeUnknown(error))
    }
    const last = Array.isArray(result) ? result[result.length - 1] : result
    if (last?.command !== 'COMMIT') {
      await rollback(session)
      throw markTransactionAborted(
        new StorageError(
          'PostgreSQL rolled the transaction back at COMMIT (a statement in it had failed); nothing was written. Retry the write.',
          undefined,
        ),
      )
    }
  }
}

/**
 * Opens the PostgreSQL backend; `openStore({ url: 'postgres://…' })` calls this (loading `pg` only
 * then). Rejects with TypeError/RangeError on a bad config; connection problems surface on the
 * first call, as STORAGE_FAILURE errors naming the server.
 *
 * @example
 * const store = await openStore({ url: 'postgres://app@db:5432/app', role: 'api', collections, postgres: { schema: 'tandem', poolSize: 10 } })
 */
export async function openPostgresBackend(config: PostgresConfig): Promise<Backend> {
  return PostgresBackend.open(config)
}
