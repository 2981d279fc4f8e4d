import { createRequire } from 'node:module'
import { Worker } from 'node:worker_threads'
import { FORMAT_VERSION, META_TABLE } from '../backends/sqlite/sqlite-sql.js'

/** What one check of a database file found. */
export interface SqliteFileCheck {
  /** PRAGMA integrity_check, one line per problem: ['ok'] when the file is sound. */
  integrity: string[]
  /** The Tandem format recorded in the file, or null when it is not a Tandem store. */
  format: string | null
}

/** One copy for the worker to make. */
export interface SqliteCopyTask {
  /** The database to copy, opened read-only (a live store, or a backup file). */
  source: string
  /** An existing, empty file that receives the copy (VACUUM INTO accepts only a new or empty file). */
  dest: string
  /** Check the source first and copy only if it is sound and a Tandem store. */
  checkSource: boolean
  /** How long the copy may wait for a lock on the source (rare in WAL mode: recovery, a checkpoint). */
  busyTimeoutMs: number
}

/** What the worker found: the source's check (when asked) and the copy's. */
export interface SqliteCopyReport {
  /** The source's check, when asked for; when it failed, nothing was copied and `dest` is undefined. */
  source?: SqliteFileCheck
  dest?: SqliteFileCheck
}

/** An SQLite error from the worker, with its code (`SQLITE_CORRUPT`, `SQLITE_NOTADB`...). */
export class SqliteCopyError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message)
    this.name = 'SqliteCopyError'
  }
}

// The worker is plain CommonJS given as text, so it runs the same from dist/ and from the
// TypeScript sources under test; it loads better-sqlite3 from the path this module resolves.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads')
const fs = require('node:fs')
const Database = require(workerData.driver)
const { task, metaTable, formatVersion } = workerData

function check(db) {
  const integrity = db.pragma('integrity_check').map((row) => row.integrity_check)
  const hasMeta = db.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?").get(metaTable) !== undefined
  const row = hasMeta ? db.prepare('SELECT value FROM "' + metaTable + '" WHERE key = ?').get('format') : undefined
  return { integrity, format: row === undefined ? null : String(row.value) }
}

function isSound(result) {
  return result.integrity.length === 1 && result.integrity[0] === 'ok' && result.format === formatVersion
}

function open(file) {
  return new Database(file, { readonly: true, fileMustExist: true, timeout: task.busyTimeoutMs })
}

try {
  const report = {}
  let copied = false
  const source = open(task.source)
  try {
    if (task.checkSource) report.source = check(source)
    // VACUUM INTO copies the database as of one read transaction: a consistent snapshot, while
    // writers in other processes go on (WAL mode). It only reads the source.
    if (report.source === undefined || isSound(report.source)) {
      source.prepare('VACUUM INTO ?').run(task.dest)
      copied = true
    }
  } finally {
    source.close()
  }
  if (copied) {
    const dest = open(task.dest)
    try {
      report.dest = check(dest)
    } finally {
      dest.close()
    }
    // VACUUM INTO does not fsync what it wrote. Done here, not on the event loop: flushing a large
    // file can take a while. (The copy is a new file no connection has open: fs is safe on it.)
    const fd = fs.openSync(task.dest, 'r+')
    try {
      fs.fsyncSync(fd)
    } finally {
      fs.closeSync(fd)
    }
  }
  parentPort.postMessage({ ok: true, report })
} catch (error) {
  parentPort.postMessage({ ok: false, message: String(error && error.message), code: error && error.code })
}
`

const driver = createRequire(import.meta.url).resolve('better-sqlite3')

/**
 * Copies an SQLite database with VACUUM INTO on its own connection in a worker thread, then checks
 * the copy (integrity_check, Tandem format) and fsyncs it. All of that can take seconds on a large
 * store, and none of it blocks this process's event loop. Rejects with SqliteCopyError on an
 * SQLite error; a check that fails is reported, not thrown.
 */
export function copySqliteFile(task: SqliteCopyTask): Promise<SqliteCopyReport> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { driver, task, metaTable: META_TABLE, formatVersion: FORMAT_VERSION },
    })
    let settled = false
    worker.once('message', (message: { ok: true; report: SqliteCopyReport } | { ok: false; message: string; code?: string }) => {
      settled = true
      if (message.ok) resolve(message.report)
      else reject(new SqliteCopyError(message.message, message.code))
    })
    worker.once('error', (error) => {
      settled = true
      reject(error)
    })
    worker.once('exit', (code) => {
      if (!settled) reject(new Error(`The SQLite copy worker exited with code ${code} before reporting.`))
    })
  })
}

/** True when a check found a sound file in the Tandem format this version writes. */
export function isSoundTandemFile(check: SqliteFileCheck | undefined): boolean {
  return check !== undefined && check.integrity.length === 1 && check.integrity[0] === 'ok' && check.format === FORMAT_VERSION
}
