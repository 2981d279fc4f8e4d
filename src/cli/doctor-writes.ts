import type { WriteAuditFinding } from '../backends/sqlite/sqlite-audit.js'
import { plural } from './format.js'
import type { DoctorCheck } from './doctor-checks.js'

/*
 * The doctor check for writes that bypassed the change log: a process that opened the SQLite file
 * with its own SQLite library and wrote records without following docs/protocol.md. Followers,
 * consumers and `tandem serve`'s streams never heard of those writes, and a concurrent Tandem write
 * may have been lost to them. The comparison itself is the backend's (sqlite-audit.ts).
 */

function describe(f: WriteAuditFinding): string {
  const record = `${f.collection}/${f.id}`
  const logged = f.loggedVersion === undefined ? '' : `its last change-log entry is ${f.loggedOp} of version ${f.loggedVersion}`
  const by = f.role === undefined ? '' : ` (role "${f.role}")`
  switch (f.kind) {
    case 'unlogged':
      return `${record} is at version ${f.version}${by} with no change-log entry, though the log covers its last write`
    case 'version-mismatch':
      return `${record} is at version ${f.version}${by}, but ${logged}${f.version! < f.loggedVersion! ? ': its version went backwards' : ''}`
    case 'resurrected':
      return `${record} exists at version ${f.version}${by}, but ${logged}: it was inserted again without an entry`
    case 'deleted-unlogged':
      return `${record} is gone, but ${logged}: it was deleted without an entry`
    case 'touched-after-log':
      return `${record} was changed after its last change-log entry (its updated_at is later) without a new version${by}`
    case 'data-differs':
      return `${record} at version ${f.version}${by} differs from the copy its change-log entry keeps (history: 'full'): rewritten in place`
  }
}

/** `tandem doctor`'s check that every record's current state is the one its change-log entry announced. */
export const bypassedWrites: DoctorCheck = {
  title: 'writes outside Tandem',
  async check(s) {
    if (!s.sound || s.backend === undefined) return { status: 'skip', summary: 'skipped: the file is not sound' }
    const audit = await s.backend.auditWrites(10)
    const uncovered =
      audit.uncovered > 0 ? `; ${plural(audit.uncovered, 'older record')} last written before what the log still keeps, not judged` : ''
    if (audit.total === 0)
      return {
        status: 'ok',
        summary: `every record of ${plural(audit.collections, 'collection')} matches its change-log entry (${plural(audit.records, 'record')}${uncovered})`,
      }
    return {
      status: 'fail',
      summary: `${plural(audit.total, 'record')} changed without a change-log entry: a process wrote the SQLite file without docs/protocol.md, and change feeds never announced it`,
      details: audit.findings
        .map(describe)
        .concat(audit.total > audit.findings.length ? [`... and ${audit.total - audit.findings.length} more`] : []),
      advice:
        'Find the writer (the role on the records names what it claimed to be) and make it follow docs/protocol.md (clients/python/tandem_sqlite.py) or write through tandem serve. Subscribers missed these writes: resync them, or rewrite each record through Tandem (tandem patch) to announce its state. --fix cannot tell what the writes replaced.',
    }
  },
}
