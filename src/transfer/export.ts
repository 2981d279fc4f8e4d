import { mkdirSync, statSync } from 'node:fs'
import { open } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import type { Writable } from 'node:stream'
import type { RecordRow } from '../backends/backend.js'
import { refuseStoreFiles, sqliteStoreFile } from '../store/store-file.js'
import { TandemError } from '../errors.js'
import { createTempBeside, removeQuietly, renameDurably } from '../fs/durable-file.js'
import { checkCollectionFilter, type AnyData, type CollectionsConfig } from '../store/config.js'
import type { Store } from '../store/store.js'
import {
  EXPORT_FORMAT,
  HISTORY_COLLECTIONS,
  recordLine,
  toExportedRecord,
  type ExportEnd,
  type ExportHeader,
  type ExportedRecord,
} from './export-format.js'
import { checkMaxLineBytes, LineWriter, writeToStream } from './ndjson.js'
import { openSnapshot, type Snapshot } from './snapshot.js'
import { MIGRATIONS_COLLECTION, type AppliedMigration } from '../migrations/runner.js'
import { SEEDS_COLLECTION } from '../store/seeds.js'

/** Which records an export reads, and how many at a time. */
export interface ExportOptions {
  /** Only these collections, in this order. Default: every collection in the store (those other processes declared too), by name. */
  collections?: readonly string[]
  /** Records read per page (default 1000): the most held in memory at once. */
  pageSize?: number
  /**
   * exportLines and exportStore: the longest line to write, in bytes (default 16 MiB, what an
   * import reads by default). A longer record line stops the export (INVALID_DATA naming the
   * record); the header records the limit, and an import raises its own to it.
   */
  maxLineBytes?: number
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
  /** The store's schema version (highest applied migration) the records were exported at. */
  schemaVersion: number
  /** The exporting definition's fingerprint (`store.fingerprint`), also in the header. */
  fingerprint: string
  /** History lines written per internal collection: the migrations applied (`_migrations`) and the seeds applied (`_seeds`). */
  history: Record<string, number>
}

/** Records read per page when `pageSize` is not given. */
export const DEFAULT_EXPORT_PAGE_SIZE = 1000
const EXPORT_KEYS = ['collections', 'pageSize', 'maxLineBytes', 'to']
const LINES_KEYS = ['collections', 'pageSize', 'maxLineBytes']

type ExportItem =
  | { type: 'header'; header: ExportHeader }
  | { type: 'page'; collection: string; rows: RecordRow[]; history: boolean }
  | { type: 'end'; end: ExportEnd }

interface CheckedOptions {
  pageSize: number
  maxLineBytes: number
  collections: readonly string[] | undefined
}

function checkOptions(options: ExportOptions & { to?: unknown }, allowed: readonly string[]): CheckedOptions {
  if (typeof options !== 'object' || options === null)
    throw new TypeError('Export options must be an object like { collections: ["tasks"] }.')
  for (const key of Object.keys(options)) {
    if (!allowed.includes(key)) throw new TypeError(`Unknown export option "${key}"; the options are ${allowed.join(', ')}.`)
  }
  const pageSize = options.pageSize ?? DEFAULT_EXPORT_PAGE_SIZE
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 100_000)
    throw new RangeError(`pageSize must be an integer from 1 to 100000 (got ${String(pageSize)}).`)
  const maxLineBytes = checkMaxLineBytes(options.maxLineBytes)
  return {
    pageSize,
    maxLineBytes,
    collections: checkCollectionFilter({ ...(options.collections === undefined ? {} : { collections: options.collections }) })?.collections,
  }
}

/** Every row of `collection` in the snapshot, a page at a time. */
async function* pages(snapshot: Snapshot, collection: string, pageSize: number): AsyncGenerator<RecordRow[]> {
  for (let after = ''; ;) {
    const rows = await snapshot.page(collection, after, pageSize)
    if (rows.length > 0) yield rows
    if (rows.length < pageSize) return
    after = rows[rows.length - 1]!.id
  }
}

/**
 * The header, the history (the migrations applied, and the seeds applied to the exported
 * collections), then each collection's records a page at a time (keyset by id), then the end line.
 */
async function* exportItems<C extends CollectionsConfig>(store: Store<C>, options: CheckedOptions): AsyncGenerator<ExportItem> {
  const { pageSize, collections: wanted } = options
  const snapshot = await openSnapshot(store)
  try {
    const all = await snapshot.collections()
    const existing = all.filter((name) => !name.startsWith('_'))
    for (const name of wanted ?? []) {
      if (!existing.includes(name)) {
        throw new TandemError(
          'UNKNOWN_COLLECTION',
          `Collection "${name}" does not exist in this store. Existing: ${existing.join(', ') || '(none)'}.`,
          {
            collection: name,
            hint: 'Leave out collections to export them all.',
          },
        )
      }
    }
    const collections = wanted === undefined ? existing : [...wanted]
    // The history is small (one row per migration and per seed): read it whole, from the same snapshot.
    const history = new Map<string, RecordRow[]>()
    for (const name of HISTORY_COLLECTIONS) {
      if (!all.includes(name)) continue
      const rows: RecordRow[] = []
      for await (const page of pages(snapshot, name, pageSize)) rows.push(...page)
      // Seeds are per collection: only those of the collections exported.
      history.set(name, name === SEEDS_COLLECTION ? rows.filter((r) => collections.includes(r.id.slice(0, r.id.indexOf('/')))) : rows)
    }
    const schemaVersion = Math.max(
      0,
      ...(history.get(MIGRATIONS_COLLECTION) ?? []).map((r) => (r.data as unknown as AppliedMigration).version),
    )
    yield {
      type: 'header',
      header: {
        tandem: 'export',
        format: EXPORT_FORMAT,
        kind: store.kind,
        collections,
        exportedAt: new Date().toISOString(),
        snapshot: snapshot.consistent,
        schemaVersion,
        fingerprint: store.fingerprint,
        maxLineBytes: options.maxLineBytes,
      },
    }
    const records: Record<string, number> = {}
    for (const [name, rows] of history) {
      if (rows.length === 0) continue
      yield { type: 'page', collection: name, rows, history: true }
      records[name] = rows.length
    }
    for (const collection of collections) {
      let count = 0
      for await (const rows of pages(snapshot, collection, pageSize)) {
        yield { type: 'page', collection, rows, history: false }
        count += rows.length
      }
      records[collection] = count
    }
    yield { type: 'end', end: { tandem: 'end', records } }
  } finally {
    snapshot.close()
  }
}

/** A record's line, refused (INVALID_DATA naming the record) when longer than the export allows itself. */
function limitedLine(collection: string, row: RecordRow, maxLineBytes: number): string {
  const line = recordLine(collection, row)
  // A UTF-16 unit is at most 3 UTF-8 bytes: most lines need no counting.
  if (line.length * 3 <= maxLineBytes) return line
  const bytes = Buffer.byteLength(line)
  if (bytes <= maxLineBytes) return line
  throw new TandemError(
    'INVALID_DATA',
    `Record ${collection}/${row.id} is ${formatMiB(bytes)} as an export line, longer than maxLineBytes (${formatMiB(maxLineBytes)}); an import with the same limit would refuse it. Nothing was exported.`,
    {
      collection,
      id: row.id,
      hint: `Export with a larger maxLineBytes (tandem export --max-line-bytes ${formatMiB(2 ** Math.ceil(Math.log2(bytes + 1))).replace(' ', '')}): the header records it, and an import raises its own limit to it.`,
    },
  )
}

function formatMiB(bytes: number): string {
  return bytes % (1024 * 1024) === 0
    ? `${bytes / (1024 * 1024)} MiB`
    : bytes < 1024 * 1024
      ? `${bytes} bytes`
      : `${(bytes / (1024 * 1024)).toFixed(1)} MiB`
}

/**
 * Every record of the store (or of `collections`) with its collection and metadata, in collection
 * then id order, read a page at a time so memory stays flat. From one snapshot on SQLite in a file
 * (see exportStore). Break out of the loop early and the snapshot is released.
 *
 * @example
 * for await (const r of exportRecords(store, { collections: ['tasks'] })) console.log(r.id, r.version)
 */
export async function* exportRecords<T = AnyData, C extends CollectionsConfig = CollectionsConfig>(
  store: Store<C>,
  options: ExportOptions = {},
): AsyncGenerator<ExportedRecord<T>> {
  for await (const item of exportItems(store, checkOptions(options, LINES_KEYS))) {
    if (item.type === 'page' && !item.history) for (const row of item.rows) yield toExportedRecord<T>(item.collection, row)
  }
}

/**
 * The export as NDJSON lines (without newlines): the header, the history lines (migrations and
 * seeds applied), one line per record, the end line. What exportStore writes; use it to send an
 * export anywhere, e.g. `Readable.from(...)`. Rejects with INVALID_DATA for a record whose line is
 * longer than `maxLineBytes`.
 */
export async function* exportLines<C extends CollectionsConfig>(store: Store<C>, options: ExportOptions = {}): AsyncGenerator<string> {
  const checked = checkOptions(options, LINES_KEYS)
  for await (const item of exportItems(store, checked)) {
    if (item.type === 'page') for (const row of item.rows) yield limitedLine(item.collection, row, checked.maxLineBytes)
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
  const checked = checkOptions(options, EXPORT_KEYS)
  const started = performance.now()
  const to = options.to
  if (typeof to === 'string' && to !== '') return exportToFile(store, resolve(to), checked, started)
  if (typeof to !== 'object' || to === null || typeof (to as Writable).write !== 'function')
    throw new TypeError(`to must be a file path or a Writable stream (got ${JSON.stringify(to)}).`)
  const writer = new LineWriter(writeToStream(to))
  const summary = await writeExport(store, writer, checked)
  return { path: undefined, ...summary, bytes: writer.bytes, durationMs: Math.round(performance.now() - started) }
}

async function exportToFile<C extends CollectionsConfig>(
  store: Store<C>,
  target: string,
  options: CheckedOptions,
  started: number,
): Promise<ExportResult> {
  mkdirSync(dirname(target), { recursive: true, mode: 0o700 })
  refuseStoreFiles(target, sqliteStoreFile(store), 'export file')
  // The rename at the end would fail on a directory (EISDIR) only after the whole export.
  if (statSync(target, { throwIfNoEntry: false })?.isDirectory() === true) {
    throw new TandemError('NOT_A_FILE', `The export file ${target} is a directory; nothing was exported.`, {
      hint: 'Name a file, e.g. exports/app.ndjson.',
    })
  }
  const temp = createTempBeside(target)
  try {
    const handle = await open(temp, 'w')
    let summary: Awaited<ReturnType<typeof writeExport>>
    let bytes: number
    try {
      const writer = new LineWriter(async (chunk) => void (await handle.write(chunk)))
      summary = await writeExport(store, writer, options)
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

type ExportSummary = Pick<ExportResult, 'records' | 'collections' | 'snapshot' | 'schemaVersion' | 'fingerprint' | 'history'>

async function writeExport<C extends CollectionsConfig>(
  store: Store<C>,
  writer: LineWriter,
  options: CheckedOptions,
): Promise<ExportSummary> {
  let header: ExportHeader | undefined
  let counts: Record<string, number> = {}
  for await (const item of exportItems(store, options)) {
    if (item.type === 'page') {
      for (const row of item.rows) await writer.line(limitedLine(item.collection, row, options.maxLineBytes))
    } else if (item.type === 'header') {
      header = item.header
      await writer.line(JSON.stringify(item.header))
    } else {
      counts = item.end.records
      await writer.line(JSON.stringify(item.end))
    }
  }
  await writer.flush()
  const history = Object.fromEntries(Object.entries(counts).filter(([name]) => (HISTORY_COLLECTIONS as readonly string[]).includes(name)))
  const collections = Object.fromEntries(Object.entries(counts).filter(([name]) => !(name in history)))
  return {
    records: Object.values(collections).reduce((a, b) => a + b, 0),
    collections,
    snapshot: header!.snapshot,
    schemaVersion: header!.schemaVersion!,
    fingerprint: header!.fingerprint!,
    history,
  }
}
