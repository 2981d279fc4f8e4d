import { statSync } from 'node:fs'
import { open, type FileHandle } from 'node:fs/promises'
import { basename, resolve } from 'node:path'
import type { Readable } from 'node:stream'
import { refuseStoreFiles, sqliteStoreFile } from '../store/store-file.js'
import { TandemError } from '../errors.js'
import { checkCollectionFilter, type CollectionsConfig } from '../store/config.js'
import type { Store } from '../store/store.js'
import { isHistoryCollection, parseLine, type ExportEnd, type ExportHeader } from './export-format.js'
import { importFailure, ImportError, type ImportLocation } from './import-error.js'
import { ImportHistory, type ImportSource } from './import-history.js'
import { checkDryRun, checkOptionKeys, runImport, type FeedResult, type ImportResult } from './import-run.js'
import { checkConflictPolicy, checkImportCollection, type ImportSink, type ImportTargetOptions } from './import-sink.js'
import { checkMaxLineBytes, DEFAULT_MAX_LINE_BYTES, readLines } from './ndjson.js'

/** importStore's options: the input, the conflict policy, and what to import. */
export interface ImportOptions extends ImportTargetOptions {
  /** An NDJSON file path, or a stream (any async iterable of Buffers or strings) of NDJSON. */
  from: string | Readable | AsyncIterable<Buffer | string>
  /** Only import records of these collections; the others are counted in `ignored`. Default: all. */
  collections?: readonly string[]
  /** Do everything (parse, validate, resolve conflicts), then roll back: the result says what would happen. */
  dryRun?: boolean
  /**
   * A longer line stops the import. Default: 16 MiB, or the export header's `maxLineBytes` when
   * that is larger (the export wrote nothing longer), up to 256 MiB (MAX_HEADER_LINE_BYTES: the file
   * is not to be trusted with this process's memory); given, it is the limit whatever the header
   * says, up to 1 GiB.
   */
  maxLineBytes?: number
  /**
   * Import an export made at another schema version than the store's (or under other migrations)
   * instead of refusing it with SCHEMA_TOO_OLD / SCHEMA_TOO_NEW / DEFINITION_MISMATCH. The records
   * are still checked against the collections' schemas. Default false.
   */
  allowSchemaMismatch?: boolean
}

/**
 * The most an import file's header may raise the line limit to: 256 MiB, 16 times the default. A
 * line is buffered whole before it is parsed, so an untrusted file claiming 1 GiB would make the
 * importer hold up to that much; only the caller's own maxLineBytes may go higher.
 */
export const MAX_HEADER_LINE_BYTES = 256 * 1024 * 1024

const IMPORT_KEYS = ['from', 'onConflict', 'collections', 'dryRun', 'allowUndeclared', 'maxLineBytes', 'allowSchemaMismatch']

/**
 * Imports an NDJSON export (see export-format.ts; hand-written files may leave out the header and
 * end line) into the store, all or nothing: the whole import is one write transaction, streamed
 * line by line, so memory stays flat however large the file. Each record is checked like a normal
 * write (id, role, the collection's schema, JSON rules, no `__proto__` key; ISO 8601 times and
 * versions up to 2^52) and keeps its id, version, timestamps and role; `onConflict` decides about
 * ids that exist; each write is appended to the change log, so followers see the import. The
 * export's history comes along: its seed markers are merged into the store's (a seed its store
 * had deleted is not brought back), and an export of another schema version is refused
 * (SCHEMA_TOO_OLD, SCHEMA_TOO_NEW, DEFINITION_MISMATCH: see ImportHistory) unless
 * `allowSchemaMismatch`. A malformed or invalid line, a record of a collection the store does not
 * declare (unless `allowUndeclared`), a conflict under 'fail', or a file cut short (header without
 * end line) rejects with an ImportError naming the line, and the store is left exactly as before.
 * A source that is missing (NOT_FOUND) or not a regular file (NOT_A_FILE: a directory, a FIFO) is
 * refused before anything starts. Other writers wait while the import runs (up to their
 * busyTimeoutMs). If the engine must run the transaction again (PostgreSQL, after a deadlock), a
 * file is re-read from its start; a stream cannot be, and the import is refused with
 * BUSY_TIMEOUT, nothing written.
 *
 * @example
 * const result = await importStore(store, { from: 'exports/app.ndjson', onConflict: 'skip', dryRun: true })
 * console.log(result.collections) // { tasks: { inserted: 120, overwritten: 0, skipped: 3 } }
 */
export async function importStore<C extends CollectionsConfig>(store: Store<C>, options: ImportOptions): Promise<ImportResult> {
  if (typeof options !== 'object' || options === null)
    throw new TypeError("importStore needs options like { from: 'data.ndjson', onConflict: 'fail' }.")
  checkOptionKeys('importStore', options, IMPORT_KEYS)
  const onConflict = checkConflictPolicy(options.onConflict)
  const dryRun = checkDryRun(options.dryRun)
  const maxLineBytes = options.maxLineBytes === undefined ? undefined : checkMaxLineBytes(options.maxLineBytes)
  if (options.allowSchemaMismatch !== undefined && typeof options.allowSchemaMismatch !== 'boolean')
    throw new TypeError(`allowSchemaMismatch must be true or false (got ${JSON.stringify(options.allowSchemaMismatch)}).`)
  const allowSchemaMismatch = options.allowSchemaMismatch ?? false
  const wanted = checkCollectionFilter({ ...(options.collections === undefined ? {} : { collections: options.collections }) })?.collections
  const allowUndeclared = options.allowUndeclared ?? false
  for (const name of wanted ?? []) checkImportCollection(store, name, allowUndeclared)
  const source = await openSource(store, options.from)
  let runs = 0
  try {
    return await runImport(store, { onConflict, dryRun, allowUndeclared }, async (sink) => {
      // An engine may roll the transaction back and run it again (PostgreSQL, after a deadlock):
      // a file is read again from its start; a stream cannot be, and must not be half-imported.
      if (++runs > 1 && !source.restartable) throw streamNotRepeatable()
      // The header may raise the line limit for the lines after it (see ImportOptions.maxLineBytes).
      const limit = { bytes: maxLineBytes ?? DEFAULT_MAX_LINE_BYTES }
      const history = new ImportHistory(store, sink.tx, {
        onConflict,
        allowSchemaMismatch,
        wanted: wanted === undefined ? undefined : new Set(wanted),
      })
      const lines = readLines(source.chunks(), source.name, () => limit.bytes)
      return feedLines(sink, history, lines, source.name, wanted === undefined ? undefined : new Set(wanted), (header) => {
        if (maxLineBytes === undefined && header.maxLineBytes !== undefined)
          limit.bytes = Math.min(MAX_HEADER_LINE_BYTES, Math.max(limit.bytes, header.maxLineBytes))
      })
    })
  } finally {
    await source.close()
  }
}

interface Source {
  name: string
  /** True when chunks() can start over from the first byte. */
  restartable: boolean
  /** The input from its first byte (for a stream: what is left of it). */
  chunks(): AsyncIterable<Buffer | string>
  close(): Promise<void>
}

/** Opens the file now, so a missing file fails before the import takes the write lock. */
async function openSource<C extends CollectionsConfig>(store: Store<C>, from: ImportOptions['from']): Promise<Source> {
  if (typeof from === 'string' && from !== '') {
    const path = resolve(from)
    refuseStoreFiles(path, sqliteStoreFile(store), 'import file')
    const handle = await openRegularFile(path)
    return {
      name: basename(path),
      restartable: true,
      chunks: () => handle.createReadStream({ start: 0, highWaterMark: 256 * 1024, autoClose: false }),
      close: () => handle.close(),
    }
  }
  if (typeof from === 'object' && from !== null && typeof (from as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function') {
    return {
      name: 'the input stream',
      restartable: false,
      chunks: () => from as AsyncIterable<Buffer | string>,
      close: async () => undefined,
    }
  }
  throw new TypeError(`from must be a file path or a readable stream of NDJSON (got ${JSON.stringify(from)}).`)
}

/**
 * Opens `path` for reading if it is a regular file. Looked at with stat first: opening a FIFO for
 * reading would wait for a writer, for ever. What was opened is checked again (fstat), in case the
 * path was swapped meanwhile.
 */
async function openRegularFile(path: string): Promise<FileHandle> {
  let handle: FileHandle | undefined
  try {
    refuseNonFile(path, statSync(path))
    handle = await open(path, 'r')
    refuseNonFile(path, await handle.stat())
    return handle
  } catch (error) {
    await handle?.close()
    if (error instanceof TandemError) throw error
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new TandemError('NOT_FOUND', `The import file ${path} does not exist; nothing was imported.`, {
        cause: error,
        hint: 'Check the path: a relative path is taken from the working directory.',
      })
    }
    throw new TandemError(
      'STORAGE_FAILURE',
      `The import file ${path} cannot be read (${code ?? (error as Error).message}); nothing was imported.`,
      { cause: error, hint: 'Check the file and its permissions.' },
    )
  }
}

function refuseNonFile(path: string, stat: { isFile(): boolean; isDirectory(): boolean; isFIFO(): boolean; isSocket(): boolean }): void {
  if (stat.isFile()) return
  const what = stat.isDirectory() ? 'a directory' : stat.isFIFO() ? 'a FIFO (a named pipe)' : stat.isSocket() ? 'a socket' : 'a device'
  throw new TandemError('NOT_A_FILE', `The import file ${path} is ${what}, not a file; nothing was imported.`, {
    hint: 'Give the path of an NDJSON file; to import what a pipe carries, pass it as a stream (tandem import - reads standard input).',
  })
}

function streamNotRepeatable(): TandemError {
  return new TandemError(
    'BUSY_TIMEOUT',
    'The database rolled the import back to run it again (a deadlock with another writer), but its input is a stream, which cannot be read twice; nothing was imported.',
    { hint: 'Run the import again, ideally from a file (a file is simply re-read), or while other writers are quiet.' },
  )
}

/**
 * Reads every line into the sink: header and end line checked, the history lines (right after the
 * header) handed to `history`, records validated and written; then seeds the export's store had
 * deleted are removed (see ImportHistory). `onHeader` sees the header before any other line is read.
 */
async function feedLines<C extends CollectionsConfig>(
  sink: ImportSink<C>,
  history: ImportHistory<C>,
  lines: AsyncIterable<{ text: string; number: number }>,
  name: string,
  wanted: Set<string> | undefined,
  onHeader: (header: ExportHeader) => void,
): Promise<FeedResult> {
  let header: ExportHeader | undefined
  let end: ExportEnd | undefined
  let last = 0
  let ignored = 0
  let records = false
  const seen = new Map<string, number>()
  for await (const { text, number } of lines) {
    last = number
    if (text.trim() === '') continue
    const where: ImportLocation = { text: `line ${number} of ${name}`, line: number }
    if (end !== undefined)
      throw new ImportError('INVALID_DATA', where, 'The end line of the export was already read; nothing may follow it.', {
        hint: 'Remove what follows the {"tandem":"end"} line, or the end line itself.',
      })
    let parsed
    try {
      parsed = parseLine(text)
    } catch (error) {
      throw importFailure(where, error)
    }
    if (parsed.kind === 'header') {
      if (header !== undefined || seen.size > 0)
        throw new ImportError('INVALID_DATA', where, 'A header line ({"tandem":"export"}) may only come first.')
      header = parsed.header
      onHeader(header)
      await history.checkHeader(header, where)
    } else if (parsed.kind === 'end') {
      checkEnd(parsed.end, seen, where)
      end = parsed.end
    } else {
      seen.set(parsed.collection, (seen.get(parsed.collection) ?? 0) + 1)
      if (isHistoryCollection(parsed.collection)) {
        if (records)
          throw new ImportError(
            'INVALID_DATA',
            where,
            `A "${parsed.collection}" line comes after records; the history lines come right after the header.`,
            { hint: 'Export the store again rather than reordering the file.' },
          )
        await history.put(parsed.collection, parsed.row, where)
        continue
      }
      records = true
      if (wanted !== undefined && !wanted.has(parsed.collection)) ignored++
      else {
        history.noteRecord(parsed.collection, parsed.row.id)
        await sink.put(parsed.collection, parsed.row, where)
      }
    }
  }
  if (header !== undefined && end === undefined) {
    throw new ImportError(
      'INVALID_DATA',
      { text: `line ${last} of ${name} (the end of the input)`, line: last },
      'The export has a header but no end line: the file was cut short (an interrupted copy or a full disk).',
      {
        hint: 'Export the store again, or copy the complete file.',
      },
    )
  }
  await sink.flush()
  // Only a collection the export holds in full (it is in the header) tells that a seed record is gone.
  await history.removeDeletedSeeds((header?.collections ?? []).filter((c) => wanted === undefined || wanted.has(c)))
  const source: ImportSource | undefined =
    header === undefined
      ? undefined
      : {
          format: header.format,
          kind: header.kind,
          exportedAt: header.exportedAt,
          ...(header.schemaVersion === undefined ? {} : { schemaVersion: header.schemaVersion }),
          ...(header.fingerprint === undefined ? {} : { fingerprint: header.fingerprint }),
        }
  return { ignored, seeds: history.seeds, ...(source === undefined ? {} : { source }) }
}

/** The end line's counts must match the records read: anything else means lines were lost or added. */
function checkEnd(end: ExportEnd, seen: Map<string, number>, where: ImportLocation): void {
  const names = new Set([...Object.keys(end.records), ...seen.keys()])
  for (const name of names) {
    const expected = end.records[name] ?? 0
    const found = seen.get(name) ?? 0
    if (expected !== found) {
      throw new ImportError(
        'INVALID_DATA',
        where,
        `The end line counts ${expected} records of "${name}" but the file holds ${found}: lines were lost or added since the export.`,
        {
          hint: 'Export the store again, or remove the end line if you edited the file on purpose.',
        },
      )
    }
  }
}
