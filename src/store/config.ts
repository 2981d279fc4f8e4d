import type { StandardSchemaV1 } from '@standard-schema/spec'
import type { RoleName } from './roles.js'
import type { SchemaShape } from './schema-shape.js'
import type { Backend, HistoryLimit, JsonObject } from '../backends/backend.js'
import type { Durability } from '../backends/sqlite/sqlite-config.js'
import type { TandemError } from '../errors.js'
import type { ArchivePeriod } from '../fs/archive-file.js'
import type { Migration } from '../migrations/migration.js'
import type { RetentionSettings } from './retention.js'

/**
 * Data of a collection declared without a schema: any JSON object. Its fields are JSON values, not
 * `any`: narrow them (typeof, a schema) before use, as with any data read from outside the program.
 */
export type AnyData = JsonObject

export interface CollectionConfig<S extends StandardSchemaV1 = StandardSchemaV1> {
  /** The roles allowed to write this collection, or '*' for every role. Reads are open to all. */
  writers: readonly string[] | '*'
  /** Data fields (dot paths for nested ones) to index; `find` on them uses the index. */
  indexes?: readonly string[]
  /** Any Standard Schema validator (zod, valibot, arktype...). Invalid data is refused. */
  schema?: S
  /**
   * What a write does with keys the schema does not declare, which a validator such as zod or
   * valibot drops from its output: 'refuse' (default) fails the write with INVALID_DATA naming
   * them, so a typo or a field a migration added is never lost in silence; 'strip' stores the
   * schema's output without them.
   */
  unknownKeys?: 'refuse' | 'strip'
  /**
   * What the change log keeps of each write. 'changes' (the default): who changed which record to
   * which version, when — no copy of the data; the feed reads the record itself, so a subscriber
   * gets the latest data (see docs/changes.md). 'full': a copy of the data with every change, so the
   * feed (and `collection.history(id)`) delivers every intermediate version (an audit trail, undo);
   * the log then grows by the record's size with each write. 'diff': the same versions, each entry
   * keeping only the JSON Patch back to the version before. `{ keep, maxCount?, maxAgeMs? }` bounds
   * it: past versions per record beyond `maxCount`, and those older than `maxAgeMs`, are removed
   * when the log is trimmed.
   */
  history?: HistoryMode | HistoryOptions
  /**
   * Bound the collection's growth: keep at most `maxCount` records and/or drop records created
   * more than `maxAgeMs` ago, oldest first. Trimmed records are appended to the archive first
   * (NDJSON, one file per period) unless `archive: false`. Environment variables
   * TANDEM_RETAIN_<COLLECTION>_MAX_COUNT and TANDEM_RETAIN_<COLLECTION>_MAX_AGE_MS override the limits.
   */
  retain?: { maxCount?: number; maxAgeMs?: number; archive?: boolean | { period?: ArchivePeriod } }
  /** Default records, inserted once each (by id) when missing; never overwriting, never re-creating one a user deleted. */
  seed?: readonly { id: string; data: unknown }[]
}

/** What the change log keeps of a collection's writes: see CollectionConfig.history. */
export type HistoryMode = 'changes' | 'full' | 'diff'

/** A collection's history with bounds: see CollectionConfig.history and docs/changes.md. */
export interface HistoryOptions {
  /** 'full': a copy of the data per change; 'diff': a JSON Patch back to the version before. */
  keep: 'full' | 'diff'
  /** Keep at most this many past versions per record (its latest change always stays). */
  maxCount?: number
  /** Drop past versions written longer ago than this (ms). */
  maxAgeMs?: number
}

export type CollectionsConfig = { [name: string]: CollectionConfig<StandardSchemaV1> }

/**
 * openStore's config. `C` is the collections (their names, schemas and writers are inferred from
 * it), `R` the roles declared under `roles`; `role` must be one of the writers or declared roles.
 */
export interface StoreConfig<C extends CollectionsConfig = CollectionsConfig, R extends string = string> {
  /** The SQLite database file (relative to dataDir when given), or ':memory:'. */
  path?: string
  /** The one directory all processes share; the store file must resolve inside it. */
  dataDir?: string
  /** A PostgreSQL connection string instead of a file: postgres://user@host:5432/db (needs the `pg` package). */
  url?: string
  /** A files store instead: plain text files in this directory (see docs/files.md). */
  files?: { dir: string }
  /** PostgreSQL only: the schema holding this store (default 'tandem'), and the pool size (default 5). */
  postgres?: { schema?: string; poolSize?: number }
  /**
   * Who this process is: one of the roles the definition names (a collection's writers, or a key
   * of `roles`), else UNKNOWN_ROLE. Checked against each collection's writers on every write.
   */
  role: NoInfer<RoleName<C, R>>
  collections: C
  /** 'normal' (default) survives any process crash; 'full' also survives power loss. */
  durability?: Durability
  /** How long a write waits for other processes before BUSY_TIMEOUT. Default 30000. */
  busyTimeoutMs?: number
  /** Bring your own backend (advanced; the PostgreSQL backend plugs in here). */
  backend?: Backend
  /** How much of the change log to keep. Defaults: the changes among the last 100,000 seqs, and 7 days, whichever is less. */
  changes?: { maxCount?: number; maxAgeMs?: number }
  /** Schema and data migrations, run once each at open (see docs/lifecycle.md). */
  migrations?: readonly Migration[]
  /** When the store has migrations this program does not know: 'refuse' to open (default), or open 'read-only'. */
  onNewerSchema?: 'refuse' | 'read-only'
  /**
   * The roles besides the writers (a role that only reads must be declared here), and per-role
   * settings shared by every process: `{ daemon: { singleton: true } }` lets one live daemon at a
   * time open the store; `{ inspector: {} }` declares a role.
   */
  roles?: { [role in R]?: { singleton?: boolean } }
  /** Where retention archives trimmed records. Default: an `archive` folder beside the store file (or in dataDir). */
  archiveDir?: string
  /**
   * SQLite: whether openStore may start a new store. By default it creates the file when none
   * exists, and refuses an empty (0-byte) file with STORE_FILE_EMPTY: a store file is never empty,
   * so one is most likely truncated. `true` also starts a new store in an empty file (one made
   * with `touch`, say); `false` never creates one: a missing file is STORE_NOT_FOUND.
   */
  create?: boolean
  /**
   * Open to read only (default false): nothing is written, created or registered — no tables, no
   * migrations, no seeds, no entry in the process registry — so the open works on a read-only file
   * or file system and on a full disk, and never waits for a writer's lock. Writes fail with
   * READ_ONLY. The store must exist and have been opened read-write once.
   */
  readOnly?: boolean
  /**
   * Called once if the open store starts refusing writes by itself: ROLE_LOST (another process
   * took over this process's singleton role while it was silent) or STORE_FILES_CHANGED (the
   * store's -wal/-shm or database file was deleted or replaced under it). Every later write
   * rejects with the same error. Stop acting on the store here (a daemon should exit).
   */
  onWritesRefused?: (error: TandemError) => void
}

/** What a schema turns stored data into, or AnyData without a schema. */
export type DataOf<CC> = CC extends { schema: StandardSchemaV1<infer _I, infer O> } ? O : AnyData
/** What a schema accepts, or AnyData without a schema. */
export type InputOf<CC> = CC extends { schema: StandardSchemaV1<infer I, infer _O> } ? I : AnyData

export const DEFAULT_BUSY_TIMEOUT_MS = 30_000
export const DEFAULT_CHANGES_MAX_COUNT = 100_000
export const DEFAULT_CHANGES_MAX_AGE_MS = 7 * 24 * 60 * 60 * 1000
export const ROLE = /^[A-Za-z0-9_.:-]{1,64}$/
export const COLLECTION = /^[A-Za-z][A-Za-z0-9_]{0,62}$/
export interface CollectionSettings {
  readonly name: string
  readonly writers: '*' | ReadonlySet<string>
  readonly writerList: readonly string[]
  readonly indexes: readonly (readonly string[])[]
  readonly schema: StandardSchemaV1 | undefined
  /** The schema's top-level fields, when its validator exposes them (see schema-shape.ts). */
  readonly shape?: SchemaShape | undefined
  /** Keys the schema would drop: refused (default) or stripped. */
  readonly unknownKeys?: 'refuse' | 'strip'
  /** 'full' when the change log keeps a copy of the data with each change, 'diff' a delta. */
  readonly history: HistoryMode
  /** The bounds on that history (absent: none but the log's retention). */
  readonly historyLimit?: { readonly maxCount?: number | undefined; readonly maxAgeMs?: number | undefined } | undefined
  readonly retain?: RetentionSettings | undefined
  readonly seed?: readonly { readonly id: string; readonly data: unknown }[]
}

export interface StoreSettings {
  readonly path: string | undefined
  readonly dataDir: string | undefined
  readonly url: string | undefined
  readonly files: { readonly dir: string } | undefined
  readonly postgres: { readonly schema: string; readonly poolSize: number }
  readonly role: string
  /** Every role the definition names: the writers of its collections and the keys of `roles`. Empty: any role. */
  readonly knownRoles: readonly string[]
  readonly durability: Durability
  readonly busyTimeoutMs: number
  readonly collections: ReadonlyMap<string, CollectionSettings>
  /** The change log's retention, with the collections' history bounds (applied by the same trim). */
  readonly changeRetention: { readonly maxCount: number; readonly maxAgeMs: number; readonly history?: readonly HistoryLimit[] | undefined }
  readonly migrations: readonly Migration[]
  readonly onNewerSchema: 'refuse' | 'read-only'
  readonly archiveDir: string
  /** This process's role is declared singleton. */
  readonly singleton: boolean
  /** SQLite: may start a new store where no file exists (undefined), also in an empty file (true), or never (false). */
  readonly create: boolean | undefined
  /** Opened with readOnly: true. */
  readonly readOnly: boolean
  readonly onWritesRefused: ((error: TandemError) => void) | undefined
}

/** Validates the collection and id filters of a change reader; returns them as a backend filter. */
export function checkCollectionFilter(options: {
  collections?: readonly string[]
  ids?: readonly string[]
}): { collections?: readonly string[]; ids?: readonly string[] } | undefined {
  const { collections, ids } = options
  if (collections !== undefined && (!Array.isArray(collections) || collections.some((c) => typeof c !== 'string' || !COLLECTION.test(c)))) {
    throw new TypeError(`collections must be an array of collection names (got ${JSON.stringify(collections)}).`)
  }
  if (ids !== undefined && (!Array.isArray(ids) || ids.some((id) => typeof id !== 'string')))
    throw new TypeError(`ids must be an array of record ids (got ${JSON.stringify(ids)}).`)
  if (collections === undefined && ids === undefined) return undefined
  return { ...(collections === undefined ? {} : { collections }), ...(ids === undefined ? {} : { ids }) }
}

export function checkRole(role: unknown, what = 'role'): string {
  if (typeof role !== 'string' || !ROLE.test(role)) {
    throw new TypeError(`${what} must be 1 to 64 letters, digits or _ . : - (got ${JSON.stringify(role)}).`)
  }
  return role
}
