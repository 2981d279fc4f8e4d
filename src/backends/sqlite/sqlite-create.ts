import Database from 'better-sqlite3'
import { randomBytes } from 'node:crypto'
import { linkSync, statSync, unlinkSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'

/**
 * (Engine-only: a PostgreSQL store's schema is created by its DDL, in a transaction.)
 * Creates a new, empty store file at `file` unless one exists, atomically: SQLite writes the
 * database header (in WAL mode) under a private temp name, which is then hard-linked into place.
 * A process killed half-way leaves at most a temp file, never an empty store file (which the
 * opener would take for a truncated store); two processes creating at once both succeed, and
 * link's EEXIST tells the loser the winner's file is there. Never opens `file` itself.
 */
export function createStoreFile(file: string): void {
  if (statSync(file, { throwIfNoEntry: false }) !== undefined) return
  const temp = join(dirname(file), `.${basename(file)}.creating-${process.pid}-${randomBytes(4).toString('hex')}`)
  try {
    const db = new Database(temp)
    try {
      // Before the first table, or never (a later switch takes a full VACUUM): free pages can
      // then be given back in small steps (see sqlite-reclaim.ts).
      db.pragma('auto_vacuum = INCREMENTAL')
      db.pragma('journal_mode = WAL')
    } finally {
      db.close() // checkpoints and removes the temp's -wal and -shm
    }
    linkSync(temp, file)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
  } finally {
    for (const leftover of [temp, `${temp}-wal`, `${temp}-shm`]) {
      try {
        unlinkSync(leftover)
      } catch {
        // Already gone (SQLite removed its side files on close).
      }
    }
  }
}
