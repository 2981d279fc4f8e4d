// tandemdb/lifecycle: moving a store's data in and out — backup and restore (online, verified),
// scheduled backups, export and import (NDJSON, legacy SQLite tables and JSON files), and verified
// copies between stores and engines. See docs/lifecycle-backup-export.md.
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
} from './copy/copy.js'
export type { CopyEndpoint, CopyStoreConfig } from './copy/copy-endpoint.js'
export { checksumStore, type ChecksumOptions, type CollectionChecksum } from './transfer/checksum.js'
export type { ImportLocation } from './transfer/import-error.js'
export type { ImportSource, SeedHistoryCounts } from './transfer/import-history.js'
export type { ImportTargetOptions } from './transfer/import-sink.js'
