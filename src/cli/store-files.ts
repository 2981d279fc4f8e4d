import Database from 'better-sqlite3'
import { closeSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs'
import { hostname } from 'node:os'
import { basename, join } from 'node:path'
import { findOrphanTemps } from '../backup/temp-files.js'
import { parseTempName } from '../fs/durable-file.js'
import { isPidAlive } from '../registry/process-registry.js'

/*
 * SQLite keeps its locks as POSIX advisory locks, owned by the process: closing ANY descriptor
 * this process holds on the database file drops them all. So the database file is read with fs
 * only by sniffDatabaseFile, before SQLite opens it in this process, and the -wal, -shm and
 * -journal files never. Everything else here only stats, and only reads or removes temp and lock
 * files, never a store file.
 */

/** The database file and the files SQLite keeps beside it. */
export function companionFiles(file: string): string[] {
  return [file, `${file}-wal`, `${file}-shm`, `${file}-journal`]
}

export type FileKind = 'missing' | 'not-a-file' | 'empty' | 'not-sqlite' | 'sqlite-rollback' | 'sqlite-wal'

export interface FileSniff {
  kind: FileKind
  bytes: number
}

const SQLITE_MAGIC = 'SQLite format 3\0'

/**
 * What the first 100 bytes of `file` say: an SQLite database in WAL mode (what Tandem writes), in
 * rollback mode, or something else. Call it only before this process opens the file with SQLite.
 */
export function sniffDatabaseFile(file: string): FileSniff {
  const stat = statSync(file, { throwIfNoEntry: false })
  if (stat === undefined) return { kind: 'missing', bytes: 0 }
  if (!stat.isFile()) return { kind: 'not-a-file', bytes: 0 }
  if (stat.size === 0) return { kind: 'empty', bytes: 0 }
  const header = Buffer.alloc(100)
  const fd = openSync(file, 'r')
  let read: number
  try {
    read = readSync(fd, header, 0, 100, 0)
  } finally {
    closeSync(fd)
  }
  if (read < 100 || header.toString('latin1', 0, 16) !== SQLITE_MAGIC) return { kind: 'not-sqlite', bytes: stat.size }
  // Bytes 18 and 19: file format write/read versions, 2 in WAL mode.
  return { kind: header[18] === 2 && header[19] === 2 ? 'sqlite-wal' : 'sqlite-rollback', bytes: stat.size }
}

/**
 * True when an SQLite file in rollback-journal mode holds Tandem's tables: a backup (VACUUM INTO
 * writes that mode) or a freshly restored store, which openStore switches to WAL when it opens it.
 * Read-only, on a connection of its own: the library's SqliteBackend would switch any file it
 * opens to WAL, and a file that is not a store must be left exactly as it is.
 */
export function isRollbackTandemFile(file: string): boolean {
  const db = new Database(file, { readonly: true, fileMustExist: true })
  try {
    return db.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name IN ('c__processes', 'c__migrations')").get() !== undefined
  } finally {
    db.close()
  }
}

export interface OrphanFile {
  path: string
  kind: 'temp' | 'lock'
  /** Why it is taken for an orphan. */
  reason: string
  bytes: number
}

/** A temp file without a pid in its name is taken for an orphan once it is this old. */
export const TEMP_FILE_STALE_MS = 60 * 60 * 1000
const TEMP_NAME = /\.tmp/i
/** A name with a `.<pid>.` / `-<pid>-` part (Tandem's own temp names go to findOrphanTemps). */
const PID_IN_NAME = /[.-](\d{2,9})[.-]/
const NEVER_TOUCH = /(-wal|-shm|-journal|\.db|\.sqlite3?)$/i
const LOCK_READ_LIMIT = 4096

/** The pid (and host) a lock file records: a bare number, `pid@host`, or JSON `{ pid, host|hostname }`. */
function lockOwner(path: string): { pid: number; host: string | undefined } | undefined {
  const stat = statSync(path, { throwIfNoEntry: false })
  if (stat === undefined || !stat.isFile() || stat.size > LOCK_READ_LIMIT) return undefined
  const text = readFileSync(path, 'utf8').trim()
  try {
    const parsed = JSON.parse(text) as { pid?: unknown; host?: unknown; hostname?: unknown } | number
    if (typeof parsed === 'number') return { pid: parsed, host: undefined }
    if (typeof parsed === 'object' && parsed !== null && typeof parsed.pid === 'number') {
      const host = typeof parsed.host === 'string' ? parsed.host : typeof parsed.hostname === 'string' ? parsed.hostname : undefined
      return { pid: parsed.pid, host }
    }
  } catch {
    const match = /^(\d+)(?:@(\S+))?/.exec(text)
    if (match !== null) return { pid: Number(match[1]), host: match[2] }
  }
  return undefined
}

/**
 * Temp and lock files in the store's directory that nobody will finish or release: Tandem's own
 * temp files (createTempBeside's names) as the library finds them (findOrphanTemps: this host's,
 * whose writer is dead); other `*.tmp*` files whose writer (a pid in the name) is dead, or,
 * without a pid, older than an hour; and `*.lock` files recording a pid on this host that is dead.
 * The store's own files and anything that looks like a database or an SQLite companion are never
 * listed.
 */
export function findOrphanFiles(dir: string, storeFile: string, now = Date.now()): OrphanFile[] {
  const protectedPaths = new Set(companionFiles(storeFile))
  const orphans: OrphanFile[] = []
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch {
    return []
  }
  const tandemTemps = new Map(findOrphanTemps(dir, undefined, now).map((t) => [t.path, t]))
  for (const name of names.sort()) {
    const path = join(dir, name)
    if (protectedPaths.has(path) || NEVER_TOUCH.test(name)) continue
    if (parseTempName(name) !== undefined) {
      const temp = tandemTemps.get(path)
      if (temp !== undefined)
        orphans.push({ path, kind: 'temp', reason: `written by pid ${temp.pid}, which is not running`, bytes: temp.bytes })
      continue
    }
    const stat = statSync(path, { throwIfNoEntry: false })
    if (stat === undefined || !stat.isFile()) continue
    if (name.endsWith('.lock')) {
      const owner = lockOwner(path)
      if (owner !== undefined && (owner.host === undefined || owner.host === hostname()) && !isPidAlive(owner.pid)) {
        orphans.push({ path, kind: 'lock', reason: `held by pid ${owner.pid}, which is not running`, bytes: stat.size })
      }
    } else if (TEMP_NAME.test(name)) {
      const pid = PID_IN_NAME.exec(name)?.[1]
      if (pid !== undefined) {
        if (!isPidAlive(Number(pid)))
          orphans.push({ path, kind: 'temp', reason: `written by pid ${pid}, which is not running`, bytes: stat.size })
      } else if (now - stat.mtimeMs > TEMP_FILE_STALE_MS) {
        orphans.push({ path, kind: 'temp', reason: `untouched for more than ${TEMP_FILE_STALE_MS / 3_600_000} h`, bytes: stat.size })
      }
    }
  }
  return orphans
}

export interface ModeFinding {
  path: string
  /** Permission bits now, e.g. 0o644. */
  mode: number
  /** What they should be. */
  wanted: number
  severity: 'warn' | 'fail'
  problem: string
}

/**
 * Permission problems: the database and its -wal/-shm should be 0600 (the data is the owner's
 * alone); the directory must not be writable by every user (anyone could swap the store file).
 */
export function findModeProblems(storeFile: string, dir: string): ModeFinding[] {
  const findings: ModeFinding[] = []
  for (const path of [storeFile, `${storeFile}-wal`, `${storeFile}-shm`]) {
    const stat = statSync(path, { throwIfNoEntry: false })
    if (stat === undefined) continue
    const mode = stat.mode & 0o777
    if ((mode & 0o077) === 0) continue
    const writable = (mode & 0o022) !== 0
    findings.push({
      path,
      mode,
      wanted: (mode & 0o700) | 0o600,
      severity: writable ? 'fail' : 'warn',
      problem: `${basename(path)} is ${mode.toString(8).padStart(4, '0')}: other users can ${writable ? 'change' : 'read'} the data`,
    })
  }
  const dirStat = statSync(dir, { throwIfNoEntry: false })
  if (dirStat !== undefined && (dirStat.mode & 0o002) !== 0) {
    const mode = dirStat.mode & 0o777
    findings.push({
      path: dir,
      mode,
      wanted: mode & ~0o002,
      severity: 'fail',
      problem: `directory ${dir} is ${mode.toString(8).padStart(4, '0')}: every user can replace the store file`,
    })
  }
  return findings
}
