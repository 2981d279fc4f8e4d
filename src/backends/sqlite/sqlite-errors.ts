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
    return new TandemError(
      'DUPLICATE_ID',
      `Record ${collection ?? '?'}/${id ?? '?'} already exists. Use another id, or replace() / upsert() it.`,
      {
        cause: error,
        ...(collection === undefined ? {} : { collection }),
        ...(id === undefined ? {} : { id }),
        hint: 'Let Tandem generate ids, or update the existing record instead.',
      },
    )
  }
  const message = (error as Error).message
  if (code === 'SQLITE_FULL')
    return new StorageError(`The disk is full (${message}); nothing was written. Free some space and retry.`, error)
  if (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB') {
    return new StorageError(
      `The store file is damaged or not a Tandem store (${message}). Run "tandem doctor" and restore from a backup.`,
      error,
    )
  }
  if (code === 'SQLITE_READONLY_DBMOVED') {
    return new TandemError(
      'STORE_FILES_CHANGED',
      `The store file was moved, deleted or replaced while this process had it open (${message}); nothing was written. Stop every process using the store, then run "tandem doctor".`,
      {
        cause: error,
        hint: 'Never move, delete or replace a store file (or its -wal/-shm) while processes have it open.',
      },
    )
  }
  if (code.startsWith('SQLITE_READONLY')) {
    return new TandemError(
      'READ_ONLY',
      `The store cannot be written here: its file, its directory or its -wal/-shm files are read-only, or the file system is (${code}: ${message}). Nothing was written. To read it, open it with readOnly: true; to write it, make them writable by this user.`,
      {
        cause: error,
        hint: 'Open with readOnly: true to read, or fix the permissions (the store, its directory, its -wal and -shm files).',
      },
    )
  }
  if (code.startsWith('SQLITE_IOERR') || code.startsWith('SQLITE_CANTOPEN') || code === 'SQLITE_PERM') {
    return new StorageError(
      `SQLite could not read or write the store file (${code}: ${message}). Check permissions and free disk space.`,
      error,
    )
  }
  return error
}
