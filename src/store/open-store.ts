import type { Backend } from '../backends/backend.js'
import { SqliteBackend } from '../backends/sqlite/sqlite-backend.js'
import { DEFAULT_JOURNAL_SIZE_LIMIT_BYTES, DEFAULT_WAL_CHECKPOINT_BYTES } from '../backends/sqlite/sqlite-config.js'
import { scheduleBackups } from '../backup/scheduled-backup.js'
import { CONSUMERS_COLLECTION } from '../changes/consumer.js'
import { resolveStorePath, restrictFileMode } from '../fs/safe-path.js'
import { MIGRATIONS_COLLECTION, readAppliedAfter, runMigrations, schemaTooNew } from '../migrations/runner.js'
import { PROCESSES_COLLECTION } from '../registry/process-registry.js'
import { parseStoreConfig, type CollectionsConfig, type StoreConfig, type StoreSettings } from './config.js'
import { DECLARATIONS_COLLECTION } from './declarations.js'
import { SEEDS_COLLECTION } from './seeds.js'
import { Store } from './store.js'
import { TandemError } from '../errors.js'

/** The PostgreSQL backend, whose `pg` driver is an optional peer dependency: say how to get it when it is missing. */
async function importPostgresBackend(): Promise<typeof import('../backends/postgres/postgres-backend.js')> {
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

/** The backend the settings ask for: PostgreSQL for a url (loaded only then), else SQLite. */
async function openBackend(settings: StoreSettings): Promise<Backend> {
  if (settings.url !== undefined) {
    const { openPostgresBackend } = await importPostgresBackend()
    return openPostgresBackend({ url: settings.url, ...settings.postgres, busyTimeoutMs: settings.busyTimeoutMs, durability: settings.durability })
  }
  const memory = settings.path === ':memory:'
  const file = memory ? ':memory:' : resolveStorePath(settings.path, settings.dataDir).file
  const backend = await SqliteBackend.open({
    path: file,
    durability: settings.durability,
    busyTimeoutMs: settings.busyTimeoutMs,
    journalSizeLimitBytes: DEFAULT_JOURNAL_SIZE_LIMIT_BYTES,
    walCheckpointBytes: DEFAULT_WAL_CHECKPOINT_BYTES,
  })
  if (!memory) restrictFileMode(file)
  return backend
}

/**
 * Opens (creating if needed) a store shared with every other process that opens the same file.
 * Creates the tables and indexes of the declared collections. Rejects with UNSAFE_PATH when the
 * file would land outside `dataDir` or in a directory every user can write to.
 *
 * @example
 * const store = await openStore({
 *   path: 'data/app.db',
 *   role: 'daemon',
 *   collections: { sessions: { writers: ['daemon'], indexes: ['projectId'] } },
 * })
 * const s = await store.collection('sessions').insert({ projectId: 'p1' })
 */
export async function openStore<C extends CollectionsConfig>(config: StoreConfig<C>): Promise<Store<C>> {
  const settings = parseStoreConfig(config)
  const backend = config.backend ?? (await openBackend(settings))
  let store: Store<C> | undefined
  try {
    await backend.prepare(INTERNAL_COLLECTIONS.map((name) => ({ name, indexes: [] })))
    store = new Store<C>(settings, backend)
    const report = await runMigrations(store, settings.migrations)
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
    if (config.backup !== undefined) store.onClose(scheduleBackups(store, config.backup))
    return store
  } catch (error) {
    if (store === undefined) await backend.close()
    else await store.close()
    throw error
  }
}

/** Internal collections every store has: consumer positions, applied migrations, seeded ids. */
const INTERNAL_COLLECTIONS = [CONSUMERS_COLLECTION, MIGRATIONS_COLLECTION, SEEDS_COLLECTION, PROCESSES_COLLECTION, DECLARATIONS_COLLECTION]
