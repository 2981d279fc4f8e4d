import type { RecordRow, WriteTx } from '../backends/backend.js'
import { TandemError } from '../errors.js'
import { MIGRATIONS_COLLECTION, readAppliedAfter, readSchemaVersion, type AppliedMigration } from '../migrations/runner.js'
import { checkCollectionFilter, type CollectionsConfig } from '../store/config.js'
import { SEEDS_COLLECTION } from '../store/seeds.js'
import type { Store } from '../store/store.js'
import type { ExportHeader, HistoryCollection } from './export-format.js'
import { importFailure, ImportError, type ImportLocation } from './import-error.js'
import { historyFields } from '../store/history.js'
import type { ConflictPolicy } from './import-sink.js'

/** What the seed history of an import did. */
export interface SeedHistoryCounts {
  /** Seed markers the store did not have: those seeds will never be applied to it now. */
  added: number
  /** Seeded records removed: the export's store had deleted them, and this store still held them untouched since its own seeding. */
  removed: number
}

/** The export an import read, as its header describes it (absent for a file without a header). */
export interface ImportSource {
  format: number
  kind: string
  exportedAt: string
  /** Absent in exports of format 1. */
  schemaVersion?: number
  fingerprint?: string
}

interface SourceSeed {
  collection: string
  id: string
  /** The export held a record with this id: its state is imported like any record's. */
  present: boolean
}

/**
 * The store's history in an import: the export's schema version and migration history, checked
 * against the store's, and its seed history, merged into the store's. All in the import's write
 * transaction, so a refused or failed import leaves the history as it was too.
 *
 * Why an export of another schema version is refused rather than migrated: the store's migrations
 * are written to run once over the whole store. Run over the store after the import, they would
 * also change records that are already migrated (a migration is not idempotent in general); run
 * over the imported records alone, they would miss what a migration reads or writes in other
 * collections (an export may hold only some), and records a migration inserts would be inserted
 * twice. The sound way is the store's own: put the export in a store at its version, and let the
 * migrations run there at open (see the hint).
 */
export class ImportHistory<C extends CollectionsConfig> {
  readonly seeds: SeedHistoryCounts = { added: 0, removed: 0 }
  readonly #store: Store<C>
  readonly #tx: WriteTx
  readonly #policy: ConflictPolicy
  readonly #allowMismatch: boolean
  readonly #wanted: ReadonlySet<string> | undefined
  /** The store's applied migrations by version (read once). */
  #applied: Map<number, AppliedMigration> | undefined
  /** The export's seed markers, by "collection/id". */
  readonly #sourceSeeds = new Map<string, SourceSeed>()
  #seedsTableReady = false

  constructor(
    store: Store<C>,
    tx: WriteTx,
    options: { onConflict: ConflictPolicy; allowSchemaMismatch: boolean; wanted: ReadonlySet<string> | undefined },
  ) {
    this.#store = store
    this.#tx = tx
    this.#policy = options.onConflict
    this.#allowMismatch = options.allowSchemaMismatch
    this.#wanted = options.wanted
  }

  /**
   * Compares the export's schema version with the store's (its highest applied migration).
   * Refuses, before any record is read: SCHEMA_TOO_NEW when the export is newer (its records may
   * have shapes this store's program does not know), SCHEMA_TOO_OLD when it is older (this
   * store's migrations since then were never run on its records). allowSchemaMismatch skips it.
   */
  async checkHeader(header: ExportHeader, where: ImportLocation): Promise<void> {
    if (header.schemaVersion === undefined || this.#allowMismatch) return
    const exported = header.schemaVersion
    const current = await readSchemaVersion(this.#tx)
    if (exported === current) return
    const override =
      'or, if you know the records need no migrating, import it anyway with allowSchemaMismatch: true (tandem import --allow-schema-mismatch).'
    if (exported > current) {
      throw new ImportError(
        'SCHEMA_TOO_NEW',
        where,
        `The export was made at schema version ${exported}; this store is at version ${current}, so its records may have shapes this store's program does not know.`,
        {
          hint: `Open the store with the definition that has the migrations up to ${exported} (they run when it opens), then import again; ${override}`,
        },
      )
    }
    const missing = [...(await this.#appliedMigrations()).values()].filter((m) => m.version > exported)
    const listed =
      missing
        .slice(0, 3)
        .map((m) => `${m.version} "${m.name}"`)
        .join(', ') + (missing.length > 3 ? ` and ${missing.length - 3} more` : '')
    throw new ImportError(
      'SCHEMA_TOO_OLD',
      where,
      `The export was made at schema version ${exported}; this store is at version ${current}: its migration${missing.length === 1 ? '' : 's'} ${listed} never ran on the exported records, and an import does not run migrations.`,
      {
        hint: `Migrate the export first: import it into a new store opened with only its first migrations (up to ${exported}), open that store with all of them (they run at open), export it and import that; ${override}`,
      },
    )
  }

  /** Handles one history line: a migration the export's store applied, or a seed it applied. */
  async put(collection: HistoryCollection, row: RecordRow, where: ImportLocation): Promise<void> {
    try {
      if (collection === MIGRATIONS_COLLECTION) await this.#migration(row, where)
      else await this.#seed(row)
    } catch (error) {
      throw importFailure(where, error)
    }
  }

  /** Notes that the export holds this record, so a seed marker for it is not a deletion. */
  noteRecord(collection: string, id: string): void {
    const seed = this.#sourceSeeds.get(`${collection}/${id}`)
    if (seed !== undefined) seed.present = true
  }

  /**
   * After every record is written: a seed the export's store applied and then deleted (its marker
   * is in the export, its record is not, in a collection the export holds in full) is removed
   * here too, when this store's record is still exactly what its own seeding inserted (version 1,
   * created at the time its marker records) and the policy lets imported state replace stored
   * state ('overwrite', 'newer-version-wins'). Logged as a 'delete' change.
   */
  async removeDeletedSeeds(complete: readonly string[]): Promise<void> {
    if (this.#policy !== 'overwrite' && this.#policy !== 'newer-version-wins') return
    for (const seed of this.#sourceSeeds.values()) {
      if (seed.present || !complete.includes(seed.collection)) continue
      const marker = await this.#tx.get(SEEDS_COLLECTION, `${seed.collection}/${seed.id}`)
      if (marker === undefined) continue
      // Untouched since the seeding the marker records: created then, never written again. (A
      // marker this import added names the export's seeding: a record created at that instant
      // is that seed record, imported before.)
      const seededAt = Date.parse(String(marker.data.seededAt))
      const stored = await this.#tx.get(seed.collection, seed.id)
      if (stored === undefined || stored.version !== 1 || stored.createdAt !== seededAt || stored.updatedAt !== seededAt) continue
      await this.#tx.delete(seed.collection, seed.id)
      const settings = this.#store.settings.collections.get(seed.collection)
      await this.#tx.appendChange({
        collection: seed.collection,
        id: seed.id,
        op: 'delete',
        version: stored.version,
        role: this.#store.role,
        at: Date.now(),
        ...historyFields(settings, 'delete', stored.data),
      })
      this.seeds.removed++
    }
  }

  async #appliedMigrations(): Promise<Map<number, AppliedMigration>> {
    this.#applied ??= new Map((await readAppliedAfter(this.#tx, 0)).map((m) => [m.version, m]))
    return this.#applied
  }

  /** A migration of the export's store must be the same migration here (by name); it is never written: this store keeps its own history. */
  async #migration(row: RecordRow, where: ImportLocation): Promise<void> {
    const { version, name } = row.data as Partial<AppliedMigration>
    if (
      !Number.isSafeInteger(version) ||
      (version as number) < 1 ||
      typeof name !== 'string' ||
      row.id !== String(version).padStart(10, '0')
    ) {
      throw new ImportError(
        'INVALID_DATA',
        where,
        `A "_migrations" line must record one applied migration: { "version", "name", ... } under its version as a 10-digit id (got id ${JSON.stringify(row.id)}).`,
      )
    }
    if (this.#allowMismatch) return
    const ours = (await this.#appliedMigrations()).get(version!)
    const current = Math.max(0, ...(await this.#appliedMigrations()).keys())
    if (ours?.name === name || (ours === undefined && version! > current)) return
    throw new ImportError(
      'DEFINITION_MISMATCH',
      where,
      `The export's migration ${version} is "${name}", but this store's migration ${version} ${ours === undefined ? 'was never applied' : `is "${ours.name}"`}: the export comes from a store with other migrations.`,
      {
        hint: 'Import it into a store of the same application (the same defineStore definition), or pass allowSchemaMismatch: true (tandem import --allow-schema-mismatch) if you know its records fit.',
      },
    )
  }

  /** A seed the export's store applied: remembered here too (so it is never applied again), unless its collection is left out. */
  async #seed(row: RecordRow): Promise<void> {
    const slash = row.id.indexOf('/')
    const collection = row.id.slice(0, slash)
    const id = row.id.slice(slash + 1)
    if (slash < 1 || id === '' || typeof row.data.seededAt !== 'string' || !Number.isFinite(Date.parse(row.data.seededAt))) {
      throw new TandemError(
        'INVALID_DATA',
        `A "_seeds" line must record one applied seed: id "collection/id" and data { "seededAt" } (got id ${JSON.stringify(row.id)}).`,
      )
    }
    checkCollectionFilter({ collections: [collection] })
    if (this.#wanted !== undefined && !this.#wanted.has(collection)) return
    this.#sourceSeeds.set(row.id, { collection, id, present: false })
    if ((await this.#tx.get(SEEDS_COLLECTION, row.id)) !== undefined) return
    if (!this.#seedsTableReady) {
      await this.#tx.ensureCollection({ name: SEEDS_COLLECTION, indexes: [] })
      this.#seedsTableReady = true
    }
    await this.#tx.insert(SEEDS_COLLECTION, row)
    this.seeds.added++
  }
}
