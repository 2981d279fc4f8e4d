import { statSync } from 'node:fs'
import { resolve } from 'node:path'
import type { Backend } from '../backends/backend.js'
import type * as PostgresBackendModule from '../backends/postgres/postgres-backend.js'
import { SqliteBackend } from '../backends/sqlite/sqlite-backend.js'
import { openFilesBackend } from '../backends/files/files-backend.js'
import { createStoreFile } from '../backends/sqlite/sqlite-create.js'
import { DEFAULT_JOURNAL_SIZE_LIMIT_BYTES, DEFAULT_WAL_CHECKPOINT_BYTES } from '../backends/sqlite/sqlite-config.js'
import { scheduleBackups, type ScheduledBackupOptions } from '../backup/scheduled-backup.js'
import { CONSUMERS_COLLECTION } from '../changes/consumer.js'
import { checkStoreFile, resolveStorePath, restrictFileMode } from '../fs/safe-path.js'
import { MIGRATIONS_COLLECTION, readAppliedAfter, readSchemaVersion, runMigrations, schemaTooNew } from '../migrations/runner.js'
import { explainBusy } from '../registry/busy-holders.js'
import { PROCESSES_COLLECTION } from '../registry/process-registry.js'
import type { CollectionsConfig, StoreConfig, StoreSettings } from '../store/config.js'
import { parseStoreConfig } from '../store/parse-config.js'
import { DECLARATIONS_COLLECTION } from '../store/declarations.js'
import { SEEDS_COLLECTION } from '../store/seeds.js'
import { checkKnownRole } from '../store/roles.js'
import { Store } from '../store/store.js'
import { TandemError } from '../errors.js'

/** The PostgreSQL backend, whose `pg` driver is an optional peer dependency: say how to get it when it is missing. */
async function importPostgresBackend(): Promise<typeof PostgresBackendModule> {
  try {
    return await import('../backends/postgres/postgres-backend.js')
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException
    if (code !== 'ERR_MODULE_NOT_FOUND' || !/['"]pg['"]/.test(message)) throw error
    throw new TandemError('MISSING_DEPENDENCY', 'PostgreSQL stores need the "pg" package, which is not installed. Nothing was opened.', {
      hint: 'Run "npm install pg" in your project, then retry.',
      cause: error,
    })
  }
}

/** The backend the settings ask for: PostgreSQL for a url (loaded only then), files for files.dir, else SQLite. */
async function openBackend(settings: StoreSettings): Promise<Backend> {
  if (settings.files !== undefined)
    return openFilesBackend({ dir: settings.files.dir, busyTimeoutMs: settings.busyTimeoutMs, readOnly: settings.readOnly })
  if (settings.url !== undefined) {
    const { openPostgresBackend } = await importPostgresBackend()
    return openPostgresBackend({
      url: settings.url,
      ...settings.postgres,
      busyTimeoutMs: settings.busyTimeoutMs,
      durability: settings.durability,
    })
  }
  const memory = settings.path === ':memory:'
  if (settings.readOnly) requireExistingStore(settings)
  const file = memory ? ':memory:' : resolveStorePath(settings.path, settings.dataDir).file
  // A missing file becomes a new store; an empty one is refused (most likely truncated) unless create: true.
  if (!memory) await checkStoreFile(file, settings.create)
  // Created atomically, so that a crash mid-creation never leaves the empty file refused above.
  if (!memory && !settings.readOnly) createStoreFile(file)
  const backend = await SqliteBackend.open({
    path: file,
    durability: settings.durability,
    busyTimeoutMs: settings.busyTimeoutMs,
    journalSizeLimitBytes: DEFAULT_JOURNAL_SIZE_LIMIT_BYTES,
    walCheckpointBytes: DEFAULT_WAL_CHECKPOINT_BYTES,
    readOnly: settings.readOnly,
  })
  // A read-only open changes nothing, modes included (and may not own the files).
  if (!memory && !settings.readOnly) restrictFileMode(file)
  return backend
}

/** A read-only open creates nothing, not even the directories on the way: the store must be there. */
function requireExistingStore(settings: StoreSettings): void {
  if (settings.path === undefined && settings.dataDir === undefined) return // resolveStorePath says what is missing.
  const file = settings.dataDir === undefined ? resolve(settings.path!) : resolve(settings.dataDir, settings.path ?? 'tandem.db')
  if (statSync(file, { throwIfNoEntry: false }) !== undefined) return
  throw new TandemError('STORE_NOT_FOUND', `Store file ${file} does not exist; a read-only open never creates one. Nothing was created.`, {
    hint: 'Check the path (and dataDir); a store is created by its first read-write open (or "tandem migrate").',
  })
}

/**
 * The rest of a read-only open: no tables, migrations, seeds or registration, only reads. The
 * store must have been opened read-write once (it has Tandem's tables); writes fail with READ_ONLY.
 */
async function openReadOnly<C extends CollectionsConfig>(settings: StoreSettings, backend: Backend): Promise<Store<C>> {
  const tables = await backend.read((tx) => tx.listCollections())
  if (!tables.includes(MIGRATIONS_COLLECTION) || !tables.includes(PROCESSES_COLLECTION)) {
    throw new TandemError(
      'NOT_A_STORE',
      `The database has no Tandem tables (${MIGRATIONS_COLLECTION}, ${PROCESSES_COLLECTION}): it is not a Tandem store, or no process has opened it read-write yet. A read-only open creates nothing.`,
      {
        hint: 'Check the path; open the store once read-write (or run "tandem migrate") to create it.',
      },
    )
  }
  const store = new Store<C>(settings, backend)
  store.refuseWrites(
    new TandemError(
      'READ_ONLY',
      `This store was opened with readOnly: true (role "${settings.role}"); nothing was written. Open it without readOnly to write.`,
      {
        hint: 'Open the store without readOnly: true to write it.',
      },
    ),
  )
  store.migrations = {
    storeVersion: await store.runRead(readSchemaVersion),
    knownVersion: settings.migrations.at(-1)?.version ?? 0,
    outcomes: [],
    warnings: [],
  }
  return store
}

/** openStore's options: the store's configuration, and the backups this process schedules. */
export interface OpenStoreConfig<C extends CollectionsConfig = CollectionsConfig, R extends string = string> extends StoreConfig<C, R> {
  /**
   * Scheduled online backups with rotation, run by this process: `{ everyMs, keep, dir }` (see
   * scheduleBackups). Give it to one process (the daemon, say), not to every one.
   */
  backup?: ScheduledBackupOptions
}

/**
 * Opens (creating if needed) a store shared with every other process that opens the same file.
 * Creates the tables and indexes of the declared collections. Rejects with UNSAFE_PATH when the
 * file would land outside `dataDir` or in a directory every user can write to, with
 * STORE_FILE_EMPTY when the file is empty (a truncated store; `create: true` starts a new one in
 * it), with STORE_NOT_FOUND when it is missing and `create` is false, and with UNKNOWN_ROLE when
 * `role` is none of the roles the definition names. The collections' names, data types and
 * writers are inferred from `collections`, so `role` and every collection, field and change is
 * typed (see docs/types.md).
 *
 * @example
 * const store = await openStore({
 *   path: 'data/app.db',
 *   role: 'daemon',
 *   collections: { sessions: { writers: ['daemon'], indexes: ['projectId'] } },
 * })
 * const s = await store.collection('sessions').insert({ projectId: 'p1' })
 */
export async function openStore<const C extends CollectionsConfig, const R extends string = never>(
  config: OpenStoreConfig<C, R>,
): Promise<Store<C>> {
  const { backup, ...storeConfig } = config
  const settings = parseStoreConfig(storeConfig as StoreConfig)
  checkKnownRole(settings.role, settings.knownRoles)
  const backend = config.backend ?? (await openBackend(settings))
  let store: Store<C> | undefined
  try {
    if (settings.readOnly) return (store = await openReadOnly<C>(settings, backend))
    await backend.prepare(INTERNAL_COLLECTIONS.map((name) => ({ name, indexes: [] })))
    store = new Store<C>(settings, backend)
    const report = await runMigrations(store, settings.migrations, settings.collections)
    store.migrations = report
    if (report.storeVersion > report.knownVersion) {
      // An older program must not write (or create tables in) a store a newer one has migrated.
      const refusal = schemaTooNew(report, await store.runRead((tx) => readAppliedAfter(tx, report.knownVersion)))
      if (settings.onNewerSchema === 'refuse') throw refusal
      store.refuseWrites(refusal)
      return store
    }
    await backend.prepare([...settings.collections.values()].map((c) => ({ name: c.name, indexes: c.indexes })))
    await store.seed()
    await store.register()
    if (backup !== undefined) store.onClose(scheduleBackups(store, backup))
    return store
  } catch (error) {
    // Waiting for another process's lock at open (tables, migrations, registration): say whose.
    const explained = await explainBusy(error, backend)
    if (store === undefined) await backend.close()
    else await store.close()
    throw explained
  }
}

/** Internal collections every store has: consumer positions, applied migrations, seeded ids. */
const INTERNAL_COLLECTIONS = [CONSUMERS_COLLECTION, MIGRATIONS_COLLECTION, SEEDS_COLLECTION, PROCESSES_COLLECTION, DECLARATIONS_COLLECTION]
