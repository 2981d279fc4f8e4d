// What a backend reports of the bytes it keeps: for status, doctor, describe() and compact.
// Re-exported by backend.ts, where the Backend methods that return these are declared.

/** Where and how big the store is, for status and doctor. */
export interface StorageInfo {
  /** The database file, or the server and schema. */
  location: string
  bytes?: number
  walBytes?: number
  /** The WAL size past which the writer forces a checkpoint. */
  walLimitBytes?: number
}

/** Where a store's bytes go, for describe() and `tandem status` (see Backend.storageSizes). */
export interface StorageSizes {
  /** The store's size: the database file's pages (SQLite, the WAL aside) or its schema's relations (PostgreSQL). */
  totalBytes: number
  /** Collection tables, internal ones included, without their indexes. */
  recordBytes: number
  /** Indexes of the collection tables (the id key included). */
  indexBytes: number
  /** The change log with its index, history copies included. */
  changeLogBytes: number
  /** Of changeLogBytes, the data copies and deltas in it (collections keeping history, and entries written before copies became opt-in). */
  historyBytes: number
  /** historyBytes by collection (collections whose entries hold no copy or delta are left out). Optional: an engine may not say. */
  historyBytesByCollection?: Record<string, number>
  /** Free pages the file keeps for reuse, which compact gives back; undefined where the engine does not say (PostgreSQL). */
  freeBytes: number | undefined
  /** Everything else: the store's own tables (meta), the schema. */
  otherBytes: number
  /** The records' data as JSON text, user collections only: the least the store must hold. */
  liveDataBytes: number
  /** totalBytes ÷ liveDataBytes, to two decimals; undefined when there is no data. */
  amplification: number | undefined
}

/** What Backend.reclaimSpace did. */
export interface ReclaimReport {
  /** The store's size before and after (SQLite: the database file, the WAL aside, checkpointed after). */
  bytesBefore: number
  bytesAfter: number
  /**
   * SQLite: the file was in auto_vacuum NONE (made before stores shrank) and was rewritten once by
   * VACUUM to switch to INCREMENTAL; writers waited for the whole rewrite (see longestBlockMs).
   */
  rewritten: boolean
  /**
   * The longest step, measured (ms). SQLite: how long it held the write lock, blocking other
   * writers. PostgreSQL: the longest table's VACUUM, which blocks neither reads nor writes.
   */
  longestBlockMs: number
  /** Steps taken (SQLite: incremental_vacuum transactions; PostgreSQL: tables vacuumed). */
  steps: number
}

/** amplification: total ÷ live, two decimals. */
export function amplificationOf(totalBytes: number, liveDataBytes: number): number | undefined {
  return liveDataBytes > 0 ? Math.round((totalBytes / liveDataBytes) * 100) / 100 : undefined
}
