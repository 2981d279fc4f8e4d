import { BusyError, StorageError, TandemError } from '../../errors.js'

/**
 * The SQLSTATE of an error the server sent (node-postgres' DatabaseError, which also carries
 * severity, detail, table, constraint...), or undefined for a failure on the client side.
 */
export function sqlState(error: unknown): string | undefined {
  const e = error as { code?: unknown; severity?: unknown } | null
  return typeof e?.code === 'string' && typeof e.severity === 'string' && /^[0-9A-Z]{5}$/.test(e.code) ? e.code : undefined
}

const SOCKET_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED'])
const CONNECTION_MESSAGES = /Connection terminated|connection error|not queryable|Client was closed|timeout exceeded when trying to connect|Connection ended/i

/**
 * The connection is gone (or never came up): the socket failed, the server ended the session
 * (57P01 pg_terminate_backend, 57P02/57P03 shutdown) or reported a connection exception (08xxx).
 * Whatever was in flight on it did not report its outcome.
 */
export function isConnectionLoss(error: unknown): boolean {
  const state = sqlState(error)
  if (state !== undefined) return state.startsWith('08') || state === '57P01' || state === '57P02' || state === '57P03'
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
  return (typeof e?.code === 'string' && CONNECT_CODES.has(e.code)) || (typeof e?.message === 'string' && /timeout exceeded when trying to connect/i.test(e.message))
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
}

function duplicate(error: unknown, collection: string | undefined, id: string | undefined): TandemError {
  return new TandemError('DUPLICATE_ID', `Record ${collection ?? '?'}/${id ?? '?'} already exists. Use another id, or replace() / upsert() it.`, {
    cause: error,
    ...(collection === undefined ? {} : { collection }),
    ...(id === undefined ? {} : { id }),
    hint: 'Let Tandem generate ids, or update the existing record instead.',
  })
}

/** A taken id, found by INSERT ... ON CONFLICT DO NOTHING (which, unlike an error, leaves the transaction usable). */
export function duplicateId(collection: string, id: string): TandemError {
  return duplicate(undefined, collection, id)
}

/**
 * Translates an engine error into a TandemError, once, at the backend edge. The original error,
 * with every field the server sent, rides along in `cause`. Errors that are not PostgreSQL's, or
 * that have no better name, pass through unchanged.
 */
export function translatePostgresError(error: unknown, context: ErrorContext = {}): unknown {
  if (error instanceof TandemError) return error
  const state = sqlState(error)
  const message = (error as Error | null)?.message ?? String(error)
  const { collection, id, operation = 'read' } = context
  const where = context.url === undefined ? 'PostgreSQL' : `PostgreSQL at ${context.url}`
  if (isConnectFailure(error)) {
    return new StorageError(
      `Could not connect to ${where} (${state === undefined ? '' : `${state}: `}${message}). Check that the server is running and that host, port, database and user in the url are right (and that it accepts this many connections).`,
      error,
    )
  }
  if (isConnectionLoss(error)) {
    return new StorageError(
      `Lost the connection to ${where} (${message}); ${operation === 'write' ? 'the write did not commit: nothing of it was written' : 'the read did not complete'}. Check that the server is running and reachable, then retry.`,
      error,
    )
  }
  if (state === undefined) return error
  if (state === '23505') return duplicate(error, collection, id)
  if (state === '55P03') return new BusyError(context.busyTimeoutMs ?? 0, error, operation)
  if (state === '40P01' || state === '40001') {
    const what = state === '40P01' ? 'this transaction and another were each waiting for a lock the other held (a deadlock)' : 'this transaction conflicted with a concurrent one (serialization failure)'
    return new TandemError('BUSY_TIMEOUT', `PostgreSQL cancelled the write because ${what}; nothing of it was written. Retry it; writing records in the same order everywhere avoids deadlocks.`, {
      cause: error,
      hint: 'Retry the write; keep multi-record transactions in one consistent order.',
    })
  }
  if ((state === '22P05' || state === '22021' || state === '22P02') && operation === 'write') {
    return new TandemError(
      'INVALID_DATA',
      `PostgreSQL refused the data${collection === undefined ? '' : ` for "${collection}"`} (${message}); nothing was written. PostgreSQL cannot store the character U+0000 (or a lone UTF-16 surrogate) in text or JSON: remove it, or encode the value (base64, say).`,
      { cause: error, ...(collection === undefined ? {} : { collection }), ...(id === undefined ? {} : { id }), hint: 'Strip \\u0000 from strings before storing them.' },
    )
  }
  if (state === '53100') return new StorageError(`The PostgreSQL server's disk is full (${message}); nothing was written. Free some space on the server and retry.`, error)
  if (state.startsWith('53')) return new StorageError(`The PostgreSQL server is out of resources (${state}: ${message}). Retry later, or lower postgres.poolSize across processes.`, error)
  if (state.startsWith('58') || state === 'XX001' || state === 'XX002') {
    return new StorageError(`PostgreSQL reported a storage failure (${state}: ${message}). Check the server's logs and disks.`, error)
  }
  if (state === '42501') return new StorageError(`PostgreSQL refused the operation (${state}: ${message}). Check that the url's user may create the store's schema and tables.`, error)
  return error
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
