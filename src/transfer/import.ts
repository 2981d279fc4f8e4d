import { open, type FileHandle } from 'node:fs/promises'
import { basename, resolve } from 'node:path'
import type { Readable } from 'node:stream'
import { refuseStoreFiles, sqliteStoreFile } from '../backup/store-file.js'
import { TandemError } from '../errors.js'
import { checkCollectionFilter, type CollectionsConfig } from '../store/config.js'
import type { Store } from '../store/store.js'
import { parseLine, type ExportEnd } from './export-format.js'
import { importFailure, ImportError, type ImportLocation } from './import-error.js'
import { checkDryRun, checkOptionKeys, runImport, type ImportResult } from './import-run.js'
import { checkConflictPolicy, checkImportCollection, type ImportSink, type ImportTargetOptions } from './import-sink.js'
import { DEFAULT_MAX_LINE_BYTES, readLines } from './ndjson.js'

/** importStore's options: the input, the conflict policy, and what to import. */
export interface ImportOptions extends ImportTargetOptions {
  /** An NDJSON file path, or a stream (any async iterable of Buffers or strings) of NDJSON. */
  from: string | Readable | AsyncIterable<Buffer | string>
  /** Only import records of these collections; the others are counted in `ignored`. Default: all. */
  collections?: readonly string[]
  /** Do everything (parse, validate, resolve conflicts), then roll back: the result says what would happen. */
  dryRun?: boolean
  /** A longer line stops the import (default 16 MiB). */
  maxLineBytes?: number
}

const IMPORT_KEYS = ['from', 'onConflict', 'collections', 'dryRun', 'allowUndeclared', 'maxLineBytes']

/**
 * Imports an NDJSON export (see export-format.ts; hand-written files may leave out the header and
 * end line) into the store, all or nothing: the whole import is one write transaction, streamed
 * line by line, so memory stays flat however large the file. Each record is checked like a normal
 * write (id, role, the collection's schema, JSON rules, no `__proto__` key) and keeps its id,
 * version, timestamps and role; `onConflict` decides about ids that exist; each write is appended
 * to the change log, so followers see the import. A malformed or invalid line, a record of a
 * collection the store does not declare (unless `allowUndeclared`), a conflict under 'fail', or a
 * file cut short (header without end line) rejects with an ImportError naming the line, and the
 * store is left exactly as before. Other writers wait while the import runs (up to their busyTimeoutMs).
 * If the engine must run the transaction again (PostgreSQL, after a deadlock), a file is re-read
 * from its start; a stream cannot be, and the import is refused with BUSY_TIMEOUT, nothing written.
 *
 * @example
 * const result = await importStore(store, { from: 'exports/app.ndjson', onConflict: 'skip', dryRun: true })
 * console.log(result.collections) // { tasks: { inserted: 120, overwritten: 0, skipped: 3 } }
 */
export async function importStore<C extends CollectionsConfig>(store: Store<C>, options: ImportOptions): Promise<ImportResult> {
  if (typeof options !== 'object' || options === null) throw new TypeError("importStore needs options like { from: 'data.ndjson', onConflict: 'fail' }.")
  checkOptionKeys('importStore', options, IMPORT_KEYS)
  const onConflict = checkConflictPolicy(options.onConflict)
  const dryRun = checkDryRun(options.dryRun)
  const maxLineBytes = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES
  if (!Number.isInteger(maxLineBytes) || maxLineBytes < 1) throw new RangeError(`maxLineBytes must be a positive integer (got ${String(maxLineBytes)}).`)
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
      return feedLines(sink, readLines(source.chunks(), source.name, maxLineBytes), source.name, wanted === undefined ? undefined : new Set(wanted))
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
    const handle: FileHandle = await open(path, 'r')
    return {
      name: basename(path),
      restartable: true,
      chunks: () => handle.createReadStream({ start: 0, highWaterMark: 256 * 1024, autoClose: false }),
      close: () => handle.close(),
    }
  }
  if (typeof from === 'object' && from !== null && typeof (from as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function') {
    return { name: 'the input stream', restartable: false, chunks: () => from as AsyncIterable<Buffer | string>, close: async () => undefined }
  }
  throw new TypeError(`from must be a file path or a readable stream of NDJSON (got ${JSON.stringify(from)}).`)
}

function streamNotRepeatable(): TandemError {
  return new TandemError(
    'BUSY_TIMEOUT',
    'The database rolled the import back to run it again (a deadlock with another writer), but its input is a stream, which cannot be read twice; nothing was imported.',
    { hint: 'Run the import again, ideally from a file (a file is simply re-read), or while other writers are quiet.' },
  )
}

/** Reads every line into the sink: header and end line checked, records validated and written. */
async function feedLines<C extends CollectionsConfig>(sink: ImportSink<C>, lines: AsyncIterable<{ text: string; number: number }>, name: string, wanted: Set<string> | undefined): Promise<{ ignored: number }> {
  let header = false
  let end: ExportEnd | undefined
  let last = 0
  let ignored = 0
  const seen = new Map<string, number>()
  for await (const { text, number } of lines) {
    last = number
    if (text.trim() === '') continue
    const where: ImportLocation = { text: `line ${number} of ${name}`, line: number }
    if (end !== undefined) throw new ImportError('INVALID_DATA', where, 'The end line of the export was already read; nothing may follow it.', { hint: 'Remove what follows the {"tandem":"end"} line, or the end line itself.' })
    let parsed
    try {
      parsed = parseLine(text)
    } catch (error) {
      throw importFailure(where, error)
    }
    if (parsed.kind === 'header') {
      if (header || seen.size > 0) throw new ImportError('INVALID_DATA', where, 'A header line ({"tandem":"export"}) may only come first.')
      header = true
    } else if (parsed.kind === 'end') {
      checkEnd(parsed.end, seen, where)
      end = parsed.end
    } else {
      seen.set(parsed.collection, (seen.get(parsed.collection) ?? 0) + 1)
      if (wanted !== undefined && !wanted.has(parsed.collection)) ignored++
      else await sink.put(parsed.collection, parsed.row, where)
    }
  }
  if (header && end === undefined) {
    throw new ImportError('INVALID_DATA', { text: `line ${last} of ${name} (the end of the input)`, line: last }, 'The export has a header but no end line: the file was cut short (an interrupted copy or a full disk).', {
      hint: 'Export the store again, or copy the complete file.',
    })
  }
  return { ignored }
}

/** The end line's counts must match the records read: anything else means lines were lost or added. */
function checkEnd(end: ExportEnd, seen: Map<string, number>, where: ImportLocation): void {
  const names = new Set([...Object.keys(end.records), ...seen.keys()])
  for (const name of names) {
    const expected = end.records[name] ?? 0
    const found = seen.get(name) ?? 0
    if (expected !== found) {
      throw new ImportError('INVALID_DATA', where, `The end line counts ${expected} records of "${name}" but the file holds ${found}: lines were lost or added since the export.`, {
        hint: 'Export the store again, or remove the end line if you edited the file on purpose.',
      })
    }
  }
}
