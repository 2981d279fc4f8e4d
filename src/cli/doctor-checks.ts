import { chmodSync, rmSync, statSync } from 'node:fs'
import { basename, dirname } from 'node:path'
import type { Backend } from '../backends/backend.js'
import { isPrunable } from '../registry/process-registry.js'
import { type SqliteBackend } from '../backends/sqlite/sqlite-backend.js'
import { bypassedWrites } from './doctor-writes.js'
import { formatAge, formatBytes, plural } from './format.js'
import { hasTandemTables, openBareBackend, WAL_CHECKPOINT_BYTES } from './open.js'
import { findOrphanTemps, removeOrphanTemps } from '../backup/temp-files.js'
import {
  inspectSideFiles,
  peekStore,
  pruneStaleProcesses,
  WAL_HEADER_BYTES,
  type Peek,
  type SideFilesView,
  type StoreFilePart,
  type StoreHolder,
} from './peek.js'
import { scanChangeLog } from './change-log-scan.js'
import { findModeProblems, findOrphanFiles, isRollbackTandemFile, sniffDatabaseFile, type FileSniff } from './store-files.js'

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

const NO_DATA_FIX =
  '--fix never rewrites a database file: restore the store from a backup (tandem restore), or copy out what is readable (tandem export).'

/** The engine's own words when there are some (the library's message would say "run tandem doctor"). */
function message(error: unknown): string {
  const cause = error instanceof Error ? (error.cause as { code?: unknown; message?: unknown } | undefined) : undefined
  if (typeof cause?.code === 'string' && typeof cause.message === 'string') return `${cause.message} (${cause.code})`
  return error instanceof Error ? error.message : String(error)
}

/** File checks apply to SQLite files only: anything else is not a store, and --fix must not touch it. */
function isDatabase(s: DoctorSubject): boolean {
  return s.sniff.kind === 'sqlite-wal' || s.sniff.kind === 'sqlite-rollback'
}

function skipped(why: string): Finding {
  return { status: 'skip', summary: `skipped: ${why}` }
}

const storeFile: DoctorCheck = {
  title: 'store file',
  async check(s) {
    const kinds: Partial<Record<FileSniff['kind'], string>> = {
      missing: 'does not exist',
      'not-a-file': 'is not a regular file',
      empty: 'is empty (0 bytes), not a database',
      'not-sqlite': 'is not a database: it does not start with the SQLite header',
    }
    const problem = kinds[s.sniff.kind]
    if (problem !== undefined)
      return { status: 'fail', summary: `${s.file} ${problem}`, advice: s.sniff.kind === 'missing' ? 'Check the path.' : NO_DATA_FIX }
    // Before any open, even read-only: SQLite replays a -wal it finds beside a database.
    if (s.openRefused !== undefined)
      return { status: 'fail', summary: `not opened: ${s.openRefused.problem}`, advice: s.openRefused.advice }
    // Rollback-journal mode: a backup or a freshly restored store (opening switches it to WAL), or
    // somebody else's database, which must not be switched: look read-only first.
    if (s.sniff.kind === 'sqlite-rollback') {
      try {
        if (!isRollbackTandemFile(s.file))
          return {
            status: 'fail',
            summary: `${s.file} is an SQLite database without Tandem's tables: not a Tandem store`,
            advice: 'Check the path.',
          }
      } catch (error) {
        return { status: 'fail', summary: `SQLite cannot read ${basename(s.file)}: ${message(error)}`, advice: NO_DATA_FIX }
      }
    }
    try {
      s.backend = await openBareBackend(s.file)
      if (!(await hasTandemTables(s.backend)))
        return {
          status: 'fail',
          summary: `${s.file} is an SQLite database without Tandem's tables: not a Tandem store`,
          advice: 'Check the path.',
        }
    } catch (error) {
      await s.close()
      return { status: 'fail', summary: `SQLite cannot open ${basename(s.file)}: ${message(error)}`, advice: NO_DATA_FIX }
    }
    const wal = statSync(`${s.file}-wal`, { throwIfNoEntry: false })?.size
    const mode =
      s.sniff.kind === 'sqlite-wal' ? 'in WAL mode' : 'in rollback-journal mode (a backup or a restored store; switched to WAL now)'
    return {
      status: 'ok',
      summary: `SQLite database ${mode}, ${formatBytes(s.sniff.bytes)}${wal === undefined ? '' : ` (+ ${formatBytes(wal)} WAL)`}`,
    }
  },
}

const SIDE_FILES_ADVICE =
  'Stop every process that uses the store (they refuse writes once they notice), then run "tandem doctor" again; never delete or replace a -wal or -shm file while the store is open. If data is missing afterwards, restore a backup (tandem restore).'

interface SideFileProblem {
  problem: string
  /** Opening the store here would add a process that writes or reads other files than the holders: doctor must not. */
  refusesOpen: boolean
  advice: string
}

function holderList(holders: readonly StoreHolder[]): string {
  return holders.map((h) => `pid ${h.pid}`).join(', ')
}

/** What is wrong with the -wal and -shm, as far as it can be seen from outside (see side-files.ts). */
function sideFileProblems(s: DoctorSubject): SideFileProblem[] {
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

const sideFiles: DoctorCheck = {
  title: 'side files',
  async check(s) {
    if (s.sniff.kind === 'missing' || s.sniff.kind === 'not-a-file') return skipped('no store file')
    const problems = sideFileProblems(s)
    if (problems.length > 0) {
      return {
        status: 'fail',
        summary: problems.length === 1 ? problems[0]!.problem : `${problems.length} problems with the -wal and -shm files`,
        details: problems.map((p) => p.problem),
        advice: problems[0]!.advice,
      }
    }
    const { walBytes, shmBytes, holders } = s.sides
    const files = `-wal ${walBytes === undefined ? 'absent' : formatBytes(walBytes)}, -shm ${shmBytes === undefined ? 'absent' : formatBytes(shmBytes)}`
    if (holders === undefined)
      return { status: 'ok', summary: `${files}; which processes have the store open cannot be seen on this system` }
    if (holders.length === 0) return { status: 'ok', summary: `${files}; no process has the store open` }
    return { status: 'ok', summary: `${files}; in use by ${holderList(holders)}, whose -wal and -shm are the files on disk` }
  },
}

const integrity: DoctorCheck = {
  title: 'integrity',
  async check(s) {
    if (s.backend === undefined) return skipped('the file could not be opened')
    let lines: string[]
    try {
      lines = await s.backend.checkIntegrity()
    } catch (error) {
      return { status: 'fail', summary: `integrity_check could not finish: ${message(error)}`, advice: NO_DATA_FIX }
    }
    if (lines.length === 1 && lines[0] === 'ok') {
      s.sound = true
      return { status: 'ok', summary: 'PRAGMA integrity_check: ok' }
    }
    return {
      status: 'fail',
      summary: `PRAGMA integrity_check found ${plural(lines.length, 'problem')}: the file is damaged`,
      details: lines.slice(0, 5).concat(lines.length > 5 ? [`... and ${lines.length - 5} more`] : []),
      advice: NO_DATA_FIX,
    }
  },
}

const walSize: DoctorCheck = {
  title: 'WAL size',
  async check(s) {
    if (!isDatabase(s)) return skipped('not a database file')
    const bytes = statSync(`${s.file}-wal`, { throwIfNoEntry: false })?.size ?? 0
    const of = `${formatBytes(bytes)} of the ${formatBytes(WAL_CHECKPOINT_BYTES)} checkpoint limit`
    if (bytes <= WAL_CHECKPOINT_BYTES) return { status: 'ok', summary: `WAL ${of}` }
    return {
      status: 'warn',
      summary: `WAL is ${formatBytes(bytes)}, past the ${formatBytes(WAL_CHECKPOINT_BYTES)} checkpoint limit: something keeps SQLite from checkpointing it`,
      advice:
        'A long-lived read (an open iterator, a long transaction) blocks checkpoints: find it among the processes in "tandem status"; the writer truncates the WAL once it ends. --fix cannot do it safely while they run.',
    }
  },
}

const consumers: DoctorCheck = {
  title: 'consumers',
  async check(s) {
    if (!s.sound) return skipped('the file is not sound')
    const { consumers: list, changes } = await s.peek()
    if (list.length === 0) return { status: 'ok', summary: 'no durable consumers' }
    const trimmed = list.filter((c) => c.trimmed)
    if (trimmed.length === 0) {
      const furthest = list.reduce((a, b) => (b.behind > a.behind ? b : a))
      return {
        status: 'ok',
        summary: `${plural(list.length, 'consumer')}, none behind retention${furthest.behind > 0 ? ` (furthest behind: "${furthest.name}", ${furthest.behind} changes)` : ''}`,
      }
    }
    return {
      status: 'fail',
      summary: `${plural(trimmed.length, 'consumer')} behind retention: changes they never acknowledged were trimmed`,
      details: trimmed.map((c) => `"${c.name}" is at seq ${c.position}; changes through seq ${changes.trimmedThrough} are gone`),
      advice:
        "Each must resync: its process reloads the records it tracks, then follows the feed from 'now' (it fails with CHANGES_TRIMMED until then). Raise the change-log retention (changes.maxCount / maxAgeMs) if it keeps happening.",
    }
  },
}

const changeLog: DoctorCheck = {
  title: 'change log',
  async check(s) {
    if (!s.sound || s.backend === undefined) return skipped('the file is not sound')
    return checkChangeLog(s.backend)
  },
}

/** The change-log check on any backend (doctor's on a store file, the inspector's on any store). */
export async function checkChangeLog(backend: Backend): Promise<Finding> {
  const scan = await scanChangeLog(backend)
  const trimmed = scan.trimmedThrough > 0 ? `; through seq ${scan.trimmedThrough} trimmed by retention` : ''
  const held = scan.first === undefined ? `empty${trimmed}` : `${plural(scan.count, 'change')} up to seq ${scan.head}${trimmed}`
  if (scan.duplicates.length === 0) return { status: 'ok', summary: held }
  const lines = scan.duplicates.map((seq) => `seq ${seq} listed twice`)
  return {
    status: 'fail',
    summary: `${plural(scan.duplicates.length, 'seq')} listed twice (${held}): the change-log table is damaged`,
    details: lines.slice(0, 10).concat(lines.length > 10 ? [`... and ${lines.length - 10} more`] : []),
    advice:
      'Followers and consumers may see a change twice: each must resync, reloading the records it tracks, then following the feed from "now". Check the integrity, and restore a backup if the file was damaged. --fix cannot rebuild a change log.',
  }
}

const registry: DoctorCheck = {
  title: 'process registry',
  async check(s) {
    if (!s.sound || s.backend === undefined) return skipped('the file is not sound')
    const { processes, staleProcesses } = await s.peek()
    const live = `${plural(processes.length, 'live process', 'live processes')}`
    if (staleProcesses.length === 0) return { status: 'ok', summary: `${live}, no stale registrations` }
    const finding: Finding = {
      status: 'warn',
      summary: `${plural(staleProcesses.length, 'stale registration')} of processes that died without closing the store (${live})`,
      details: staleProcesses.map(
        (p) =>
          `pid ${p.pid} on ${p.host}, role "${p.role}", last heartbeat ${formatAge(p.heartbeatAt)}${isPrunable(p, Date.now()) ? '' : ' (holds a singleton role on another host: left for a newcomer of its role to replace once it has watched it stay silent, since the clocks may disagree)'}`,
      ),
      fix: `prune ${staleProcesses.length === 1 ? 'it' : 'them'} from the registry`,
    }
    if (!s.fix) return finding
    // On the doctor's own connection, without opening a Store: a Store that knows none of the
    // store's migrations opens read-only, and pruning needs none of them (see pruneStaleProcesses).
    let pruned: number
    try {
      pruned = (await pruneStaleProcesses(s.backend)).length
    } catch (error) {
      return { ...finding, advice: `Could not prune: ${message(error)} The next process that opens the store prunes them.` }
    }
    const kept = staleProcesses.length - pruned
    return {
      ...finding,
      fix: `pruned ${plural(pruned, 'stale registration')}${kept > 0 ? `; kept ${plural(kept, 'singleton holder')} on another host` : ''}`,
      fixed: true,
    }
  },
}

const orphans: DoctorCheck = {
  title: 'temp and lock files',
  async check(s) {
    if (!isDatabase(s)) return skipped('not a database file')
    const found = findOrphanFiles(s.dir, s.file)
    if (found.length === 0) return { status: 'ok', summary: `no orphaned temp or lock files in ${s.dir}` }
    const finding: Finding = {
      status: 'warn',
      summary: `${plural(found.length, 'orphaned file')} in ${s.dir} (${formatBytes(found.reduce((n, f) => n + f.bytes, 0))})`,
      details: found.map((f) => `${basename(f.path)}: ${f.kind} file ${f.reason}`),
      fix: `remove ${found.length === 1 ? 'it' : 'them'}`,
    }
    if (!s.fix) return finding
    const failed: string[] = []
    for (const f of found) {
      try {
        rmSync(f.path, { force: true })
      } catch (error) {
        failed.push(`${basename(f.path)}: ${message(error)}`)
      }
    }
    if (failed.length > 0) return { ...finding, advice: `Could not remove ${failed.join('; ')}` }
    return { ...finding, fix: `removed ${plural(found.length, 'file')}`, fixed: true }
  },
}

const backupFolder: DoctorCheck = {
  title: 'backup folder',
  async check(s) {
    if (s.backupDir === undefined) return skipped('no backup folder named (--backup-dir DIR, or backup.dir in the config)')
    const found = findOrphanTemps(s.backupDir)
    if (found.length === 0) return { status: 'ok', summary: `no temp files of dead processes in ${s.backupDir}` }
    const finding: Finding = {
      status: 'warn',
      summary: `${plural(found.length, 'temp file')} of backups or exports whose process died in ${s.backupDir} (${formatBytes(found.reduce((n, f) => n + f.bytes, 0))})`,
      details: found.map((f) => `${basename(f.path)}: temp file of pid ${f.pid}, which is not running (it was to become ${f.finalName})`),
      fix: `remove ${found.length === 1 ? 'it' : 'them'}`,
    }
    if (!s.fix) return finding
    try {
      // Looked up again: only what is still an orphan now goes.
      const removed = removeOrphanTemps(s.backupDir)
      return { ...finding, fix: `removed ${plural(removed.length, 'file')}`, fixed: true }
    } catch (error) {
      return { ...finding, advice: `Could not remove them: ${message(error)}` }
    }
  },
}

const permissions: DoctorCheck = {
  title: 'file permissions',
  async check(s) {
    if (!isDatabase(s)) return skipped('not a database file')
    const problems = findModeProblems(s.file, s.dir)
    if (problems.length === 0) return { status: 'ok', summary: 'store files are 0600 (owner only); the directory is not world-writable' }
    const finding: Finding = {
      status: problems.some((p) => p.severity === 'fail') ? 'fail' : 'warn',
      summary: problems.length === 1 ? problems[0]!.problem : `${problems.length} permission problems`,
      ...(problems.length === 1 ? {} : { details: problems.map((p) => p.problem) }),
      fix: problems.map((p) => `chmod ${p.wanted.toString(8).padStart(4, '0')} ${p.path === s.dir ? p.path : basename(p.path)}`).join('; '),
    }
    if (!s.fix) return finding
    try {
      // chmod works on the path: no descriptor is opened on the store's files.
      for (const p of problems) chmodSync(p.path, p.wanted)
    } catch (error) {
      return { ...finding, advice: `Could not chmod: ${message(error)}` }
    }
    return { ...finding, fixed: true }
  },
}

/**
 * What `tandem doctor` checks, in order. The file checks come first and decide what may follow:
 * a file that is not a sound database is never read further, and never written; a store whose
 * -wal or -shm was deleted under the processes using it is not even opened (see side files).
 */
export const DOCTOR_CHECKS: readonly DoctorCheck[] = [
  storeFile,
  sideFiles,
  integrity,
  walSize,
  registry,
  changeLog,
  bypassedWrites,
  consumers,
  orphans,
  backupFolder,
  permissions,
]
