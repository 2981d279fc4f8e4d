import { mkdirSync } from 'node:fs'
import { open } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import type { Writable } from 'node:stream'
import type { RecordRow } from '../backends/backend.js'
import { refuseStoreFiles, sqliteStoreFile } from '../backup/store-file.js'
import { TandemError } from '../errors.js'
import { createTempBeside, removeQuietly, renameDurably } from '../fs/durable-file.js'
import { checkCollectionFilter, type AnyData, type CollectionsConfig } from '../store/config.js'
import type { Store } from '../store/store.js'
import { EXPORT_FORMAT, recordLine, toExportedRecord, type ExportEnd, type ExportHeader, type ExportedRecord } from './export-format.js'
import { LineWriter, writeToStream } from './ndjson.js'
import { openSnapshot } from './snapshot.js'

/** Which records an export reads, and how many at a time. */
export interface ExportOptions {
  /** Only these collections, in this order. Default: every collection in the store (those other processes declared too), by name. */
  collections?: readonly string[]
  /** Records read per page (default 1000): the most held in memory at once. */
  pageSize?: number
}

/** exportStore's options: what to export and where to. */
export interface ExportStoreOptions extends ExportOptions {
  /**
   * A file path (written to a temp file beside it, fsynced, then renamed into place: the file is
   * either the complete export or absent) or a Writable stream (written to, not ended).
   */
  to: string | Writable
}

/** What exportStore wrote. */
export interface ExportResult {
  /** The file written, absolute; undefined when exporting to a stream. */
  path: string | undefined
  /** Records written, in total and per collection. */
  records: number
  collections: Record<string, number>
  bytes: number
  durationMs: number
  /** True when the export is the store as of one instant (SQLite in a file); false when read page by page. */
  snapshot: boolean
}

/** Records read per page when `pageSize` is not given. */
export const DEFAULT_EXPORT_PAGE_SIZE = 1000
const EXPORT_KEYS = ['collections', 'pageSize', 'to']

type ExportItem = { type: 'header'; header: ExportHeader } | { type: 'page'; collection: string; rows: RecordRow[] } | { type: 'end'; end: ExportEnd }

function checkOptions(options: ExportOptions & { to?: unknown }, allowed: readonly string[]): { pageSize: number; collections: readonly string[] | undefined } {
  if (typeof options !== 'object' || options === null) throw new TypeError('Export options must be an object like { collections: ["tasks"] }.')
  for (const key of Object.keys(options)) {
    if (!allowed.includes(key)) throw new TypeError(`Unknown export option "${key}"; the options are ${allowed.join(', ')}.`)
  }
  const pageSize = options.pageSize ?? DEFAULT_EXPORT_PAGE_SIZE
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 100_000) throw new RangeError(`pageSize must be an integer from 1 to 100000 (got ${String(pageSize)}).`)
  return { pageSize, collections: checkCollectionFilter({ ...(options.collections === undefined ? {} : { collections: options.collections }) })?.collections }
}

/** The header, then each collection's records a page at a time (keyset by id), then the end line. */
async function* exportItems<C extends CollectionsConfig>(store: Store<C>, pageSize: number, wanted: readonly string[] | undefined): AsyncGenerator<ExportItem> {
  const snapshot = await openSnapshot(store)
  try {
    const existing = (await snapshot.collections()).filter((name) => !name.startsWith('_'))
    for (const name of wanted ?? []) {
      if (!existing.includes(name)) {
        throw new TandemError('UNKNOWN_COLLECTION', `Collection "${name}" does not exist in this store. Existing: ${existing.join(', ') || '(none)'}.`, {
          collection: name,
          hint: 'Leave out collections to export them all.',
        })
      }
    }
    const collections = wanted === undefined ? existing : [...wanted]
    yield { type: 'header', header: { tandem: 'export', format: EXPORT_FORMAT, kind: store.kind, collections, exportedAt: new Date().toISOString(), snapshot: snapshot.consistent } }
    const records: Record<string, number> = {}
    for (const collection of collections) {
      let count = 0
      for (let after = ''; ; ) {
        const rows = await snapshot.page(collection, after, pageSize)
        if (rows.length > 0) yield { type: 'page', collection, rows }
        count += rows.length
        if (rows.length < pageSize) break
        after = rows[rows.length - 1]!.id
      }
      records[collection] = count
    }
    yield { type: 'end', end: { tandem: 'end', records } }
  } finally {
    snapshot.close()
  }
}

/**
 * Every record of the store (or of `collections`) with its collection and metadata, in collection
 * then id order, read a page at a time so memory stays flat. From one snapshot on SQLite in a file
 * (see exportStore). Break out of the loop early and the snapshot is released.
 *
 * @example
 * for await (const r of exportRecords(store, { collections: ['tasks'] })) console.log(r.id, r.version)
 */
export async function* exportRecords<T = AnyData, C extends CollectionsConfig = CollectionsConfig>(store: Store<C>, options: ExportOptions = {}): AsyncGenerator<ExportedRecord<T>> {
  const { pageSize, collections } = checkOptions(options, ['collections', 'pageSize'])
  for await (const item of exportItems(store, pageSize, collections)) {
    if (item.type === 'page') for (const row of item.rows) yield toExportedRecord<T>(item.collection, row)
  }
}

/**
 * The export as NDJSON lines (without newlines): the header, one line per record, the end line.
 * What exportStore writes; use it to send an export anywhere, e.g. `Readable.from(...)`.
 */
export async function* exportLines<C extends CollectionsConfig>(store: Store<C>, options: ExportOptions = {}): AsyncGenerator<string> {
  const { pageSize, collections } = checkOptions(options, ['collections', 'pageSize'])
  for await (const item of exportItems(store, pageSize, collections)) {
    if (item.type === 'page') for (const row of item.rows) yield recordLine(item.collection, row)
    else yield JSON.stringify(item.type === 'header' ? item.header : item.end)
  }
}

/**
 * Writes all collections of the store, or some, as NDJSON (see export-format.ts): a header line,
 * one line per record with its metadata (collection, id, version, createdAt, updatedAt, role,
 * data), and an end line with the counts. Records are read in pages by id, never a whole
 * collection at once. On SQLite in a file they come from one read transaction on a dedicated
 * connection: the export is the store as of one instant, while other processes keep writing.
 * Elsewhere each page is read on its own (`snapshot: false`). To a path, the file appears only
 * when complete. Rejects with UNKNOWN_COLLECTION for a collection the store does not have.
 *
 * @example
 * const { records, bytes } = await exportStore(store, { to: 'exports/app.ndjson' })
 */
export async function exportStore<C extends CollectionsConfig>(store: Store<C>, options: ExportStoreOptions): Promise<ExportResult> {
  const { pageSize, collections } = checkOptions(options, EXPORT_KEYS)
  const started = performance.now()
  const to = options.to
  if (typeof to === 'string' && to !== '') return exportToFile(store, resolve(to), pageSize, collections, started)
  if (typeof to !== 'object' || to === null || typeof (to as Writable).write !== 'function') throw new TypeError(`to must be a file path or a Writable stream (got ${JSON.stringify(to)}).`)
  const writer = new LineWriter(writeToStream(to))
  const summary = await writeExport(store, writer, pageSize, collections)
  return { path: undefined, ...summary, bytes: writer.bytes, durationMs: Math.round(performance.now() - started) }
}

async function exportToFile<C extends CollectionsConfig>(store: Store<C>, target: string, pageSize: number, collections: readonly string[] | undefined, started: number): Promise<ExportResult> {
  mkdirSync(dirname(target), { recursive: true, mode: 0o700 })
  refuseStoreFiles(target, sqliteStoreFile(store), 'export file')
  const temp = createTempBeside(target)
  try {
    const handle = await open(temp, 'w')
    let summary: Awaited<ReturnType<typeof writeExport>>
    let bytes: number
    try {
      const writer = new LineWriter(async (chunk) => void (await handle.write(chunk)))
      summary = await writeExport(store, writer, pageSize, collections)
      bytes = writer.bytes
      // The rename below must never publish a file whose bytes are not on disk yet.
      await handle.sync()
    } finally {
      await handle.close()
    }
    renameDurably(temp, target)
    return { path: target, ...summary, bytes, durationMs: Math.round(performance.now() - started) }
  } catch (error) {
    removeQuietly(temp)
    throw error
  }
}

async function writeExport<C extends CollectionsConfig>(store: Store<C>, writer: LineWriter, pageSize: number, collections: readonly string[] | undefined): Promise<{ records: number; collections: Record<string, number>; snapshot: boolean }> {
  let snapshot = false
  let counts: Record<string, number> = {}
  for await (const item of exportItems(store, pageSize, collections)) {
    if (item.type === 'page') {
      for (const row of item.rows) await writer.line(recordLine(item.collection, row))
    } else if (item.type === 'header') {
      snapshot = item.header.snapshot
      await writer.line(JSON.stringify(item.header))
    } else {
      counts = item.end.records
      await writer.line(JSON.stringify(item.end))
    }
  }
  await writer.flush()
  return { records: Object.values(counts).reduce((a, b) => a + b, 0), collections: counts, snapshot }
}
