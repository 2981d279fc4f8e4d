import { TandemError, ValidationError, type TandemErrorCode, type ValidationIssue } from '../errors.js'

/** Where in the input an import stopped: an NDJSON line, a table row, a JSON item. */
export interface ImportLocation {
  /** In words, for the message: 'line 17 of data.ndjson', 'table "projects", row 3'. */
  text: string
  /** The 1-based line, for NDJSON input. */
  line?: number
}

/**
 * An import stopped on one input item: a malformed or invalid NDJSON line, a record the schema
 * refused, an id conflict under `onConflict: 'fail'`. The whole import was rolled back: the store
 * is exactly as it was. `code` is the underlying problem's (INVALID_DATA, SCHEMA_INVALID,
 * DUPLICATE_ID, UNKNOWN_COLLECTION); `line` and `location` say where; `issues` lists what a schema found.
 */
export class ImportError extends TandemError {
  /** The 1-based NDJSON line, when the input is NDJSON. */
  readonly line: number | undefined
  /** Where the import stopped, in words. */
  readonly location: string
  /** What the collection's schema found, for SCHEMA_INVALID. */
  readonly issues: readonly ValidationIssue[] | undefined

  constructor(
    code: TandemErrorCode,
    where: ImportLocation,
    problem: string,
    details: { hint?: string; cause?: unknown; collection?: string; id?: string; issues?: readonly ValidationIssue[] } = {},
  ) {
    const place = where.text.charAt(0).toUpperCase() + where.text.slice(1)
    super(code, `${place}: ${problem} The import was rolled back; the store is as it was.`, {
      hint: details.hint ?? 'Fix the input there and run the import again (dryRun: true checks a file without writing).',
      ...(details.cause === undefined ? {} : { cause: details.cause }),
      ...(details.collection === undefined ? {} : { collection: details.collection }),
      ...(details.id === undefined ? {} : { id: details.id }),
    })
    this.line = where.line
    this.location = where.text
    this.issues = details.issues
  }
}

/**
 * Turns what went wrong with one input item into an ImportError naming it. Problems of the item
 * itself (bad data, schema, duplicate id, unknown collection, TypeError/RangeError from the id or
 * role checks) are wrapped; anything else (disk full, busy timeout, a stream error) is about the
 * store or the source, not the line, and passes through unchanged.
 */
export function importFailure(where: ImportLocation, error: unknown): unknown {
  if (error instanceof ImportError) return error
  if (error instanceof TandemError && ['INVALID_DATA', 'SCHEMA_INVALID', 'DUPLICATE_ID', 'UNKNOWN_COLLECTION'].includes(error.code)) {
    return new ImportError(error.code, where, error.message, {
      cause: error,
      ...(error.hint === undefined ? {} : { hint: error.hint }),
      ...(error.collection === undefined ? {} : { collection: error.collection }),
      ...(error.id === undefined ? {} : { id: error.id }),
      ...(error instanceof ValidationError ? { issues: error.issues } : {}),
    })
  }
  if (error instanceof TypeError || error instanceof RangeError || error instanceof SyntaxError) {
    return new ImportError('INVALID_DATA', where, error.message, { cause: error })
  }
  return error
}
