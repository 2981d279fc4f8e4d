import { mkdirSync, readdirSync, statSync } from 'node:fs'
import { basename, extname, join, resolve } from 'node:path'
import { backupStore, type BackupResult } from '../backup/backup.js'
import { backupStamp } from '../backup/scheduled-backup.js'
import { sqliteStoreFile } from '../store/store-file.js'
import type { Store } from '../store/store.js'

/** The newest backup in a folder: what the Health screen shows as "last backup". */
export interface LastBackup {
  path: string
  bytes: number
  at: string
}

/** Names scheduleBackups and the inspector give backups: `<prefix>-<YYYYMMDDTHHMMSSmmmZ>[-n].db|.ndjson`. */
const BACKUP_NAME = /^[A-Za-z0-9_.-]{1,64}-\d{8}T\d{9}Z(?:-\d+)?\.(?:db|ndjson)$/

/** The newest backup file in `dir` by modification time, or null (no folder, or no backup in it). */
export function lastBackup(dir: string): LastBackup | null {
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch {
    return null
  }
  let newest: LastBackup | null = null
  let newestMs = -Infinity
  for (const name of names.filter((n) => BACKUP_NAME.test(n))) {
    const stat = statSync(join(dir, name), { throwIfNoEntry: false })
    if (stat?.isFile() !== true || stat.mtimeMs <= newestMs) continue
    newestMs = stat.mtimeMs
    newest = { path: join(dir, name), bytes: stat.size, at: stat.mtime.toISOString() }
  }
  return newest
}

/**
 * Backs the store up into `dir` under the name a scheduled backup would get (so "last backup" and
 * rotation see it): a verified SQLite copy, or an NDJSON export on PostgreSQL (backupStore).
 */
export async function backupInto(store: Store, dir: string): Promise<BackupResult> {
  const folder = resolve(dir)
  mkdirSync(folder, { recursive: true, mode: 0o700 })
  const file = sqliteStoreFile(store)
  const prefix = file === undefined ? 'tandem' : basename(file, extname(file)) || 'tandem'
  const extension = store.backend.capabilities.fileBackup ? '.db' : '.ndjson'
  const stem = `${prefix}-${backupStamp(new Date())}`
  const taken = new Set(readdirSync(folder))
  let name = `${stem}${extension}`
  for (let n = 1; taken.has(name); n++) name = `${stem}-${n}${extension}`
  return backupStore(store, join(folder, name))
}
