import { chmodSync, lstatSync, mkdirSync, readlinkSync, realpathSync, statSync } from 'node:fs'
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path'
import { TandemError } from '../errors.js'

function unsafe(message: string, hint: string): TandemError {
  return new TandemError('UNSAFE_PATH', message, { hint })
}

function isInside(root: string, candidate: string): boolean {
  const rel = relative(root, candidate)
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel))
}

/** Creates `dir` (and parents) with mode 0700 if missing. Existing directories keep their mode. */
function ensureDirectory(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 })
}

function refuseWorldWritable(dir: string): void {
  const mode = statSync(dir).mode
  if ((mode & 0o002) !== 0) {
    throw unsafe(
      `Directory ${dir} is writable by every user (mode ${(mode & 0o777).toString(8)}); any of them could replace the store file.`,
      `Keep the store in a private directory: chmod o-w ${dir}, or pass a dataDir such as ~/.local/share/<app>.`,
    )
  }
}

/** Where `file` really leads, following symlinks even when the target does not exist yet. */
function followLinks(file: string): string {
  for (let hops = 0; hops < 40; hops++) {
    if (!lstatSync(file, { throwIfNoEntry: false })?.isSymbolicLink()) {
      const dir = dirname(file)
      return lstatSync(dir, { throwIfNoEntry: false }) === undefined ? file : join(realpathSync(dir), basename(file))
    }
    file = resolve(dirname(file), readlinkSync(file))
  }
  throw unsafe(`Store path ${file} goes through more than 40 symbolic links.`, 'Point the store at a real file.')
}

export interface ResolvedStorePath {
  /** Absolute path of the database file, symlinks resolved. */
  file: string
  /** The shared data directory, when one was given (symlinks resolved). */
  dataDir: string | undefined
}

/**
 * Resolves where the store file lives and refuses unsafe places. With `dataDir`, a relative `path`
 * is taken inside it and the result (after following symlinks) must stay inside it: `..`, another
 * absolute path, or a symlink pointing out is refused. The directory is created with mode 0700;
 * a directory every user can write to is refused. The file itself is not opened here.
 */
export function resolveStorePath(path: string | undefined, dataDir: string | undefined): ResolvedStorePath {
  let root: string | undefined
  if (dataDir !== undefined) {
    ensureDirectory(resolve(dataDir))
    root = realpathSync(resolve(dataDir))
    refuseWorldWritable(root)
  }
  const wanted = path ?? (root === undefined ? undefined : join(root, 'tandem.db'))
  if (wanted === undefined) throw new TypeError('openStore needs a path (a database file) or a dataDir (got neither).')
  const absolute = root === undefined ? resolve(wanted) : resolve(root, wanted)
  if (root !== undefined && !isInside(root, absolute)) {
    throw unsafe(
      `Store path ${wanted} resolves to ${absolute}, outside the data directory ${root}.`,
      'Give a path inside dataDir (a plain file name is enough), or change dataDir.',
    )
  }
  ensureDirectory(dirname(absolute))
  const file = followLinks(join(realpathSync(dirname(absolute)), basename(absolute)))
  if (root !== undefined && !isInside(root, file)) {
    throw unsafe(
      `Store path ${wanted} leads to ${file} through a symbolic link, outside the data directory ${root}.`,
      'Remove the symbolic link, or point dataDir at the directory that really holds the store.',
    )
  }
  refuseWorldWritable(dirname(file))
  return { file, dataDir: root }
}

/**
 * Restricts the store file and its -wal and -shm companions to their owner (0600). chmod works on
 * the path, so no descriptor is opened on them: closing one would drop SQLite's POSIX locks.
 * (SQLite creates later -wal/-shm files with the database file's mode.)
 */
export function restrictFileMode(file: string): void {
  for (const path of [file, `${file}-wal`, `${file}-shm`]) {
    const stat = statSync(path, { throwIfNoEntry: false })
    if (stat !== undefined && (stat.mode & 0o077) !== 0) chmodSync(path, 0o600)
  }
}
