import { chmodSync, statSync } from 'node:fs'
import type { Stats } from 'node:fs'
import { dirname } from 'node:path'
import { TandemError } from '../../errors.js'

/**
 * (Engine-only: PostgreSQL keeps no file of the store on the client's side.)
 * The three files of a WAL-mode store, and what each connection of this process relies on:
 * SQLite keeps the -wal and -shm open (and the -shm mapped) for as long as a connection lives.
 * If someone deletes or replaces one of them meanwhile, this process goes on writing into a file
 * nobody else will ever read (a deleted -wal: its commits vanish when the last such process
 * dies) or stops sharing its locks with processes that open the store afterwards (a deleted
 * -shm: two writers at once, a corrupt file). SQLite does not notice either.
 *
 * So each backend remembers the device and inode of the three files when it opens, and looks
 * again (stat only — opening a SQLite file with fs and closing it would drop this process's
 * POSIX locks on it) before its commits and now and then while idle.
 */
export type StoreFileName = 'database' | '-wal' | '-shm'

export interface StoreFileChange {
  file: StoreFileName
  how: 'deleted' | 'replaced'
}

interface FileIdentity {
  dev: number
  ino: number
}

const SUFFIX: Record<StoreFileName, string> = { database: '', '-wal': '-wal', '-shm': '-shm' }
const NAMES: readonly StoreFileName[] = ['database', '-wal', '-shm']
/** SQLite's WAL_WRITE_LOCK: the first lock byte of the -shm (WALINDEX_LOCK_OFFSET, 120). */
const WAL_WRITE_LOCK_BYTE = 120

function identify(path: string): FileIdentity | undefined {
  const stat = statSync(path, { throwIfNoEntry: false })
  return stat === undefined ? undefined : { dev: stat.dev, ino: stat.ino }
}

export class StoreFiles {
  readonly #path: string
  readonly #known = new Map<StoreFileName, FileIdentity>()

  /** Notes the files as they are now (a file not there yet is noted when it first appears). */
  constructor(path: string) {
    this.#path = path
    for (const name of NAMES) {
      const id = identify(path + SUFFIX[name])
      if (id !== undefined) this.#known.set(name, id)
    }
  }

  /** Three stats: the files deleted or replaced since they were noted, or undefined if none was. */
  changes(): StoreFileChange[] | undefined {
    let found: StoreFileChange[] | undefined
    for (const name of NAMES) {
      const now = identify(this.#path + SUFFIX[name])
      const known = this.#known.get(name)
      if (known === undefined) {
        if (now !== undefined) this.#known.set(name, now)
        continue
      }
      if (now === undefined) (found ??= []).push({ file: name, how: 'deleted' })
      else if (now.ino !== known.ino || now.dev !== known.dev) (found ??= []).push({ file: name, how: 'replaced' })
    }
    return found
  }

  /**
   * SQLite's WAL write lock, as the POSIX record lock it is: byte 120 of the -shm (its identity as
   * noted at open), so the store can tell who holds it; undefined when the -shm is not there.
   */
  writeLockRecord(): { dev: number; ino: number; start: number } | undefined {
    const shm = this.#known.get('-shm')
    return shm === undefined ? undefined : { ...shm, start: WAL_WRITE_LOCK_BYTE }
  }
}

/** True if the changes leave the -shm as it was: the processes that had the store open still share their locks. */
export function locksStillShared(changes: readonly StoreFileChange[]): boolean {
  return !changes.some((c) => c.file === '-shm' || c.file === 'database')
}

/**
 * True if another file now sits at the -wal's path (not merely a deleted one): the -wal's commits
 * must then not be checkpointed, since the shared -shm describes the old file, not the new one.
 */
export function walReplaced(changes: readonly StoreFileChange[]): boolean {
  return changes.some((c) => c.file === '-wal' && c.how === 'replaced')
}

/** The STORE_FILES_CHANGED error: what happened, whether the writes were saved, what to do. */
export function storeFilesChanged(path: string, changes: readonly StoreFileChange[], rescue: string): TandemError {
  const what = changes.map((c) => `${c.file === 'database' ? path : path + c.file} was ${c.how}`).join(', and ')
  return new TandemError(
    'STORE_FILES_CHANGED',
    `${what} while this process had the store open. ${rescue} This process refuses every further read and write of the store so it cannot lose or damage more. Stop every process that uses the store, then run "tandem doctor ${path}".`,
    {
      hint: 'Stop all processes using the store and run "tandem doctor"; never delete or replace a store\'s -wal or -shm file while it is open.',
    },
  )
}

/**
 * A read-only open creates the -wal and -shm if they are missing, with the database file's mode:
 * a read-only database (0400) leaves read-only side files that later stop every writer. Give
 * them back owner write (chmod only: never open them with fs). Quiet when it cannot (another
 * user's files, a read-only file system).
 */
export function keepSideFilesWritable(path: string): void {
  for (const suffix of ['-wal', '-shm']) {
    try {
      const stat = statSync(path + suffix, { throwIfNoEntry: false })
      if (stat !== undefined && (stat.mode & 0o200) === 0 && stat.uid === process.getuid?.()) chmodSync(path + suffix, 0o600)
    } catch {
      // Not ours to change.
    }
  }
}

/** True when the -wal is missing or empty: the database file alone then holds every commit. */
export function walIsEmpty(path: string): boolean {
  return (statSync(`${path}-wal`, { throwIfNoEntry: false })?.size ?? 0) === 0
}

/** What the mode bits say (ACLs aside): can this process write a file with this stat? */
function modeAllowsWrite(stat: Stats): boolean {
  const uid = process.getuid?.()
  if (uid === undefined || uid === 0) return true // Windows cannot tell this way; root writes anyway.
  if (stat.uid === uid) return (stat.mode & 0o200) !== 0
  if ([process.getgid?.(), ...(process.getgroups?.() ?? [])].includes(stat.gid)) return (stat.mode & 0o020) !== 0
  return (stat.mode & 0o002) !== 0
}

/** True when `path` is on a read-only file system: a chmod to its own mode fails with EROFS (path only, nothing opened). */
function onReadOnlyFileSystem(path: string, stat: Stats): boolean {
  try {
    chmodSync(path, stat.mode & 0o7777)
    return false
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EROFS'
  }
}

/**
 * Why this process cannot write the store at `path`, or undefined if it can (or cannot tell): the
 * file system is mounted read-only, the file is read-only for this user, or its directory is where
 * SQLite must create the -wal. Uses stat and chmod only, never open. SQLite itself would open a
 * read-only file read-only without a word, create read-only -wal and -shm files beside it, and
 * fail at the first write.
 */
export function whyNotWritable(path: string): TandemError | undefined {
  const file = statSync(path, { throwIfNoEntry: false })
  const dir = dirname(path)
  const dirStat = statSync(dir, { throwIfNoEntry: false })
  const target = file ?? dirStat
  if (target === undefined) return undefined
  let what: string | undefined
  if (onReadOnlyFileSystem(file === undefined ? dir : path, target)) what = 'the file system is mounted read-only'
  else if (file !== undefined && !modeAllowsWrite(file))
    what = `the store file is read-only for this user (mode ${(file.mode & 0o777).toString(8)})`
  else if (dirStat !== undefined && statSync(`${path}-wal`, { throwIfNoEntry: false }) === undefined && !modeAllowsWrite(dirStat)) {
    what = `its directory ${dir} is read-only for this user (SQLite must create ${path}-wal there)`
  }
  if (what === undefined) return undefined
  return new TandemError(
    'READ_ONLY',
    `Cannot open ${path} to write: ${what}. Nothing was opened. To read it, open it with readOnly: true; to write it, make it writable by this user.`,
    {
      hint: "Open with readOnly: true to read (the CLI's read commands do), or fix the permissions of the store file and its directory.",
    },
  )
}
