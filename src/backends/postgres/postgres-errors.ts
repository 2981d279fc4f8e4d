import { BusyError, StorageError, TandemError } from '../../errors.js'

/**
 * The SQLSTATE of an error the server sent (node-postgres' DatabaseError, which also carries
 * severity, detail, table, constraint...), or undefined for a failure on the client side.
 */
export function sqlState(error: unknown): string | undefined {
  const e = error as { code?: unknown; severity?: unknown } | null
  return typeof e?.code === 'string' && typeof e.severity === 'string' && /^[0-9A-Z]{5}$/.test(e.code) ? e.code : undefined
}

const SOCKET_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNABORTED',
])
const CONNECTION_MESSAGES =
  /Connection terminated|connection error|not queryable|Client was closed|timeout exceeded when trying to connect|Connection ended/i

/**
 * The connection is gone (or never came up): the socket failed, the server ended the session
 * (57P01 pg_terminate_backend, 57P02/57P03 shutdown) or reported a connection exception (08xxx).
 * Whatever was in flight on it did not report its outcome.
 */
export function isConnectionLoss(error: unknown): boolean {
  const state = sqlState(error)
  if (state !== undefined)
    return state.startsWith('08') || state === '57P01' || state === '57P02' || state === '57P03' || state === '25P03' || state === '57P05'
  const e = error as { code?: unknown; message?: unknown } | null
  if (typeof e?.code === 'string' && SOCKET_CODES.has(e.code)) return true
  return typeof e?.message === 'string' && CONNECTION_MESSAGES.test(e.message)
}

const CONNECT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN'])

/** No session could be set up at all (server down, wrong host, or refusing connections): retrying at once is pointless. */
export function isConnectFailure(error: unknown): boolean {
  const state = sqlState(error)
  if (state !== undefined) return state === '57P03' || state.startsWith('28') || state === '3D000' || state === '53300'
  const e = error as { code?: unknown; message?: unknown } | null
  return (
    (typeof e?.code === 'string' && CONNECT_CODES.has(e.code)) ||
    (typeof e?.message === 'string' && /timeout exceeded when trying to connect/i.test(e.message))
  )
}

/** A deadlock (40P01) or serialization failure (40001): PostgreSQL cancelled this transaction so another could go on. */
export function isTransactionConflict(error: unknown): boolean {
  const state = sqlState(error)
  return state === '40P01' || state === '40001'
}

export interface ErrorContext {
  collection?: string
  id?: string
  /** 'write' when the statement stored data: bad characters in it are then the caller's data. */
  operation?: 'read' | 'write'
  /** For BUSY_TIMEOUT messages: how long the lock wait was allowed to take. */
  busyTimeoutMs?: number
  /** For connection messages, the server's address (password masked). */
  url?: string
  /** The statement ran inside a write transaction (a read of an update, say): its failure means the write did not happen. */
  inWrite?: boolean
}

function duplicate(error: unknown, collection: string | undefined, id: string | undefined): TandemError {
  return new TandemError(
    'DUPLICATE_ID',
    `Record ${collection ?? '?'}/${id ?? '?'} already exists; nothing was written. Use another id, or replace() / upsert() it.`,
    {
      cause: error,
      ...(collection === undefined ? {} : { collection }),
      ...(id === undefined ? {} : { id }),
      hint: 'Let Tandem generate ids, or update the existing record instead.',
    },
  )
}

/** A taken id, found by INSERT ... ON CONFLICT DO NOTHING (which, unlike an error, leaves the transaction usable). */
export function duplicateId(collection: string, id: string): TandemError {
  return duplicate(undefined, collection, id)
}

/**
 * Server-side timeouts, by SQLSTATE or message, and the setting that fired: each says which one, so
 * the caller knows what to raise (or what a DBA set on the role or database).
 */
function timeoutSetting(state: string | undefined, message: string): string | undefined {
  if (state === '25P03') return 'idle_in_transaction_session_timeout'
  if (state === '57P05') return 'idle_session_timeout'
  if (state === '57014' && /statement timeout/i.test(message)) return 'statement_timeout'
  if (state === '57014' && /lock timeout/i.test(message)) return 'lock_timeout'
  return undefined
}

/** The session ended because of a server timeout (idle in transaction, idle session): the connection is gone. */
export function isSessionTimeout(error: unknown): boolean {
  const state = sqlState(error)
  return state === '25P03' || state === '57P05'
}

/** What a write that failed before COMMIT was sent can say about itself: it did not happen. */
function notWritten(operation: 'read' | 'write', inWrite = false): string {
  return operation === 'write' || inWrite
    ? 'the write did not commit: nothing of it was written (COMMIT was never sent, so PostgreSQL rolled it back)'
    : 'the read did not complete; nothing was written'
}

/** A FOR UPDATE NOWAIT that found the row locked (55P03 without waiting; lock_timeout shares the code). */
export function isNoWaitRefusal(error: unknown): boolean {
  return sqlState(error) === '55P03' && /could not obtain lock/i.test((error as Error | null)?.message ?? '')
}

/**
 * BUSY_TIMEOUT for a lock that a write of a group-commit batch tried without waiting (FOR UPDATE
 * NOWAIT, pg_try_advisory_xact_lock) and found taken: waiting for it out of the lock order could
 * deadlock, so the write is undone alone and the write queue runs it again in a later batch, for
 * up to busyTimeoutMs. The caller sees this error only once those retries ran out. Its message and
 * `waitedMs` tell what really happened: this attempt waited `waitedMs` (about 0), not
 * busyTimeoutMs, which is what BusyError's own message would claim.
 */
export function lockRefused(context: ErrorContext, waitedMs: number, cause?: unknown): BusyError {
  const waited = Math.max(0, Math.round(waitedMs))
  const error = new BusyError(waited, cause, 'write')
  const { collection, id, busyTimeoutMs } = context
  const record = collection === undefined ? 'A record' : `Record ${collection}/${id ?? '?'}`
  const window = busyTimeoutMs === undefined ? 'busyTimeoutMs' : `busyTimeoutMs, ${busyTimeoutMs} ms`
  error.message = `${record} was locked by another transaction, and this write did not wait for it (it waited ${waited} ms): its batch already held a lock that comes later in the lock order, where waiting could deadlock. Such a write is undone alone and run again in later batches until ${window} after the first refusal have passed; nothing was written. Retry later, or raise busyTimeoutMs if a long transaction elsewhere is expected.`
  if (collection !== undefined) Object.defineProperty(error, 'collection', { value: collection, enumerable: true })
  if (id !== undefined) Object.defineProperty(error, 'id', { value: id, enumerable: true })
  return error
}

/**
 * Translates an engine error into a TandemError, once, at the backend edge. The original error,
 * with every field the server sent, rides along in `cause`. Every SQLSTATE class becomes a library
 * code (see the table in docs/postgres.md); only errors that are not PostgreSQL's (a bug of ours, a
 * TypeError) pass through unchanged. Each message answers "did my write happen?": errors raised
 * before COMMIT was sent say that nothing was written; a connection lost during COMMIT is
 * OUTCOME_UNKNOWN (see outcomeUnknown).
 */
export function translatePostgresError(error: unknown, context: ErrorContext = {}): unknown {
  if (error instanceof TandemError) return error
  const state = sqlState(error)
  const message = (error as Error | null)?.message ?? String(error)
  const { collection, id, operation = 'read', inWrite = false } = context
  const where = context.url === undefined ? 'PostgreSQL' : `PostgreSQL at ${context.url}`
  const facts = { cause: error, ...(collection === undefined ? {} : { collection }), ...(id === undefined ? {} : { id }) }
  const setting = timeoutSetting(state, message)
  if (setting !== undefined && setting !== 'lock_timeout') {
    const ended = state === '25P03' || state === '57P05' ? ' and ended the session' : ''
    return new TandemError(
      'SERVER_TIMEOUT',
      `PostgreSQL cancelled the ${operation === 'write' || inWrite ? 'write' : 'read'} because of its ${setting} setting${ended} (${state}: ${message}); ${notWritten(operation, inWrite)}. Raise ${setting} for the store's user (ALTER ROLE ... SET ${setting}), or keep transactions short, then retry.`,
      { ...facts, hint: `Check ${setting} on the server, the role and the database (SHOW ${setting}).` },
    )
  }
  if (isConnectFailure(error)) {
    return new StorageError(
      `Could not connect to ${where} (${state === undefined ? '' : `${state}: `}${message}); ${notWritten(operation, inWrite)}. Check that the server is running and that host, port, database and user in the url are right (and that it accepts this many connections).`,
      error,
    )
  }
  if (isConnectionLoss(error)) {
    return new StorageError(
      `Lost the connection to ${where} (${message}); ${notWritten(operation, inWrite)}. Check that the server is running and reachable, then retry.`,
      error,
    )
  }
  if (state === undefined) return error
  if (state === '23505') return duplicate(error, collection, id)
  if (state === '55P03' || setting === 'lock_timeout') return new BusyError(context.busyTimeoutMs ?? 0, error, operation)
  if (state === '40P01' || state === '40001') {
    const what =
      state === '40P01'
        ? 'this transaction and another were each waiting for a lock the other held (a deadlock)'
        : 'this transaction conflicted with a concurrent one (serialization failure)'
    return new TandemError(
      'BUSY_TIMEOUT',
      `PostgreSQL cancelled the write because ${what}; nothing of it was written. Retry it; writing records in the same order everywhere avoids deadlocks.`,
      {
        ...facts,
        hint: 'Retry the write; keep multi-record transactions in one consistent order.',
      },
    )
  }
  if (state === '40003') {
    return new TandemError(
      'OUTCOME_UNKNOWN',
      `PostgreSQL could not tell whether the statement completed (${state}: ${message}): this write may or may not have committed. Read the records back before retrying.`,
      {
        ...facts,
        hint: 'Check whether the write landed, then retry only what is missing.',
      },
    )
  }
  const cls = state.slice(0, 2)
  if (cls === '22' || cls === '23' || cls === '40' || (cls === '54' && operation === 'write')) {
    if (operation === 'read' && cls === '22') {
      return new TandemError(
        'INVALID_QUERY',
        `PostgreSQL refused a value of the query${collection === undefined ? '' : ` on "${collection}"`} (${state}: ${message}); nothing was read or written. Check the values compared in the query.`,
        {
          ...facts,
          hint: 'Compare fields with values of the type they hold.',
        },
      )
    }
    const nul =
      state === '22P05' || state === '22021'
        ? ' PostgreSQL cannot store the character U+0000 (or a lone UTF-16 surrogate) in text or JSON: remove it, or encode the value (base64, say).'
        : ''
    return new TandemError(
      'INVALID_DATA',
      `PostgreSQL refused the data${collection === undefined ? '' : ` for "${collection}"`} (${state}: ${message}); nothing was written.${nul || ' Fix the data and retry.'}`,
      {
        ...facts,
        hint:
          nul === ''
            ? 'Check the data against what PostgreSQL can store (size, characters, numbers).'
            : 'Strip \\u0000 from strings before storing them.',
      },
    )
  }
  if (state === '25006') return readOnly(error, where, message)
  if (state === '53100')
    return new StorageError(
      `The PostgreSQL server's disk is full (${message}); nothing was written. Free some space on the server and retry.`,
      error,
    )
  if (cls === '53')
    return new StorageError(
      `The PostgreSQL server is out of resources (${state}: ${message}); ${notWritten(operation, inWrite)}. Retry later, or lower postgres.poolSize across processes.`,
      error,
    )
  if (cls === '58' || cls === 'XX')
    return new StorageError(
      `PostgreSQL reported a storage failure (${state}: ${message}); ${notWritten(operation, inWrite)}. Check the server's logs and disks.`,
      error,
    )
  if (state === '42501')
    return new StorageError(
      `PostgreSQL refused the operation (${state}: ${message}); ${notWritten(operation, inWrite)}. Check that the url's user may create the store's schema and tables.`,
      error,
    )
  if (state === '57014')
    return new StorageError(
      `PostgreSQL cancelled the statement (${state}: ${message}: pg_cancel_backend, or the server shutting down); ${notWritten(operation, inWrite)}. Retry it.`,
      error,
    )
  if (cls === '42' || cls === '3F' || cls === '0A') {
    return new StorageError(
      `PostgreSQL rejected a statement of the store (${state}: ${message}); ${notWritten(operation, inWrite)}. The store's schema may have been changed or dropped by hand: run checkIntegrity(), or open the store again to recreate its tables.`,
      error,
    )
  }
  return new StorageError(
    `PostgreSQL reported an error (${state}: ${message}); ${notWritten(operation, inWrite)}. See error.cause for the server's fields, and the server's log.`,
    error,
  )
}

function readOnly(error: unknown, where: string, message: string): TandemError {
  return new TandemError(
    'READ_ONLY',
    `${where} accepts no writes (${message}): it is a standby, or default_transaction_read_only is on; nothing was written. Point the url at the primary.`,
    {
      cause: error,
      hint: "Use the primary server's address for a store that writes.",
    },
  )
}

/**
 * COMMIT was sent and the connection died before its answer came back: the transaction may have
 * committed or not, and nobody can tell from here.
 */
export function outcomeUnknown(error: unknown): TandemError {
  const message = (error as Error | null)?.message ?? String(error)
  return new TandemError(
    'OUTCOME_UNKNOWN',
    `The connection to PostgreSQL was lost during COMMIT (${message}): this write may or may not have committed. Read the records back (or follow the change feed) to find out before retrying; do not assume either outcome.`,
    { cause: error, hint: 'Check whether the write landed, then retry only what is missing.' },
  )
}
