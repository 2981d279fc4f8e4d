// Store: open a store, its collections and transactions.
export { Store, Transaction, type CollectionOf } from './store/store.js'
export { StoreAs } from './store/store-as.js'
export { openStore } from './store/open-store.js'
export { defineStore, type StoreDefinition } from './store/define-store.js'
export { Collection, type StoredRecord, type Page, type VersionOptions, type InsertOptions } from './store/collection.js'
export type { StoreConfig, CollectionConfig, CollectionsConfig, AnyData, DataOf, InputOf } from './store/config.js'
export type { Where, FieldOperators, FindOptions, OrderBySpec } from './store/query.js'

// Inspection: what status and doctor show.
export type { StoreDescription, CollectionDescription, ConsumerDescription } from './store/describe.js'
export {
  isStale,
  isPrunable,
  pruneStale,
  isPidAlive,
  PROCESSES_COLLECTION,
  STALE_AFTER_MS,
  type ProcessEntry,
} from './registry/process-registry.js'

// Lifecycle: migrations run once at open; retention archives; seeds.
export type { Migration, MigrationOutcome, MigrationReport } from './migrations/migration.js'
export { MigrationContext } from './migrations/migration-context.js'

// Changes: the cross-process change feed and durable consumers.
export { ChangeStream } from './changes/change-stream.js'
export { Consumer, type ConsumerOptions } from './changes/consumer.js'
export type { Change, ChangesOptions, ChangeStart, FeedObserver, FeedResume } from './changes/change.js'
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

// Backends: the interface other engines implement, and the embedded SQLite one.
export type {
  Backend,
  BackendCapabilities,
  ReadTx,
  WriteTx,
  RecordRow,
  FoundRow,
  ChangeRow,
  ChangeBatch,
  ChangeFilter,
  ChangeRetention,
  Query,
  Condition,
  FieldRef,
  JsonValue,
  JsonObject,
  StorageInfo,
} from './backends/backend.js'
export { SqliteBackend } from './backends/sqlite/sqlite-backend.js'
export { DEFAULT_JOURNAL_SIZE_LIMIT_BYTES, DEFAULT_WAL_CHECKPOINT_BYTES } from './backends/sqlite/sqlite-config.js'
export { DEFAULT_BUSY_TIMEOUT_MS } from './store/config.js'
export type { Durability, SqliteConfig } from './backends/sqlite/sqlite-config.js'

// Lifecycle: export and import (NDJSON, legacy SQLite tables and JSON files), backup and restore.
export {
  exportStore,
  exportRecords,
  exportLines,
  type ExportOptions,
  type ExportStoreOptions,
  type ExportResult,
} from './transfer/export.js'
export type { ExportHeader, ExportEnd, ExportedRecord } from './transfer/export-format.js'
export { importStore, type ImportOptions } from './transfer/import.js'
export { importSqliteTables, type ImportSqliteTablesOptions, type SqliteTableMapping } from './transfer/legacy-sqlite.js'
export { importJsonFile, type ImportJsonFileOptions } from './transfer/legacy-json.js'
export type { ImportResult } from './transfer/import-run.js'
export type { ConflictPolicy, ImportCounts } from './transfer/import-sink.js'
export { ImportError } from './transfer/import-error.js'
export { backupStore, type BackupResult } from './backup/backup.js'
export { restoreStore, type RestoreOptions, type RestoreResult } from './backup/restore.js'
export { scheduleBackups, type ScheduledBackupOptions } from './backup/scheduled-backup.js'
// Lifecycle: copy a store to another store or engine, verified by counts and checksums.
export {
  copyStore,
  CopyVerificationError,
  type CopyOptions,
  type CopyProgress,
  type CopyResult,
  type CollectionCopyResult,
} from './transfer/copy.js'
export type { CopyEndpoint, CopyStoreConfig } from './transfer/copy-endpoint.js'
export { checksumStore, type ChecksumOptions, type CollectionChecksum } from './transfer/checksum.js'
