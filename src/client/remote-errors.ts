import { ChangesTrimmedError, ConflictError, OwnershipError, TandemError, ValidationError, type TandemErrorCode } from '../errors.js'

/** The `error` object of an answer (docs/http-api.md, Errors). */
export interface RemoteErrorBody {
  code: string
  message: string
  hint?: string
  collection?: string
  id?: string
  [fact: string]: unknown
}

/**
 * The error a failed answer stands for, as the library would have thrown it locally: the same
 * class and facts for the codes that have one (ConflictError, OwnershipError, ValidationError,
 * ChangesTrimmedError), a TypeError for a bad argument, else a TandemError with the server's code.
 */
export function remoteError(body: RemoteErrorBody | undefined, status: number): Error {
  if (body === undefined || typeof body.code !== 'string')
    return new TandemError('STORAGE_FAILURE', `The server answered ${status} without an error body.`, { hint: 'Check the server log.' })
  const { code, message, hint } = body
  const s = (key: string) => (typeof body[key] === 'string' ? (body[key] as string) : '')
  switch (code) {
    case 'VERSION_CONFLICT':
      return new ConflictError(s('collection'), s('id'), Number(body.expected), typeof body.actual === 'number' ? body.actual : null)
    case 'NOT_OWNER':
      return new OwnershipError(s('collection'), s('role'), Array.isArray(body.writers) ? (body.writers as string[]) : [])
    case 'SCHEMA_INVALID':
      return new ValidationError(s('collection'), Array.isArray(body.issues) ? (body.issues as ValidationError['issues']) : [], body.id)
    case 'CHANGES_TRIMMED':
      return new ChangesTrimmedError(Number(body.cursor), Number(body.trimmedThrough))
    case 'INVALID_ID':
    case 'INVALID_REQUEST':
      return Object.assign(new TypeError(message), { code })
  }
  // The server's own codes (UNAUTHORIZED, INTERNAL...) are kept as they came.
  return new TandemError(code as TandemErrorCode, message, {
    ...(hint === undefined ? {} : { hint }),
    ...(body.collection === undefined ? {} : { collection: body.collection }),
    ...(body.id === undefined ? {} : { id: body.id }),
  })
}
