import { historyFields } from '../store/history.js'
import type { FieldRef, JsonObject, RecordRow, WriteTx } from '../backends/backend.js'
import { TandemError } from '../errors.js'
import { checkCollectionFilter, checkRole, type CollectionSettings, type CollectionsConfig } from '../store/config.js'
import { validateData } from '../store/validate.js'
import { checkData } from '../store/data.js'
import { checkId } from '../store/ids.js'
import type { Store } from '../store/store.js'
import { importFailure, ImportError, type ImportLocation } from './import-error.js'

/**
 * What to do when an imported record's id already exists in the collection (or appeared earlier
 * in the same input): keep the stored one ('skip'), replace it with the imported one, metadata
 * included ('overwrite'), stop and roll everything back ('fail'), or replace it only when the
 * imported version is higher ('newer-version-wins'; equal versions keep the stored record).
 */
export type ConflictPolicy = 'skip' | 'overwrite' | 'fail' | 'newer-version-wins'
/** Every accepted `onConflict` value. */
export const CONFLICT_POLICIES: readonly ConflictPolicy[] = ['skip', 'overwrite', 'fail', 'newer-version-wins']

/** What happened to one collection's records in an import. */
export interface ImportCounts {
  inserted: number
  overwritten: number
  skipped: number
}

/** The options every import shares. */
export interface ImportTargetOptions {
  onConflict: ConflictPolicy
  /** Import into collections this store does not declare, unvalidated (no schema is known for them). Default false. */
  allowUndeclared?: boolean
}

/** Checks `onConflict`, naming the accepted values. */
export function checkConflictPolicy(value: unknown): ConflictPolicy {
  if (!CONFLICT_POLICIES.includes(value as ConflictPolicy)) {
    throw new TypeError(
      `onConflict must be one of ${CONFLICT_POLICIES.map((p) => `'${p}'`).join(', ')} (got ${JSON.stringify(value)}). It says what happens to a record whose id already exists.`,
    )
  }
  return value as ConflictPolicy
}

/**
 * Refuses a collection the store does not declare (UNKNOWN_COLLECTION: its records could not be
 * validated), unless `allowUndeclared`; refuses an invalid collection name either way.
 */
export function checkImportCollection<C extends CollectionsConfig>(store: Store<C>, name: string, allowUndeclared: boolean): void {
  if (store.settings.collections.has(name) || allowUndeclared) {
    checkCollectionFilter({ collections: [name] })
    return
  }
  const declared = [...store.settings.collections.keys()]
  throw new TandemError(
    'UNKNOWN_COLLECTION',
    `Collection "${name}" is not declared in this store (declared: ${declared.join(', ') || 'none'}), so its records cannot be validated.`,
    {
      collection: name,
      hint: `Declare "${name}" in openStore (with its schema) and import again, pass collections: [...] to import only some, or allowUndeclared: true to import it unvalidated.`,
    },
  )
}

/** Records validated and queued between two writes to the store. */
const IMPORT_BATCH = 500
const ID: FieldRef = { kind: 'meta', name: 'id' }

function recordKey(collection: string, id: string): string {
  return `${collection}\u0000${id}`
}

interface QueuedRecord {
  collection: string
  row: RecordRow
  where: ImportLocation
}

/**
 * Writes imported records inside one open write transaction: checks each like a normal write
 * (id, role, the collection's schema, the JSON rules of checkData), applies the conflict policy,
 * and appends the matching change-log entry ('insert' or 'update') so change-feed followers see
 * the import. Imported records keep their id, version, timestamps and role.
 */
export class ImportSink<C extends CollectionsConfig> {
  readonly counts = new Map<string, ImportCounts>()
  readonly #store: Store<C>
  readonly #tx: WriteTx
  readonly #policy: ConflictPolicy
  readonly #allowUndeclared: boolean
  /** Collections checked (and, if undeclared, created) so far: their settings, or null for undeclared ones. */
  readonly #targets = new Map<string, CollectionSettings | null>()
  /** Validated records waiting to be written (see flush). */
  #queue: QueuedRecord[] = []

  constructor(store: Store<C>, tx: WriteTx, options: ImportTargetOptions) {
    this.#store = store
    this.#tx = tx
    this.#policy = options.onConflict
    this.#allowUndeclared = options.allowUndeclared ?? false
  }

  /** The import's write transaction. */
  get tx(): WriteTx {
    return this.#tx
  }

  /** Refuses a collection the store does not declare, unless allowUndeclared. */
  checkCollection(name: string): void {
    checkImportCollection(this.#store, name, this.#allowUndeclared)
  }

  /**
   * Validates one record now (errors name `where`) and queues its write; the queue is written
   * every IMPORT_BATCH records and by flush(), which the import calls before it commits.
   */
  async put(collection: string, row: RecordRow, where: ImportLocation): Promise<void> {
    let record: RecordRow
    try {
      const settings = await this.#target(collection)
      checkId(row.id)
      checkRole(row.role, 'role')
      record = { ...row, data: await validate(collection, settings, row.data, row.id) }
    } catch (error) {
      // A queued record's write error comes first in the input: report that one.
      await this.flush()
      throw importFailure(where, error)
    }
    this.#queue.push({ collection, row: record, where })
    if (this.#queue.length >= IMPORT_BATCH) await this.flush()
  }

  /**
   * Writes the queued records, in input order. What exists already is read with one query per
   * collection (inside the write, so it also holds off other writers of the collection, as find
   * does), not with one read per record; new records are inserted together, which PostgreSQL sends
   * as one statement. Rejects with the first failing record's ImportError.
   */
  async flush(): Promise<void> {
    const batch = this.#queue
    this.#queue = []
    if (batch.length === 0) return
    const existing = await this.#existing(batch)
    // Writes started and not awaited yet, so that PostgreSQL can send the inserts of one tick as
    // one statement; each rejects with its record's ImportError.
    const inserts: Promise<void>[] = []
    const start = (where: ImportLocation, write: () => Promise<void> | void): void => {
      let result: Promise<void> | void
      try {
        result = write()
      } catch (error) {
        throw importFailure(where, error)
      }
      if (result === undefined) return // Done already (SQLite).
      const started = result.catch((error: unknown) => {
        throw importFailure(where, error)
      })
      started.catch(() => undefined) // Awaited below; never an unhandled rejection meanwhile.
      inserts.push(started)
    }
    const insertsDone = async (): Promise<void> => {
      if (inserts.length > 0) await Promise.all(inserts.splice(0))
    }
    // Stored records the batch replaces are deleted first, before any insert starts (at the top
    // level of a transaction PostgreSQL sends these deletes with the batch's INSERT, ahead of it;
    // inside a savepoint each is a round trip). Delete and insert rather than update: the
    // imported createdAt must replace the stored one too.
    const deleteStored = async (collection: string, id: string, where: ImportLocation): Promise<void> => {
      try {
        await this.#tx.delete(collection, id)
      } catch (error) {
        throw importFailure(where, error)
      }
    }
    const deleted = new Set<string>()
    for (const { collection, row, where } of batch) {
      const key = recordKey(collection, row.id)
      const stored = existing.get(collection)!.get(row.id)
      if (stored === undefined || deleted.has(key) || !this.#replaces(row, stored)) continue
      await deleteStored(collection, row.id, where)
      deleted.add(key)
    }
    for (const { collection, row, where } of batch) {
      const found = existing.get(collection)!
      const counts = this.#countsOf(collection)
      const stored = found.get(row.id)
      if (stored === undefined) {
        start(where, () => this.#tx.insert(collection, row))
        start(where, () => this.#log(collection, 'insert', row))
        found.set(row.id, row)
        counts.inserted++
        continue
      }
      if (this.#policy === 'fail') {
        await insertsDone()
        throw new ImportError(
          'DUPLICATE_ID',
          where,
          `Record ${collection}/${row.id} already exists (version ${stored.version}) and onConflict is 'fail'.`,
          {
            collection,
            id: row.id,
            hint: "Import into an empty collection, or choose onConflict 'skip', 'overwrite' or 'newer-version-wins'.",
          },
        )
      }
      if (!this.#replaces(row, stored)) {
        counts.skipped++
        continue
      }
      if (!deleted.delete(recordKey(collection, row.id))) {
        // Not deleted above: a record of this same batch, or one kept by an earlier line of it.
        // Whatever is in flight lands first.
        await insertsDone()
        await deleteStored(collection, row.id, where)
      }
      start(where, () => this.#tx.insert(collection, row))
      start(where, () => this.#log(collection, 'update', row, stored.data))
      found.set(row.id, row)
      counts.overwritten++
    }
    await insertsDone()
  }

  /** Whether the conflict policy lets `row` replace the stored record. */
  #replaces(row: RecordRow, stored: { version: number }): boolean {
    return this.#policy === 'overwrite' || (this.#policy === 'newer-version-wins' && row.version > stored.version)
  }

  /** Per collection of the batch: the stored version of each id (absent: not stored). */
  async #existing(batch: readonly QueuedRecord[]): Promise<Map<string, Map<string, { version: number; data?: JsonObject }>>> {
    const ids = new Map<string, string[]>()
    for (const { collection, row } of batch) {
      const list = ids.get(collection)
      if (list === undefined) ids.set(collection, [row.id])
      else list.push(row.id)
    }
    const existing = new Map<string, Map<string, { version: number; data?: JsonObject }>>()
    for (const [collection, list] of ids) {
      const rows = await this.#tx.find(collection, {
        where: [{ field: ID, op: 'in', value: [...new Set(list)] }],
        orderBy: { field: ID, direction: 'asc' },
      })
      existing.set(collection, new Map(rows.map((r) => [r.id, { version: r.version, data: r.data }])))
    }
    return existing
  }

  async #target(collection: string): Promise<CollectionSettings | null> {
    const known = this.#targets.get(collection)
    if (known !== undefined) return known
    this.checkCollection(collection)
    const settings = this.#store.settings.collections.get(collection) ?? null
    // An undeclared collection may not have storage yet; created in this transaction, so a failed import leaves no empty table behind (SQLite).
    if (settings === null) await this.#tx.ensureCollection({ name: collection, indexes: [] })
    this.#targets.set(collection, settings)
    return settings
  }

  #countsOf(collection: string): ImportCounts {
    let counts = this.counts.get(collection)
    if (counts === undefined) {
      counts = { inserted: 0, overwritten: 0, skipped: 0 }
      this.counts.set(collection, counts)
    }
    return counts
  }

  /** The change-log entry goes into the same transaction: followers see the import when, and only if, it commits. */
  #log(collection: string, op: 'insert' | 'update', row: RecordRow, previous?: JsonObject): Promise<void> | void {
    const settings = this.#targets.get(collection)
    return this.#tx.appendChange({
      collection,
      id: row.id,
      op,
      version: row.version,
      role: row.role,
      at: Date.now(),
      ...historyFields(settings ?? undefined, op, row.data, previous),
    })
  }
}

/**
 * The JSON rules every write follows, on the data as imported (so a `__proto__` key is refused even
 * when a schema would strip it), then the collection's schema (if declared with one) and the rules
 * again on what the schema returns.
 */
async function validate(collection: string, settings: CollectionSettings | null, data: unknown, id: string): Promise<JsonObject> {
  const checked = checkData(collection, data)
  return settings?.schema === undefined ? checked : validateData(collection, settings.schema, checked, id, settings.unknownKeys)
}
