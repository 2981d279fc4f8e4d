import Database from 'better-sqlite3'
import { rmSync, statSync } from 'node:fs'
import { isBusy, translateSqliteError } from '../backends/sqlite/sqlite-errors.js'
import { TandemError } from '../errors.js'
import { createTempBeside, removeQuietly, renameDurably } from '../fs/durable-file.js'
import { resolveStorePath } from '../fs/safe-path.js'
import { DEFAULT_BUSY_TIMEOUT_MS } from '../store/config.js'
import { copySqliteFile, isSoundTandemFile, SqliteCopyError, type SqliteFileCheck } from './sqlite-copy.js'
import { realLocation, refuseStoreFiles } from '../store/store-file.js'
import { checkOptions } from '../options.js'

/** restoreStore's options: the backup, the store it replaces, and whether to restore under running processes. */
export interface RestoreOptions {
  /** The backup to restore: a file backupStore() wrote (or any sound Tandem SQLite store). */
  from: string
  /** The store file to replace or create, as given to openStore (relative to dataDir when given). */
  path?: string
  /** The data directory, as given to openStore: the target must resolve inside it. */
  dataDir?: string
  /**
   * Restore even though other processes have the store open: the backup is then copied into the
   * live database through SQLite, as one transaction they all see (their own state, caches and
   * change-feed positions, is not reset: restart them). Default false: refuse.
   */
  force?: boolean
  /** How long to wait for a lock on the source (default 30000). */
  busyTimeoutMs?: number
}

/** What restoreStore did. */
export interface RestoreResult {
  /** The store file, absolute. */
  path: string
  bytes: number
  durationMs: number
  /** integrity_check of the source and of the copy that was put in place. */
  integrity: 'ok'
  /**
   * 'created': there was no store file. 'replaced': nobody had it open and the verified copy was
   * renamed over it. 'in-place': `force` and other processes had it open; the copy was written
   * into the live database through SQLite.
   */
  method: 'created' | 'replaced' | 'in-place'
}

const OPTION_KEYS = ['from', 'path', 'dataDir', 'force', 'busyTimeoutMs']
/** How long the in-use probe retries: long enough for a process that is closing the store to finish. */
const PROBE_RETRY_MS = 500
const COMPANIONS = ['-wal', '-shm', '-journal']

/** INVALID_BACKUP: the source is missing, damaged or not a Tandem store; STORE_IN_USE: others may have the target open. */
function refused(code: 'INVALID_BACKUP' | 'STORE_IN_USE' | 'STORAGE_FAILURE', message: string, hint: string, cause?: unknown): TandemError {
  return new TandemError(code, message, { hint, ...(cause === undefined ? {} : { cause }) })
}

/**
 * Replaces a SQLite store with a backup, atomically: never a half-restored file. The source is
 * checked first (integrity_check, Tandem format) and copied with VACUUM INTO, in a worker thread,
 * to a temp file beside the store, which is checked again and fsynced; nothing is touched before
 * that. Then, if nobody has the store open, the copy is renamed over it (stale -wal/-shm removed
 * first, while an exclusive lock keeps newcomers out). Whether anybody has it open is asked of
 * SQLite itself: it refuses to take a WAL store out of WAL mode while any other connection, in any
 * process, is open on it. If someone has, the restore is refused (STORE_IN_USE) unless `force`.
 * PostgreSQL stores are restored with importStore() from an export instead.
 *
 * @example
 * await restoreStore({ from: 'backups/app-20250131T120000000Z.db', dataDir: 'data', path: 'app.db' })
 */
export async function restoreStore(options: RestoreOptions): Promise<RestoreResult> {
  checkOptions(options, OPTION_KEYS, 'for restoreStore', "restoreStore needs options like { from: 'backup.db', path: 'data/app.db' }.")
  if (typeof options.from !== 'string' || options.from === '')
    throw new TypeError(`from must be the path of a backup file (got ${JSON.stringify(options.from)}).`)
  if (options.force !== undefined && typeof options.force !== 'boolean')
    throw new TypeError(`force must be true or false (got ${JSON.stringify(options.force)}).`)
  const busyTimeoutMs = options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS
  if (!Number.isInteger(busyTimeoutMs) || busyTimeoutMs < 0)
    throw new RangeError(`busyTimeoutMs must be a non-negative integer (got ${String(busyTimeoutMs)}).`)
  const started = performance.now()
  const target = resolveStorePath(options.path, options.dataDir).file
  const source = realLocation(options.from)
  if (statSync(source, { throwIfNoEntry: false })?.isFile() !== true)
    throw refused(
      'INVALID_BACKUP',
      `The backup ${options.from} does not exist or is not a file; nothing was restored.`,
      'Check the path of the backup.',
    )
  refuseStoreFiles(source, target, 'backup to restore')

  const temp = createTempBeside(target)
  try {
    // Checked, copied, checked again and fsynced by the worker: from here the temp file is a sound store on disk.
    await copyVerified(source, temp, busyTimeoutMs)
    const method = await install(temp, target, options.force ?? false)
    if (method === 'in-place') await copyInPlace(temp, target)
    return { path: target, bytes: statSync(target).size, durationMs: Math.round(performance.now() - started), integrity: 'ok', method }
  } finally {
    removeQuietly(temp)
  }
}

/** Checks the source, copies it into `temp` and checks the copy; refuses (INVALID_BACKUP) an unsound source. */
async function copyVerified(source: string, temp: string, busyTimeoutMs: number): Promise<void> {
  const report = await copySqliteFile({ source, dest: temp, checkSource: true, busyTimeoutMs }).catch((error: unknown) => {
    const code = error instanceof SqliteCopyError ? error.code : undefined
    const what =
      code === 'SQLITE_NOTADB' ? 'is not an SQLite database' : code?.startsWith('SQLITE_CORRUPT') ? 'is damaged' : 'could not be read'
    throw refused(
      'INVALID_BACKUP',
      `The backup ${source} ${what} (${error instanceof Error ? error.message : String(error)}); nothing was restored.`,
      'Restore from another backup.',
      error,
    )
  })
  const problem = (check: SqliteFileCheck | undefined): string =>
    check === undefined
      ? 'was not checked'
      : check.integrity[0] !== 'ok' || check.integrity.length !== 1
        ? `fails integrity_check (${check.integrity.slice(0, 3).join('; ')})`
        : check.format === null
          ? 'is not a Tandem store (no _tandem_meta format)'
          : `is in Tandem format ${check.format}, which this version does not know`
  if (!isSoundTandemFile(report.source))
    throw refused('INVALID_BACKUP', `The backup ${source} ${problem(report.source)}; nothing was restored.`, 'Restore from another backup.')
  if (!isSoundTandemFile(report.dest))
    throw refused(
      'STORAGE_FAILURE',
      `The copy of ${source} ${problem(report.dest)}; nothing was restored.`,
      'Check the disk holding the store (free space, errors), then retry.',
    )
}

/**
 * Puts the verified copy in place, or says it must be copied in place ('in-place'). Asks SQLite
 * whether other connections are open by switching the store out of WAL mode: it only agrees when
 * this is the only connection. That switch also checkpoints the WAL and deletes -wal and -shm.
 */
async function install(temp: string, target: string, force: boolean): Promise<RestoreResult['method']> {
  if (statSync(target, { throwIfNoEntry: false }) === undefined) {
    const stale = COMPANIONS.filter((suffix) => statSync(`${target}${suffix}`, { throwIfNoEntry: false }) !== undefined)
    // A -wal left by a deleted store would be replayed into the new file by the next opener.
    if (stale.length > 0 && !force) {
      throw refused(
        'STORE_IN_USE',
        `${target} does not exist but its ${stale.join(', ')} files do: a deleted store that a process may still have open; nothing was restored.`,
        'Stop every process using the store, delete those files, and restore again (or pass force: true).',
      )
    }
    for (const suffix of stale) rmSync(`${target}${suffix}`, { force: true })
    renameDurably(temp, target)
    return 'created'
  }
  let guard: Database.Database
  try {
    guard = new Database(target, { fileMustExist: true, timeout: 0 })
  } catch (error) {
    throw translateSqliteError(error)
  }
  try {
    const probe = await probeExclusive(guard)
    if (probe === 'in-use') {
      if (force) return 'in-place'
      throw new TandemError(
        'STORE_IN_USE',
        `Other connections have ${target} open (SQLite refused to take it out of WAL mode while they are); nothing was restored.`,
        {
          hint: 'Stop every process using the store and close its handles in this process, then restore again; or pass force: true to restore under them.',
        },
      )
    }
    if (probe !== 'alone' && !force) {
      throw refused(
        'STORAGE_FAILURE',
        `${target} cannot be opened by SQLite (${probe.message}), so whether other processes have it open cannot be checked; nothing was restored.`,
        'Stop every process using the store, then restore with force: true.',
        probe,
      )
    }
    // Nobody else is connected and our EXCLUSIVE lock keeps newcomers waiting on the old file:
    // remove stale companions first (after the rename they could already belong to a newcomer on
    // the new file), then rename.
    for (const suffix of COMPANIONS) rmSync(`${target}${suffix}`, { force: true })
    renameDurably(temp, target)
    return 'replaced'
  } finally {
    if (guard.inTransaction) guard.exec('ROLLBACK')
    guard.close()
  }
}

/** 'alone' (and then holding an EXCLUSIVE lock), 'in-use', or the error that made it impossible to tell (a damaged file). */
async function probeExclusive(guard: Database.Database): Promise<'alone' | 'in-use' | Error> {
  const deadline = performance.now() + PROBE_RETRY_MS
  for (;;) {
    try {
      // SQLite answers BUSY (or keeps 'wal') while any other connection, in any process, is open.
      const mode = guard.pragma('journal_mode = DELETE', { simple: true })
      if (mode !== 'delete') throw Object.assign(new Error(`journal_mode stayed ${String(mode)}`), { code: 'SQLITE_BUSY' })
      guard.exec('BEGIN EXCLUSIVE')
      return 'alone'
    } catch (error) {
      if (!isBusy(error)) return error instanceof Error ? error : new Error(String(error))
      if (performance.now() >= deadline) return 'in-use'
      // A process that is closing the store right now lets go within milliseconds.
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  }
}

/** Writes the copy into the live database through SQLite's backup API: one transaction every connection sees. */
async function copyInPlace(temp: string, target: string): Promise<void> {
  const copy = new Database(temp, { readonly: true, fileMustExist: true })
  try {
    // 1000 pages (4 MB) per step between turns of the event loop. The destination stays locked
    // from the first step to the last, so other connections see all of it or none.
    await copy.backup(target, { progress: () => 1000 })
  } catch (error) {
    throw translateSqliteError(error)
  } finally {
    copy.close()
  }
}
