import type { PostgresPoolClient } from './postgres-config.js'
import type { Session } from './postgres-connection.js'
import { literal } from './postgres-sql.js'

/**
 * Statements PREPAREd by SQL on each pooled connection (named `<statement name>_s`, apart from
 * the protocol-level ones node-postgres prepares), so that statements sent together as one
 * simple-protocol message run as `EXECUTE name(literals)`: parsed and planned once per connection.
 */
export const preparedOn = new WeakMap<PostgresPoolClient, Set<string>>()

/** A value of a named statement as an EXECUTE argument, or undefined when it cannot be one. */
export function argument(value: unknown): string | undefined {
  // A NUL would end the message's text early (the parameter path reports it properly).
  if (typeof value === 'string') return value.includes('\u0000') ? undefined : literal(value)
  if (typeof value === 'number') return Number.isFinite(value) ? `(${value})` : undefined
  if (typeof value === 'boolean') return String(value)
  return undefined
}

/**
 * Drops a connection whose prepared statements are not what this process believes (a statement
 * missing, or there already): it is closed instead of going back to the pool.
 */
export function checkPreparedStatements(session: Session, error: unknown): void {
  const state = (error as { code?: unknown } | null)?.code
  if (state !== '26000' && state !== '42P05') return
  preparedOn.delete(session.client)
  session.lost ??= error
}
