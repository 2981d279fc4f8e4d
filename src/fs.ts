// tandemdb/fs: plain files done safely, usable without a store. See docs/files.md.
export { writeFileAtomic, type WriteFileAtomicOptions } from './fs/atomic-write.js'
export {
  withFileLock,
  acquireFileLock,
  lockPathFor,
  DEFAULT_LOCK_TIMEOUT_MS,
  DEFAULT_LOCK_STALE_MS,
  type FileLockOptions,
  type HeldFileLock,
} from './fs/lock-file.js'
export { updateFile, updateJsonFile, type UpdateFileOptions } from './fs/update-file.js'
export { findLeftovers, cleanUpLeftovers, type Leftover } from './fs/leftovers.js'
export { REAL_FS_OPS, type FsOps } from './fs/fs-ops.js'
export { TandemError, type TandemErrorCode } from './errors.js'
