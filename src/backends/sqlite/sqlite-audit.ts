import { retryWhileBusy } from './sqlite-locks.js'
import type { SqliteConnection } from './sqlite-prepared.js'
import { CHANGES_TABLE, LIST_COLLECTIONS_SQL, TRIMMED_THROUGH_SQL, tableName } from './sqlite-sql.js'

/*
 * Writes that bypassed the change log (docs/protocol.md), found by comparing each record with the
 * log, for `tandem doctor`. SQLite only: a process that opens the file with its own SQLite library
 * can write a record without its change-log entry. Every Tandem write, and every write that
 * follows the protocol, leaves the record's latest entry in the log naming the record's current
 * version (insert or update), and sets updated_at no later than that entry's time. Read in one
 * snapshot, so writes committed meanwhile by other processes cannot look like a mismatch.
 */

/** What is wrong with one record. */
export type WriteAuditKind =
  /** No entry at all, though the log covers the record's last write (its updated_at). */
  | 'unlogged'
  /** The latest entry is of another version: a write that changed the version (or set it back) unlogged. */
  | 'version-mismatch'
  /** The latest entry is a delete or trim, yet the record exists: inserted again unlogged. */
  | 'resurrected'
  /** The latest entry is an insert or update, yet the record is gone: deleted unlogged. */
  | 'deleted-unlogged'
  /** Same version as its entry, but updated_at is later than the entry: rewritten in place, unlogged. */
  | 'touched-after-log'
  /** The entry holds a copy of the data (history: 'full') that differs from the record at the same version. */
  | 'data-differs'

/** One record whose state is not the one its latest change-log entry announced. */
export interface WriteAuditFinding {
  /** What is wrong with it. */
  kind: WriteAuditKind
  /** The record's collection. */
  collection: string
  /** The record's id. */
  id: string
  /** The record's version now (undefined when it is gone). */
  version?: number
  /** The version of the record's latest change-log entry (undefined when none). */
  loggedVersion?: number
  /** The op of that entry. */
  loggedOp?: string
  /** The role the record names as its last writer. */
  role?: string
}

/** What SqliteBackend.auditWrites found: writes that bypassed the change log (docs/protocol.md). */
export interface WriteAudit {
  /** The first findings (at most `limit`). */
  findings: WriteAuditFinding[]
  /** How many records have a finding, in all. */
  total: number
  /** How many user collections were looked at. */
  collections: number
  /** How many records they hold. */
  records: number
  /** Records whose last write is older than what the log still covers: their entry may have been trimmed, so they were not judged. */
  uncovered: number
}

/**
 * How far before the oldest kept entry a record's updated_at may lie and still be judged once the
 * log was trimmed: processes' clocks differ by a few milliseconds, a stepped clock by more.
 */
export const COVERAGE_MARGIN_MS = 1000

const LATEST = `SELECT id, max(seq) AS seq FROM ${CHANGES_TABLE} WHERE collection = @collection GROUP BY id`

function collectionSql(collection: string): { bad: string; sums: string; gone: string } {
  const table = tableName(collection)
  // Each record with its latest entry (if any) and what is wrong with it (kind NULL: nothing).
  const judged = `WITH last AS (${LATEST}), judged AS (
      SELECT r.id, r.version, r.role, c.version AS loggedVersion, c.op AS loggedOp,
        CASE
          WHEN c.seq IS NULL THEN CASE WHEN r.updated_at >= @coveredFrom THEN 'unlogged' END
          WHEN c.op NOT IN ('insert', 'update') THEN 'resurrected'
          WHEN c.version <> r.version THEN 'version-mismatch'
          WHEN r.updated_at > c.at THEN 'touched-after-log'
          WHEN c.data IS NOT NULL AND json_valid(c.data) AND json(c.data) <> json(r.data) THEN 'data-differs'
        END AS kind,
        c.seq IS NULL AND r.updated_at < @coveredFrom AS uncovered
      FROM ${table} r LEFT JOIN last l ON l.id = r.id LEFT JOIN ${CHANGES_TABLE} c ON c.seq = l.seq)`
  return {
    bad: `${judged} SELECT id, version, role, loggedVersion, loggedOp, kind FROM judged WHERE kind IS NOT NULL ORDER BY id LIMIT @limit`,
    sums: `${judged} SELECT count(*) AS records, coalesce(sum(uncovered), 0) AS uncovered, coalesce(sum(kind IS NOT NULL), 0) AS bad FROM judged`,
    gone: `WITH last AS (${LATEST})
      SELECT l.id, c.version AS loggedVersion, c.op AS loggedOp
      FROM last l JOIN ${CHANGES_TABLE} c ON c.seq = l.seq
      WHERE c.op IN ('insert', 'update') AND NOT EXISTS (SELECT 1 FROM ${table} r WHERE r.id = l.id)
      ORDER BY l.id`,
  }
}

/**
 * Compares every record of the user collections (names starting with a letter; the internal ones
 * are never logged) with its latest change-log entry, in one read transaction on `connection`.
 * Records whose updated_at is older than the oldest kept entry (minus COVERAGE_MARGIN_MS) and that
 * have no entry are counted as uncovered, not reported: retention may have trimmed their entry.
 */
export function auditWrites(connection: SqliteConnection, busyTimeoutMs: number, limit = 50): Promise<WriteAudit> {
  const begin = connection.statement('BEGIN')
  const commit = connection.statement('COMMIT')
  return retryWhileBusy(
    () => {
      begin.run()
      try {
        const trimmedThrough = Number((connection.statement(TRIMMED_THROUGH_SQL).get() as { value: string } | undefined)?.value ?? 0)
        const oldest = connection.statement(`SELECT at FROM ${CHANGES_TABLE} ORDER BY seq LIMIT 1`).get() as { at: number } | undefined
        // Nothing trimmed: every write since the store began is in the log.
        const coveredFrom = trimmedThrough === 0 ? Number.MIN_SAFE_INTEGER : (oldest?.at ?? Number.MAX_SAFE_INTEGER) - COVERAGE_MARGIN_MS
        const audit: WriteAudit = { findings: [], total: 0, collections: 0, records: 0, uncovered: 0 }
        const note = (finding: WriteAuditFinding) => {
          audit.total++
          if (audit.findings.length < limit) audit.findings.push(finding)
        }
        const names = (connection.statement(LIST_COLLECTIONS_SQL).all() as { name: string }[]).map((r) => r.name)
        for (const collection of names.filter((name) => /^[A-Za-z]/.test(name))) {
          audit.collections++
          const sql = collectionSql(collection)
          const sums = connection.handle.prepare(sql.sums).get({ collection, coveredFrom }) as {
            records: number
            uncovered: number
            bad: number
          }
          audit.records += sums.records
          audit.uncovered += sums.uncovered
          audit.total += sums.bad
          const rows = connection.handle.prepare(sql.bad).all({ collection, coveredFrom, limit }) as {
            id: string
            version: number
            role: string
            loggedVersion: number | null
            loggedOp: string | null
            kind: WriteAuditKind
          }[]
          for (const row of rows) {
            if (audit.findings.length >= limit) break
            audit.findings.push({
              kind: row.kind,
              collection,
              id: row.id,
              version: row.version,
              role: row.role,
              ...(row.loggedVersion === null ? {} : { loggedVersion: row.loggedVersion, loggedOp: row.loggedOp! }),
            })
          }
          for (const row of connection.handle.prepare(sql.gone).all({ collection }) as {
            id: string
            loggedVersion: number
            loggedOp: string
          }[])
            note({ kind: 'deleted-unlogged', collection, id: row.id, loggedVersion: row.loggedVersion, loggedOp: row.loggedOp })
        }
        return audit
      } finally {
        commit.run()
      }
    },
    busyTimeoutMs,
    undefined,
    'read',
  )
}
