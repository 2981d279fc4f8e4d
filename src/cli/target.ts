import { realpathSync, statSync } from 'node:fs'
import { resolve } from 'node:path'
import { resolveConfig, type LoadedConfig } from './config.js'
import { CliError, EXIT, type CommandContext } from './output.js'
import { isPostgresUrl, maskUrl, normalizePostgresUrl, rememberSecrets } from './store-url.js'

/** The library's PostgreSQL schema when neither --schema nor the config names one. */
export const DEFAULT_POSTGRES_SCHEMA = 'tandem'

/** The environment variable that names the store when no argument or --store does. */
export const STORE_ENV = 'TANDEM_STORE'

/**
 * Where the store's name came from, for messages: "argument", "--store", "TANDEM_STORE", or the
 * config file's path.
 */
export type TargetOrigin = string

/** Which store a command works on. `override` is true unless the config named it. */
export type StoreTarget =
  | {
      kind: 'file'
      /** The database file, absolute (symlinks resolved when it exists). */
      file: string
      override: boolean
      origin: TargetOrigin
      config: LoadedConfig | undefined
    }
  | {
      kind: 'files'
      /** The files store's directory, absolute (see docs/files.md). */
      dir: string
      override: boolean
      origin: TargetOrigin
      config: LoadedConfig | undefined
    }
  | {
      kind: 'url'
      /** The connection string, scheme in lower case; print it only through describeTarget. */
      url: string
      /** --schema, else the config's postgres.schema; undefined: the library's default. */
      schema: string | undefined
      override: boolean
      origin: TargetOrigin
      config: LoadedConfig | undefined
    }

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

/** The store named on the command line or in the environment, first one given wins. */
function givenName(ctx: CommandContext, argument: string | undefined): { name: string; origin: TargetOrigin } | undefined {
  const option = typeof ctx.values.store === 'string' ? ctx.values.store : undefined
  if (argument !== undefined && option !== undefined && argument !== option) {
    throw new TypeError(
      `The store is given twice, as an argument (${maskUrl(argument)}) and with --store (${maskUrl(option)}); give it once.`,
    )
  }
  if (argument !== undefined) return { name: argument, origin: 'argument' }
  if (option !== undefined) return { name: option, origin: '--store' }
  const env = process.env[STORE_ENV]
  return env === undefined || env === '' ? undefined : { name: env, origin: STORE_ENV }
}

/**
 * The store a command works on, first found of: the [store] argument or --store; the
 * TANDEM_STORE environment variable; the config's url, path or dataDir (config from --config, or
 * found upward from the working directory). A name is a PostgreSQL url when it starts with
 * postgres:// or postgresql:// (any case), else a file path relative to the working directory.
 * The config still supplies collections, roles and the PostgreSQL schema when the store is named
 * elsewhere. Throws NO_STORE when nothing names one.
 */
export async function resolveTarget(ctx: CommandContext, argument: string | undefined): Promise<StoreTarget> {
  const given = givenName(ctx, argument)
  const config = await resolveConfig(ctx.values)
  const schema = typeof ctx.values.schema === 'string' ? ctx.values.schema : config?.store.postgres?.schema
  const name = given?.name ?? config?.store.url
  if (name !== undefined && isPostgresUrl(name)) {
    rememberSecrets(name)
    return {
      kind: 'url',
      url: normalizePostgresUrl(name),
      schema,
      override: given !== undefined,
      origin: given?.origin ?? config!.file,
      config,
    }
  }
  if (typeof ctx.values.schema === 'string')
    throw new TypeError(
      `--schema is for a PostgreSQL store (a postgres:// url); this store is ${given === undefined ? 'a file' : `the file ${given.name}`}.`,
    )
  if (given !== undefined) {
    // A directory is a files store; anything else names an SQLite store file.
    const path = realFile(resolve(given.name))
    if (statSync(path, { throwIfNoEntry: false })?.isDirectory() === true)
      return { kind: 'files', dir: path, override: true, origin: given.origin, config }
    return { kind: 'file', file: path, override: true, origin: given.origin, config }
  }
  const filesDir = config?.store.files?.dir
  if (typeof filesDir === 'string')
    return { kind: 'files', dir: realFile(resolve(filesDir)), override: false, origin: config!.file, config }
  const file = config === undefined ? undefined : configFile(config)
  if (file !== undefined) return { kind: 'file', file: realFile(file), override: false, origin: config!.file, config }
  throw new CliError(
    'NO_STORE',
    config === undefined
      ? `No store given: no [store] argument, no --store, no ${STORE_ENV}, and no tandem.config.ts|mjs|js|json was found from ${process.cwd()} upward.`
      : `${config.file} names no store: it has no path, dataDir or url.`,
    `Name the store (tandem status data/app.db, or --store postgres://user@host/db), set ${STORE_ENV}, or add "path" to tandem.config.json.`,
    EXIT.usage,
  )
}

/** The store as printed: the file, or the url with its password masked and the schema. */
export function describeTarget(target: StoreTarget): string {
  if (target.kind === 'file') return target.file
  if (target.kind === 'files') return target.dir
  return `${maskUrl(target.url)} schema ${target.schema ?? DEFAULT_POSTGRES_SCHEMA}`
}

/** " (named by TANDEM_STORE)" when the environment named the store: the one origin a user may not expect. */
export function originNote(target: StoreTarget): string {
  return target.origin === STORE_ENV ? ` (named by ${STORE_ENV})` : ''
}
