// tandemdb/backend: the interface a storage engine implements (see docs/architecture.md), and the
// embedded SQLite engine with its settings, for code that builds a backend by hand and hands it to
// openStore({ backend }), or implements another engine.
export type {
  Backend,
  BackendCapabilities,
  ReadTx,
  ReadNowTx,
  WriteTx,
  RecordRow,
  FoundRow,
  ChangeRow,
  ChangeOp,
  ChangeBatch,
  ChangeFilter,
  ChangeRetention,
  CollectionLayout,
  Query,
  Condition,
  FieldRef,
  MetaField,
  OrderBy,
  Scalar,
  JsonValue,
  JsonObject,
  StorageInfo,
  StorageSizes,
  ReclaimReport,
  SavepointOptions,
  WriteOptions,
  ReadSnapshot,
} from './backends/backend.js'
export { READ_LATER } from './backends/backend.js'
export { SqliteBackend } from './backends/sqlite/sqlite-backend.js'
export type { WriteAudit, WriteAuditFinding, WriteAuditKind } from './backends/sqlite/sqlite-audit.js'
export { DEFAULT_JOURNAL_SIZE_LIMIT_BYTES, DEFAULT_WAL_CHECKPOINT_BYTES } from './backends/sqlite/sqlite-config.js'
export type { Durability, SqliteConfig } from './backends/sqlite/sqlite-config.js'
