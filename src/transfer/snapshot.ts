import type { ReadSnapshot } from '../backends/backend.js'
import { sqliteStoreFile } from '../store/store-file.js'
import type { CollectionsConfig } from '../store/config.js'
import type { Store } from '../store/store.js'

/** What an export reads: collections, and their records in id order, a page at a time. */
export interface Snapshot extends ReadSnapshot {
  /** True when every page comes from one read transaction (the store as of one instant). */
  readonly consistent: boolean
}

/**
 * A snapshot to export from. Where the backend can open one (an SQLite store in a file: one read
 * transaction on a dedicated connection, see Backend.openSnapshot), so the export is the store as of one instant while others keep writing. Elsewhere
 * (':memory:', other engines): each page is its own read through the store, consistent in itself,
 * but records written while the export runs may or may not appear (never half, never twice).
 */
export async function openSnapshot<C extends CollectionsConfig>(store: Store<C>): Promise<Snapshot> {
  // Rejects with STORE_CLOSED after close(), like every other operation.
  await store.runRead(async () => undefined)
  // The backend's own snapshot (SQLite: a read transaction on a connection of its own), for a
  // store opened on a file; a backend handed in without a path reads page by page.
  const snapshot = sqliteStoreFile(store) === undefined ? undefined : await store.backend.openSnapshot?.()
  if (snapshot !== undefined)
    return {
      consistent: true,
      collections: () => snapshot.collections(),
      page: (...args) => snapshot.page(...args),
      close: () => snapshot.close(),
    }
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
