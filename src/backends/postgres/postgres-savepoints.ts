import type { ChangeOp, JsonObject } from '../backend.js'
import { coalesced } from '../change-data.js'
import type { JsonPatch } from '../json-delta.js'

/**
 * What a PostgreSQL write transaction holds, level by savepoint level: its buffered change-log
 * entries, the ids it found missing, its predicate and record locks (engine-only: SQLite's one
 * writer holds the whole file and needs no ledger of locks). A released savepoint hands what it
 * holds to its parent; one rolled back loses it, as PostgreSQL releases its locks.
 */

/** A change-log entry waiting for COMMIT, with what coalescing needs to know of it (see coalesced in change-data.ts). */
export interface BufferedChange {
  text: string
  collection: string
  id: string
  op: ChangeOp
  data?: JsonObject
  delta?: JsonPatch
}

/** What one savepoint level of a write holds until it is released or rolled back. */
interface Level {
  /** Changes appended at this level, serialized at once (later edits of the data objects do not leak in). */
  changes: BufferedChange[]
  /** Records (collection/id) a get found missing at this level; their record locks are held. */
  missed: Set<string>
  /** Collections whose predicate lock (collectionLockKey) this level took. ROLLBACK TO SAVEPOINT releases them. */
  locks: Map<string, 'shared' | 'exclusive'>
  /** The greatest record key (recordKey order) this level locked: a row FOR UPDATE, or a missing id's record lock. */
  maxRecordKey: string | undefined
  /** Records (recordKey) this level locked. */
  recordLocks: Set<string>
  /** This level is the savepoint of one write of a group-commit batch (see SavepointOptions). */
  job: boolean
}

const newLevel = (job = false): Level => ({
  changes: [],
  missed: new Set(),
  locks: new Map(),
  maxRecordKey: undefined,
  recordLocks: new Set(),
  job,
})

/** The key of a record in the global lock order: collection, then id. */
export function recordKey(collection: string, id: string): string {
  return `${collection}\u0000${id}`
}

export class SavepointStack {
  /** The transaction's own level first, then one per open savepoint. */
  readonly #levels: Level[] = [newLevel()]

  /** 1 outside any savepoint, 2 inside one, and so on. */
  get depth(): number {
    return this.#levels.length
  }

  /** Whether some open level is the savepoint of one write of a batch. */
  get inBatchJob(): boolean {
    return this.#levels.some((level) => level.job)
  }

  /**
   * The changes COMMIT appends: those of the transaction's own level (released savepoints gave
   * theirs to it), coalesced as the append coalesces the log: of a record's entries without a copy,
   * the last one only.
   */
  get committedChanges(): string[] {
    return coalesced(this.#levels[0]!.changes).map((c) => c.text)
  }

  /** A savepoint was opened: a new level on top. */
  push(job: boolean): void {
    this.#levels.push(newLevel(job))
  }

  /** The top savepoint is gone (undone, or its transaction aborted): its level and all it held go. */
  pop(): void {
    this.#levels.pop()
  }

  /** The top savepoint was released: its parent holds what it held (row locks outlive a released savepoint). */
  release(): void {
    const level = this.#levels.pop()!
    const parent = this.#levels.at(-1)!
    parent.changes.push(...level.changes)
    for (const key of level.missed) parent.missed.add(key)
    for (const key of level.recordLocks) parent.recordLocks.add(key)
    if (level.maxRecordKey !== undefined && (parent.maxRecordKey === undefined || level.maxRecordKey > parent.maxRecordKey))
      parent.maxRecordKey = level.maxRecordKey
    for (const [collection, mode] of level.locks) if (parent.locks.get(collection) !== 'exclusive') parent.locks.set(collection, mode)
  }

  /** The top savepoint was rolled back to its start: what its work appended or looked up is undone (its record locks are released). */
  reset(): void {
    this.#levels[this.#levels.length - 1] = newLevel(this.#levels.at(-1)!.job)
  }

  appendChange(change: BufferedChange): void {
    this.#levels.at(-1)!.changes.push(change)
  }

  /** The predicate lock of `collection` this transaction holds, if any. */
  heldLock(collection: string): 'shared' | 'exclusive' | undefined {
    let held: 'shared' | 'exclusive' | undefined
    for (const level of this.#levels) {
      const mode = level.locks.get(collection)
      if (mode === 'exclusive') return mode
      held ??= mode
    }
    return held
  }

  noteLock(collection: string, mode: 'shared' | 'exclusive'): void {
    this.#levels.at(-1)!.locks.set(collection, mode)
  }

  /**
   * Whether locking `key` now could close a deadlock cycle with another batch: inside one write of
   * a batch, when an earlier write of the batch locked a record that comes after `key` in the
   * global order (collection, then id). Record locks are only ever waited for in that order; one
   * out of order is tried without waiting, and if taken the write runs again in the next batch
   * (see SavepointOptions). So two processes' batches updating the same records in opposite
   * orders never deadlock. A caller's own multi-record transaction waits as it asks (its deadlocks
   * are cancelled by PostgreSQL and retried).
   */
  outOfOrder(key: string): boolean {
    const job = this.#levels.findIndex((level) => level.job)
    if (job === -1) return false
    if (this.#levels.some((level) => level.recordLocks.has(key))) return false
    for (let i = 0; i < job; i++) {
      const max = this.#levels[i]!.maxRecordKey
      if (max !== undefined && max > key) return true
    }
    return false
  }

  noteRecordLock(key: string): void {
    const level = this.#levels.at(-1)!
    level.recordLocks.add(key)
    if (level.maxRecordKey === undefined || key > level.maxRecordKey) level.maxRecordKey = key
  }

  /** A get at the top level found the record missing (and holds its record lock). */
  noteMissed(key: string): void {
    this.#levels.at(-1)!.missed.add(key)
  }

  /** Whether a get of this transaction found the record missing. */
  missed(key: string): boolean {
    return this.#levels.some((level) => level.missed.has(key))
  }

  /** The record is there now (this transaction inserted it). */
  forgetMissed(key: string): void {
    for (const level of this.#levels) level.missed.delete(key)
  }
}
