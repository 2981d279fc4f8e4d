import { TandemError, type TandemErrorCode } from '../errors.js'

/** The JSON body of every error answer: the CLI's `--json` shape, plus the library's facts. */
export interface ErrorBody {
  error: { code: string; message: string; hint?: string; [fact: string]: unknown }
}

/** HTTP status of each code a request can fail with; anything else is 500. */
const STATUS: Partial<Record<string, number>> = {
  INVALID_JSON: 400,
  INVALID_REQUEST: 400,
  INVALID_QUERY: 400,
  INVALID_ID: 400,
  UNAUTHORIZED: 401,
  NOT_OWNER: 403,
  READ_ONLY: 403,
  NOT_FOUND: 404,
  UNKNOWN_COLLECTION: 404,
  ROUTE_NOT_FOUND: 404,
  VERSION_CONFLICT: 409,
  DUPLICATE_ID: 409,
  CONSUMER_BUSY: 409,
  CONSUMER_LOST: 409,
  CHANGES_TRIMMED: 410,
  TRANSACTION_CLOSED: 410,
  BODY_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  SCHEMA_INVALID: 422,
  INVALID_DATA: 422,
  BUSY_TIMEOUT: 503,
  STORE_CLOSED: 503,
  ROLE_LOST: 503,
  STORE_FILES_CHANGED: 503,
  STORAGE_FAILURE: 503,
  SERVER_TIMEOUT: 503,
}

/** Codes a client may simply retry after a moment: the answer says so with Retry-After. */
const RETRYABLE = new Set(['BUSY_TIMEOUT', 'STORAGE_FAILURE', 'SERVER_TIMEOUT'])

/** The facts a TandemError subclass carries (ConflictError's expected/actual, ValidationError's issues...). */
const FACTS = ['collection', 'id', 'expected', 'actual', 'issues', 'writers', 'role', 'cursor', 'trimmedThrough', 'index'] as const

/** An error made by the server itself (bad request, no token), with its status. */
export function httpError(code: TandemErrorCode, message: string, hint: string): TandemError {
  return new TandemError(code, message, { hint })
}

/** A failed operation of a transaction: the error, and the position of the operation in the list. */
export class OperationFailed extends Error {
  constructor(
    readonly index: number,
    readonly error: unknown,
  ) {
    super(`Operation ${index} failed.`)
  }
}

/**
 * The status, headers and body for an error a route threw: a TandemError keeps its code and facts;
 * a bad argument (TypeError/RangeError, with a Node-style code such as INVALID_ID or none) is a 400;
 * anything else is a 500 INTERNAL whose message says nothing of the internals.
 */
export function errorAnswer(thrown: unknown): { status: number; retry: boolean; body: ErrorBody } {
  let index: number | undefined
  let error = thrown
  if (error instanceof OperationFailed) {
    index = error.index
    error = error.error
  }
  let body: ErrorBody['error']
  if (error instanceof TandemError) {
    body = { code: error.code, message: error.message, ...(error.hint === undefined ? {} : { hint: error.hint }) }
    for (const fact of FACTS) {
      const value = (error as unknown as Record<string, unknown>)[fact]
      if (value !== undefined && fact !== 'role') body[fact] = value
    }
    if (error.code === 'NOT_OWNER') body.role = (error as unknown as { role: string }).role
  } else if (error instanceof TypeError || error instanceof RangeError) {
    const code = (error as { code?: unknown }).code === 'INVALID_ID' ? 'INVALID_ID' : 'INVALID_REQUEST'
    body = { code, message: error.message, hint: 'Fix the request; see docs/http-api.md.' }
  } else {
    body = { code: 'INTERNAL', message: 'The server failed unexpectedly; nothing more is said here.', hint: 'See the server log.' }
  }
  if (index !== undefined) body.index = index
  if (Array.isArray(body.issues)) body.issues = body.issues.map((i: { message: string; path?: readonly unknown[] }) => plainIssue(i))
  return { status: STATUS[body.code] ?? 500, retry: RETRYABLE.has(body.code), body: { error: body } }
}

/** Issue paths may hold symbols or path segment objects (Standard Schema): JSON keeps their keys. */
function plainIssue(issue: { message: string; path?: readonly unknown[] }): { message: string; path: (string | number)[] } {
  const path = (issue.path ?? []).map((p) => {
    const key = typeof p === 'object' && p !== null && 'key' in p ? (p as { key: unknown }).key : p
    return typeof key === 'number' ? key : String(key)
  })
  return { message: issue.message, path }
}
