import { randomBytes } from 'node:crypto'
import { realpathSync } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'
import { StorageError } from '../errors.js'
import { hostTag } from './durable-file.js'
import { errnoCode, REAL_FS_OPS, type FsOps } from './fs-ops.js'

/** Options of writeFileAtomic. */
export interface WriteFileAtomicOptions {
  /** The new file's mode when the target does not exist yet (default 0o666 minus the umask). An existing target keeps its own. */
  mode?: number
  /**
   * 'full' (default): fsync the file and the directory, so the write survives a power cut once the
   * call resolves. 'normal': no fsync; still atomic for every reader and across any process crash,
   * but a power cut may bring back the old content (what lowdb and most atomic-write libraries do).
   */
  durability?: 'full' | 'normal'
  /** The file-system calls to make (tests inject faults through it); the real ones by default. */
  ops?: FsOps
}

/** A temp name beside `target` no other writer (process, thread or call) can pick: pid, 8 random hex, host. */
export function tempNameFor(target: string): string {
  return join(dirname(target), `.${basename(target)}.${process.pid}-${randomBytes(4).toString('hex')}.${hostTag()}.tmp`)
}

/** `error` as a TandemError naming the file and the step, with the errno error as its cause. */
export function fileFailure(step: string, path: string, error: unknown): StorageError {
  const code = errnoCode(error)
  return new StorageError(
    `Could not ${step} ${path}${code === undefined ? '' : ` (${code})`}: ${(error as Error)?.message ?? String(error)}`,
    error,
  )
}

/** Follows a symlinked target to the file it names, so the link stays a link (a missing target resolves to itself). */
async function finalTarget(path: string): Promise<string> {
  try {
    return realpathSync(path)
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return resolve(path)
    throw fileFailure('resolve', path, error)
  }
}

/** Flushes a directory's entries (the rename) to disk; file systems that refuse fsync on a directory are skipped. */
export async function fsyncDirectoryWith(ops: FsOps, dir: string): Promise<void> {
  let fd: number
  try {
    fd = await ops.open(dir, 'r')
  } catch (error) {
    if (errnoCode(error) === 'EISDIR' || errnoCode(error) === 'EPERM') return // Windows: directories cannot be opened.
    throw error
  }
  try {
    await ops.fsync(fd)
  } catch (error) {
    if (errnoCode(error) !== 'EINVAL' && errnoCode(error) !== 'EISDIR') throw error
  } finally {
    await ops.close(fd)
  }
}

/**
 * Replaces the file at `path` with `data` so that every reader, and the disk after a crash or a
 * power cut, holds either the whole old content or the whole new one. Writes a temp file with a
 * name unique to this call beside the target, fsyncs it, renames it over the target, then fsyncs
 * the directory (without that last fsync a power cut may bring the old file back after the
 * caller was told "written"). The target keeps its mode; a symlinked target is written through
 * the link. On every failure the temp file is removed and the error (STORAGE_FAILURE, the errno
 * error in `cause`) says which step failed; the target is then untouched, except when only the
 * final directory fsync failed (the new content is in place but its durability is unknown).
 *
 * @example
 * await writeFileAtomic('settings.json', JSON.stringify({ theme: 'dark' }))
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, options: WriteFileAtomicOptions = {}): Promise<void> {
  const ops = options.ops ?? REAL_FS_OPS
  const target = await replaceFile(path, data, options)
  if (options.durability !== 'normal') await syncDirectoryOf(ops, target)
}

/**
 * Flushes the rename replaceFile made (the directory of `target`) to disk: STORAGE_FAILURE when
 * that fails (the new content is in place, its durability unknown).
 */
export async function syncDirectoryOf(ops: FsOps, target: string): Promise<void> {
  try {
    await fsyncDirectoryWith(ops, dirname(target))
  } catch (error) {
    throw fileFailure('fsync the directory of', target, error)
  }
}

/**
 * writeFileAtomic up to and including the rename, without the directory fsync: every reader sees
 * the new content from here on, but a power cut may still bring back the old one until
 * syncDirectoryOf(target). Resolves with the file really written (symlinks followed).
 */
export async function replaceFile(path: string, data: string | Uint8Array, options: WriteFileAtomicOptions = {}): Promise<string> {
  const ops = options.ops ?? REAL_FS_OPS
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data
  const given = resolve(path)
  let existing = await ops.stat(given).catch((error: unknown) => {
    throw fileFailure('stat', given, error)
  })
  // Only a symlink needs resolving (one lstat saved per write otherwise): the link stays a link.
  const target = existing?.isSymbolicLink() === true ? await finalTarget(given) : given
  if (target !== given) existing = await ops.stat(target).catch(() => undefined)
  const mode = existing?.isFile() === true ? existing.mode & 0o7777 : (options.mode ?? 0o666 & ~process.umask())
  const temp = tempNameFor(target)
  let fd: number | undefined
  let step = 'create a temp file for'
  try {
    // 0600 until the content is complete, then the target's mode: nobody reads a half-written temp.
    fd = await ops.open(temp, 'wx', 0o600)
    step = 'write'
    await ops.write(fd, bytes)
    step = 'set the mode of'
    await ops.fchmod(fd, mode)
    // The data must be on disk before the rename makes it the file: else a power cut could leave the new name with no content.
    step = 'fsync'
    if (options.durability !== 'normal') await ops.fsync(fd)
    step = 'close'
    const open = fd
    fd = undefined
    await ops.close(open)
    step = 'rename a temp file over'
    await ops.rename(temp, target)
  } catch (error) {
    if (fd !== undefined) await ops.close(fd).catch(() => undefined)
    await ops.unlink(temp).catch(() => undefined)
    throw fileFailure(step, target, error)
  }
  return target
}
