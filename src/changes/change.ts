import type { ChangeOp, ChangeRow } from '../backends/backend.js'
import type { AnyData, CollectionsConfig, DataOf } from '../store/config.js'
import type { TandemError } from '../errors.js'

/**
 * One committed write, as the change feed delivers it: `T` is the collection's data type, `K` its
 * name. A store's feed delivers a union of these, one per collection (see ChangeOf).
 */
export interface Change<T = AnyData, K extends string = string> {
  /** Position in the store's change log: gap-free and in commit order (SQLite and PostgreSQL). */
  seq: number
  collection: K
  id: string
  op: ChangeOp
  /** The record's version after the write; for a delete or trim, the last version it had. */
  version: number
  /** Role of the process that wrote it. */
  role: string
  /** When it was written, ISO 8601. */
  at: string
  /**
   * The record's data. With history: 'full', the data of this very write (the last data for a
   * delete or trim). By default (no copies in the log) the record as the feed read it: this
   * version's data, or a newer version's when the record was written again first (superseded);
   * absent for a delete or trim and for a record deleted since (a tombstone). See docs/changes.md.
   */
  data?: T
  /** The version `data` is of: `version`, or a later one when superseded. Present whenever `data` is. */
  dataVersion?: number
  /** The record was written again or deleted after this change, before the feed read it: `data` is newer, or absent. */
  superseded?: true
}

/**
 * The changes of collections K of the config C, as a union discriminated by `collection`:
 * `if (change.collection === 'projects')` narrows `change.data` to the projects' data type.
 */
export type ChangeOf<C extends CollectionsConfig, K extends keyof C = keyof C> = K extends string ? Change<DataOf<C[K]>, K> : never

/** Any change, whatever its collection: what a stream is made of. */
export type AnyChange = Change<unknown, string>

export function toChange<E extends AnyChange = Change>(row: ChangeRow): E {
  const change: Change<unknown> = {
    seq: row.seq,
    collection: row.collection,
    id: row.id,
    op: row.op,
    version: row.version,
    role: row.role,
    at: new Date(row.at).toISOString(),
  }
  if (row.data !== undefined) change.data = row.data
  if (row.dataVersion !== undefined) change.dataVersion = row.dataVersion
  if (row.superseded === true) change.superseded = true
  return change as E
}

/** Where a reader starts: after this seq, at the current end of the log, or at its start. */
export type ChangeStart = number | 'now' | 'beginning'

/** What a reader reports when it resumes after an interruption. */
export interface FeedResume {
  /** How long reading the log failed, in milliseconds. */
  interruptedMs: number
  /** Failed reads in a row before this one went through. */
  attempts: number
  /** The reader's position: the seq of the last change delivered (or where it started). */
  position: number | undefined
}

/**
 * Who hears about a change reader's outages. A reader never ends because the database is away: it
 * retries with capped, jittered backoff from its position and reports the state here.
 */
export interface FeedObserver {
  /** Reading the change log failed (error code FEED_INTERRUPTED, the failure in `cause`); the reader is retrying. Once per outage. */
  onInterrupted?: (error: TandemError) => void
  /** Reading works again; the reader goes on from its position, nothing missed or repeated. */
  onResume?: (info: FeedResume) => void
}

export interface ChangesOptions<K extends string = string> extends FeedObserver {
  /**
   * Only changes of these collections. Default: the collections this store declares (every
   * collection when it declares none, as the CLI's stores do).
   */
  collections?: readonly K[]
  /** Only changes of these record ids. */
  ids?: readonly string[]
  /** Default 'now': changes committed after the call. A number continues after that seq. */
  since?: ChangeStart
}
