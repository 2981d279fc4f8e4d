// tandemdb: what an application needs — open a store, its collections, transactions, the change
// feed, errors, and the lifecycle (backup, export/import, copy). Engines and their internals are in
// tandemdb/backend; the PostgreSQL backend's own types in tandemdb/postgres.
// Store: open a store, its collections and transactions.
export { Store } from './store/store.js'
export { Transaction, type CollectionOf } from './store/transaction.js'
export { openStore, type OpenStoreConfig } from './open/open-store.js'
export { StoreAs } from './store/store-as.js'
export { defineStore, type StoreDefinition } from './store/define-store.js'
export { Collection, type StoredRecord, type Page, type VersionOptions, type InsertOptions } from './store/collection.js'
export type {
  StoreConfig,
  CollectionConfig,
  CollectionsConfig,
  AnyData,
  DataOf,
  InputOf,
  HistoryMode,
  HistoryOptions,
} from './store/config.js'
export type { Where, UntypedWhere, FieldOperators, FindOptions, OrderBySpec } from './store/query.js'
export type { FieldPath, FieldCondition, MetaFields } from './store/query-types.js'
export type { RoleName } from './store/roles.js'

// Inspection: what status and doctor show.
export type { StoreDescription, CollectionDescription, ConsumerDescription } from './store/describe.js'
export type { ProcessEntry } from './registry/process-registry.js'

// Lifecycle: migrations run once at open; retention archives; seeds.
export type { Migration, MigrationOutcome, MigrationReport, MigrationWarning } from './migrations/migration.js'
export { MigrationContext } from './migrations/migration-context.js'

// Changes: the cross-process change feed and durable consumers.
export { ChangeStream } from './changes/change-stream.js'
export { Consumer, type ConsumerOptions } from './changes/consumer.js'
export type { Change, ChangeOf, ChangesOptions, ChangeStart, FeedObserver, FeedResume } from './changes/change.js'
export type { WatchOptions } from './store/collection.js'

// Errors: one base class, a stable code each.
export {
  TandemError,
  ConflictError,
  BusyError,
  OwnershipError,
  ValidationError,
  StorageError,
  ChangesTrimmedError,
  type TandemErrorCode,
  type LockHolder,
  type ValidationIssue,
} from './errors.js'

// Settings and the JSON a record holds. Engine authors: see tandemdb/backend.
export type { JsonValue, JsonObject, Scalar, ChangeOp, StorageInfo, StorageSizes, ReclaimReport } from './backends/backend.js'
export type { Durability } from './backends/sqlite/sqlite-config.js'
export type { ArchivePeriod } from './fs/archive-file.js'
export type { ScheduledBackupOptions } from './backup/scheduled-backup.js'
export type { TandemErrorDetails } from './errors.js'
export { DEFAULT_BUSY_TIMEOUT_MS } from './store/config.js'
