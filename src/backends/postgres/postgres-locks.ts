import { createHash } from 'node:crypto'
import type { PostgresQuery } from './postgres-config.js'

/**
 * Locks and retries of the PostgreSQL backend. Row locks come from the engine (SELECT ... FOR
 * UPDATE); everything else that must be exclusive across processes and hosts is an advisory lock
 * held until the transaction ends (pg_advisory_xact_lock), so a process that dies mid-way can never
 * leave one behind: PostgreSQL drops it with the session.
 */

/**
 * The 64-bit advisory-lock key of `parts` in a schema, as a decimal string for a `$n::bigint`
 * parameter. Keys of different schemas (stores) never meet; a hash collision only means two
 * unrelated things take turns.
 */
export function advisoryKey(schema: string, ...parts: string[]): string {
  const name = [schema, ...parts].join('\u0000')
  let key = KEYS.get(name)
  if (key === undefined) {
    key = createHash('sha256').update(name).digest().readBigInt64BE(0).toString()
    // Record keys (one per id looked up and missed) would grow without bound: start over now and then.
    if (KEYS.size >= MAX_KEYS) KEYS.clear()
    KEYS.set(name, key)
  }
  return key
}

/** Keys by name: a write takes two or three per transaction, and hashing each time costs more than a lookup. */
const KEYS = new Map<string, string>()
const MAX_KEYS = 10_000

/** The change-log lock: held from the moment a transaction takes its seqs until it commits. */
export function changeLogLockKey(schema: string): string {
  return advisoryKey(schema, 'changes')
}

/**
 * The predicate lock of a collection. Every write transaction takes it shared, once, before it
 * writes to the collection (folded into its first statement there); `find` and `count` inside a
 * write transaction take it exclusive, before they read. So a range read in a transaction cannot
 * miss a record another transaction inserts, or changes into the range, before it commits: the
 * writer waits, or the reader waits for the writer's commit and then sees it (no phantoms).
 */
export function collectionLockKey(schema: string, collection: string): string {
  return advisoryKey(schema, 'collection', collection)
}

/** Serializes DDL (prepare, ensureCollection, dropIndex, dropCollection) so racing processes cannot collide in the catalog. */
export function ddlLockKey(schema: string): string {
  return advisoryKey(schema, 'ddl')
}

/** WriteTx.lock(key): one name space per store. */
export function namedLockKey(schema: string, key: string): string {
  return advisoryKey(schema, 'lock', key)
}

/**
 * Taken when a write transaction looks for a record and finds none: the next transaction looking
 * for the same id waits here until this one ends, then sees the record if this one inserted it. So
 * two processes upserting one new id never both insert it (SELECT ... FOR UPDATE cannot lock a row
 * that does not exist yet).
 */
export function recordLockKey(schema: string, collection: string, id: string): string {
  return advisoryKey(schema, 'record', collection, id)
}

/** Waits for the exclusive advisory lock `key` (held until the transaction ends). */
export function lockSql(key: string): PostgresQuery {
  return { name: 'tandem_advisory_xact_lock', text: 'SELECT pg_advisory_xact_lock($1::bigint)', values: [key] }
}

/** Waits for the advisory lock `key` shared (held until the transaction ends). */
export function lockSharedSql(key: string): PostgresQuery {
  return { name: 'tandem_advisory_xact_lock_shared', text: 'SELECT pg_advisory_xact_lock_shared($1::bigint)', values: [key] }
}

/** Takes the exclusive advisory lock `key` if it is free, without waiting: `ok` says whether it did. */
export function tryLockSql(key: string): PostgresQuery {
  return { name: 'tandem_try_advisory_xact_lock', text: 'SELECT pg_try_advisory_xact_lock($1::bigint) AS ok', values: [key] }
}

/**
 * The lock_timeout for a write. busyTimeoutMs 0 means "do not wait" (as on SQLite); PostgreSQL
 * reads lock_timeout = 0 as "wait forever", so the shortest wait it knows, 1 ms, stands in for it.
 */
export function lockTimeoutSql(busyTimeoutMs: number, scope: 'transaction' | 'session' = 'transaction'): string {
  return `SET${scope === 'transaction' ? ' LOCAL' : ''} lock_timeout = '${Math.max(1, Math.floor(busyTimeoutMs))}ms'`
}

/** How many times a write transaction runs at most when PostgreSQL keeps cancelling it (deadlock, serialization failure). */
export const MAX_TRANSACTION_ATTEMPTS = 5

const RETRYABLE = Symbol.for('tandemdb.postgres.retryable')

/** Marks an error after which running the whole transaction again is both useful and safe. */
export function markRetryable<E>(error: E): E {
  if (typeof error === 'object' && error !== null) Object.defineProperty(error, RETRYABLE, { value: true })
  return error
}

export function isRetryable(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[RETRYABLE] === true
}

const STALE_MISS = Symbol.for('tandemdb.postgres.staleMiss')

/**
 * Marks a DUPLICATE_ID that proves an earlier read of this transaction stale: it looked for the id,
 * found nothing, and meanwhile another transaction committed that id. Running the work again (the
 * whole transaction, or just the savepoint) reads the record and takes the update path.
 */
export function markStaleMiss<E>(error: E): E {
  if (typeof error === 'object' && error !== null) Object.defineProperty(error, STALE_MISS, { value: true })
  return error
}

export function isStaleMiss(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[STALE_MISS] === true
}

const LOST_AT_BEGIN = Symbol.for('tandemdb.postgres.lostAtBegin')

/**
 * Marks a connection loss found by the message that carried BEGIN: the connection died while idle
 * in the pool, nothing of the transaction ran, and it may simply run again on another connection.
 */
export function markLostAtBegin<E>(error: E): E {
  if (typeof error === 'object' && error !== null) Object.defineProperty(error, LOST_AT_BEGIN, { value: true })
  return error
}

export function isLostAtBegin(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[LOST_AT_BEGIN] === true
}

export interface TransactionRetryStats {
  /** Write transactions run again after PostgreSQL cancelled them, or after a stale read. */
  retries: number
  /** Writes that found a pooled connection dead at BEGIN and took a fresh one. */
  reconnects: number
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Before attempt `attempt` (2, 3...): a few milliseconds, growing and jittered so the cancelled parties do not collide again. */
export function backoff(attempt: number): Promise<void> {
  const ceiling = Math.min(50, 2 ** attempt)
  return sleep(1 + Math.random() * ceiling)
}
