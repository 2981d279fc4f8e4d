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

export interface MigrationReport {
  /** The highest migration version applied to the store. */
  storeVersion: number
  /** The highest version this program knows. */
  knownVersion: number
  outcomes: MigrationOutcome[]
}
