import { readdirSync, readFileSync, statSync } from 'node:fs'
import { basename, join } from 'node:path'
import { parseCollection } from '../backends/files/files-format.js'
import { filesLayout } from '../backends/files/files-layout.js'
import { cleanUpLeftovers, findLeftovers, type Leftover } from '../fs/leftovers.js'
import { plural } from './format.js'
import type { Finding } from './doctor-checks.js'

/*
 * `tandem doctor` on a files store (a directory, docs/files.md): its own short list of checks,
 * since none of the SQLite file checks apply. Like the SQLite ones, each says what it found and
 * what --fix does; --fix never rewrites a record file.
 */

/** What the checks look at: the store's directory. */
export interface FilesDoctorSubject {
  dir: string
  fix: boolean
}

export interface FilesDoctorCheck {
  title: string
  check(subject: FilesDoctorSubject): Promise<Finding>
}

function folders(dir: string): string[] {
  const layout = filesLayout(dir)
  return [layout.dir, layout.collections, layout.internal, layout.shadow]
}

const state: FilesDoctorCheck = {
  title: 'files store',
  async check({ dir }) {
    const layout = filesLayout(dir)
    let head: number
    try {
      head = (JSON.parse(readFileSync(layout.state, 'utf8')) as { seq: number }).seq
    } catch (error) {
      return {
        status: 'fail',
        summary: `${layout.state} cannot be read: ${(error as Error).message}`,
        advice: 'Check the path; restore the directory from version control or a backup.',
      }
    }
    if (statSync(layout.journal, { throwIfNoEntry: false }) !== undefined)
      return {
        status: 'warn',
        summary: `a commit was interrupted (${basename(layout.journal)} is there); change log at seq ${head}`,
        advice: 'The next write (any process) finishes it; nothing to do by hand.',
      }
    return { status: 'ok', summary: `change log at seq ${head}` }
  },
}

const records: FilesDoctorCheck = {
  title: 'record files',
  async check({ dir }) {
    const layout = filesLayout(dir)
    // Parsed here rather than through the backend: opening one would clean up the leftovers the next check reports.
    const names = readdirSync(layout.collections).filter((n) => n.endsWith('.jsonl'))
    const problems: string[] = []
    for (const name of names) {
      const file = join(layout.collections, name)
      try {
        parseCollection(readFileSync(file, 'utf8'), file, () => ({ version: 1, role: '', createdAt: 0, updatedAt: 0, createdSeq: 0 }))
      } catch (error) {
        problems.push((error as Error).message)
      }
    }
    if (problems.length === 0) return { status: 'ok', summary: `${plural(names.length, 'collection file')}, every line a valid record` }
    return {
      status: 'fail',
      summary: `${plural(problems.length, 'collection file')} with a line that is not a record; reads and writes of those collections fail`,
      details: problems,
      advice: 'Fix the named line by hand (or "git checkout" the file); --fix never rewrites a record file.',
    }
  },
}

function describe(found: readonly Leftover[]): string[] {
  return found.map(
    (l) =>
      `${l.path}: ${l.kind === 'temp' ? 'temp file' : l.kind === 'lock' ? 'lock' : 'takeover claim'} of ${l.holder}, no longer running`,
  )
}

const leftovers: FilesDoctorCheck = {
  title: 'temp and lock files',
  async check({ dir, fix }) {
    const found = (await Promise.all(folders(dir).map((folder) => findLeftovers(folder)))).flat()
    if (found.length === 0) return { status: 'ok', summary: 'no orphaned temp files, dead locks or takeover claims' }
    const finding: Finding = {
      status: 'warn',
      summary: `${plural(found.length, 'file')} left by processes that died`,
      details: describe(found),
      fix: `remove ${found.length === 1 ? 'it' : 'them'} (locks through the takeover protocol, safe while other processes run)`,
    }
    if (!fix) return finding
    // A dead writer's staged files are still needed while its journal waits to be applied.
    if (statSync(filesLayout(dir).journal, { throwIfNoEntry: false }) !== undefined)
      return {
        ...finding,
        advice: 'A commit is still to be finished: open the store (any write finishes it), then run doctor --fix again.',
      }
    const removed = (await Promise.all(folders(dir).map((folder) => cleanUpLeftovers(folder)))).flat()
    if (removed.length < found.length) return { ...finding, advice: `Removed ${removed.length} of ${found.length}; run doctor again.` }
    return { ...finding, fix: `removed ${plural(removed.length, 'file')}`, fixed: true }
  },
}

export const FILES_DOCTOR_CHECKS: readonly FilesDoctorCheck[] = [state, records, leftovers]
