import { statSync } from 'node:fs'
import { join } from 'node:path'
import { FILES_STATE_NAME } from '../backends/files/files-layout.js'
import { DEFAULT_BUSY_TIMEOUT_MS, openStore, type Store } from '../index.js'
import { DEFAULT_JOURNAL_SIZE_LIMIT_BYTES, DEFAULT_WAL_CHECKPOINT_BYTES } from '../backends/sqlite/sqlite-config.js'
import { SqliteBackend } from '../backends/sqlite/sqlite-backend.js'
import { type Backend } from '../backends/backend.js'
import { DECLARATIONS_COLLECTION } from '../store/declarations.js'
import type { LoadedConfig } from './config.js'
import { CliError, EXIT, type CommandContext } from './output.js'
import { checkPostgresStore } from './postgres-store.js'
import { isRollbackTandemFile, sniffDatabaseFile } from './store-files.js'
import { unknownName } from './suggest.js'
import { originNote, type StoreTarget } from './target.js'

/** The role the CLI opens stores with, unless --as says otherwise. */
export const CLI_ROLE = 'cli'
const ROLE = /^[A-Za-z0-9_.:-]{1,64}$/
/** The WAL size past which the library checkpoints: what doctor compares against. */
export const WAL_CHECKPOINT_BYTES = DEFAULT_WAL_CHECKPOINT_BYTES

/** Checks --as: a role name as openStore accepts it. */
export function roleOption(ctx: CommandContext): string {
  const role = ctx.values.as ?? CLI_ROLE
  if (typeof role !== 'string' || !ROLE.test(role))
    throw new TypeError(`--as must be a role name: 1 to 64 letters, digits or _ . : - (got ${JSON.stringify(role)}).`)
  return role
}

function notAStore(file: string, why: string): CliError {
  return new CliError(
    'NOT_A_STORE',
    `${file} is not a Tandem store: ${why}.`,
    'Check the path; "tandem doctor <file>" tells what is wrong with a store file.',
    EXIT.failed,
  )
}

/** Rejects unless `file` exists and looks like an SQLite database; never creates anything. `origin` says who named it. */
export function checkStoreFile(file: string, origin = ''): void {
  const sniff = sniffDatabaseFile(file)
  if (sniff.kind === 'missing') {
    throw new CliError(
      'STORE_NOT_FOUND',
      `Store file ${file}${origin} does not exist.`,
      'Check the path; "tandem migrate" creates a new store from the config.',
      EXIT.usage,
    )
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
export function openBareBackend(
  file: string,
  busyTimeoutMs = DEFAULT_BUSY_TIMEOUT_MS,
  options: { readOnly?: boolean } = {},
): Promise<SqliteBackend> {
  return SqliteBackend.open({
    path: file,
    durability: 'normal',
    busyTimeoutMs,
    journalSizeLimitBytes: DEFAULT_JOURNAL_SIZE_LIMIT_BYTES,
    walCheckpointBytes: DEFAULT_WAL_CHECKPOINT_BYTES,
    ...(options.readOnly === true ? { readOnly: true } : {}),
  })
}

/** True when the database has Tandem's internal collections (a store some process has opened). */
export async function hasTandemTables(backend: Backend): Promise<boolean> {
  const names = await backend.read((tx) => tx.listCollections())
  return names.includes('_processes') || names.includes('_migrations')
}

/**
 * Opens a store to read it, without its config and without writing anything: no collections
 * declared, no migrations run, no registration (openStore's `readOnly`), so it works on a
 * read-only file or file system and never waits for a writer's lock. Refuses (instead of
 * creating) a missing file, and a file that is not a Tandem store.
 */
export async function openReadable(target: StoreTarget): Promise<Store> {
  const busyTimeoutMs = target.config?.store.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS
  if (target.kind === 'url') {
    await checkPostgresStore(target)
    return openStore({ url: target.url, postgres: postgresOf(target), busyTimeoutMs, role: CLI_ROLE, collections: {}, readOnly: true })
  }
  if (target.kind === 'files') {
    checkFilesStore(target)
    return openStore({ files: { dir: target.dir }, busyTimeoutMs, role: CLI_ROLE, collections: {}, readOnly: true })
  }
  checkStoreFile(target.file, originNote(target))
  const backend = await openBareBackend(target.file, busyTimeoutMs, { readOnly: true })
  try {
    if (!(await hasTandemTables(backend))) throw notAStore(target.file, "it is an SQLite database without Tandem's tables")
  } finally {
    await backend.close()
  }
  return openStore({ path: target.file, busyTimeoutMs, role: CLI_ROLE, collections: {}, readOnly: true })
}

/** Refuses a directory that is not a files store (no state file): opening it would start a new, empty one. */
function checkFilesStore(target: StoreTarget & { kind: 'files' }): void {
  if (statSync(join(target.dir, FILES_STATE_NAME), { throwIfNoEntry: false }) !== undefined) return
  throw new CliError(
    'NOT_A_STORE',
    `${target.dir}${originNote(target)} is a directory without ${FILES_STATE_NAME}: not a Tandem files store. Nothing was opened.`,
    'Check the path; a files store is created by openStore({ files: { dir } }) (or "tandem migrate" with files.dir in the config).',
    EXIT.usage,
  )
}

/** openStore's own argument errors (TypeError/RangeError) come from the config file: say so. */
function configError(error: unknown, config: LoadedConfig): unknown {
  if (!(error instanceof TypeError || error instanceof RangeError)) return error
  return new CliError(
    'CONFIG_INVALID',
    `${config.file}: ${error.message}`,
    "Fix the config file; its shape is openStore's config (see docs/cli.md).",
    EXIT.usage,
  )
}

/** The PostgreSQL options of a url target: the config's, with the schema --schema chose. */
function postgresOf(target: StoreTarget & { kind: 'url' }): NonNullable<LoadedConfig['store']['postgres']> {
  return { ...target.config?.store.postgres, ...(target.schema === undefined ? {} : { schema: target.schema }) }
}

/**
 * The config's roles, plus the tool's own role when the command runs as it (the CLI without --as,
 * tandem serve's registration): a tool is a role of every store, though no definition names it. A
 * role given with --as must be one the definition names (openStore refuses others with UNKNOWN_ROLE).
 */
function rolesFor(config: LoadedConfig, role: string, own = role === CLI_ROLE): Pick<LoadedConfig['store'], 'roles'> {
  return own ? { roles: { [role]: {}, ...config.store.roles } } : {}
}

/** The config to open the target with: the config's collections and roles, at the target's location. */
function storeConfig(target: StoreTarget, config: LoadedConfig): LoadedConfig['store'] {
  if (target.kind === 'url') return { ...config.store, url: target.url, postgres: postgresOf(target), path: undefined, dataDir: undefined }
  if (target.kind === 'files') return { ...config.store, files: { dir: target.dir }, path: undefined, dataDir: undefined, url: undefined }
  if (target.override) return { ...config.store, path: target.file, dataDir: undefined, url: undefined }
  return config.store
}

/**
 * Opens a store to write it, with the config's collections, writers, schemas and roles, as `role`.
 * Refuses a missing store file (tandem migrate creates one), and refuses to run migrations as a
 * side effect: if the config has migrations the store has not applied, the user runs
 * `tandem migrate` first.
 */
export async function openWritable(target: StoreTarget, config: LoadedConfig, role: string, ownRole?: boolean): Promise<Store> {
  if (target.kind === 'file') checkStoreFile(target.file, originNote(target))
  else if (target.kind === 'files') checkFilesStore(target)
  else await checkPostgresStore(target)
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
    return await openStore({ ...storeConfig(target, config), ...rolesFor(config, role, ownRole), role })
  } catch (error) {
    throw configError(error, config)
  }
}

/** Opens the store with the config's migrations, which openStore runs (tandem migrate). Creates the store if missing. */
export async function openMigrating(target: StoreTarget, config: LoadedConfig, role: string): Promise<Store> {
  try {
    return await openStore({ ...storeConfig(target, config), ...rolesFor(config, role), role })
  } catch (error) {
    throw configError(error, config)
  }
}

/** Rejects unless the store has a collection `name` (reading a missing one would be an engine error). */
export async function requireCollection(store: Store, name: string): Promise<void> {
  const names = (await store.backend.read((tx) => tx.listCollections())).filter((n) => !n.startsWith('_'))
  if (names.includes(name)) return
  throw unknownName({
    code: 'UNKNOWN_COLLECTION',
    message: `The store has no collection "${name}". It has: ${names.join(', ') || '(none)'}.`,
    given: name,
    known: names,
    hint: 'Check the name; "tandem status" lists the collections.',
    exitCode: EXIT.failed,
  })
}

/** Rejects unless the config declares collection `name`: a write needs its writers and schema. */
export function requireDeclared(config: LoadedConfig, name: string): void {
  const names = Object.keys(config.store.collections)
  if (names.includes(name)) return
  throw unknownName({
    code: 'UNKNOWN_COLLECTION',
    message: `${config.file} declares no collection "${name}". It declares: ${names.join(', ') || '(none)'}.`,
    given: name,
    known: names,
    hint: `Check the name, or declare "${name}" with its writers in ${config.file}.`,
    exitCode: EXIT.failed,
  })
}

/** The role an inspector registers (write mode) or opens (read-only) as; its writes act as --role. */
export const INSPECT_ROLE = 'inspect'

/**
 * Opens a store for `tandem inspect` read-only: with the config's collections (their schemas and
 * retention) when there is a config, and every other collection of the store as a plain one, so
 * the server's routes read them all; writes fail with READ_ONLY (openStore's readOnly).
 */
export async function openInspectable(target: StoreTarget, config: LoadedConfig | undefined): Promise<Store> {
  const declared = config?.store.collections ?? {}
  const collections: LoadedConfig['store']['collections'] = { ...declared }
  const reader = await openReadable(target)
  try {
    // The others as their processes declared them (writers, indexes): a read-only store writes nothing, but a collection must name its writers.
    await reader.backend.read(async (tx) => {
      for (const name of (await tx.listCollections()).filter((n) => !n.startsWith('_'))) {
        if (collections[name] !== undefined) continue
        const recorded = (await tx.get(DECLARATIONS_COLLECTION, name))?.data as { writers?: string[]; indexes?: string[] } | undefined
        const writers = recorded?.writers !== undefined && recorded.writers.length > 0 ? recorded.writers : '*'
        collections[name] = { writers: writers.includes('*') ? '*' : writers, indexes: recorded?.indexes ?? [] }
      }
    })
  } finally {
    await reader.close()
  }
  const location: LoadedConfig['store'] =
    config !== undefined
      ? storeConfig(target, config)
      : target.kind === 'url'
        ? { url: target.url, postgres: postgresOf(target), collections: {} }
        : target.kind === 'files'
          ? { files: { dir: target.dir }, collections: {} }
          : { path: target.file, collections: {} }
  const roles = config === undefined ? { roles: { [INSPECT_ROLE]: {} } } : rolesFor(config, INSPECT_ROLE, true)
  try {
    return await openStore({ ...location, ...roles, collections, role: INSPECT_ROLE, readOnly: true, backup: undefined })
  } catch (error) {
    throw config === undefined ? error : configError(error, config)
  }
}
