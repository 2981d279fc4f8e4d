import { createHash, randomBytes } from 'node:crypto'
import type { Stats } from 'node:fs'
import { currentProcess, holderState, type ProcessIdentity } from './process-identity.js'

/*
 * The lock-file format, shared with every other program that follows docs/files.md ("The lock
 * protocol"). A lock on `F` is the file `F.lock`, holding one line of JSON:
 *   {"pid":123,"host":"vm","boot":"<boot id>","procStart":456,"token":"<16+ hex>","acquiredAt":1700000000000}
 * It is created complete or not at all: written to a temp file first, then hard-linked to
 * `F.lock` (link fails with EEXIST when a lock exists). A stale lock is removed only by the winner
 * of a takeover claim, `F.lock.takeover.<key>.<n>` (created the same way), after it re-reads the
 * lock and finds the same key.
 */

/** What a lock file says about its holder. */
export interface LockRecord extends Partial<ProcessIdentity> {
  token?: string
  acquiredAt?: number
}

/** A lock (or claim) file as read: its record (undefined when it does not parse), its key and its age. */
export interface ReadLock {
  record: LockRecord | undefined
  /** Identifies this lock among every lock ever taken on the file: its token, else a hash of its bytes. */
  key: string
  mtimeMs: number
  raw: string
}

const TOKEN = /^[0-9a-f]{16,64}$/

export function newToken(): string {
  return randomBytes(12).toString('hex')
}

/** This process's lock line with `token`. */
export function lockLine(token: string, now = Date.now()): string {
  const self = currentProcess()
  const record: LockRecord = { pid: self.pid, host: self.host }
  if (self.boot !== undefined) record.boot = self.boot
  if (self.procStart !== undefined) record.procStart = self.procStart
  record.token = token
  record.acquiredAt = now
  return `${JSON.stringify(record)}\n`
}

export function parseLock(raw: Buffer, stat: Stats): ReadLock {
  const text = raw.toString('utf8')
  let record: LockRecord | undefined
  try {
    const value = JSON.parse(text) as unknown
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) record = value as LockRecord
  } catch {
    record = undefined
  }
  const token = record?.token
  const key = typeof token === 'string' && TOKEN.test(token) ? token : `h${createHash('sha256').update(raw).digest('hex').slice(0, 24)}`
  return { record, key, mtimeMs: stat.mtimeMs, raw: text }
}

/**
 * Whether a lock (or claim) may be taken over: its holder is certainly dead (same host: pid gone,
 * pid reused, or the machine rebooted since), or — when that cannot be told (another host, an
 * unreadable file) — its lease ran out: untouched for `staleMs`. A live holder on this host is
 * never taken over, however long it holds the lock.
 */
export function isStale(lock: ReadLock, staleMs: number, now = Date.now()): boolean {
  const state = lock.record === undefined ? 'unknown' : holderState(lock.record)
  if (state !== 'unknown') return state === 'dead'
  return now - lock.mtimeMs > staleMs
}

/** "pid 123 on host vm, since 2026-…" for messages. */
export function describeHolder(lock: ReadLock | undefined): string {
  const r = lock?.record
  if (r === undefined || typeof r.pid !== 'number')
    return lock === undefined ? 'an unknown process' : `an unreadable lock file (${JSON.stringify(lock.raw.slice(0, 80))})`
  const since = typeof r.acquiredAt === 'number' ? `, since ${new Date(r.acquiredAt).toISOString()}` : ''
  return `pid ${r.pid} on host ${String(r.host)}${since}`
}
