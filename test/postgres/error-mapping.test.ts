// Issue #24: every SQLSTATE class the backend can meet becomes a library code, the server's error in
// `cause`, and the message says whether the write happened.
import { describe, expect, test } from 'vitest'
import { TandemError } from '../../src/index.js'
import { translatePostgresError } from '../../src/backends/postgres/postgres-errors.js'

/** An error as node-postgres builds it from the server's ErrorResponse. */
function serverError(code: string, message: string, severity = 'ERROR'): Error {
  return Object.assign(new Error(message), { code, severity, detail: 'd', schema: 's' })
}

// One SQLSTATE of every class PostgreSQL defines (plus the ones the backend treats specially).
const STATES = [
  '03000',
  '08006',
  '08P01',
  '09000',
  '0A000',
  '0B000',
  '0F000',
  '0L000',
  '0P000',
  '0Z000',
  '20000',
  '21000',
  '22001',
  '22P02',
  '22P05',
  '23502',
  '23503',
  '23505',
  '23514',
  '24000',
  '25001',
  '25006',
  '25P02',
  '25P03',
  '26000',
  '27000',
  '28000',
  '28P01',
  '2B000',
  '2D000',
  '2F000',
  '34000',
  '38000',
  '39000',
  '3B000',
  '3D000',
  '3F000',
  '40001',
  '40002',
  '40003',
  '40P01',
  '42501',
  '42601',
  '42P01',
  '44000',
  '53000',
  '53100',
  '53200',
  '53300',
  '54000',
  '55000',
  '55006',
  '55P03',
  '57000',
  '57014',
  '57P01',
  '57P02',
  '57P03',
  '57P04',
  '57P05',
  '58000',
  '58030',
  '72000',
  'F0000',
  'HV000',
  'P0000',
  'P0001',
  'XX000',
  'XX001',
]

describe('PostgreSQL errors', () => {
  test.each(STATES)('SQLSTATE %s becomes a TandemError, the server error kept in cause, for a read and a write', (state) => {
    for (const operation of ['read', 'write'] as const) {
      const original = serverError(state, `server says ${state}`)
      const translated = translatePostgresError(original, { operation, url: 'postgres://x@h/db' })
      expect(translated).toBeInstanceOf(TandemError)
      const error = translated as TandemError
      expect(error.cause).toBe(original)
      if (operation === 'write' && error.code !== 'OUTCOME_UNKNOWN') expect(error.message).toMatch(/nothing (of it )?was written/)
    }
  })

  test('timeouts name the setting that fired', () => {
    const statement = translatePostgresError(serverError('57014', 'canceling statement due to statement timeout'), {
      operation: 'write',
    }) as TandemError
    expect(statement).toMatchObject({
      code: 'SERVER_TIMEOUT',
      message: expect.stringMatching(/statement_timeout.*nothing of it was written/),
    })
    const idle = translatePostgresError(serverError('25P03', 'terminating connection due to idle-in-transaction timeout', 'FATAL'), {
      inWrite: true,
    }) as TandemError
    expect(idle).toMatchObject({ code: 'SERVER_TIMEOUT', message: expect.stringMatching(/idle_in_transaction_session_timeout/) })
    const lock = translatePostgresError(serverError('55P03', 'canceling statement due to lock timeout'), {
      operation: 'write',
      busyTimeoutMs: 250,
    }) as TandemError
    expect(lock).toMatchObject({ code: 'BUSY_TIMEOUT', message: expect.stringMatching(/250 ms/) })
  })

  test('a connection lost inside a write transaction says the write did not happen, not that a read failed', () => {
    const lost = translatePostgresError(Object.assign(new Error('Connection terminated unexpectedly'), {}), {
      inWrite: true,
    }) as TandemError
    expect(lost).toMatchObject({
      code: 'STORAGE_FAILURE',
      message: expect.stringMatching(/the write did not commit: nothing of it was written/),
    })
  })

  test("errors that are not the server's (a bug, a TypeError) pass through unchanged", () => {
    const bug = new TypeError('x is not a function')
    expect(translatePostgresError(bug)).toBe(bug)
  })
})
