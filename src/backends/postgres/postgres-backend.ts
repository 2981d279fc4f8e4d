import pg from 'pg'
import { maskUrl } from './postgres-url.js'
import {
  DEFAULT_CAPABILITIES,
  markTransactionAborted,
  type Backend,
  type BackendCapabilities,
  type ChangeBatch,
  type ChangeFilter,
  type ChangeRow,
  type CollectionLayout,
  type JsonObject,
  type Query,
  type ReadTx,
  type StorageInfo,
  type WriteOptions,
  type WriteTx,
} from '../backend.js'
import { StorageError } from '../../errors.js'
import {
  POSTGRES_APPLICATION_NAME,
  POSTGRES_FALLBACK_POLL_MS,
  POSTGRES_LISTEN_APPLICATION_NAME,
  checkPostgresConfig,
  type PostgresConfig,
  type PostgresPool,
  type PostgresPoolClient,
  type PostgresQuery,
  type PostgresResult,
} from './postgres-config.js'
import {
  isConnectFailure,
  isConnectionLoss,
  isSessionTimeout,
  outcomeUnknown,
  sqlState,
  translatePostgresError,
  type ErrorContext,
} from './postgres-errors.js'
import {
  MAX_TRANSACTION_ATTEMPTS,
  backoff,
  isLostAtBegin,
  isRetryable,
  lockTimeoutSql,
  type TransactionRetryStats,
} from './postgres-locks.js'
import { ChangeCache } from './postgres-change-cache.js'
import { CommitListener, type PostgresListenClient } from './postgres-notify.js'
import { FORMAT_VERSION, PostgresSql } from './postgres-sql.js'
import { checkPreparedStatements, type Session } from './postgres-prepared.js'
import { PostgresReader } from './postgres-reader.js'
import { PostgresWriteTx, type WaitStats } from './postgres-transaction.js'

interface RawChange {
  head: number
  trimmed: number
  seq: number | null
  collection: string
  id: string
  op: ChangeRow['op']
  version: number
  role: string
  at: number
  data: JsonObject | null
}

function decodeChange(raw: RawChange): ChangeRow {
  const change: ChangeRow = {
    seq: raw.seq!,
    collection: raw.collection,
    id: raw.id,
    op: raw.op,
    version: raw.version,
    role: raw.role,
    at: raw.at,
  }
  if (raw.data !== null) change.data = raw.data
  return change
}

/**
 * The pool's connections. Each one listens to its own 'error' events from birth: the pool and the
 * backend add listeners only while a connection is idle or checked out, and a connection that dies
 * in between (terminated during its start-up, or after a failed checkout or close() let it go)
 * would otherwise emit an 'error' nobody hears, which crashes the process. The backend still
 * learns of it: the pool's idle listener counts it, a checked-out session records it as lost.
 */
class PooledClient extends pg.Client {
  constructor(config?: pg.ClientConfig) {
    super(config)
    this.on('error', () => undefined)
  }
}

/** Pooled connections whose session already has the settings every write needs (see beginSql). */
const configured = new WeakSet<object>()

/**
 * How every write transaction starts. synchronous_commit on for both durability settings:
 * PostgreSQL has no crash-safe mode cheaper than a flushed WAL, and a server configured with it
 * off must not weaken ours; lock_timeout is the store's busyTimeoutMs. Both are session settings,
 * sent with the first transactions of a connection until one of them commits (a rolled-back SET
 * is undone with it; `write` marks the connection after COMMIT): two statements fewer in every
 * later transaction. A write with its own busyTimeoutMs adds SET LOCAL.
 */
function beginSql(busyTimeoutMs: number, storeTimeoutMs: number, client: object): string {
  const statements = ['BEGIN ISOLATION LEVEL READ COMMITTED']
  if (!configured.has(client)) statements.push('SET synchronous_commit = on', lockTimeoutSql(storeTimeoutMs, 'session'))
  if (busyTimeoutMs !== storeTimeoutMs) statements.push(lockTimeoutSql(busyTimeoutMs))
  return statements.join('; ')
}

/** int8 columns (seq, versions, milliseconds) as JS numbers: all stay far below 2^53. numeric stays a string. */
const parseInt8 = (value: string): number => Number(value)
const TYPES = {
  // Called for every column of every result: one shared parser, not a closure each time.
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === pg.types.builtins.INT8 ? parseInt8 : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
}

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
    this.#pool = new pg.Pool({
      connectionString: config.url,
      max: config.poolSize,
      application_name: `${POSTGRES_APPLICATION_NAME}:${config.schema}`,
      types: TYPES,
      keepAlive: true,
      // Idle connections do not keep the process alive; a live change reader (the listener) does.
      allowExitOnIdle: true,
      idleTimeoutMillis: 30_000,
      connectionTimeoutMillis: Math.max(10_000, config.busyTimeoutMs),
      Client: PooledClient,
    }) as unknown as PostgresPool
    // An idle pooled connection that dies (server restart, pg_terminate_backend) is reported here,
    // outside any call. Unhandled, the 'error' event would crash the process; the pool has already
    // dropped the connection, and the next checkout opens a new one.
    this.#pool.on('error', () => {
      this.poolErrors++
    })
    this.#reader = new PostgresReader(this.#sql, (query, context) => this.#query(query, context))
    this.#listener = new CommitListener({
      createClient: () =>
        new pg.Client({
          connectionString: config.url,
          application_name: `${POSTGRES_LISTEN_APPLICATION_NAME}:${config.schema}`,
          keepAlive: true,
          connectionTimeoutMillis: 10_000,
        }) as unknown as PostgresListenClient,
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
      const session = await this.#checkout()
      // BEGIN travels with the transaction's first statement (see PostgresWriteTx).
      const begin = beginSql(busyTimeoutMs, this.#config.busyTimeoutMs, session.client)
      const tx = new PostgresWriteTx(this.#sql, session, { busyTimeoutMs, url: this.#url, inWrite: true }, this.#waits, begin)
      let commitSent = false
      try {
        const result = await work(tx)
        const commit = tx.commitSql()
        commitSent = true
        await this.#commit(session, commit, busyTimeoutMs, tx.commitContext)
        configured.add(session.client)
        return result
      } catch (error) {
        if (!commitSent && tx.started) await this.#rollback(session)
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
        this.#release(session)
      }
    }
  }

  async read<T>(work: (tx: ReadTx) => Promise<T>): Promise<T> {
    return work(this.#reader)
  }

  async readChanges(cursor: number, limit: number, filter?: ChangeFilter): Promise<ChangeBatch> {
    const cached = this.#changeCache.read(cursor, limit, filter)
    if (cached !== undefined) {
      this.feedStats.fromNotifications++
      return cached
    }
    this.feedStats.fromLog++
    const { rows } = await this.#query<RawChange>(this.#sql.readChangesSql(cursor, limit, filter))
    const first = rows[0]
    if (first === undefined)
      throw new StorageError(
        `The change log of schema ${this.#sql.schema} has no head row; the store was not prepared, or was damaged.`,
        undefined,
      )
    this.#changeCache.noteTrimmedThrough(first.trimmed)
    const changes = rows.filter((r) => r.seq !== null).map(decodeChange)
    const scannedThrough = changes.length === limit ? changes[changes.length - 1]!.seq : first.head
    return { changes, scannedThrough, trimmedThrough: first.trimmed }
  }

  async changeHead(): Promise<number> {
    const { rows } = await this.#query<{ head: number }>(this.#sql.changeHeadSql())
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

  /** The server, database and schema; bytes are the schema's tables with their indexes and TOAST. */
  async storageInfo(): Promise<StorageInfo> {
    const { rows } = await this.#query<{ bytes: string }>(this.#sql.schemaBytesSql())
    return { location: `${this.#url} schema ${this.#config.schema}`, bytes: Number(rows[0]?.bytes ?? 0) }
  }

  /**
   * Checks what this backend promises about its own tables: the format, and a change log that is
   * contiguous (no seq missing between the trim mark and the newest entry, none at or below the
   * mark). ['ok'] when sound, else one line per problem. (PostgreSQL checks its own pages and WAL itself.)
   */
  async checkIntegrity(): Promise<string[]> {
    const { rows } = await this.#query<{
      format: string | null
      trimmed: number | null
      low: number | null
      high: number | null
      n: number
    }>(this.#sql.integritySql())
    const r = rows[0]!
    const problems: string[] = []
    if (r.format !== FORMAT_VERSION) problems.push(`meta format is ${r.format ?? 'missing'}, expected ${FORMAT_VERSION}`)
    if (r.trimmed === null) problems.push('the change-log trim mark is missing from the meta table')
    else if (r.high !== null) {
      const expected = r.high - r.trimmed
      if (r.n !== expected)
        problems.push(`the change log holds ${r.n} changes between seq ${r.trimmed} and ${r.high}, expected ${expected}: some are missing`)
      if (r.low !== null && r.low <= r.trimmed)
        problems.push(`the change log still holds seq ${r.low}, at or below its trim mark ${r.trimmed}`)
    }
    return problems.length === 0 ? ['ok'] : problems
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

  async #checkout(): Promise<Session> {
    let client: PostgresPoolClient
    try {
      client = await this.#pool.connect()
    } catch (error) {
      throw translatePostgresError(error, { operation: 'write', url: this.#url })
    }
    const session: Session = { client, lost: undefined, onError: () => undefined }
    // A checked-out connection has no pool listener: without ours, a socket error between two
    // statements would be an unhandled 'error' event.
    session.onError = (error) => {
      session.lost ??= error
    }
    client.on('error', session.onError)
    return session
  }

  #release(session: Session): void {
    session.client.removeListener('error', session.onError)
    // A failed connection is closed instead of going back to the pool.
    session.client.release(session.lost === undefined ? undefined : session.lost instanceof Error ? session.lost : true)
  }

  async #rollback(session: Session): Promise<void> {
    if (session.lost !== undefined) return
    // (A transaction whose BEGIN was never sent gets a harmless "no transaction in progress" warning.)
    try {
      await session.client.query('ROLLBACK')
    } catch (error) {
      session.lost = error
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
        await this.#rollback(session)
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
      await this.#rollback(session)
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
