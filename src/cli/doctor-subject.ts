import { basename, dirname } from 'node:path'
import { type SqliteBackend } from '../backends/sqlite/sqlite-backend.js'
import { formatBytes } from './format.js'
import {
  inspectSideFiles,
  peekStore,
  WAL_HEADER_BYTES,
  type Peek,
  type SideFilesView,
  type StoreFilePart,
  type StoreHolder,
} from './peek.js'
import { sniffDatabaseFile, type FileSniff } from './store-files.js'

/*
 * What a doctor check is and what it looks at (the subject: the file, its sniff, the bare backend
 * opened on it), with the helpers the checks share. The checks: doctor-file-checks.ts (the file
 * itself) and doctor-checks.ts (the store in it).
 */

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip'

/** What one check found, and what --fix does (or did) about it. */
export interface Finding {
  status: CheckStatus
  /** One line: what was found. */
  summary: string
  /** One line per problem, when there are several. */
  details?: string[]
  /** What --fix does about it (or did, when `fixed`); absent when --fix cannot help. */
  fix?: string
  fixed?: boolean
  /** What a person should do when --fix cannot (or did not) help. */
  advice?: string
}

export interface DoctorCheck {
  title: string
  check(subject: DoctorSubject): Promise<Finding>
}

/** The store file under examination, and what earlier checks learned about it. */
export class DoctorSubject {
  readonly file: string
  readonly dir: string
  readonly fix: boolean
  /** Read before SQLite opens the file in this process (see store-files.ts). */
  readonly sniff: FileSniff
  /** The -wal, -shm and the processes holding them, also seen before anything is opened here. */
  readonly sides: SideFilesView
  /** Why the store must not be opened here (doctor would become a process that does not share the others' files); undefined when it may. */
  readonly openRefused: SideFileProblem | undefined
  /** The folder scheduled backups go to, when one is named (--backup-dir, or the config's backup.dir). */
  readonly backupDir: string | undefined
  backend: SqliteBackend | undefined
  /** Set by the integrity check: the file is sound enough to read the store's own records. */
  sound = false
  #peek: Promise<Peek> | undefined

  constructor(file: string, fix: boolean, options: { backupDir?: string } = {}) {
    this.file = file
    this.dir = dirname(file)
    this.fix = fix
    this.sniff = sniffDatabaseFile(file)
    this.sides = inspectSideFiles(file)
    this.openRefused = sideFileProblems(this).find((p) => p.refusesOpen)
    this.backupDir = options.backupDir
  }

  peek(): Promise<Peek> {
    if (this.backend === undefined) return Promise.reject(new Error('The store is not open.'))
    this.#peek ??= peekStore(this.backend)
    return this.#peek
  }

  async close(): Promise<void> {
    await this.backend?.close()
    this.backend = undefined
  }
}

export const NO_DATA_FIX =
  '--fix never rewrites a database file: restore the store from a backup (tandem restore), or copy out what is readable (tandem export).'

/** The engine's own words when there are some (the library's message would say "run tandem doctor"). */
export function message(error: unknown): string {
  const cause = error instanceof Error ? (error.cause as { code?: unknown; message?: unknown } | undefined) : undefined
  if (typeof cause?.code === 'string' && typeof cause.message === 'string') return `${cause.message} (${cause.code})`
  return error instanceof Error ? error.message : String(error)
}

/** File checks apply to SQLite files only: anything else is not a store, and --fix must not touch it. */
export function isDatabase(s: DoctorSubject): boolean {
  return s.sniff.kind === 'sqlite-wal' || s.sniff.kind === 'sqlite-rollback'
}

export function skipped(why: string): Finding {
  return { status: 'skip', summary: `skipped: ${why}` }
}

export const SIDE_FILES_ADVICE =
  'Stop every process that uses the store (they refuse writes once they notice), then run "tandem doctor" again; never delete or replace a -wal or -shm file while the store is open. If data is missing afterwards, restore a backup (tandem restore).'

export interface SideFileProblem {
  problem: string
  /** Opening the store here would add a process that writes or reads other files than the holders: doctor must not. */
  refusesOpen: boolean
  advice: string
}

export function holderList(holders: readonly StoreHolder[]): string {
  return holders.map((h) => `pid ${h.pid}`).join(', ')
}

/** What is wrong with the -wal and -shm, as far as it can be seen from outside (see side-files.ts). */
export function sideFileProblems(s: DoctorSubject): SideFileProblem[] {
  const { walBytes, shmBytes, holders } = s.sides
  const problems: SideFileProblem[] = []
  const name = basename(s.file)
  for (const holder of holders ?? []) {
    for (const part of holder.gone) {
      const what =
        part === '-shm'
          ? `${name}-shm, which was deleted or replaced: processes that open the store now get another -shm and do not share its locks (two writers at once damage the file)`
          : part === '-wal'
            ? `${name}-wal, which was deleted or replaced: its commits go to a file no other process reads, and are lost when it exits`
            : `${name} itself, which was deleted or replaced: it works on a file that is no longer the store`
      problems.push({ problem: `pid ${holder.pid} has ${what}`, refusesOpen: true, advice: SIDE_FILES_ADVICE })
    }
  }
  const inUse = (holders ?? []).filter((h) => h.gone.length === 0 || !h.filesSeen)
  const seenGone = (part: StoreFilePart) => (holders ?? []).some((h) => h.gone.includes(part))
  if (inUse.length > 0 && shmBytes === undefined && !seenGone('-shm'))
    problems.push({
      problem: `${name}-shm is missing while ${holderList(inUse)} ${inUse.length === 1 ? 'has' : 'have'} the store open: it was deleted under them`,
      refusesOpen: true,
      advice: SIDE_FILES_ADVICE,
    })
  if (inUse.length > 0 && walBytes === undefined && !seenGone('-wal'))
    problems.push({
      problem: `${name}-wal is missing while ${holderList(inUse)} ${inUse.length === 1 ? 'has' : 'have'} the store open: it was deleted under them`,
      refusesOpen: true,
      advice: SIDE_FILES_ADVICE,
    })
  if (s.sniff.kind === 'sqlite-rollback' && (walBytes ?? 0) > 0) {
    problems.push({
      problem: `${name}-wal (${formatBytes(walBytes!)}) lies beside a database in rollback-journal mode: it belongs to another database (a store replaced without its -wal), and SQLite replays a -wal it finds into the database it opens`,
      refusesOpen: true,
      advice: `Once no process uses the store, move ${name}-wal and ${name}-shm aside (keep them: they may hold another store's last commits), then run "tandem doctor" again.`,
    })
  }
  if (walBytes !== undefined && walBytes > 0 && walBytes < WAL_HEADER_BYTES) {
    problems.push({
      problem: `${name}-wal is ${walBytes} bytes, shorter than a WAL header (${WAL_HEADER_BYTES} bytes): something other than SQLite cut it, and the commits it held are lost`,
      refusesOpen: false,
      advice:
        'Check that the records are what you expect, and restore a backup if some are missing; find what truncated the file (a file tool, a full disk).',
    })
  }
  return problems
}
