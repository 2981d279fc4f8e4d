/**
 * Every failure Tandem reports on purpose is a `TandemError` with a stable `code` from this list.
 * Match on `code` (or `instanceof` a subclass); messages may be reworded between versions.
 */
export type TandemErrorCode =
  | 'VERSION_CONFLICT'
  | 'BUSY_TIMEOUT'
  | 'DUPLICATE_ID'
  | 'NOT_FOUND'
  | 'NOT_OWNER'
  | 'SCHEMA_INVALID'
  | 'INVALID_DATA'
  | 'INVALID_QUERY'
  | 'UNKNOWN_COLLECTION'
  | 'UNKNOWN_ROLE'
  | 'UNSAFE_PATH'
  | 'STORE_CLOSED'
  | 'TRANSACTION_CLOSED'
  | 'STORAGE_FAILURE'
  | 'CHANGES_TRIMMED'
  | 'OUTCOME_UNKNOWN'
  | 'MIGRATION_FAILED'
  | 'SCHEMA_TOO_NEW'
  | 'ROLE_TAKEN'
  | 'CONSUMER_BUSY'
  | 'CONSUMER_LOST'
  | 'STORE_IN_USE'
  | 'INVALID_BACKUP'
  | 'MISSING_DEPENDENCY'
  | 'DEFINITION_MISMATCH'
  | 'ROLE_LOST'
  | 'STORE_FILES_CHANGED'
  | 'READ_ONLY'
  | 'STORE_FILE_EMPTY'
  | 'STORE_NOT_FOUND'
  | 'SCHEMA_TOO_OLD'
  | 'NOT_A_FILE'
  | 'FEED_INTERRUPTED'
  | 'SERVER_TIMEOUT'
  | 'UNSUPPORTED'
  | 'NOT_A_STORE'
  | 'TARGET_NOT_EMPTY'
  | 'COPY_MISMATCH'
  | 'LOCK_TIMEOUT'
  | 'LOCK_LOST'
  // HTTP (tandem serve and the remote client)
  | 'UNAUTHORIZED'
  | 'ROUTE_NOT_FOUND'
  | 'INVALID_REQUEST'
  | 'INVALID_JSON'
  | 'BODY_TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'SERVER_UNREACHABLE'

export interface TandemErrorDetails {
  /** What the user can do about it, one sentence; the CLI prints it as the "try this" line. */
  hint?: string
  collection?: string
  id?: string
  cause?: unknown
}

/** Base class of every error Tandem raises on purpose. `code` is stable; `cause` keeps the engine's error. */
export class TandemError extends Error {
  readonly code: TandemErrorCode
  readonly hint: string | undefined
  readonly collection: string | undefined
  readonly id: string | undefined

  constructor(code: TandemErrorCode, message: string, details: TandemErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause })
    this.name = new.target.name
    this.code = code
    this.hint = details.hint
    this.collection = details.collection
    this.id = details.id
  }
}

/** A write with `ifVersion` found the record at another version (or gone). Nothing was written. */
export class ConflictError extends TandemError {
  readonly expected: number
  /** The version the record is at now; `null` when it no longer exists. */
  readonly actual: number | null

  constructor(collection: string, id: string, expected: number, actual: number | null) {
    const now = actual === null ? 'was deleted' : `is at version ${actual}`
    super(
      'VERSION_CONFLICT',
      `Record ${collection}/${id} ${now}, not ${expected} (ifVersion). Re-read it and retry, or drop ifVersion to overwrite.`,
      { collection, id, hint: 'Re-read the record and apply your change to its current version.' },
    )
    this.expected = expected
    this.actual = actual
  }
}

/** The store stayed locked by other processes for longer than `busyTimeoutMs`. Nothing was written. */
/** A process that holds (or may hold) the lock a BUSY_TIMEOUT waited for, as the registry knows it. */
export interface LockHolder {
  pid: number
  /** Its role, host and registration times, when it is a registered Tandem process. */
  role?: string
  host?: string
  since?: string
  heartbeatAt?: string
  /** It is stopped (SIGSTOP, a debugger): it will not release the lock until resumed. */
  stopped?: boolean
  /** True when the engine named it as the lock holder; false when it is only one of the processes with the store open. */
  holdsLock: boolean
}

export class BusyError extends TandemError {
  readonly waitedMs: number
  /** Who held the lock, where it could be found out (the engine's lock table, the process registry); set after construction. */
  declare readonly holders?: readonly LockHolder[]

  constructor(waitedMs: number, cause?: unknown, operation: 'write' | 'read' = 'write') {
    super(
      'BUSY_TIMEOUT',
      `The store stayed locked by another process for ${waitedMs} ms (busyTimeoutMs); ${operation === 'write' ? 'nothing was written' : 'nothing was read'}. Retry later, or raise busyTimeoutMs if a long transaction elsewhere is expected.`,
      { cause, hint: 'Find the process holding a long write transaction, or raise busyTimeoutMs.' },
    )
    this.waitedMs = waitedMs
  }
}

/** This process's role is not among the collection's writers. Raised before anything is touched. */
export class OwnershipError extends TandemError {
  readonly role: string
  readonly writers: readonly string[]

  constructor(collection: string, role: string, writers: readonly string[]) {
    const who = writers.length === 1 ? `role "${writers[0]}" writes` : `roles ${writers.map((w) => `"${w}"`).join(', ')} write`
    super(
      'NOT_OWNER',
      `Only ${who} "${collection}"; this process is "${role}". Add "${role}" to the writers of "${collection}" or ask the owner to write it.`,
      { collection, hint: `Declare writers: [..., "${role}"] for "${collection}", or route the write through its owner.` },
    )
    this.role = role
    this.writers = writers
  }
}

/** One problem a validator reported: where in the data, and what. */
export interface ValidationIssue {
  message: string
  path: readonly PropertyKey[]
}

/** The collection's schema rejected the data. Nothing was written. */
export class ValidationError extends TandemError {
  readonly issues: readonly ValidationIssue[]

  constructor(collection: string, issues: readonly ValidationIssue[], id?: string) {
    const first = issues
      .slice(0, 3)
      .map((i) => (i.path.length > 0 ? `${i.path.map(String).join('.')}: ${i.message}` : i.message))
      .join('; ')
    const more = issues.length > 3 ? ` (and ${issues.length - 3} more)` : ''
    super('SCHEMA_INVALID', `Data for "${collection}" does not match its schema: ${first}${more}. Fix the data; nothing was written.`, {
      collection,
      ...(id === undefined ? {} : { id }),
      hint: 'See error.issues for every problem the schema found.',
    })
    this.issues = issues
  }
}

/** Failures an engine reports that are not the caller's fault (disk full, I/O error, corrupt file). */
export class StorageError extends TandemError {
  constructor(message: string, cause: unknown) {
    super('STORAGE_FAILURE', message, { cause, hint: 'Check free disk space and file permissions, then run "tandem doctor".' })
  }
}

/**
 * A change-feed reader asked for changes the log no longer holds (retention trimmed them). Reading
 * on would silently skip them, so the reader must resync: read the current state, then follow the
 * feed from 'now'.
 */
export class ChangesTrimmedError extends TandemError {
  /** The position the reader asked to continue after. */
  readonly cursor: number
  /** Changes up to and including this seq are gone. */
  readonly trimmedThrough: number

  constructor(cursor: number, trimmedThrough: number, consumer?: string) {
    const who = consumer === undefined ? 'This change-feed reader' : `Consumer "${consumer}"`
    super(
      'CHANGES_TRIMMED',
      `${who} is at seq ${cursor}, but changes up to seq ${trimmedThrough} were trimmed by retention. Resync: reload the records you track, then follow the feed from 'now'.`,
      { hint: 'Reload state with find(), then read changes with since: "now" (or raise the change-log retention).' },
    )
    this.cursor = cursor
    this.trimmedThrough = trimmedThrough
  }
}

export function notFound(collection: string, id: string): TandemError {
  return new TandemError('NOT_FOUND', `Record ${collection}/${id} does not exist. Check the id, or insert it first.`, {
    collection,
    id,
    hint: 'List ids with find(), or insert the record.',
  })
}

export function storeClosed(): TandemError {
  return new TandemError('STORE_CLOSED', 'The store is closed. Open it again with openStore() before using it.', {
    hint: 'Keep the store open for the life of the process and close it once, at shutdown.',
  })
}
