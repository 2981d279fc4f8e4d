import { createHash } from 'node:crypto'
import type { JsonObject, ReadTx, WriteTx } from '../backends/backend.js'
import { TandemError } from '../errors.js'
import type { Migration, MigrationOutcome, MigrationReport, MigrationWarning } from './migration.js'
import type { CollectionSettings } from '../store/config.js'
import { MigrationContext } from './migration-context.js'

/** The internal collection recording applied migrations: one record per version. */
export const MIGRATIONS_COLLECTION = '_migrations'

export interface AppliedMigration {
  version: number
  name: string
  checksum: string
  appliedAt: string
  role: string
}

/** Ids sort like versions. */
function idOf(version: number): string {
  return String(version).padStart(10, '0')
}

export function checksumOf(migration: Migration): string {
  return createHash('sha256')
    .update(`${migration.name}\n${String(migration.up)}`)
    .digest('hex')
    .slice(0, 16)
}

/** Checks the list: versions positive, strictly increasing, names given, up a function. */
export function checkMigrations(migrations: unknown): readonly Migration[] {
  if (migrations === undefined) return []
  if (!Array.isArray(migrations)) throw new TypeError('migrations must be an array of { version, name, up }.')
  let previous = 0
  for (const m of migrations as Migration[]) {
    if (typeof m !== 'object' || m === null) throw new TypeError('Each migration must be an object { version, name, up }.')
    if (!Number.isInteger(m.version) || m.version < 1)
      throw new RangeError(`Migration version must be a positive integer (got ${String(m.version)}).`)
    if (m.version <= previous)
      throw new RangeError(
        `Migration versions must be strictly increasing: ${m.version} comes after ${previous}. Never renumber applied migrations; add new ones at the end.`,
      )
    if (typeof m.name !== 'string' || m.name === '') throw new TypeError(`Migration ${m.version} needs a name.`)
    if (typeof m.up !== 'function') throw new TypeError(`Migration ${m.version} "${m.name}" needs an up(m) function.`)
    previous = m.version
  }
  return Object.freeze([...(migrations as Migration[])])
}

/** What the migration runner needs from the store. */
export interface MigrationHost {
  readonly role: string
  runWrite<T>(work: (tx: WriteTx) => Promise<T>): Promise<T>
  runRead<T>(work: (tx: ReadTx) => Promise<T>): Promise<T>
}

/**
 * Applies the migrations the store has not seen, each in its own write transaction that first
 * takes the migration lock and re-checks the history: however many processes race, each
 * migration runs once. A failing migration rolls back entirely and stops the open with
 * MIGRATION_FAILED. Returns what happened to each, and the store's version after.
 */
export async function runMigrations(
  host: MigrationHost,
  migrations: readonly Migration[],
  collections: ReadonlyMap<string, CollectionSettings> = new Map(),
): Promise<MigrationReport> {
  const outcomes: MigrationOutcome[] = []
  const warnings: MigrationWarning[] = []
  for (const migration of migrations) {
    const checksum = checksumOf(migration)
    let added: MigrationWarning[] = []
    try {
      const status = await host.runWrite(async (tx): Promise<MigrationOutcome['status']> => {
        await tx.lock('migrations')
        const existing = await tx.get(MIGRATIONS_COLLECTION, idOf(migration.version))
        if (existing !== undefined)
          return (existing.data as unknown as AppliedMigration).checksum === checksum ? 'already-applied' : 'checksum-changed'
        const context = new MigrationContext(tx, host.role)
        await migration.up(context)
        // Set, not appended: a transaction retried after a deadlock runs `up` again.
        added = fieldWarnings(migration, context.addedFields, collections)
        const now = Date.now()
        const applied: AppliedMigration = {
          version: migration.version,
          name: migration.name,
          checksum,
          appliedAt: new Date(now).toISOString(),
          role: host.role,
        }
        await tx.insert(MIGRATIONS_COLLECTION, {
          id: idOf(migration.version),
          version: 1,
          createdAt: now,
          updatedAt: now,
          role: host.role,
          data: applied as unknown as JsonObject,
        })
        return 'applied'
      })
      outcomes.push({ version: migration.version, name: migration.name, status })
      warnings.push(...added)
    } catch (error) {
      throw new TandemError(
        'MIGRATION_FAILED',
        `Migration ${migration.version} "${migration.name}" failed and was rolled back: ${error instanceof Error ? error.message : String(error)}. The store stays at the migrations before it; fix this one and open again.`,
        { cause: error, hint: 'Fix the migration (it never partly applies), then restart the program.' },
      )
    }
  }
  const storeVersion = await host.runRead(readSchemaVersion)
  for (const warning of warnings) process.emitWarning(warning.message, { code: 'TANDEM_FIELD_NOT_IN_SCHEMA' })
  return { storeVersion, knownVersion: migrations.at(-1)?.version ?? 0, outcomes, warnings }
}

/**
 * The fields a migration added that the collection's schema does not declare, where the schema's
 * fields are known (zod, valibot objects that drop unknown keys). Checked when the migration runs,
 * against the schemas of the program running it.
 */
function fieldWarnings(
  migration: Migration,
  added: readonly { collection: string; field: string }[],
  collections: ReadonlyMap<string, CollectionSettings>,
): MigrationWarning[] {
  const warnings: MigrationWarning[] = []
  for (const { collection, field } of added) {
    const settings = collections.get(collection)
    const shape = settings?.shape
    if (shape === undefined || shape.open || shape.fields.has(field)) continue
    const then =
      settings?.unknownKeys === 'strip'
        ? 'the schema drops it, so the next write of each such record loses it (unknownKeys: "strip")'
        : 'the schema would drop it, so the next write of each such record fails with INVALID_DATA'
    warnings.push({
      version: migration.version,
      name: migration.name,
      collection,
      field,
      message: `Migration ${migration.version} "${migration.name}" added field "${field}" to "${collection}", whose schema does not declare it: ${then}. Add "${field}" to the schema of "${collection}".`,
    })
  }
  return warnings
}

/** The highest migration version applied to the store (0 when none). */
export async function readSchemaVersion(tx: ReadTx): Promise<number> {
  const [last] = await tx.find(MIGRATIONS_COLLECTION, {
    where: [],
    orderBy: { field: { kind: 'meta', name: 'id' }, direction: 'desc' },
    limit: 1,
  })
  return last === undefined ? 0 : (last.data as unknown as AppliedMigration).version
}

/** The migrations the store has applied past `version`, oldest first: what a program that knows only up to `version` lacks. */
export async function readAppliedAfter(tx: ReadTx, version: number): Promise<AppliedMigration[]> {
  const rows = await tx.find(MIGRATIONS_COLLECTION, { where: [], orderBy: { field: { kind: 'meta', name: 'id' }, direction: 'asc' } })
  return rows.map((r) => r.data as unknown as AppliedMigration).filter((m) => m.version > version)
}

/**
 * The error for a program whose definition lacks migrations the store has applied: names each
 * one (and who applied it), since the usual cause is two definitions that drifted apart — an
 * app and a CLI config that each list their own migrations.
 */
export function schemaTooNew(report: MigrationReport, unknown: readonly AppliedMigration[] = []): TandemError {
  const listed = unknown
    .slice(0, 5)
    .map((m) => `${m.version} "${m.name}" (applied by role ${m.role} at ${m.appliedAt})`)
    .join(', ')
  const more = unknown.length > 5 ? ` and ${unknown.length - 5} more` : ''
  return new TandemError(
    'SCHEMA_TOO_NEW',
    `The store schema is at version ${report.storeVersion}, this program knows ${report.knownVersion}${listed === '' ? '' : `; it lacks migration ${listed}${more}`}. It refuses to write so it cannot damage newer data.`,
    {
      hint: 'Give this program the same store definition as the app that migrated the store (one defineStore module, imported by the app and by tandem.config.ts), or deploy its newer version; open with onNewerSchema: "read-only" to read only.',
    },
  )
}
