import type { StandardSchemaV1 } from '@standard-schema/spec'
import { dirname, join, resolve } from 'node:path'
import { DEFAULT_POSTGRES_POOL_SIZE, DEFAULT_POSTGRES_SCHEMA } from '../backends/postgres/postgres-config.js'
import { isPostgresUrl, maskUrl, normalizePostgresUrl } from '../backends/postgres/postgres-url.js'
import { checkMigrations } from '../migrations/runner.js'
import { checkOptions } from '../options.js'
import {
  COLLECTION,
  DEFAULT_BUSY_TIMEOUT_MS,
  DEFAULT_CHANGES_MAX_AGE_MS,
  DEFAULT_CHANGES_MAX_COUNT,
  checkRole,
  type CollectionConfig,
  type CollectionSettings,
  type StoreConfig,
  type StoreSettings,
} from './config.js'
import { historyLimits, parseHistory } from './history.js'
import { checkId } from './ids.js'
import { parseIndexField } from './query.js'
import type { RetentionSettings } from './retention.js'
import { knownRoles } from './roles.js'
import { schemaShape } from './schema-shape.js'

/**
 * openStore's config checked and turned into the frozen settings the store runs on (the types are
 * in config.ts). Each check throws a TypeError or RangeError that names the option.
 */

const STORE_KEYS = [
  'path',
  'dataDir',
  'url',
  'files',
  'postgres',
  'role',
  'collections',
  'durability',
  'busyTimeoutMs',
  'backend',
  'changes',
  'migrations',
  'onNewerSchema',
  'archiveDir',
  'roles',
  'readOnly',
  'onWritesRefused',
  'create',
]
const COLLECTION_KEYS = ['writers', 'indexes', 'schema', 'unknownKeys', 'history', 'retain', 'seed']

function checkKeys(where: string, object: object, allowed: readonly string[]): void {
  checkOptions(object, allowed, `in ${where}`)
}

/** Validates openStore's config, throwing TypeError/RangeError that name the option, then freezes it. */
export function parseStoreConfig(config: StoreConfig): StoreSettings {
  if (typeof config !== 'object' || config === null) throw new TypeError('openStore needs a config object.')
  checkKeys('openStore config', config, STORE_KEYS)
  const role = checkRole(config.role)
  const durability = config.durability ?? 'normal'
  if (durability !== 'normal' && durability !== 'full')
    throw new RangeError(`durability must be "normal" or "full" (got ${JSON.stringify(durability)}).`)
  const busyTimeoutMs = config.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS
  if (!Number.isInteger(busyTimeoutMs) || busyTimeoutMs < 0)
    throw new RangeError(`busyTimeoutMs must be a non-negative integer (got ${String(busyTimeoutMs)}).`)
  if (config.path !== undefined && (typeof config.path !== 'string' || config.path === ''))
    throw new TypeError(`path must be a non-empty string (got ${JSON.stringify(config.path)}).`)
  if (config.dataDir !== undefined && (typeof config.dataDir !== 'string' || config.dataDir === ''))
    throw new TypeError(`dataDir must be a non-empty string (got ${JSON.stringify(config.dataDir)}).`)
  if (typeof config.collections !== 'object' || config.collections === null)
    throw new TypeError('collections must be an object: { name: { writers: [...] } }.')

  const archiveDir = resolveArchiveDir(config)
  const collections = new Map<string, CollectionSettings>()
  const lowerNames = new Set<string>()
  for (const [name, spec] of Object.entries(config.collections)) {
    if (!COLLECTION.test(name))
      throw new TypeError(`Collection name "${name}" must start with a letter and hold only letters, digits and _ (at most 63).`)
    if (lowerNames.has(name.toLowerCase())) throw new TypeError(`Collection names must differ by more than case ("${name}").`)
    lowerNames.add(name.toLowerCase())
    collections.set(name, parseCollection(name, spec, archiveDir))
  }
  const migrations = checkMigrations(config.migrations)
  const onNewerSchema = config.onNewerSchema ?? 'refuse'
  if (onNewerSchema !== 'refuse' && onNewerSchema !== 'read-only')
    throw new RangeError(`onNewerSchema must be "refuse" or "read-only" (got ${JSON.stringify(onNewerSchema)}).`)
  if (config.url !== undefined && (typeof config.url !== 'string' || !isPostgresUrl(config.url)))
    throw new TypeError(
      `url must be a postgres:// connection string (got ${typeof config.url === 'string' ? JSON.stringify(maskUrl(config.url)) : typeof config.url}).`,
    )
  if (config.url !== undefined && (config.path !== undefined || config.dataDir !== undefined))
    throw new TypeError('Give either url (PostgreSQL) or path/dataDir (SQLite), not both.')
  return Object.freeze({
    path: config.path,
    dataDir: config.dataDir,
    files: parseFiles(config),
    url: config.url === undefined ? undefined : normalizePostgresUrl(config.url),
    postgres: parsePostgres(config.postgres),
    role,
    durability,
    busyTimeoutMs,
    collections,
    changeRetention: Object.freeze({ ...parseRetention(config.changes), history: historyLimits(collections.values()) }),
    migrations,
    onNewerSchema,
    archiveDir,
    singleton: parseRoles(config.roles, role),
    knownRoles: knownRoles(collections.values(), config.roles),
    ...parseReadOnly(config),
    create: parseCreate(config),
  })
}

function parseFiles(config: StoreConfig): StoreSettings['files'] {
  const { files } = config
  if (files === undefined) return undefined
  if (typeof files !== 'object' || files === null) throw new TypeError('files must be an object like { dir: "data/records" }.')
  checkKeys('files', files, ['dir'])
  if (typeof files.dir !== 'string' || files.dir === '')
    throw new TypeError(`files.dir must be a non-empty string (got ${JSON.stringify(files.dir)}).`)
  if (config.url !== undefined || config.path !== undefined || config.dataDir !== undefined)
    throw new TypeError('Give one of files (a files store), url (PostgreSQL) or path/dataDir (SQLite), not several.')
  return Object.freeze({ dir: resolve(files.dir) })
}

function parseReadOnly(config: StoreConfig): Pick<StoreSettings, 'readOnly' | 'onWritesRefused'> {
  const { readOnly = false, onWritesRefused } = config
  if (typeof readOnly !== 'boolean') throw new TypeError(`readOnly must be true or false (got a ${typeof readOnly}).`)
  if (readOnly && config.path === ':memory:')
    throw new TypeError('readOnly needs a store file: an in-memory store (path ":memory:") starts empty.')
  if (onWritesRefused !== undefined && typeof onWritesRefused !== 'function')
    throw new TypeError(`onWritesRefused must be a function (error) => ... (got ${typeof onWritesRefused}).`)
  return { readOnly, onWritesRefused }
}

function parseCreate(config: StoreConfig): boolean | undefined {
  const { create } = config
  if (create !== undefined && typeof create !== 'boolean') throw new TypeError(`create must be true or false (got a ${typeof create}).`)
  if (create !== undefined && config.url !== undefined)
    throw new TypeError(
      'create is for SQLite store files; a PostgreSQL store is created in its schema when missing. Leave create out with url.',
    )
  return create
}

function parseRoles(roles: StoreConfig['roles'], role: string): boolean {
  if (roles === undefined) return false
  if (typeof roles !== 'object' || roles === null) throw new TypeError('roles must be an object like { daemon: { singleton: true } }.')
  for (const [name, spec] of Object.entries(roles)) {
    checkRole(name, 'roles key')
    if (typeof spec !== 'object' || spec === null) throw new TypeError(`roles.${name} must be an object like { singleton: true }.`)
    checkKeys(`roles.${name}`, spec, ['singleton'])
    if (spec.singleton !== undefined && typeof spec.singleton !== 'boolean')
      throw new TypeError(`roles.${name}.singleton must be true or false.`)
  }
  return roles[role]?.singleton === true && Object.hasOwn(roles, role)
}

function parsePostgres(options: StoreConfig['postgres']): StoreSettings['postgres'] {
  if (options !== undefined && (typeof options !== 'object' || options === null))
    throw new TypeError('postgres must be an object like { schema: "tandem", poolSize: 5 }.')
  if (options !== undefined) checkKeys('postgres', options, ['schema', 'poolSize'])
  const schema = options?.schema ?? DEFAULT_POSTGRES_SCHEMA
  const poolSize = options?.poolSize ?? DEFAULT_POSTGRES_POOL_SIZE
  if (typeof schema !== 'string' || !/^[a-z_][a-z0-9_]{0,62}$/.test(schema))
    throw new TypeError(`postgres.schema must be a lowercase identifier (got ${JSON.stringify(schema)}).`)
  if (!Number.isInteger(poolSize) || poolSize < 1 || poolSize > 100)
    throw new RangeError(`postgres.poolSize must be an integer from 1 to 100 (got ${String(poolSize)}).`)
  return Object.freeze({ schema, poolSize })
}

function parseRetention(changes: StoreConfig['changes']): StoreSettings['changeRetention'] {
  if (changes === undefined) return Object.freeze({ maxCount: DEFAULT_CHANGES_MAX_COUNT, maxAgeMs: DEFAULT_CHANGES_MAX_AGE_MS })
  if (typeof changes !== 'object' || changes === null)
    throw new TypeError('changes must be an object like { maxCount: 100000, maxAgeMs: 604800000 }.')
  checkKeys('changes', changes, ['maxCount', 'maxAgeMs'])
  const maxCount = changes.maxCount ?? DEFAULT_CHANGES_MAX_COUNT
  const maxAgeMs = changes.maxAgeMs ?? DEFAULT_CHANGES_MAX_AGE_MS
  if (!Number.isInteger(maxCount) || maxCount < 1)
    throw new RangeError(`changes.maxCount must be a positive integer (got ${String(maxCount)}).`)
  if (!Number.isInteger(maxAgeMs) || maxAgeMs < 1)
    throw new RangeError(`changes.maxAgeMs must be a positive integer of milliseconds (got ${String(maxAgeMs)}).`)
  return Object.freeze({ maxCount, maxAgeMs })
}

function resolveArchiveDir(config: StoreConfig): string {
  if (config.archiveDir !== undefined) {
    if (typeof config.archiveDir !== 'string' || config.archiveDir === '')
      throw new TypeError(`archiveDir must be a directory path (got ${JSON.stringify(config.archiveDir)}).`)
    return resolve(config.archiveDir)
  }
  if (config.dataDir !== undefined) return join(resolve(config.dataDir), 'archive')
  if (config.files?.dir !== undefined && typeof config.files.dir === 'string') return join(resolve(config.files.dir), 'archive')
  if (config.path !== undefined && config.path !== ':memory:') return join(dirname(resolve(config.path)), 'archive')
  return resolve('tandem-archive')
}

function positiveInteger(value: unknown, what: string): number | undefined {
  if (value === undefined) return undefined
  const n = typeof value === 'string' ? Number(value) : value
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1)
    throw new RangeError(`${what} must be a positive integer (got ${JSON.stringify(value)}).`)
  return n
}

/** Retention limits from the options, overridden by TANDEM_RETAIN_<COLLECTION>_MAX_COUNT / _MAX_AGE_MS. */
function parseRetain(name: string, retain: CollectionConfig['retain'], archiveDir: string): RetentionSettings | undefined {
  const envName = `TANDEM_RETAIN_${name.toUpperCase()}`
  const envCount = process.env[`${envName}_MAX_COUNT`]
  const envAge = process.env[`${envName}_MAX_AGE_MS`]
  if (retain === undefined && envCount === undefined && envAge === undefined) return undefined
  if (retain !== undefined && (typeof retain !== 'object' || retain === null))
    throw new TypeError(`collections.${name}.retain must be an object like { maxCount: 1000 }.`)
  if (retain !== undefined) checkKeys(`collections.${name}.retain`, retain, ['maxCount', 'maxAgeMs', 'archive'])
  const maxCount =
    envCount !== undefined
      ? positiveInteger(envCount, `${envName}_MAX_COUNT`)
      : positiveInteger(retain?.maxCount, `collections.${name}.retain.maxCount`)
  const maxAgeMs =
    envAge !== undefined
      ? positiveInteger(envAge, `${envName}_MAX_AGE_MS`)
      : positiveInteger(retain?.maxAgeMs, `collections.${name}.retain.maxAgeMs`)
  if (maxCount === undefined && maxAgeMs === undefined) throw new TypeError(`collections.${name}.retain needs maxCount or maxAgeMs.`)
  const archive = retain?.archive ?? true
  if (archive === false) return Object.freeze({ maxCount, maxAgeMs, archive: undefined })
  const period = archive === true ? 'month' : (archive.period ?? 'month')
  if (period !== 'day' && period !== 'month')
    throw new RangeError(`collections.${name}.retain.archive.period must be "day" or "month" (got ${JSON.stringify(period)}).`)
  return Object.freeze({ maxCount, maxAgeMs, archive: Object.freeze({ dir: archiveDir, period }) })
}

function parseSeed(name: string, seed: CollectionConfig['seed']): CollectionSettings['seed'] {
  if (seed === undefined) return undefined
  if (!Array.isArray(seed)) throw new TypeError(`collections.${name}.seed must be an array of { id, data }.`)
  const ids = new Set<string>()
  for (const entry of seed) {
    if (typeof entry !== 'object' || entry === null) throw new TypeError(`collections.${name}.seed entries must be { id, data }.`)
    checkId(entry.id)
    if (ids.has(entry.id)) throw new TypeError(`collections.${name}.seed lists id "${entry.id}" twice.`)
    ids.add(entry.id)
  }
  return Object.freeze([...seed])
}

function parseCollection(name: string, spec: CollectionConfig, archiveDir: string): CollectionSettings {
  if (typeof spec !== 'object' || spec === null) throw new TypeError(`collections.${name} must be an object like { writers: ['daemon'] }.`)
  if ('changeData' in spec)
    throw new TypeError(
      `collections.${name}.changeData was replaced by history: the change log keeps no copy of the data by default. Remove changeData, or set history: 'full' to keep every version.`,
    )
  checkKeys(`collections.${name}`, spec, COLLECTION_KEYS)
  const { writers } = spec
  let writerList: string[]
  if (writers === '*') writerList = ['*']
  else if (Array.isArray(writers) && writers.length > 0) writerList = writers.map((w) => checkRole(w, `collections.${name}.writers[]`))
  else
    throw new TypeError(
      `collections.${name}.writers must be a non-empty array of roles or '*' (got ${JSON.stringify(writers)}). Declaring who writes is required.`,
    )
  const indexes = (spec.indexes ?? []).map(parseIndexField)
  const history = parseHistory(name, spec.history)
  const schema = spec.schema
  if (schema !== undefined && typeof (schema as Partial<StandardSchemaV1>)['~standard']?.validate !== 'function') {
    throw new TypeError(
      `collections.${name}.schema must be a Standard Schema validator (zod, valibot, arktype...): it has no ~standard.validate.`,
    )
  }
  const unknownKeys = spec.unknownKeys ?? 'refuse'
  if (unknownKeys !== 'refuse' && unknownKeys !== 'strip')
    throw new RangeError(`collections.${name}.unknownKeys must be 'refuse' or 'strip' (got ${JSON.stringify(unknownKeys)}).`)
  return Object.freeze({
    name,
    writers: writers === '*' ? '*' : new Set(writerList),
    writerList: Object.freeze(writerList),
    indexes: Object.freeze(indexes),
    schema,
    shape: schemaShape(schema),
    unknownKeys,
    ...history,
    retain: parseRetain(name, spec.retain, archiveDir),
    seed: parseSeed(name, spec.seed),
  })
}
