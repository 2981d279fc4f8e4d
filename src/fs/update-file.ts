import { close, openSync } from 'node:fs'
import { StorageError } from '../errors.js'
import { fileFailure, replaceFile, syncDirectoryOf } from './atomic-write.js'
import { errnoCode, REAL_FS_OPS } from './fs-ops.js'
import { withFileLock, type FileLockOptions } from './lock-file.js'

/**
 * A read-only descriptor on the file about to be replaced, or undefined. It keeps the old inode
 * alive past the rename, so that freeing its blocks (a few hundred µs on ext4, where the rename
 * would do it) happens at unpin, outside the lock. Only an optimization: never fails the update,
 * and stays out of `ops` (it is no step of the replace).
 */
function pinInode(path: string): number | undefined {
  try {
    return openSync(path, 'r')
  } catch {
    return undefined
  }
}

/** Closes a pin in the thread pool (the freeing then overlaps the directory fsync). */
function unpin(fd: number | undefined): void {
  if (fd !== undefined) close(fd, () => undefined)
}

/** Options of updateFile: the lock's, and the mode of a file it creates. */
export interface UpdateFileOptions extends FileLockOptions {
  /** Mode of the file when it does not exist yet (an existing file keeps its own). */
  mode?: number
  /** 'full' (default) or 'normal' (no fsync: survives process crashes, not power cuts), as writeFileAtomic. */
  durability?: 'full' | 'normal'
}

/**
 * The read-modify-write that never loses a concurrent update: takes the lock on `path`
 * (withFileLock), reads the file (undefined when it does not exist), passes the text to
 * `transform`, and replaces the file atomically (writeFileAtomic) with what it returns; returning
 * undefined leaves the file as it is. Resolves with the file's content afterwards. Every other
 * writer must go through the same lock (updateFile, withFileLock, or the protocol of docs/files.md).
 *
 * @example
 * await updateFile('counter.txt', (text) => String(Number(text ?? '0') + 1))
 */
export async function updateFile(
  path: string,
  transform: (current: string | undefined) => string | undefined | Promise<string | undefined>,
  options: UpdateFileOptions = {},
): Promise<string | undefined> {
  const ops = options.ops ?? REAL_FS_OPS
  let written: string | undefined
  let pinned: number | undefined
  const result = await withFileLock(
    path,
    async () => {
      let current: string | undefined
      try {
        pinned = pinInode(path)
        current = (await ops.readFile(path)).toString('utf8')
      } catch (error) {
        if (errnoCode(error) !== 'ENOENT') throw fileFailure('read', path, error)
      }
      const next = await transform(current)
      if (next === undefined) return current
      if (typeof next !== 'string') {
        throw Object.assign(new TypeError(`updateFile's transform must return a string or undefined (got ${typeof next}).`), {
          code: 'INVALID_ARGUMENT',
        })
      }
      written = await replaceFile(path, next, {
        ops,
        ...(options.mode === undefined ? {} : { mode: options.mode }),
        ...(options.durability === undefined ? {} : { durability: options.durability }),
      })
      return next
    },
    options,
  ).finally(() => unpin(pinned))
  // The directory fsync runs after the lock is released: the next writer may already read and
  // replace the file meanwhile (it sees the complete new content), and the kernel's journal keeps
  // renames in order, so a power cut still leaves some complete version, never a mix. Only the
  // caller's "it is on disk" waits for this fsync, and the lock is held for one fsync, not two.
  if (written !== undefined && options.durability !== 'normal') await syncDirectoryOf(ops, written)
  return result
}

/**
 * updateFile for a JSON file: `transform` gets the parsed value (undefined when the file does not
 * exist) and returns the next one (undefined: leave the file). Written as pretty-printed JSON
 * with a final newline. Rejects with STORAGE_FAILURE, the file untouched, when it does not parse.
 */
export async function updateJsonFile<T>(
  path: string,
  transform: (current: T | undefined) => T | undefined | Promise<T | undefined>,
  options: UpdateFileOptions = {},
): Promise<T | undefined> {
  let result: T | undefined
  await updateFile(
    path,
    async (text) => {
      let current: T | undefined
      if (text !== undefined) {
        try {
          current = JSON.parse(text) as T
        } catch (error) {
          throw new StorageError(`${path} is not valid JSON (${(error as Error).message}); it was left as it is.`, error)
        }
      }
      result = await transform(current)
      if (result === undefined) {
        result = current
        return undefined
      }
      return `${JSON.stringify(result, null, 2)}\n`
    },
    options,
  )
  return result
}
