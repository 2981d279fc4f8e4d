import type { RecordRow } from '../backends/backend.js'
import { sqliteStoreFile } from '../store/store-file.js'
import type { CollectionsConfig } from '../store/config.js'
import type { Store } from '../store/store.js'
import { openSqliteSnapshot } from './sqlite-snapshot.js'

/** What an export reads: collections, and their records in id order, a page at a time. */
export interface Snapshot {
  /** True when every page comes from one read transaction (the store as of one instant). */
  readonly consistent: boolean
  /** Names of the collections that have storage, internal ones included. */
  collections(): Promise<string[]>
  /** Up to `limit` records of `collection` with id > `after` ('' for the first page), in id order. */
  page(collection: string, after: string, limit: number): Promise<RecordRow[]>
  /** Ends the read transaction and releases its connection. Safe to call twice. */
  close(): void
}

/**
 * A snapshot to export from. On an SQLite store in a file: one read transaction on a dedicated
 * connection, so the export is the store as of one instant while others keep writing. Elsewhere
 * (':memory:', other engines): each page is its own read through the store, consistent in itself,
 * but records written while the export runs may or may not appear (never half, never twice).
 */
export async function openSnapshot<C extends CollectionsConfig>(store: Store<C>): Promise<Snapshot> {
  // Rejects with STORE_CLOSED after close(), like every other operation.
  await store.runRead(async () => undefined)
  const file = sqliteStoreFile(store)
  if (file !== undefined) return openSqliteSnapshot(file, store.settings.busyTimeoutMs)
  return {
    consistent: false,
    collections: () => store.runRead((tx) => tx.listCollections()),
    page: (collection, after, limit) =>
      store.runRead((tx) =>
        tx.find(collection, {
          where: [],
          orderBy: { field: { kind: 'meta', name: 'id' }, direction: 'asc' },
          ...(after === '' ? {} : { after: { value: after, id: after } }),
          limit,
        }),
      ),
    close: () => undefined,
  }
}
