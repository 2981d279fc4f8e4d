import { chmodSync, rmSync } from 'node:fs'
import { basename } from 'node:path'
import type { Backend } from '../backends/backend.js'
import { isPrunable } from '../registry/process-registry.js'
import { bypassedWrites } from './doctor-writes.js'
import { formatAge, formatBytes, plural } from './format.js'
import { findOrphanTemps, removeOrphanTemps } from '../backup/temp-files.js'
import { pruneStaleProcesses } from './peek.js'
import { scanChangeLog } from './change-log-scan.js'
import { findModeProblems, findOrphanFiles } from './store-files.js'
import { type DoctorCheck, type Finding, message, isDatabase, skipped } from './doctor-subject.js'
import { integrity, sideFiles, storeFile, walSize } from './doctor-file-checks.js'
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
export { DoctorSubject, type CheckStatus, type DoctorCheck, type Finding } from './doctor-subject.js'

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
