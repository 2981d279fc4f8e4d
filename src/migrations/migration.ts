import type { MigrationContext } from './migration-context.js'

/**
 * One step of a store's schema and data history. `up` runs exactly once per store, in its own
 * transaction, however many processes open the store at the same moment; if it throws, all of
 * its writes are rolled back and the store refuses to open.
 */
export interface Migration {
  /** A positive integer; the list must be strictly increasing. Never reuse or renumber one. */
  version: number
  name: string
  up(m: MigrationContext): unknown
}

/** What happened to one migration when the store opened. */
export interface MigrationOutcome {
  version: number
  name: string
  /**
   * 'applied': ran now. 'already-applied': ran before (by this or another process).
   * 'checksum-changed': ran before, but its code has changed since — it is NOT run again; check
   * that the change was intended.
   */
  status: 'applied' | 'already-applied' | 'checksum-changed'
}

/**
 * A migration applied at this open added a field (renameField, backfill) that the collection's
 * schema does not declare: the schema would drop it, so the next write of such a record fails with
 * INVALID_DATA (or, with `unknownKeys: 'strip'`, loses the field). Also emitted as a process
 * warning (code TANDEM_FIELD_NOT_IN_SCHEMA).
 */
export interface MigrationWarning {
  version: number
  name: string
  collection: string
  field: string
  message: string
}

export interface MigrationReport {
  /** The highest migration version applied to the store. */
  storeVersion: number
  /** The highest version this program knows. */
  knownVersion: number
  outcomes: MigrationOutcome[]
  /** Fields migrations applied now added while the schema lacks them (empty when none). */
  warnings: MigrationWarning[]
}
