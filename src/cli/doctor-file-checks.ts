import { statSync } from 'node:fs'
import { basename } from 'node:path'
import { formatBytes, plural } from './format.js'
import { hasTandemTables, openBareBackend, WAL_CHECKPOINT_BYTES } from './open.js'
import { isRollbackTandemFile, type FileSniff } from './store-files.js'
import { type DoctorCheck, NO_DATA_FIX, holderList, isDatabase, message, sideFileProblems, skipped } from './doctor-subject.js'
/*
 * The checks of the store file itself, before anything reads the store in it: is it a database,
 * are its -wal and -shm the ones the running processes use, is it intact, how big is its WAL.
 */

export const storeFile: DoctorCheck = {
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

export const sideFiles: DoctorCheck = {
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

export const integrity: DoctorCheck = {
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

export const walSize: DoctorCheck = {
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
