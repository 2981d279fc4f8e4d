import { historyFields } from '../store/history.js'
import type { RecordRow } from '../backends/backend.js'
import type { Store } from '../store/store.js'
import { readCollection, readUserCollections, RecordHasher, type CollectionChecksum } from '../transfer/checksum.js'
import type { CopyOptions, CopyProgress, Plan } from './copy.js'

/*
 * The writing half of copyStore (copy.ts plans and verifies): clearing a target collection, and
 * streaming the source's records into the target, batch by batch, reporting progress.
 */

export type Report = (phase: CopyProgress['phase'], collection: string, done: number) => void

export function progressReporter(plan: Plan, onProgress: CopyOptions['onProgress']): Report {
  const totals = new Map(plan.collections.map((c) => [c.name, c] as const))
  const recordsTotal = plan.collections.reduce((n, c) => n + c.expected, 0)
  const clearTotal = plan.collections.reduce((n, c) => n + c.present, 0)
  // Records done in finished collections of the current phase, and the collection in progress.
  let phase: CopyProgress['phase'] | undefined
  let before = 0
  let current = { collection: '', done: 0 }
  return (next, collection, done) => {
    if (onProgress === undefined) return
    if (next !== phase) {
      phase = next
      before = 0
      current = { collection, done: 0 }
    } else if (collection !== current.collection) {
      before += current.done
      current = { collection, done: 0 }
    }
    current.done = done
    const c = totals.get(collection)!
    onProgress({
      phase: next,
      collection,
      done,
      total: next === 'clear' ? c.present : c.expected,
      recordsDone: before + done,
      recordsTotal: next === 'clear' ? clearTotal : recordsTotal,
    })
  }
}

/** Deletes every record of a target collection, a batch per transaction, logging each delete (not for history collections, which are never logged). */
export async function clearCollection(to: Store, collection: string, history: boolean, batchSize: number, report: Report): Promise<number> {
  const settings = to.settings.collections.get(collection)
  let removed = 0
  for (;;) {
    const n = await to.runWrite(async (tx) => {
      const rows = await tx.find(collection, {
        where: [],
        orderBy: { field: { kind: 'meta', name: 'id' }, direction: 'asc' },
        limit: batchSize,
      })
      const at = Date.now()
      for (const row of rows) {
        await tx.delete(collection, row.id)
        if (!history)
          await tx.appendChange({
            collection,
            id: row.id,
            op: 'delete',
            version: row.version,
            role: to.role,
            at,
            ...historyFields(settings, 'delete', row.data),
          })
      }
      return rows.length
    })
    removed += n
    if (n > 0) report('clear', collection, removed)
    if (n < batchSize) return removed
  }
}

/**
 * Streams the source into the target: records are hashed as they are read, gathered into batches
 * and written one transaction per batch. One batch is written while the next is read, so the two
 * engines work at the same time; at most two batches and one page are in memory.
 */
export async function copyRecords(from: Store, to: Store, plan: Plan, batchSize: number, report: Report): Promise<CollectionChecksum[]> {
  const hashers = new Map(plan.collections.map((c) => [c.name, new RecordHasher(c.name)] as const))
  const written = new Map<string, number>()
  let inFlight: Promise<void> = Promise.resolve()
  const push = async (collection: string, history: boolean, rows: RecordRow[]) => {
    await inFlight
    inFlight = writeBatch(to, collection, history, rows).then(() => {
      const done = (written.get(collection) ?? 0) + rows.length
      written.set(collection, done)
      report('copy', collection, done)
    })
    // Awaited at the next push or at the end; until then, a failure must not count as unhandled.
    inFlight.catch(() => undefined)
  }
  // The history first: a copy that fails halfway leaves a target that says it is migrated, so an
  // app opened on it by mistake does not run its migrations over records copied already migrated.
  for (const { name } of plan.collections.filter((c) => c.history)) {
    let rows: RecordRow[] = []
    for await (const row of readCollection(from, name, batchSize)) {
      hashers.get(name)!.add(row)
      rows.push(row)
      if (rows.length >= batchSize) {
        await push(name, true, rows)
        rows = []
      }
    }
    if (rows.length > 0) await push(name, true, rows)
  }
  const user = plan.collections.filter((c) => !c.history).map((c) => c.name)
  let batch: RecordRow[] = []
  let current: string | undefined
  for await (const { collection, row } of readUserCollections(from, user, batchSize)) {
    if (collection !== current && batch.length > 0) {
      await push(current!, false, batch)
      batch = []
    }
    current = collection
    hashers.get(collection)!.add(row)
    batch.push(row)
    if (batch.length >= batchSize) {
      await push(collection, false, batch)
      batch = []
    }
  }
  if (batch.length > 0) await push(current!, false, batch)
  await inFlight
  return plan.collections.map((c) => hashers.get(c.name)!.finish())
}

/** One write transaction: the records with their own metadata, and (for user collections) an 'insert' change each, as importStore writes them. */
function writeBatch(to: Store, collection: string, history: boolean, rows: readonly RecordRow[]): Promise<void> {
  const settings = to.settings.collections.get(collection)
  return to.runWrite(async (tx) => {
    const at = Date.now()
    // Issued together, not one after another: PostgreSQL sends inserts started in one tick as one
    // statement (SQLite runs each at once). Any failure fails the whole batch, as before.
    await Promise.all(rows.map((row) => tx.insert(collection, row)))
    // The history collections are never in the change log (migrations and seeds do not log them either).
    if (!history)
      for (const row of rows)
        await tx.appendChange({
          collection,
          id: row.id,
          op: 'insert',
          version: row.version,
          role: row.role,
          at,
          ...historyFields(settings, 'insert', row.data),
        })
  })
}
