import { mkdirSync, statSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { TandemError } from '../errors.js'
import { createTempBeside, removeQuietly, renameDurably } from '../fs/durable-file.js'
import type { CollectionsConfig } from '../store/config.js'
import type { Store } from '../store/store.js'
import { exportStore } from '../transfer/export.js'
import { MAX_LINE_BYTES_LIMIT } from '../transfer/ndjson.js'
import { copySqliteFile, isSoundTandemFile, SqliteCopyError } from './sqlite-copy.js'
import { refuseStoreFiles, requireSqliteStoreFile } from '../store/store-file.js'

/** What backupStore wrote. */
export interface BackupResult {
  /** The backup file, absolute. */
  path: string
  bytes: number
  durationMs: number
  /**
   * 'ok': PRAGMA integrity_check passed on the finished copy (SQLite). 'not-checked': the store is
   * not SQLite and the backup is an NDJSON export (see `format`), complete but not page-checked.
   */
  integrity: 'ok' | 'not-checked'
  /** 'sqlite': a database file, restore it with restoreStore(). 'ndjson': an export, restore it with importStore(). */
  format: 'sqlite' | 'ndjson'
}

/**
 * Writes a consistent snapshot of the whole store to `dest` while other processes keep reading
 * and writing. SQLite: `VACUUM INTO` on a separate read-only connection in a worker thread (one
 * read transaction, so the copy is the store as of one instant and contains every write committed
 * before the call), then `PRAGMA integrity_check` and a Tandem-format check of the copy, fsync,
 * and an atomic rename into place: `dest` is either absent, the previous file, or a verified
 * backup, never a partial one. An existing `dest` is replaced. The live database files are only
 * ever opened through SQLite. Other engines (PostgreSQL) get an NDJSON export instead
 * (`format: 'ndjson'`). Rejects with STORAGE_FAILURE if the copy fails its checks (then the store
 * itself is likely damaged: run "tandem doctor"), UNSAFE_PATH if `dest` is the store's own file.
 *
 * @example
 * const { path, bytes, durationMs } = await backupStore(store, 'backups/app-2025-01-31.db')
 */
export async function backupStore<C extends CollectionsConfig>(store: Store<C>, dest: string): Promise<BackupResult> {
  if (typeof dest !== 'string' || dest === '')
    throw new TypeError(`backupStore needs a destination file path (got ${JSON.stringify(dest)}).`)
  const started = performance.now()
  const target = resolve(dest)
  if (!store.backend.capabilities.fileBackup) {
    // A backup must not fail on one big record: the header records the limit, and importStore adopts it.
    const exported = await exportStore(store, { to: target, maxLineBytes: MAX_LINE_BYTES_LIMIT })
    return {
      path: target,
      bytes: exported.bytes,
      durationMs: Math.round(performance.now() - started),
      integrity: 'not-checked',
      format: 'ndjson',
    }
  }
  const file = requireSqliteStoreFile(store, 'backupStore')
  // Rejects with STORE_CLOSED after close(), like every other operation.
  await store.runRead(async () => undefined)
  mkdirSync(dirname(target), { recursive: true, mode: 0o700 })
  refuseStoreFiles(target, file, 'backup destination')

  const temp = createTempBeside(target)
  try {
    const report = await copySqliteFile({
      source: file,
      dest: temp,
      checkSource: false,
      busyTimeoutMs: store.settings.busyTimeoutMs,
    }).catch((error: unknown) => {
      throw new TandemError(
        'STORAGE_FAILURE',
        `The backup of ${file} failed: ${error instanceof Error ? error.message : String(error)}. Nothing was written to ${target}.`,
        {
          cause: error,
          hint:
            error instanceof SqliteCopyError && error.code === 'SQLITE_FULL'
              ? 'Free disk space where the backup goes.'
              : 'Check free space and permissions, then run "tandem doctor" on the store.',
        },
      )
    })
    if (!isSoundTandemFile(report.dest)) {
      const found = report.dest?.integrity.slice(0, 5).join('; ') ?? 'nothing'
      throw new TandemError(
        'STORAGE_FAILURE',
        `The backup copy of ${file} failed its check (integrity_check: ${found}; format ${String(report.dest?.format)}); it was discarded and ${target} left as it was.`,
        {
          hint: 'The store itself may be damaged: run "tandem doctor", and keep your previous backups.',
        },
      )
    }
    // The worker fsynced the copy: the rename can only ever publish a complete file.
    renameDurably(temp, target)
  } catch (error) {
    removeQuietly(temp)
    throw error
  }
  return {
    path: target,
    bytes: statSync(target).size,
    durationMs: Math.round(performance.now() - started),
    integrity: 'ok',
    format: 'sqlite',
  }
}
