import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import { basename, dirname, join } from 'node:path'

/**
 * Helpers to put a finished file in place so that a crash leaves either the old file or the whole
 * new one, never a part: write a temp file beside the destination, fsync it (the writer's job),
 * rename it over the destination, fsync the directory. They open descriptors on the temp file and the directory only;
 * never call them on a live database, -wal or -shm file (closing a descriptor on one drops SQLite's
 * POSIX locks of this process).
 */

/**
 * This host's name as it appears in temp names: the characters a file name on any system takes
 * (letters, digits, _ and -; a dot would make the name ambiguous), at most 63 of them.
 */
export function hostTag(host = hostname()): string {
  return host.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 63) || 'unknown'
}

/**
 * `.<final name>.<pid>-<8 hex>.<host>.tmp`; files written before the host was recorded lack the
 * `.<host>` part. The host tells whose pid it is: a folder that several machines share holds
 * temp files whose pid only their own machine can check.
 */
const TEMP_NAME = /^\.(.+)\.(\d+)-[0-9a-f]{8}(?:\.([A-Za-z0-9_-]{1,63}))?\.tmp$/

/** What a temp name made by createTempBeside says: the file it was to become, the writer's pid, and its host tag (undefined: an older name without one). */
export interface TempName {
  finalName: string
  pid: number
  host: string | undefined
}

/** Parses a file name made by createTempBeside; undefined for any other name. */
export function parseTempName(name: string): TempName | undefined {
  const match = TEMP_NAME.exec(name)
  if (match === null) return undefined
  return { finalName: match[1]!, pid: Number(match[2]), host: match[3] }
}

/**
 * Creates a new, empty, owner-only (0600) file beside `path` and returns its path. Fails if it
 * exists. Its name records this process's pid and host (see parseTempName), so that whoever
 * finds it after a crash can tell whether its writer still runs.
 */
export function createTempBeside(path: string): string {
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}-${randomBytes(4).toString('hex')}.${hostTag()}.tmp`)
  // 0600 from the first byte: the file will hold the store's data.
  writeFileSync(temp, '', { mode: 0o600, flag: 'wx' })
  return temp
}

/** Flushes a directory's entries (a rename or a new file in it) to disk. A no-op where directories cannot be opened (Windows). */
export function fsyncDirectory(dir: string): void {
  let fd: number
  try {
    fd = openSync(dir, 'r')
  } catch {
    return
  }
  try {
    fsyncSync(fd)
  } catch (error) {
    // Some file systems refuse fsync on a directory; the rename itself is still atomic there.
    if ((error as NodeJS.ErrnoException).code !== 'EINVAL' && (error as NodeJS.ErrnoException).code !== 'EISDIR') throw error
  } finally {
    closeSync(fd)
  }
}

/**
 * Moves a finished, fsynced `temp` over `dest` (atomic on one file system) and fsyncs the
 * directory, so after a crash `dest` is the old file or the new one.
 */
export function renameDurably(temp: string, dest: string): void {
  renameSync(temp, dest)
  fsyncDirectory(dirname(dest))
}

/** Deletes a file if it exists, ignoring every error: for cleaning up temp files after a failure. */
export function removeQuietly(path: string): void {
  try {
    rmSync(path, { force: true })
  } catch {
    // Cleanup must not hide the error that made it necessary.
  }
}
