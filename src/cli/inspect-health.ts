import type { Store } from '../index.js'
import type { HealthCheck } from '../inspector/inspect-store.js'
import { examine } from './commands/doctor.js'
import { plural } from './format.js'
import { checkChangeLog } from './doctor-checks.js'
import { peekStore } from './peek.js'
import type { StoreTarget } from './target.js'

function failed(title: string, error: unknown): HealthCheck {
  return { title, status: 'fail', summary: `the check itself failed: ${error instanceof Error ? error.message : String(error)}` }
}

/** The checks `tandem doctor` cannot run on a store without a file (PostgreSQL, files): through the open store. */
async function storeChecks(store: Store): Promise<HealthCheck[]> {
  const checks: HealthCheck[] = []
  try {
    const lines = await store.checkIntegrity()
    checks.push(
      lines.length === 1 && lines[0] === 'ok'
        ? { title: 'integrity', status: 'ok', summary: "the engine's consistency check: ok" }
        : { title: 'integrity', status: 'fail', summary: `${plural(lines.length, 'problem')}`, details: lines.slice(0, 10) },
    )
  } catch (error) {
    checks.push(failed('integrity', error))
  }
  try {
    const peek = await peekStore(store.backend)
    const live = plural(peek.processes.length, 'live process', 'live processes')
    checks.push(
      peek.staleProcesses.length === 0
        ? { title: 'process registry', status: 'ok', summary: `${live}, no stale registrations` }
        : {
            title: 'process registry',
            status: 'warn',
            summary: `${plural(peek.staleProcesses.length, 'stale registration')} of processes that died without closing the store (${live})`,
            details: peek.staleProcesses.map((p) => `pid ${p.pid} on ${p.host}, role "${p.role}", last heartbeat ${p.heartbeatAt}`),
            advice: 'The next process that opens the store prunes them.',
          },
    )
    const trimmed = peek.consumers.filter((c) => c.trimmed)
    checks.push(
      trimmed.length === 0
        ? { title: 'consumers', status: 'ok', summary: `${plural(peek.consumers.length, 'consumer')}, none behind retention` }
        : {
            title: 'consumers',
            status: 'fail',
            summary: `${plural(trimmed.length, 'consumer')} behind retention`,
            details: trimmed.map((c) => `"${c.name}" is at seq ${c.position}; changes through seq ${peek.changes.trimmedThrough} are gone`),
            advice: 'Each must resync: reload the records it tracks, then follow the feed from "now".',
          },
    )
  } catch (error) {
    checks.push(failed('process registry', error))
  }
  try {
    checks.push({ title: 'change log', ...(await checkChangeLog(store.backend)) })
  } catch (error) {
    checks.push(failed('change log', error))
  }
  return checks
}

/** The Health screen's checks for `target`: `tandem doctor`'s (never --fix) on a store file, else those an open store allows. */
export function healthChecks(target: StoreTarget, store: Store, backupDir: string | undefined): () => Promise<HealthCheck[]> {
  if (target.kind === 'file')
    return async () =>
      (await examine(target.file, false, backupDir)).map(({ title, status, summary, details, advice }) => ({
        title,
        status,
        summary,
        ...(details === undefined ? {} : { details }),
        ...(advice === undefined ? {} : { advice }),
      }))
  return () => storeChecks(store)
}
