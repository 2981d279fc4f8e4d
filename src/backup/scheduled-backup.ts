import { mkdirSync, readdirSync, rmSync } from 'node:fs'
import { basename, extname, join, resolve } from 'node:path'
import { TandemError } from '../errors.js'
import type { CollectionsConfig } from '../store/config.js'
import type { Store } from '../store/store.js'
import { backupStore, type BackupResult } from './backup.js'
import { sqliteStoreFile } from '../store/store-file.js'
import { removeOrphanTemps } from './temp-files.js'
import { checkOptions } from '../options.js'

/** scheduleBackups' options (the same as openStore's `backup` option, plus callbacks). */
export interface ScheduledBackupOptions {
  /** Time between the end of one backup and the start of the next, in milliseconds (at least 100). */
  everyMs: number
  /** How many backups to keep in `dir`: after each one, older files of this schedule are deleted. */
  keep: number
  /** Where the backups go (created, mode 0700, if missing). */
  dir: string
  /** File name prefix (default: the store file's name without extension, or 'tandem'). */
  prefix?: string
  /** Called after each backup and its rotation. */
  onBackup?: (result: BackupResult) => void
  /** Called when a backup fails (default: console.error); the schedule goes on. */
  onError?: (error: unknown) => void
}

const OPTION_KEYS = ['everyMs', 'keep', 'dir', 'prefix', 'onBackup', 'onError']
const PREFIX = /^[A-Za-z0-9_.-]{1,64}$/

/** '2025-01-31T12:00:00.123Z' → '20250131T120000123Z': sorts by time as text, safe in every file system. */
export function backupStamp(date: Date): string {
  return date.toISOString().replace(/[-:.]/g, '')
}

/**
 * Backs the store up every `everyMs` into `dir` (files `<prefix>-<YYYYMMDDTHHMMSSmmmZ>.db`, or
 * `.ndjson` for non-SQLite stores, whose names sort by time) and keeps the newest `keep` of them.
 * Each backup is a full backupStore(): consistent, verified, renamed into place when complete, so
 * rotation only ever deletes older, complete backups, and never a file it did not name. The temp
 * files of this schedule's backups whose process died mid-backup (a SIGKILL) are removed when the
 * schedule starts and before each backup (see temp-files.ts). Backups
 * never overlap; the timer does not keep the process alive. Returns `stop`, which cancels the schedule and resolves once a backup in progress has finished. The schedule
 * stops by itself when the store is closed.
 *
 * @example
 * const stop = scheduleBackups(store, { everyMs: 3_600_000, keep: 24, dir: 'backups' })
 * // at shutdown
 * await stop()
 */
export function scheduleBackups<C extends CollectionsConfig>(store: Store<C>, options: ScheduledBackupOptions): () => Promise<void> {
  checkOptions(
    options,
    OPTION_KEYS,
    'for scheduleBackups',
    "scheduleBackups needs options like { everyMs: 3600000, keep: 24, dir: 'backups' }.",
  )
  const { everyMs, keep } = options
  if (!Number.isInteger(everyMs) || everyMs < 100)
    throw new RangeError(`backup.everyMs must be an integer of at least 100 milliseconds (got ${String(everyMs)}).`)
  if (!Number.isInteger(keep) || keep < 1) throw new RangeError(`backup.keep must be a positive integer (got ${String(keep)}).`)
  if (typeof options.dir !== 'string' || options.dir === '')
    throw new TypeError(`backup.dir must be a directory path (got ${JSON.stringify(options.dir)}).`)
  const file = sqliteStoreFile(store)
  const prefix = options.prefix ?? (file === undefined ? 'tandem' : basename(file, extname(file)) || 'tandem')
  if (!PREFIX.test(prefix)) throw new TypeError(`backup.prefix must be 1 to 64 letters, digits, _ . or - (got ${JSON.stringify(prefix)}).`)
  const dir = resolve(options.dir)
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const extension = store.backend.capabilities.fileBackup ? '.db' : '.ndjson'
  const pattern = new RegExp(`^${prefix.replaceAll('.', '\\.')}-(\\d{8}T\\d{9}Z)(?:-(\\d+))?${extension.replace('.', '\\.')}$`)
  const onError = options.onError ?? ((error: unknown) => console.error(error))
  // A backup of this schedule cut short by a kill leaves its temp file for ever: rotation only
  // deletes finished backups. Those of this host's dead processes go now, and before every backup
  // (another host's are left alone: in a shared folder they may be backups in progress there).
  const removeOrphans = () => {
    try {
      removeOrphanTemps(dir, pattern)
    } catch (error) {
      onError(error)
    }
  }
  removeOrphans()

  let stopped = false
  let timer: NodeJS.Timeout | undefined
  let running: Promise<void> | undefined

  const runOnce = async () => {
    removeOrphans()
    const name = uniqueName(dir, `${prefix}-${backupStamp(new Date())}`, extension)
    try {
      const result = await backupStore(store, join(dir, name))
      rotate(dir, pattern, keep)
      options.onBackup?.(result)
    } catch (error) {
      if (error instanceof TandemError && error.code === 'STORE_CLOSED') {
        stopped = true
        return
      }
      onError(error)
    }
  }
  const schedule = () => {
    if (stopped) return
    timer = setTimeout(() => {
      running = runOnce().finally(() => {
        running = undefined
        schedule()
      })
    }, everyMs)
    // A pending backup must not keep a process alive that has nothing else to do.
    timer.unref()
  }
  schedule()
  return async () => {
    stopped = true
    if (timer !== undefined) clearTimeout(timer)
    await running
  }
}

function uniqueName(dir: string, stem: string, extension: string): string {
  const taken = new Set(readdirSync(dir))
  if (!taken.has(`${stem}${extension}`)) return `${stem}${extension}`
  for (let n = 1; ; n++) if (!taken.has(`${stem}-${n}${extension}`)) return `${stem}-${n}${extension}`
}

/** Deletes the oldest backups of this schedule beyond `keep`. Only names the schedule writes match `pattern`. */
function rotate(dir: string, pattern: RegExp, keep: number): void {
  const backups = readdirSync(dir)
    .map((name) => pattern.exec(name))
    .filter((match) => match !== null)
    // By stamp, then by the -n suffix a second backup within the same millisecond gets.
    .map((match) => ({ name: match[0], stamp: match[1]!, n: Number(match[2] ?? 0) }))
    .sort((a, b) => (a.stamp < b.stamp ? -1 : a.stamp > b.stamp ? 1 : a.n - b.n))
  for (const { name } of backups.slice(0, Math.max(0, backups.length - keep))) rmSync(join(dir, name), { force: true })
}
