import type { JsonObject, WriteTx } from '../backends/backend.js'
import type { CollectionSettings } from './config.js'

/** The internal collection remembering which seed records were ever inserted. */
export const SEEDS_COLLECTION = '_seeds'

/**
 * Inserts each declared seed record whose id was never seeded before, in one transaction. A seed
 * never overwrites a record (whoever wrote it), and one a user deleted is not brought back:
 * `_seeds` remembers every id seeded. Re-running is a no-op. Seeds bypass ownership (they are
 * part of the shared configuration, whichever process opens the store first) but not validation.
 */
export async function applySeeds(
  tx: WriteTx,
  seeds: readonly { collection: CollectionSettings; id: string; data: JsonObject }[],
  role: string,
): Promise<number> {
  let inserted = 0
  const now = Date.now()
  for (const { collection, id, data } of seeds) {
    const marker = `${collection.name}/${id}`
    if ((await tx.get(SEEDS_COLLECTION, marker)) !== undefined) continue
    if ((await tx.get(collection.name, id)) === undefined) {
      await tx.insert(collection.name, { id, version: 1, createdAt: now, updatedAt: now, role, data })
      await tx.appendChange({
        collection: collection.name,
        id,
        op: 'insert',
        version: 1,
        role,
        at: now,
        ...(collection.history === 'full' ? { data } : {}),
      })
      inserted++
    }
    await tx.insert(SEEDS_COLLECTION, {
      id: marker,
      version: 1,
      createdAt: now,
      updatedAt: now,
      role,
      data: { seededAt: new Date(now).toISOString() },
    })
  }
  return inserted
}
