import { realpathSync } from 'node:fs'
import { resolve } from 'node:path'
import {
  DEFAULT_BUSY_TIMEOUT_MS,
  DEFAULT_JOURNAL_SIZE_LIMIT_BYTES,
  DEFAULT_WAL_CHECKPOINT_BYTES,
  openStore,
  SqliteBackend,
  type Backend,
  type Store,
} from '../index.js'
import { resolveConfig, type LoadedConfig } from './config.js'
import { CliError, EXIT, type CommandContext } from './output.js'
import { isRollbackTandemFile, sniffDatabaseFile } from './store-files.js'

/** The role the CLI opens stores with, unless --as says otherwise. */
export const CLI_ROLE = 'cli'
const ROLE = /^[A-Za-z0-9_.:-]{1,64}$/
/** The WAL size past which the library checkpoints: what doctor compares against. */
export const WAL_CHECKPOINT_BYTES = DEFAULT_WAL_CHECKPOINT_BYTES

/** Which store a command works on. */
export type StoreTarget =
  | {
      kind: 'file'
      /** The database file, absolute (symlinks resolved when it exists). */
      file: string
      /** True when it came from a [store] argument or --store, overriding the config's path. */
      override: boolean
      config: LoadedConfig | undefined
    }
  | { kind: 'url'; url: string; config: LoadedConfig }

function realFile(path: string): string {
  try {
    return realpathSync(path)
  } catch {
    return path
  }
}

/** Where the config puts its store file: `path`, or `path` (default tandem.db) inside `dataDir`. */
function configFile(config: LoadedConfig): string | undefined {
  const { path, dataDir } = config.store
  if (dataDir !== undefined) return resolve(dataDir, path ?? 'tandem.db')
  return path === undefined || path === ':memory:' ? undefined : resolve(path)
}

/**
 * The store a command works on: the [store] argument (or --store) if given, else the config's
 * path, dataDir or url (config from --config, or found upward from the working directory).
 */
export async function resolveTarget(ctx: CommandContext, argument: string | undefined): Promise<StoreTarget> {
  const given = argument ?? (typeof ctx.values.store === 'string' ? ctx.values.store : undefined)
  const config = await resolveConfig(ctx.values)
  if (given !== undefined) return { kind: 'file', file: realFile(resolve(given)), override: true, config }
  if (config?.store.url !== undefined) return { kind: 'url', url: config.store.url, config }
  const file = config === undefined ? undefined : configFile(config)
  if (file !== undefined) return { kind: 'file', file: realFile(file), override: false, config }
  throw new CliError(
    'NO_STORE',
    config === undefined
      ? `No store given, and no tandem.config.ts|mjs|js|json was found from ${process.cwd()} upward.`
      : `${config.file} names no store: it has no path, dataDir or url.`,
    'Name the store file (tandem status data/app.db), or add "path" to tandem.config.json.',
    EXIT.usage,
  )
}

/** Checks --as: a role name as openStore accepts it. */
export function roleOption(ctx: CommandContext): string {
  const role = ctx.values.as ?? CLI_ROLE
  if (typeof role !== 'string' || !ROLE.test(role)) throw new TypeError(`--as must be a role name: 1 to 64 letters, digits or _ . : - (got ${JSON.stringify(role)}).`)
  return role
}

export function describeTarget(target: StoreTarget): string {
  return target.kind === 'file' ? target.file : target.url.replace(/\/\/[^@/]*@/, '//***@')
}

function notAStore(file: string, why: string): CliError {
  return new CliError('NOT_A_STORE', `${file} is not a Tandem store: ${why}.`, 'Check the path; "tandem doctor <file>" tells what is wrong with a store file.', EXIT.failed)
}

/** Rejects unless `file` exists and looks like an SQLite database; never creates anything. */
export function checkStoreFile(file: string): void {
  const sniff = sniffDatabaseFile(file)
  if (sniff.kind === 'missing') {
    throw new CliError('STORE_NOT_FOUND', `Store file ${file} does not exist.`, 'Check the path; "tandem migrate" creates a new store from the config.', EXIT.usage)
  }
  if (sniff.kind === 'not-a-file') throw notAStore(file, 'it is not a regular file')
  if (sniff.kind === 'empty') throw notAStore(file, 'the file is empty')
  if (sniff.kind === 'not-sqlite') throw notAStore(file, 'it is not an SQLite database')
  if (sniff.kind === 'sqlite-rollback') {
    let tandem: boolean
    try {
      tandem = isRollbackTandemFile(file)
    } catch (error) {
      throw notAStore(file, `SQLite cannot read it (${(error as Error).message})`)
    }
    if (!tandem) throw notAStore(file, "it is an SQLite database without Tandem's tables")
  }
}

/**
 * Opens the SQLite engine on an existing file without creating, registering or changing anything
 * (beyond SQLite's own connection setup), for commands that must look before they touch.
 */
export function openBareBackend(file: string, busyTimeoutMs = DEFAULT_BUSY_TIMEOUT_MS): Promise<SqliteBackend> {
  return SqliteBackend.open({ path: file, durability: 'normal', busyTimeoutMs, journalSizeLimitBytes: DEFAULT_JOURNAL_SIZE_LIMIT_BYTES, walCheckpointBytes: DEFAULT_WAL_CHECKPOINT_BYTES })
}

/** True when the database has Tandem's internal collections (a store some process has opened). */
export async function hasTandemTables(backend: Backend): Promise<boolean> {
  const names = await backend.read((tx) => tx.listCollections())
  return names.includes('_processes') || names.includes('_migrations')
}

/**
 * Opens a store to read it, without its config: no collections declared, no migrations run (a store
 * that has applied any migration opens read-only: this program knows none of them). Refuses (instead of
 * creating) a missing file, and refuses a file that is not a Tandem store (instead of adding
 * tables to it). Like any opener it registers this process (role "cli") until it closes. With
 * `byPath` the store is opened by its path (as export and backup need), which also applies
 * openStore's path rules (no world-writable directory) and 0600 modes.
 */
export async function openReadable(target: StoreTarget, options: { byPath?: boolean } = {}): Promise<Store> {
  const busyTimeoutMs = target.config?.store.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS
  if (target.kind === 'url') {
    const { postgres } = target.config.store
    return openStore({ url: target.url, ...(postgres === undefined ? {} : { postgres }), busyTimeoutMs, role: CLI_ROLE, collections: {}, onNewerSchema: 'read-only' })
  }
  checkStoreFile(target.file)
  const backend = await openBareBackend(target.file, busyTimeoutMs)
  try {
    if (!(await hasTandemTables(backend))) throw notAStore(target.file, 'it is an SQLite database without Tandem\'s tables')
  } catch (error) {
    await backend.close()
    throw error
  }
  if (options.byPath !== true) return openStore({ backend, role: CLI_ROLE, collections: {}, onNewerSchema: 'read-only' })
  // Export and backup need a store that knows its file (a consistent snapshot, a VACUUM INTO of
  // it): checked above, now opened the ordinary way.
  await backend.close()
  return openStore({ path: target.file, busyTimeoutMs, role: CLI_ROLE, collections: {}, onNewerSchema: 'read-only' })
}

/** openStore's own argument errors (TypeError/RangeError) come from the config file: say so. */
function configError(error: unknown, config: LoadedConfig): unknown {
  if (!(error instanceof TypeError || error instanceof RangeError)) return error
  return new CliError('CONFIG_INVALID', `${config.file}: ${error.message}`, 'Fix the config file; its shape is openStore\'s config (see docs/cli.md).', EXIT.usage)
}

/** The config to open the target with: the config's, with the path replaced when the target overrides it. */
function storeConfig(target: StoreTarget, config: LoadedConfig): LoadedConfig['store'] {
  if (target.kind === 'file' && target.override) return { ...config.store, path: target.file, dataDir: undefined, url: undefined }
  return config.store
}

/**
 * Opens a store to write it, with the config's collections, writers, schemas and roles, as `role`.
 * Refuses a missing store file (tandem migrate creates one), and refuses to run migrations as a
 * side effect: if the config has migrations the store has not applied, the user runs
 * `tandem migrate` first.
 */
export async function openWritable(target: StoreTarget, config: LoadedConfig, role: string): Promise<Store> {
  if (target.kind === 'file') checkStoreFile(target.file)
  const known = config.store.migrations ?? []
  if (known.length > 0) {
    const reader = await openReadable(target)
    const storeVersion = reader.migrations.storeVersion
    await reader.close()
    const pending = known.filter((m) => m.version > storeVersion)
    if (pending.length > 0) {
      throw new CliError(
        'MIGRATIONS_PENDING',
        `The store is at schema version ${storeVersion}; the config has ${pending.length} migration(s) it has not applied (${pending.map((m) => `${m.version} "${m.name}"`).join(', ')}). Writing now would run them.`,
        'Run "tandem migrate" to apply them (tandem migrate --dry-run lists them), then retry.',
      )
    }
  }
  try {
    return await openStore({ ...storeConfig(target, config), role })
  } catch (error) {
    throw configError(error, config)
  }
}

/** Opens the store with the config's migrations, which openStore runs (tandem migrate). Creates the store if missing. */
export async function openMigrating(target: StoreTarget, config: LoadedConfig, role: string): Promise<Store> {
  try {
    return await openStore({ ...storeConfig(target, config), role })
  } catch (error) {
    throw configError(error, config)
  }
}

/** Rejects unless the store has a collection `name` (reading a missing one would be an engine error). */
export async function requireCollection(store: Store, name: string): Promise<void> {
  const names = (await store.backend.read((tx) => tx.listCollections())).filter((n) => !n.startsWith('_'))
  if (names.includes(name)) return
  throw new CliError('UNKNOWN_COLLECTION', `The store has no collection "${name}". It has: ${names.join(', ') || '(none)'}.`, 'Check the name; "tandem status" lists the collections.', EXIT.failed)
}
