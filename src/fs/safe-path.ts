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

/**
 * How long an empty store file is taken for one another process is creating right now. SQLite
 * creates the file empty and writes its header microseconds later (the first pragma), so a store
 * file is only ever empty in that instant; waiting this long for it is generous.
 */
const CREATING_GRACE_MS = 2000

/**
 * Refuses to start a new store where that would hide a lost one. A missing file is fine (SQLite
 * creates it) unless `create` is false: STORE_NOT_FOUND. An empty file (0 bytes) is refused with
 * STORE_FILE_EMPTY unless `create` is true: a store file is never empty once created, so it is
 * most likely truncated (a failed copy, a full disk, a `> file`). Only stats the file: it is never
 * opened here.
 */
export async function checkStoreFile(file: string, create: boolean | undefined): Promise<void> {
  let stat = statSync(file, { throwIfNoEntry: false })
  if (stat === undefined) {
    if (create !== false) return
    throw new TandemError(
      'STORE_NOT_FOUND',
      `Store file ${file} does not exist, and create: false forbids starting a new store. Nothing was created.`,
      {
        hint: 'Check the path (and dataDir), or drop create: false to start a new store there.',
      },
    )
  }
  if (create === true || !stat.isFile() || stat.size > 0) return
  // Another process may be creating the store this instant: wait for its header, unless the file
  // has been empty for longer than any creation takes. (Ages by the monotonic clock once here.)
  const waitingSince = performance.now()
  while (
    stat?.isFile() === true &&
    stat.size === 0 &&
    Date.now() - stat.mtimeMs < CREATING_GRACE_MS &&
    performance.now() - waitingSince < CREATING_GRACE_MS
  ) {
    await new Promise((resolve) => setTimeout(resolve, 5))
    stat = statSync(file, { throwIfNoEntry: false })
  }
  if (stat?.isFile() !== true || stat.size > 0) return
  throw new TandemError(
    'STORE_FILE_EMPTY',
    `Store file ${file} is empty (0 bytes). A Tandem store never is, so this is most likely a truncated store (a failed copy, a full disk, a "> file"), not a new one. Nothing was opened. Restore the store from a backup, or pass create: true to start a new, empty store in this file.`,
    { hint: 'Restore the file from a backup ("tandem restore"), or open it with create: true to start over with an empty store.' },
  )
}
