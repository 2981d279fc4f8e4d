import { realpathSync, statSync } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'
import { TandemError } from '../errors.js'
import { resolveStorePath } from '../fs/safe-path.js'
import type { Store } from './store.js'
import type { CollectionsConfig } from './config.js'

/** The files SQLite keeps beside a database: never to be opened, replaced or written with node:fs. */
export const COMPANION_SUFFIXES = ['', '-wal', '-shm', '-journal'] as const

/**
 * The database file behind an open SQLite store (absolute, symlinks resolved, the same path
 * openStore resolved), or undefined for ':memory:', PostgreSQL, or a backend handed in without a path.
 * A backend keeps the store in one file when it says where (Backend.databaseFile).
 */
export function sqliteStoreFile<C extends CollectionsConfig>(store: Store<C>): string | undefined {
  const { path, dataDir } = store.settings
  if (store.backend.databaseFile?.() === undefined || path === ':memory:' || (path === undefined && dataDir === undefined)) return undefined
  return resolveStorePath(path, dataDir).file
}

/** Like sqliteStoreFile, but explains why there is no file to work on. */
export function requireSqliteStoreFile<C extends CollectionsConfig>(store: Store<C>, operation: string): string {
  const file = sqliteStoreFile(store)
  if (file !== undefined) return file
  const fileBackup = store.backend.capabilities.fileBackup
  const why = !fileBackup
    ? `works on SQLite stores; this one is ${store.kind}`
    : 'needs a store in a file; this one is in memory or was opened with a backend but no path'
  throw new TandemError('UNSUPPORTED', `${operation} ${why}.`, {
    hint: !fileBackup ? 'Use exportStore() and importStore() to copy the store instead.' : 'Open the store with path or dataDir.',
  })
}

/** Where `path` really leads (symlinks of the path and its directory resolved), whether or not it exists yet. */
export function realLocation(path: string): string {
  const absolute = resolve(path)
  if (statSync(absolute, { throwIfNoEntry: false }) !== undefined) return realpathSync(absolute)
  const dir = dirname(absolute)
  return statSync(dir, { throwIfNoEntry: false }) === undefined ? absolute : join(realpathSync(dir), basename(absolute))
}

/**
 * Refuses `path` when it is the database file `storeFile` or one of its companions. Reading or
 * writing those with node:fs would drop SQLite's locks of this process (or overwrite a live
 * database), so export targets, import sources and backup destinations must be other files.
 */
export function refuseStoreFiles(path: string, storeFile: string | undefined, what: string): void {
  if (storeFile === undefined) return
  const real = realLocation(path)
  for (const suffix of COMPANION_SUFFIXES) {
    if (real === `${storeFile}${suffix}`) {
      throw new TandemError(
        'UNSAFE_PATH',
        `The ${what} ${path} is the store's own ${suffix === '' ? 'database' : suffix} file; Tandem never reads or overwrites it directly.`,
        {
          hint: `Give the ${what} another file name.`,
        },
      )
    }
  }
}
