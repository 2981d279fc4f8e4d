import { StorageError, TandemError } from '../../errors.js'

/** better-sqlite3 errors carry SQLite's extended result code as a string, e.g. `SQLITE_BUSY_SNAPSHOT`. */
function sqliteCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' && code.startsWith('SQLITE_') ? code : undefined
}

/** Another connection holds the lock we need: worth waiting and retrying. */
export function isBusy(error: unknown): boolean {
  const code = sqliteCode(error)
  return code !== undefined && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'))
}

/**
 * Translates an engine error into a TandemError, once, at the backend edge. The original error,
 * with all its fields, rides along in `cause`. Errors that are not SQLite's pass through.
 */
export function translateSqliteError(error: unknown, collection?: string, id?: string): unknown {
  const code = sqliteCode(error)
  if (code === undefined) return error
  if (code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE') {
    return new TandemError('DUPLICATE_ID', `Record ${collection ?? '?'}/${id ?? '?'} already exists. Use another id, or replace() / upsert() it.`, {
      cause: error,
      ...(collection === undefined ? {} : { collection }),
      ...(id === undefined ? {} : { id }),
      hint: 'Let Tandem generate ids, or update the existing record instead.',
    })
  }
  const message = (error as Error).message
  if (code === 'SQLITE_FULL') return new StorageError(`The disk is full (${message}); nothing was written. Free some space and retry.`, error)
  if (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB') {
    return new StorageError(`The store file is damaged or not a Tandem store (${message}). Run "tandem doctor" and restore from a backup.`, error)
  }
  if (code.startsWith('SQLITE_IOERR') || code.startsWith('SQLITE_CANTOPEN') || code.startsWith('SQLITE_READONLY') || code === 'SQLITE_PERM') {
    return new StorageError(`SQLite could not read or write the store file (${code}: ${message}). Check permissions and free disk space.`, error)
  }
  return error
}
