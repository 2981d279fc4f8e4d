import { historyFields } from './history.js'
import type { JsonObject, WriteTx } from '../backends/backend.js'
import type { CollectionSettings } from './config.js'
import { validateData } from './validate.js'

/** The internal collection remembering which seed records were ever inserted. */
export const SEEDS_COLLECTION = '_seeds'

/** The seeds every declared collection lists, validated (a bad seed fails the open, before anything is written). */
export async function declaredSeeds(collections: Iterable<CollectionSettings>): Promise<SeedRecord[]> {
  const seeds: SeedRecord[] = []
  for (const collection of collections)
    for (const entry of collection.seed ?? [])
      seeds.push({
        collection,
        id: entry.id,
        data: await validateData(collection.name, collection.schema, entry.data, entry.id, collection.unknownKeys),
      })
  return seeds
}

/** One seed record, as applySeeds writes it. */
export interface SeedRecord {
  collection: CollectionSettings
  id: string
  data: JsonObject
}

/**
 * Inserts each declared seed record whose id was never seeded before, in one transaction. A seed
 * never overwrites a record (whoever wrote it), and one a user deleted is not brought back:
 * `_seeds` remembers every id seeded. Re-running is a no-op. Seeds bypass ownership (they are
 * part of the shared configuration, whichever process opens the store first) but not validation.
 */
export async function applySeeds(tx: WriteTx, seeds: readonly SeedRecord[], role: string): Promise<number> {
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
        ...historyFields(collection, 'insert', data),
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
