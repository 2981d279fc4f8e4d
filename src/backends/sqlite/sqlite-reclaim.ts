import type { SqliteConnection } from './sqlite-prepared.js'

/**
 * (Engine-only: PostgreSQL reclaims with VACUUM, see postgres-backend.ts.) Making an SQLite store
 * file shrink. New stores are created with auto_vacuum = INCREMENTAL (sqlite-create.ts): free pages
 * stay in the file until `PRAGMA incremental_vacuum(N)` moves the last pages into them and
 * truncates. That runs in small steps inside write transactions, so a writer never waits long:
 * RECLAIM_STEP_PAGES after each change-log trim pass (every 1000 writes), and step after step in
 * reclaimSpace. A file made before (auto_vacuum NONE) switches only through one full VACUUM.
 */

/** Pages one step gives back: 1 MiB at the default 4 KiB page, a few milliseconds of writing. */
export const RECLAIM_STEP_PAGES = 256

/** SQLite's auto_vacuum values: 0 NONE, 1 FULL, 2 INCREMENTAL. */
export function autoVacuumMode(connection: SqliteConnection): number {
  return (connection.statement('PRAGMA auto_vacuum').get() as { auto_vacuum: number }).auto_vacuum
}

export function freePages(connection: SqliteConnection): number {
  return (connection.statement('PRAGMA freelist_count').get() as { freelist_count: number }).freelist_count
}

/**
 * One step, in the caller's write transaction: gives back up to RECLAIM_STEP_PAGES free pages
 * (none when the file is not INCREMENTAL: the pragma then does nothing). Returns the pages still free.
 */
export function reclaimStep(connection: SqliteConnection): number {
  if (freePages(connection) === 0) return 0
  connection.statement(`PRAGMA incremental_vacuum(${RECLAIM_STEP_PAGES})`).run()
  return freePages(connection)
}

/** The database's size in pages × page size (what the file is once the WAL is checkpointed). */
export function databaseBytes(connection: SqliteConnection): number {
  const pageSize = (connection.statement('PRAGMA page_size').get() as { page_size: number }).page_size
  return (connection.statement('PRAGMA page_count').get() as { page_count: number }).page_count * pageSize
}
