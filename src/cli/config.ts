import { statSync } from 'node:fs'
import { dirname, extname, isAbsolute, join, resolve } from 'node:path'
import { readFile } from 'node:fs/promises'
import { pathToFileURL } from 'node:url'
import type { OpenStoreConfig } from '../index.js'
import { CliError, EXIT } from './output.js'

/** The file names looked for in each directory, first match wins. */
export const CONFIG_FILE_NAMES = [
  'tandem.config.ts',
  'tandem.config.mts',
  'tandem.config.mjs',
  'tandem.config.js',
  'tandem.config.json',
] as const

/** What a config file declares: openStore's config without the role (the CLI's role comes from --as). */
export type StoreFileConfig = Omit<OpenStoreConfig, 'role'>

export interface LoadedConfig {
  /** The config file, absolute. */
  file: string
  /** Its store config, with relative path, dataDir and archiveDir resolved against the file's directory. */
  store: StoreFileConfig
}

/** The nearest tandem.config.* in `from` or a directory above it, or undefined. */
export function findConfigFile(from: string): string | undefined {
  let dir = resolve(from)
  for (;;) {
    for (const name of CONFIG_FILE_NAMES) {
      const candidate = join(dir, name)
      if (statSync(candidate, { throwIfNoEntry: false })?.isFile()) return candidate
    }
    const parent = dirname(dir)
    if (parent === dir) return undefined
    dir = parent
  }
}

function invalid(file: string, message: string): CliError {
  return new CliError(
    'CONFIG_INVALID',
    `${file}: ${message}`,
    "Fix the config file; it exports (default) an object like openStore's config: { path, collections, roles, migrations }.",
    EXIT.usage,
  )
}

async function importModule(file: string): Promise<unknown> {
  const ext = extname(file)
  if (ext === '.json') return JSON.parse(await readFile(file, 'utf8')) as unknown
  if (ext === '.ts' || ext === '.mts' || ext === '.cts') {
    // jiti compiles TypeScript on the fly (cached, no type checking): a config can be written in
    // the same language as the app and import its schemas.
    const { createJiti } = await import('jiti')
    return createJiti(import.meta.url, { moduleCache: false }).import(file, { default: true })
  }
  const module = (await import(pathToFileURL(file).href)) as { default?: unknown }
  return module.default ?? module
}

/** Resolves a relative path option against the config file's directory, as a person reading the file would. */
function anchor(value: unknown, base: string): unknown {
  return typeof value === 'string' && value !== '' && value !== ':memory:' && !isAbsolute(value) ? resolve(base, value) : value
}

/**
 * Loads a config file: JSON, an ES module, or TypeScript. The module's default export is the
 * config object, or a function (possibly async) returning it. Rejects with CONFIG_INVALID naming
 * the file when it cannot be loaded or does not export an object.
 */
export async function loadConfig(file: string): Promise<LoadedConfig> {
  const absolute = resolve(file)
  if (!statSync(absolute, { throwIfNoEntry: false })?.isFile()) {
    throw new CliError(
      'CONFIG_NOT_FOUND',
      `Config file ${absolute} does not exist.`,
      'Check the --config path, or drop --config to look for tandem.config.* from the working directory up.',
      EXIT.usage,
    )
  }
  let exported: unknown
  try {
    exported = await importModule(absolute)
    if (typeof exported === 'function') exported = await (exported as () => unknown)()
  } catch (error) {
    throw invalid(absolute, `could not be loaded: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`)
  }
  if (typeof exported !== 'object' || exported === null || Array.isArray(exported)) {
    throw invalid(absolute, `its default export must be a config object (got ${Array.isArray(exported) ? 'an array' : typeof exported}).`)
  }
  const { role: _ignored, ...config } = exported as Record<string, unknown>
  const base = dirname(absolute)
  const store = { ...config, collections: config.collections ?? {} } as Record<string, unknown>
  // With dataDir, openStore takes a relative path inside it: only dataDir is anchored then.
  for (const key of store.dataDir === undefined ? ['path', 'archiveDir'] : ['dataDir', 'archiveDir'])
    if (key in store) store[key] = anchor(store[key], base)
  return { file: absolute, store: store as unknown as StoreFileConfig }
}

/** The config given with --config, else the one found upward from the working directory, else undefined. */
export async function resolveConfig(
  values: Record<string, string | boolean | undefined>,
  cwd = process.cwd(),
): Promise<LoadedConfig | undefined> {
  if (typeof values.config === 'string') return loadConfig(values.config)
  const found = findConfigFile(cwd)
  return found === undefined ? undefined : loadConfig(found)
}

/** Like resolveConfig, but a command that writes needs one: it declares the collections and their writers. */
export async function requireConfig(values: Record<string, string | boolean | undefined>, command: string): Promise<LoadedConfig> {
  const config = await resolveConfig(values)
  if (config !== undefined) return config
  throw new CliError(
    'NO_CONFIG',
    `tandem ${command} needs the store's config (its collections and their writers), and no tandem.config.ts|mjs|js|json was found from ${process.cwd()} upward.`,
    'Create tandem.config.json ({ "path": "app.db", "collections": { "tasks": { "writers": ["cli"] } } }) or pass --config PATH.',
    EXIT.usage,
  )
}
