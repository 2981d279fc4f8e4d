import { execFileSync } from 'node:child_process'
import { statSync } from 'node:fs'
import Database from 'better-sqlite3'
import { TandemError } from '../../errors.js'
import type { SqliteConfig, SqliteHandle } from './sqlite-config.js'
import { translateSqliteError } from './sqlite-errors.js'
import { keepSideFilesWritable, walIsEmpty } from './sqlite-files.js'
import { retryWhileBusy } from './sqlite-locks.js'

/**
 * Opening the connections of an SQLite store and setting them up (the twin of
 * postgres-connection.ts): every pragma set explicitly, and the read-only opens, including the
 * in-memory copy of a store SQLite cannot open in place.
 */

/**
 * The largest store a read-only open copies into memory when SQLite cannot open it in place (a
 * read-only directory or a full disk without the -wal and -shm files SQLite must create).
 */
const SNAPSHOT_MAX_BYTES = 512 * 1024 * 1024

export function openHandle(path: string, readOnly = false): SqliteHandle {
  return new Database(path, readOnly ? { readonly: true, fileMustExist: true } : {}) as unknown as SqliteHandle
}

/** Sets every pragma explicitly, on every connection: nothing is left to build-time defaults. */
export async function configure(db: SqliteHandle, config: SqliteConfig, memory: boolean): Promise<void> {
  const retry = <T>(attempt: () => T) => retryWhileBusy(attempt, config.busyTimeoutMs)
  // Waiting happens in retryWhileBusy, asynchronously; SQLite's own busy handler would sleep the event loop.
  db.pragma('busy_timeout = 0')
  const mode = await retry(() => db.pragma('journal_mode = WAL', { simple: true }))
  if (!memory && mode !== 'wal') throw new Error(`Could not switch the store to WAL mode (journal_mode is ${String(mode)}).`)
  // NORMAL in WAL mode: a commit survives any process crash; FULL adds an fsync per commit so it survives power loss too.
  db.pragma(`synchronous = ${config.durability === 'full' ? 'FULL' : 'NORMAL'}`)
  db.pragma('foreign_keys = ON')
  db.pragma(`journal_size_limit = ${config.journalSizeLimitBytes}`)
  db.pragma('wal_autocheckpoint = 1000')
  db.pragma('trusted_schema = OFF')
}

/**
 * The reader connection's page cache (PRAGMA cache_size, KiB): SQLite's default of 2 MB holds
 * little of a store of tens of megabytes, and every page it misses is a read() of the OS's cache.
 * Pages are allocated as they are read, so a small store never uses the whole budget.
 */
export const READER_CACHE_KIB = 64 * 1024
/**
 * How much of the database file the reader maps into memory (PRAGMA mmap_size): pages of the
 * file are then read in place, without a read() and a copy each (pages still in the WAL are read
 * from it as before). The mapping is shared with the OS's page cache, so it costs address space
 * rather than memory.
 */
export const READER_MMAP_BYTES = 256 * 1024 * 1024

/** Settings of the reader connection only (the writer's pages come from its own cache). */
export function configureReader(db: SqliteHandle): void {
  db.pragma(`cache_size = -${READER_CACHE_KIB}`)
  db.pragma(`mmap_size = ${READER_MMAP_BYTES}`)
}

/**
 * Opens an existing store to read only: one read-only connection, no pragma that writes, no
 * file created beyond the -wal and -shm SQLite itself needs (made writable again for the
 * writers to come). Where SQLite cannot open it in place — a read-only directory or a full disk
 * without those files — and the -wal is missing or empty (the database file then holds every
 * commit, and no writer can be at work), it reads a copy of the file in memory: a snapshot of
 * that moment, up to SNAPSHOT_MAX_BYTES (`snapshot: true`).
 */
export async function openReadOnlyHandle(config: SqliteConfig): Promise<{ handle: SqliteHandle; snapshot: boolean }> {
  let handle: SqliteHandle | undefined
  try {
    handle = openHandle(config.path, true)
    handle.pragma('busy_timeout = 0')
    handle.pragma('trusted_schema = OFF')
    // The first read opens the -wal and -shm (and creates them if they are missing).
    const db = handle
    await retryWhileBusy(() => db.prepare('SELECT count(*) FROM sqlite_schema').get(), config.busyTimeoutMs)
    keepSideFilesWritable(config.path)
    return { handle, snapshot: false }
  } catch (error) {
    handle?.close()
    keepSideFilesWritable(config.path)
    const code = (error as { code?: unknown }).code
    const cannotOpenInPlace = typeof code === 'string' && /^SQLITE_(CANTOPEN|IOERR|READONLY|FULL|PERM)/.test(code)
    if (!cannotOpenInPlace || !walIsEmpty(config.path)) throw translateSqliteError(error)
    return { handle: readCopyInMemory(config.path, error), snapshot: true }
  }
}

/** The store file as an in-memory read-only database (see openReadOnlyHandle). */
function readCopyInMemory(path: string, cause: unknown): SqliteHandle {
  const size = statSync(path).size
  if (size > SNAPSHOT_MAX_BYTES) {
    throw new TandemError(
      'READ_ONLY',
      `SQLite cannot open ${path} in place (${(cause as Error).message}): it needs to create its -wal and -shm files beside it, and the directory is read-only or the disk is full. The store is too large (${size} bytes) to read from a copy in memory. Copy it to a writable directory and open the copy, or free some disk space.`,
      { cause, hint: 'Copy the store file to a writable directory and open the copy with readOnly: true.' },
    )
  }
  // Read by a child process: if this process opened the file itself and closed it, every SQLite
  // lock it holds on the file would go (another store of this process may have it open). The
  // header's WAL marks (bytes 18-19) become rollback ones in the copy: an in-memory database
  // has no -wal to look for.
  let bytes: Buffer
  try {
    bytes = execFileSync('cat', ['--', path], { maxBuffer: SNAPSHOT_MAX_BYTES + 1, stdio: ['ignore', 'pipe', 'ignore'] })
  } catch (error) {
    throw new TandemError(
      'READ_ONLY',
      `SQLite cannot open ${path} in place (${(cause as Error).message}), and reading a copy of it failed too (${(error as Error).message}). Copy it to a writable directory and open the copy.`,
      {
        cause,
        hint: 'Copy the store file to a writable directory and open the copy with readOnly: true.',
      },
    )
  }
  if (bytes[18] === 2 && bytes[19] === 2) bytes[18] = bytes[19] = 1
  const snapshot = new Database(bytes, { readonly: true }) as unknown as SqliteHandle
  snapshot.pragma('trusted_schema = OFF')
  return snapshot
}
