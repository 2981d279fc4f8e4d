import { BusyError, TandemError } from '../../errors.js'
import { withFileLock } from '../../fs/lock-file.js'
import type { FilesLayout } from './files-layout.js'

/**
 * Runs `work` under the store-wide write lock: the tandemdb/fs lock file `.tandem/store.lock`, so
 * a writer killed mid-transaction (SIGKILL, OOM) never wedges the store: the next writer takes
 * its lock over at once (same host) and finishes or discards its commit (files-journal.ts). A
 * lock still held after `busyTimeoutMs` is the store's usual BUSY_TIMEOUT, the holder in its cause.
 */
export async function withStoreLock<T>(layout: FilesLayout, busyTimeoutMs: number, work: () => Promise<T>): Promise<T> {
  try {
    return await withFileLock(layout.lockTarget, work, { timeoutMs: busyTimeoutMs })
  } catch (error) {
    if (error instanceof TandemError && error.code === 'LOCK_TIMEOUT') throw new BusyError(busyTimeoutMs, error)
    throw error
  }
}
